//! Superblock: geometry, feature gate, checksum seed.

use super::csum::crc32c;
use super::error::Ext4Error;
use super::le::{get16, get32, put32};

pub(crate) const SB_OFFSET: u64 = 1024;
pub(crate) const SB_SIZE: usize = 1024;

const COMPAT: &[(u32, &str)] = &[
    (0x1, "dir_prealloc"),
    (0x2, "imagic_inodes"),
    (0x4, "has_journal"),
    (0x8, "ext_attr"),
    (0x10, "resize_inode"),
    (0x20, "dir_index"),
    (0x40, "lazy_bg"),
    (0x80, "exclude_inode"),
    (0x100, "exclude_bitmap"),
    (0x200, "sparse_super2"),
    (0x400, "fast_commit"),
    (0x800, "stable_inodes"),
    (0x1000, "orphan_file"),
];
/// Compat features that change nothing this writer touches.
const COMPAT_OK: u32 = 0x1 | 0x4 | 0x8 | 0x10 | 0x20 | 0x400 | 0x800 | 0x1000;

const INCOMPAT: &[(u32, &str)] = &[
    (0x1, "compression"),
    (0x2, "filetype"),
    (0x4, "needs_recovery"),
    (0x8, "journal_dev"),
    (0x10, "meta_bg"),
    (0x40, "extent"),
    (0x80, "64bit"),
    (0x100, "mmp"),
    (0x200, "flex_bg"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (0x2000, "metadata_csum_seed"),
    (0x4000, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];
const INCOMPAT_OK: u32 = 0x2 | 0x40 | 0x80 | 0x200 | 0x2000 | 0x4000;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_CSUM_SEED: u32 = 0x2000;
const INCOMPAT_LARGEDIR: u32 = 0x4000;
/// Without these we would have to write block maps or untyped dirents.
const INCOMPAT_REQUIRED: &[(u32, &str)] = &[(0x2, "filetype"), (0x40, "extent")];

const RO_COMPAT: &[(u32, &str)] = &[
    (0x1, "sparse_super"),
    (0x2, "large_file"),
    (0x4, "btree_dir"),
    (0x8, "huge_file"),
    (0x10, "uninit_bg"),
    (0x20, "dir_nlink"),
    (0x40, "extra_isize"),
    (0x80, "snapshot"),
    (0x100, "quota"),
    (0x200, "bigalloc"),
    (0x400, "metadata_csum"),
    (0x800, "replica"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
    (0x10000, "orphan_present"),
];
const RO_OK: u32 = 0x1 | 0x2 | 0x8 | 0x10 | 0x20 | 0x40 | 0x400;
const RO_SPARSE_SUPER: u32 = 0x1;
const RO_LARGE_FILE: u32 = 0x2;
const RO_GDT_CSUM: u32 = 0x10;
const RO_METADATA_CSUM: u32 = 0x400;
const COMPAT_DIR_INDEX: u32 = 0x20;

/// Which group-descriptor checksum scheme the file system uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Csum {
    None,
    /// `uninit_bg`: CRC16 in group descriptors only.
    Gdt,
    /// `metadata_csum`: CRC32C everywhere.
    Meta,
}

#[derive(Debug)]
pub(crate) struct Superblock {
    pub raw: Vec<u8>,
    pub bs: u64,
    pub blocks_count: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u64,
    pub inodes_per_group: u32,
    pub inodes_count: u32,
    pub inode_size: usize,
    pub first_ino: u32,
    pub desc_size: usize,
    pub groups: u32,
    pub csum: Csum,
    /// Seed of all metadata_csum checksums (from the uuid or `s_checksum_seed`).
    pub seed: u32,
    pub uuid: [u8; 16],
    pub hash_seed: [u32; 4],
    pub hash_unsigned: bool,
    pub dir_index: bool,
    pub largedir: bool,
    pub extra_isize: u16,
    pub reserved_gdt: u64,
    pub sparse_super: bool,
    pub is64: bool,
    /// `large_file`: regular files may be 2 GiB or larger.
    pub large_file: bool,
}

fn names(bits: u32, table: &[(u32, &str)]) -> String {
    let mut out: Vec<String> = table
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known: u32 = table.iter().map(|(b, _)| b).fold(0, |a, b| a | b);
    if bits & !known != 0 {
        out.push(format!("unknown bits {:#x}", bits & !known));
    }
    out.join(", ")
}

/// The feature words, once [`gate`] has let them through.
struct Features {
    compat: u32,
    incompat: u32,
    ro: u32,
}

/// The superblock's counts, checked to be ones mke2fs could have made.
struct Geometry {
    blocks_count: u64,
    first_data_block: u64,
    blocks_per_group: u64,
    inodes_per_group: u32,
    inodes_count: u32,
    inode_size: usize,
    first_ino: u32,
    groups: u64,
    reserved_gdt: u64,
}

/// An ext4 this writer can patch: magic, revision, only features it knows, cleanly
/// unmounted.
fn gate(raw: &[u8]) -> Result<Features, Ext4Error> {
    if get16(raw, 0x38) != 0xEF53 {
        return Err(Ext4Error::NotExt4("bad superblock magic".into()));
    }
    if get32(raw, 0x4C) < 1 {
        return Err(Ext4Error::Unsupported("revision 0 file system".into()));
    }
    let f = Features {
        compat: get32(raw, 0x5C),
        incompat: get32(raw, 0x60),
        ro: get32(raw, 0x64),
    };
    if f.incompat & INCOMPAT_RECOVER != 0 {
        return Err(Ext4Error::NeedsRecovery);
    }
    let bad_in = f.incompat & !INCOMPAT_OK;
    let bad_ro = f.ro & !RO_OK;
    let bad_c = f.compat & !COMPAT_OK;
    if bad_in | bad_ro | bad_c != 0 {
        let list: Vec<String> = [
            names(bad_in, INCOMPAT),
            names(bad_ro, RO_COMPAT),
            names(bad_c, COMPAT),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
        return Err(Ext4Error::Unsupported(list.join(", ")));
    }
    for (bit, name) in INCOMPAT_REQUIRED {
        if f.incompat & bit == 0 {
            return Err(Ext4Error::Unsupported(format!(
                "file system without {name}"
            )));
        }
    }
    let state = get16(raw, 0x3A);
    if state & 1 == 0 || state & 2 != 0 {
        return Err(Ext4Error::NotClean(format!(
            "s_state {state:#x} (not cleanly unmounted or has errors); run e2fsck"
        )));
    }
    Ok(f)
}

/// The block size, at most 32 KiB and equal to the cluster size.
fn block_size(raw: &[u8]) -> Result<u64, Ext4Error> {
    let log = get32(raw, 0x18);
    if log > 5 {
        return Err(Ext4Error::Unsupported(format!("block size 2^{}", log + 10)));
    }
    let bs = 1024u64 << log;
    if get32(raw, 0x1C) != log {
        return Err(Ext4Error::Unsupported(
            "cluster size differs from block size".into(),
        ));
    }
    if bs > 32768 {
        // A 64 KiB directory rec_len does not fit 16 bits without special encoding.
        return Err(Ext4Error::Unsupported(format!("block size {bs}")));
    }
    Ok(bs)
}

fn desc_size(raw: &[u8], is64: bool) -> Result<usize, Ext4Error> {
    let desc_size = if is64 {
        usize::from(get16(raw, 0xFE))
    } else {
        32
    };
    if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() || (is64 && desc_size < 64)
    {
        return Err(Ext4Error::Corrupt(format!("descriptor size {desc_size}")));
    }
    Ok(desc_size)
}

/// The counts, read and checked against each other and the block size.
fn geometry(raw: &[u8], bs: u64, is64: bool, desc_size: usize) -> Result<Geometry, Ext4Error> {
    let hi = |off| match is64 {
        true => u64::from(get32(raw, off)) << 32,
        false => 0,
    };
    let g = Geometry {
        blocks_count: u64::from(get32(raw, 0x4)) | hi(0x150),
        first_data_block: u64::from(get32(raw, 0x14)),
        blocks_per_group: u64::from(get32(raw, 0x20)),
        inodes_per_group: get32(raw, 0x28),
        inodes_count: get32(raw, 0x0),
        inode_size: usize::from(get16(raw, 0x58)),
        first_ino: get32(raw, 0x54),
        groups: 0,
        reserved_gdt: u64::from(get16(raw, 0xCE)),
    };
    if let Some(what) = implausible(&g, bs) {
        return Err(Ext4Error::Corrupt(format!(
            "implausible superblock: {what}"
        )));
    }
    check_layout(g, bs, desc_size)
}

fn implausible(g: &Geometry, bs: u64) -> Option<String> {
    let (bpg, ipg, isz) = (g.blocks_per_group, g.inodes_per_group, g.inode_size);
    if bpg == 0 || bpg > bs * 8 {
        Some(format!("{bpg} blocks per group"))
    } else if ipg == 0 || u64::from(ipg) > bs * 8 {
        Some(format!("{ipg} inodes per group"))
    } else if isz < 128 || !isz.is_power_of_two() || isz as u64 > bs {
        Some(format!("inode size {isz}"))
    } else if g.first_data_block >= g.blocks_count {
        Some(format!(
            "first data block {} of {} blocks",
            g.first_data_block, g.blocks_count
        ))
    } else {
        None
    }
}

/// Where mke2fs puts things: the first data block, whole groups, the inode count, and
/// group 0 holding the descriptor table. Fills in the group count.
fn check_layout(mut g: Geometry, bs: u64, desc_size: usize) -> Result<Geometry, Ext4Error> {
    let (first, bpg, ipg) = (g.first_data_block, g.blocks_per_group, g.inodes_per_group);
    // mke2fs and the kernel put block 0 (4 KiB blocks) or 1 (1 KiB) first.
    let want_first = u64::from(bs == 1024);
    if first != want_first {
        return Err(Ext4Error::Corrupt(format!(
            "first data block {first} (expected {want_first} with {bs}-byte blocks)"
        )));
    }
    if !bpg.is_multiple_of(8) || !ipg.is_multiple_of(8) {
        return Err(Ext4Error::Corrupt(format!(
            "{bpg} blocks or {ipg} inodes per group (not a multiple of 8)"
        )));
    }
    let groups = (g.blocks_count - first).div_ceil(bpg);
    if groups * u64::from(ipg) != u64::from(g.inodes_count) {
        return Err(Ext4Error::Corrupt(
            "inode count does not match groups".into(),
        ));
    }
    if g.first_ino < 3 || g.first_ino > ipg {
        return Err(Ext4Error::Corrupt(format!("first inode {}", g.first_ino)));
    }
    let reserved = g.reserved_gdt;
    let gdt_blocks = (groups * desc_size as u64).div_ceil(bs);
    // Without meta_bg the whole descriptor table and its reserve sit in group 0.
    if 1 + gdt_blocks + reserved > bpg.min(g.blocks_count - first) {
        return Err(Ext4Error::Corrupt(format!(
            "{groups} groups: descriptor table of {gdt_blocks}+{reserved} blocks does not fit group 0"
        )));
    }
    g.groups = groups;
    Ok(g)
}

fn csum_kind(raw: &[u8], ro: u32) -> Result<Csum, Ext4Error> {
    let csum = if ro & RO_METADATA_CSUM != 0 {
        Csum::Meta
    } else if ro & RO_GDT_CSUM != 0 {
        Csum::Gdt
    } else {
        Csum::None
    };
    if csum == Csum::Meta && raw[0x175] != 1 {
        return Err(Ext4Error::Unsupported(format!(
            "checksum type {}",
            raw[0x175]
        )));
    }
    Ok(csum)
}

/// The extra inode size new inodes get: the file system's wish if it fits, else up to 32.
fn extra_isize(raw: &[u8], inode_size: usize) -> u16 {
    if inode_size <= 128 {
        return 0;
    }
    let max_extra = (inode_size - 128) as u16;
    let want = get16(raw, 0x15E);
    if want >= 4 && want <= max_extra {
        want & !3
    } else {
        max_extra.min(32)
    }
}

impl Superblock {
    pub(crate) fn parse(raw: Vec<u8>) -> Result<Self, Ext4Error> {
        let Features {
            compat,
            incompat,
            ro,
        } = gate(&raw)?;
        let bs = block_size(&raw)?;
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let desc_size = desc_size(&raw, is64)?;
        let g = geometry(&raw, bs, is64, desc_size)?;
        let csum = csum_kind(&raw, ro)?;
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&raw[0x68..0x78]);
        let seed = if incompat & INCOMPAT_CSUM_SEED != 0 {
            get32(&raw, 0x270)
        } else {
            crc32c(!0, &uuid)
        };
        let hash_seed = [0xEC, 0xF0, 0xF4, 0xF8].map(|off| get32(&raw, off));
        let sb = Superblock {
            bs,
            blocks_count: g.blocks_count,
            first_data_block: g.first_data_block,
            blocks_per_group: g.blocks_per_group,
            inodes_per_group: g.inodes_per_group,
            inodes_count: g.inodes_count,
            inode_size: g.inode_size,
            first_ino: g.first_ino,
            desc_size,
            groups: g.groups as u32,
            csum,
            seed,
            uuid,
            hash_seed,
            hash_unsigned: get32(&raw, 0x160) & 0x2 != 0,
            dir_index: compat & COMPAT_DIR_INDEX != 0,
            largedir: incompat & INCOMPAT_LARGEDIR != 0,
            extra_isize: extra_isize(&raw, g.inode_size),
            reserved_gdt: g.reserved_gdt,
            sparse_super: ro & RO_SPARSE_SUPER != 0,
            is64,
            large_file: ro & RO_LARGE_FILE != 0,
            raw,
        };
        if sb.csum == Csum::Meta && get32(&sb.raw, 0x3FC) != sb.checksum() {
            return Err(Ext4Error::Corrupt("superblock checksum mismatch".into()));
        }
        Ok(sb)
    }

    fn checksum(&self) -> u32 {
        crc32c(!0, &self.raw[..0x3FC])
    }

    /// Block holding the first group descriptor.
    pub(crate) fn gdt_start(&self) -> u64 {
        self.first_data_block + 1
    }

    pub(crate) fn gdt_blocks(&self) -> u64 {
        (u64::from(self.groups) * self.desc_size as u64).div_ceil(self.bs)
    }

    pub(crate) fn group_first_block(&self, g: u32) -> u64 {
        self.first_data_block + u64::from(g) * self.blocks_per_group
    }

    /// Blocks in group `g` (the last group may be short).
    pub(crate) fn group_len(&self, g: u32) -> u64 {
        (self.blocks_count - self.group_first_block(g)).min(self.blocks_per_group)
    }

    pub(crate) fn group_of_block(&self, b: u64) -> u32 {
        ((b - self.first_data_block) / self.blocks_per_group) as u32
    }

    /// Whether group `g` carries a superblock backup (sparse_super: 0, 1, powers of 3, 5, 7).
    pub(crate) fn has_super(&self, g: u32) -> bool {
        if g <= 1 || !self.sparse_super {
            return true;
        }
        if g.is_multiple_of(2) {
            return false;
        }
        [3u32, 5, 7].iter().any(|&p| {
            let mut x = p;
            while x < g {
                x = match x.checked_mul(p) {
                    Some(v) => v,
                    None => return false,
                };
            }
            x == g
        })
    }

    /// Sets the free counters, refreshes the checksum, returns the bytes to write.
    pub(crate) fn finalize(&mut self, free_blocks: u64, free_inodes: u32) -> &[u8] {
        put32(&mut self.raw, 0xC, free_blocks as u32);
        if self.is64 {
            put32(&mut self.raw, 0x158, (free_blocks >> 32) as u32);
        }
        put32(&mut self.raw, 0x10, free_inodes);
        if self.csum == Csum::Meta {
            let c = self.checksum();
            put32(&mut self.raw, 0x3FC, c);
        }
        &self.raw
    }
}
