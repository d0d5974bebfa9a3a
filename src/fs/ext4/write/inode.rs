//! Inodes: field access, table location, checksums.

use std::io::{Read, Seek, Write};

use super::csum::crc32c;
use super::error::{corrupt, Ext4Error};
use super::le::{get16, get32, put16, put32};
use super::superblock::Csum;
use super::{Ext4Writer, Meta};

pub(crate) const S_IFMT: u16 = 0xF000;
pub(crate) const S_IFREG: u16 = 0x8000;
pub(crate) const S_IFDIR: u16 = 0x4000;
pub(crate) const S_IFLNK: u16 = 0xA000;
pub(crate) const EXTENTS_FL: u32 = 0x8_0000;
pub(crate) const INDEX_FL: u32 = 0x1000;
pub(crate) const INLINE_DATA_FL: u32 = 0x1000_0000;
pub(crate) const HUGE_FILE_FL: u32 = 0x4_0000;

/// A copy of one on-disk inode (`inode_size` bytes) and its number.
#[derive(Clone, Debug)]
pub(crate) struct Inode {
    pub ino: u32,
    pub raw: Vec<u8>,
}

impl Inode {
    pub(crate) fn mode(&self) -> u16 {
        get16(&self.raw, 0x0)
    }
    pub(crate) fn kind(&self) -> u16 {
        self.mode() & S_IFMT
    }
    pub(crate) fn is_dir(&self) -> bool {
        self.kind() == S_IFDIR
    }
    pub(crate) fn links(&self) -> u16 {
        get16(&self.raw, 0x1A)
    }
    pub(crate) fn set_links(&mut self, n: u16) {
        put16(&mut self.raw, 0x1A, n);
    }
    pub(crate) fn flags(&self) -> u32 {
        get32(&self.raw, 0x20)
    }
    pub(crate) fn set_flags(&mut self, f: u32) {
        put32(&mut self.raw, 0x20, f);
    }
    pub(crate) fn generation(&self) -> u32 {
        get32(&self.raw, 0x64)
    }
    pub(crate) fn size(&self) -> u64 {
        u64::from(get32(&self.raw, 0x4)) | (u64::from(get32(&self.raw, 0x6C)) << 32)
    }
    pub(crate) fn set_size(&mut self, s: u64) {
        put32(&mut self.raw, 0x4, s as u32);
        put32(&mut self.raw, 0x6C, (s >> 32) as u32);
    }
    pub(crate) fn file_acl(&self) -> u64 {
        u64::from(get32(&self.raw, 0x68)) | (u64::from(get16(&self.raw, 0x76)) << 32)
    }
    pub(crate) fn i_block(&self) -> &[u8] {
        &self.raw[0x28..0x64]
    }
    pub(crate) fn i_block_mut(&mut self) -> &mut [u8] {
        &mut self.raw[0x28..0x64]
    }
    /// i_blocks (512-byte units) less the xattr block, if any.
    pub(crate) fn data_sectors(&self, bs: u64) -> u64 {
        let sectors = u64::from(get32(&self.raw, 0x1C)) | (u64::from(get16(&self.raw, 0x74)) << 32);
        let acl = if self.file_acl() != 0 { bs / 512 } else { 0 };
        sectors.saturating_sub(acl)
    }
    /// Sets i_blocks from a count of file-system blocks (plus the xattr block, if any).
    pub(crate) fn set_fs_blocks(&mut self, fs_blocks: u64, bs: u64) {
        let total = fs_blocks + u64::from(self.file_acl() != 0);
        let sectors = total * (bs / 512);
        put32(&mut self.raw, 0x1C, sectors as u32);
        put16(&mut self.raw, 0x74, (sectors >> 32) as u16);
        self.set_flags(self.flags() & !HUGE_FILE_FL);
    }
    /// Type, permissions, owner and all timestamps from `meta`.
    pub(crate) fn apply_meta(&mut self, kind: u16, meta: &Meta) {
        put16(&mut self.raw, 0x0, kind | (meta.mode & 0o7777));
        put16(&mut self.raw, 0x2, meta.uid as u16);
        put16(&mut self.raw, 0x78, (meta.uid >> 16) as u16);
        put16(&mut self.raw, 0x18, meta.gid as u16);
        put16(&mut self.raw, 0x7A, (meta.gid >> 16) as u16);
        for off in [0x8, 0xC, 0x10] {
            put32(&mut self.raw, off, meta.mtime);
        }
        put32(&mut self.raw, 0x14, 0);
        let extra = self.extra_isize();
        // ctime/mtime/atime_extra and crtime(+extra) live in the extra part when it is big enough.
        for (off, val) in [
            (0x84, 0),
            (0x88, 0),
            (0x8C, 0),
            (0x90, meta.mtime),
            (0x94, 0),
        ] {
            if self.raw.len() >= off + 4 && 128 + extra >= off + 4 {
                put32(&mut self.raw, off, val);
            }
        }
    }
    pub(crate) fn extra_isize(&self) -> usize {
        if self.raw.len() > 128 {
            usize::from(get16(&self.raw, 0x80))
        } else {
            0
        }
    }
}

impl<D: Read + Write + Seek> Ext4Writer<D> {
    fn inode_loc(&mut self, ino: u32) -> Result<(u64, usize), Ext4Error> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(corrupt(format!("inode number {ino} out of range")));
        }
        let ipg = self.sb.inodes_per_group;
        let g = (ino - 1) / ipg;
        let byte = u64::from((ino - 1) % ipg) * self.sb.inode_size as u64;
        let table = self.gd(g)?.inode_table;
        Ok((table + byte / self.sb.bs, (byte % self.sb.bs) as usize))
    }

    /// Reads an inode, refusing one whose checksum does not match (we would
    /// otherwise silently re-seal damaged metadata).
    pub(crate) fn read_inode(&mut self, ino: u32) -> Result<Inode, Ext4Error> {
        let (blk, off) = self.inode_loc(ino)?;
        let isz = self.sb.inode_size;
        let raw = self.disk.read(blk)?[off..off + isz].to_vec();
        let inode = Inode { ino, raw };
        if self.sb.csum == Csum::Meta {
            let mut sealed = inode.clone();
            self.seal_inode(&mut sealed);
            if sealed.raw != inode.raw {
                return Err(corrupt(format!("inode {ino} checksum mismatch")));
            }
        }
        Ok(inode)
    }

    /// Stores the metadata_csum checksum (lo 16 bits, hi 16 if the extra part holds them).
    fn seal_inode(&self, inode: &mut Inode) {
        let hi = inode.raw.len() > 128 && inode.extra_isize() >= 4;
        put16(&mut inode.raw, 0x7C, 0);
        if hi {
            put16(&mut inode.raw, 0x82, 0);
        }
        let c = crc32c(self.inode_seed(inode.ino, inode.generation()), &inode.raw);
        put16(&mut inode.raw, 0x7C, c as u16);
        if hi {
            put16(&mut inode.raw, 0x82, (c >> 16) as u16);
        }
    }

    /// Seed for per-inode checksums (extent tails, dirent tails, dx tails).
    pub(crate) fn inode_seed(&self, ino: u32, gen: u32) -> u32 {
        let c = crc32c(self.sb.seed, &ino.to_le_bytes());
        crc32c(c, &gen.to_le_bytes())
    }

    pub(crate) fn write_inode(&mut self, inode: &Inode) -> Result<(), Ext4Error> {
        let mut inode = inode.clone();
        if self.sb.csum == Csum::Meta {
            self.seal_inode(&mut inode);
        }
        let (blk, off) = self.inode_loc(inode.ino)?;
        self.disk.write(blk)?[off..off + inode.raw.len()].copy_from_slice(&inode.raw);
        Ok(())
    }

    /// A blank inode with the file system's preferred extra size.
    pub(crate) fn blank_inode(&self, ino: u32) -> Inode {
        let mut raw = vec![0u8; self.sb.inode_size];
        if raw.len() > 128 {
            put16(&mut raw, 0x80, self.sb.extra_isize);
        }
        Inode { ino, raw }
    }

    pub(crate) fn zero_inode(&mut self, ino: u32) -> Result<(), Ext4Error> {
        let i = self.blank_inode(ino);
        self.write_inode(&i)
    }
}
