//! Directories: linear blocks, and the entry points that pick linear or hashed (see
//! [`super::htree`]).

use std::io::{Read, Seek, Write};

use super::csum::crc32c;
use super::error::{corrupt, Ext4Error};
use super::extent::{map_block, push_extent, Extent};
use super::inode::{Inode, INDEX_FL, INLINE_DATA_FL};
use super::le::{get16, get32, put16, put32};
use super::superblock::Csum;
use super::Ext4Writer;

pub(crate) const FT_REG: u8 = 1;
pub(crate) const FT_DIR: u8 = 2;
pub(crate) const FT_SYMLINK: u8 = 7;

/// A directory being read or changed within one operation.
pub(crate) struct DirCtx {
    pub inode: Inode,
    pub(super) exts: Vec<Extent>,
    pub(super) nodes: Vec<u64>,
    pub(super) nblocks: u32,
    pub(super) grown: bool,
    pub(super) seed: u32,
}

/// Where a name was found.
pub(crate) struct Found {
    pub ino: u32,
    pub ft: u8,
    pub(super) pblk: u64,
}

pub(super) struct Ent {
    pub(super) off: usize,
    pub(super) ino: u32,
    pub(super) rec_len: usize,
    pub(super) name_len: usize,
    pub(super) ft: u8,
}

pub(super) fn rec_size(name_len: usize) -> usize {
    (8 + name_len + 3) & !3
}

pub(super) fn parse_block(buf: &[u8], end: usize) -> Result<Vec<Ent>, Ext4Error> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < end {
        if off + 8 > end {
            return Err(corrupt("directory entry crosses block end"));
        }
        let rec_len = usize::from(get16(buf, off + 4));
        let name_len = usize::from(buf[off + 6]);
        if rec_len < 8 || rec_len % 4 != 0 || off + rec_len > end || 8 + name_len > rec_len {
            return Err(corrupt(format!("bad directory entry at offset {off}")));
        }
        let ino = get32(buf, off);
        let name = &buf[off + 8..off + 8 + name_len];
        if ino != 0 && (name_len == 0 || name.contains(&0) || name.contains(&b'/')) {
            return Err(corrupt(format!(
                "bad name in directory entry at offset {off}"
            )));
        }
        out.push(Ent {
            off,
            ino: get32(buf, off),
            rec_len,
            name_len,
            ft: buf[off + 7],
        });
        off += rec_len;
    }
    Ok(out)
}

pub(super) fn name_of<'a>(buf: &'a [u8], e: &Ent) -> &'a [u8] {
    &buf[e.off + 8..e.off + 8 + e.name_len]
}

pub(super) fn put_entry(buf: &mut [u8], off: usize, rec_len: usize, name: &[u8], ino: u32, ft: u8) {
    put32(buf, off, ino);
    put16(buf, off + 4, rec_len as u16);
    buf[off + 6] = name.len() as u8;
    buf[off + 7] = ft;
    buf[off + 8..off + 8 + name.len()].copy_from_slice(name);
    let pad_end = off + rec_size(name.len());
    buf[off + 8 + name.len()..pad_end].fill(0);
}

/// Inserts into the first gap that fits; false if the block is full.
pub(super) fn insert_in_block(
    buf: &mut [u8],
    end: usize,
    name: &[u8],
    ino: u32,
    ft: u8,
) -> Result<bool, Ext4Error> {
    let need = rec_size(name.len());
    for e in parse_block(buf, end)? {
        let used = if e.ino == 0 { 0 } else { rec_size(e.name_len) };
        if e.rec_len >= used + need {
            if e.ino == 0 {
                put_entry(buf, e.off, e.rec_len, name, ino, ft);
            } else {
                put16(buf, e.off + 4, used as u16);
                put_entry(buf, e.off + used, e.rec_len - used, name, ino, ft);
            }
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) fn find_in_block(
    buf: &[u8],
    end: usize,
    name: &[u8],
) -> Result<Option<(u32, u8)>, Ext4Error> {
    Ok(parse_block(buf, end)?
        .iter()
        .find(|e| e.ino != 0 && name_of(buf, e) == name)
        .map(|e| (e.ino, e.ft)))
}

/// Rewrites a block with `ents` packed in order, the last one spanning to `end`.
pub(super) fn pack_block(buf: &mut [u8], end: usize, ents: &[(Vec<u8>, u32, u8)]) {
    buf[..end].fill(0);
    if ents.is_empty() {
        put16(buf, 4, end as u16);
        return;
    }
    let mut off = 0;
    for (i, (name, ino, ft)) in ents.iter().enumerate() {
        let rl = if i + 1 == ents.len() {
            end - off
        } else {
            rec_size(name.len())
        };
        put_entry(buf, off, rl, name, *ino, *ft);
        off += rl;
    }
}

/// Picks where to split sorted (hash, size) pairs: about half the bytes, preferring
/// a boundary between different hashes; both halves must fit in `cap` bytes.
pub(super) fn split_point(items: &[(u32, usize)], cap: usize) -> Option<usize> {
    let n = items.len();
    let total: usize = items.iter().map(|x| x.1).sum();
    let fits = |s: usize| {
        let left: usize = items[..s].iter().map(|x| x.1).sum();
        left <= cap && total - left <= cap
    };
    let mut cum = 0;
    let mut mid = n - 1;
    for (i, it) in items.iter().enumerate() {
        if cum >= total / 2 {
            mid = i;
            break;
        }
        cum += it.1;
    }
    let mid = mid.clamp(1, n - 1);
    let distinct = |s: usize| items[s].0 != items[s - 1].0;
    let order = (0..n).flat_map(|d| [mid + d, mid.wrapping_sub(d)]);
    order
        .clone()
        .filter(|&s| s >= 1 && s < n)
        .find(|&s| distinct(s) && fits(s))
        .or_else(|| order.filter(|&s| s >= 1 && s < n).find(|&s| fits(s)))
}

impl<D: Read + Write + Seek> Ext4Writer<D> {
    pub(super) fn dir_end(&self) -> usize {
        self.sb.bs as usize - if self.sb.csum == Csum::Meta { 12 } else { 0 }
    }

    pub(super) fn dx_tail(&self) -> usize {
        if self.sb.csum == Csum::Meta {
            8
        } else {
            0
        }
    }

    pub(crate) fn load_dir(&mut self, ino: u32) -> Result<DirCtx, Ext4Error> {
        let inode = self.read_inode(ino)?;
        if !inode.is_dir() {
            return Err(Ext4Error::NotADirectory(format!("inode {ino}")));
        }
        if inode.flags() & INLINE_DATA_FL != 0 {
            return Err(Ext4Error::Unsupported(format!(
                "inline-data directory {ino}"
            )));
        }
        if inode.flags() & INDEX_FL != 0 && !self.sb.dir_index {
            return Err(Ext4Error::Unsupported(format!(
                "indexed directory {ino} without dir_index"
            )));
        }
        let tree = self.read_tree(&inode)?;
        let size = inode.size();
        let mapped: u64 = tree.extents.iter().map(|e| u64::from(e.len)).sum();
        // Every block the size claims must be mapped: loops over blocks stay bounded.
        if size % self.sb.bs != 0 || size == 0 || size / self.sb.bs > mapped.min(u32::MAX.into()) {
            return Err(corrupt(format!("directory {ino} has size {size}")));
        }
        let seed = self.inode_seed(ino, inode.generation());
        Ok(DirCtx {
            nblocks: (size / self.sb.bs) as u32,
            inode,
            exts: tree.extents,
            nodes: tree.nodes,
            grown: false,
            seed,
        })
    }

    pub(super) fn dpblk(&self, ctx: &DirCtx, lblk: u32) -> Result<u64, Ext4Error> {
        map_block(&ctx.exts, lblk)
            .ok_or_else(|| corrupt(format!("directory {} has a hole", ctx.inode.ino)))
    }

    /// Adds one zeroed block at the end of the directory.
    pub(super) fn append_block(&mut self, ctx: &mut DirCtx) -> Result<(u32, u64), Ext4Error> {
        let goal = match ctx.exts.last() {
            Some(e) => e.pblk + u64::from(e.len),
            None => self
                .sb
                .group_first_block((ctx.inode.ino - 1) / self.sb.inodes_per_group),
        };
        let (b, _) = self.alloc_run(goal, 1)?;
        let lblk = ctx.nblocks;
        push_extent(
            &mut ctx.exts,
            Extent {
                lblk,
                len: 1,
                pblk: b,
            },
        );
        ctx.nblocks += 1;
        ctx.grown = true;
        self.disk.fresh(b)?;
        Ok((lblk, b))
    }

    /// Writes back the directory inode (and a new extent tree if it grew).
    pub(crate) fn store_dir(&mut self, mut ctx: DirCtx) -> Result<(), Ext4Error> {
        if ctx.grown {
            for &n in &ctx.nodes {
                self.free_run(n, 1)?;
            }
            let goal = ctx.exts[0].pblk;
            let tree = self.write_tree(&mut ctx.inode, &ctx.exts, goal)?;
            let data: u64 = ctx.exts.iter().map(|e| u64::from(e.len)).sum();
            ctx.inode.set_size(u64::from(ctx.nblocks) * self.sb.bs);
            ctx.inode.set_fs_blocks(data + tree, self.sb.bs);
        }
        self.write_inode(&ctx.inode)
    }

    pub(super) fn seal_dirblock(&mut self, seed: u32, pblk: u64) -> Result<(), Ext4Error> {
        if self.sb.csum != Csum::Meta {
            return Ok(());
        }
        let bs = self.sb.bs as usize;
        let buf = self.disk.write(pblk)?;
        let t = bs - 12;
        put32(buf, t, 0);
        put16(buf, t + 4, 12);
        buf[t + 6] = 0;
        buf[t + 7] = 0xDE;
        let c = crc32c(seed, &buf[..t]);
        put32(buf, t + 8, c);
        Ok(())
    }

    /// A leaf block we are about to change must carry a valid checksum tail.
    pub(super) fn check_tail(&mut self, seed: u32, pblk: u64) -> Result<(), Ext4Error> {
        if self.sb.csum != Csum::Meta {
            return Ok(());
        }
        let t = self.sb.bs as usize - 12;
        let buf = self.disk.read(pblk)?;
        if get32(buf, t) != 0 || get16(buf, t + 4) != 12 || buf[t + 7] != 0xDE {
            return Err(corrupt(format!(
                "directory block {pblk} has no checksum tail"
            )));
        }
        if get32(buf, t + 8) != crc32c(seed, &buf[..t]) {
            return Err(corrupt(format!("directory block {pblk} checksum mismatch")));
        }
        Ok(())
    }

    pub(super) fn is_htree(ctx: &DirCtx) -> bool {
        ctx.inode.flags() & INDEX_FL != 0
    }

    pub(crate) fn dir_lookup(
        &mut self,
        ctx: &DirCtx,
        name: &[u8],
    ) -> Result<Option<Found>, Ext4Error> {
        let end = self.dir_end();
        let leaves: Vec<u32> = if Self::is_htree(ctx) {
            self.dx_candidates(ctx, name)?
        } else {
            (0..ctx.nblocks).collect()
        };
        for lblk in leaves {
            let pblk = self.dpblk(ctx, lblk)?;
            let buf = self.disk.read(pblk)?;
            if let Some((ino, ft)) = find_in_block(buf, end, name)? {
                return Ok(Some(Found { ino, ft, pblk }));
            }
        }
        Ok(None)
    }

    pub(crate) fn dir_add(
        &mut self,
        ctx: &mut DirCtx,
        name: &[u8],
        ino: u32,
        ft: u8,
    ) -> Result<(), Ext4Error> {
        if Self::is_htree(ctx) {
            return self.dx_add(ctx, name, ino, ft);
        }
        let end = self.dir_end();
        for lblk in 0..ctx.nblocks {
            let pblk = self.dpblk(ctx, lblk)?;
            self.check_tail(ctx.seed, pblk)?;
            let mut copy = self.disk.read(pblk)?.to_vec();
            if insert_in_block(&mut copy, end, name, ino, ft)? {
                self.disk.write(pblk)?.copy_from_slice(&copy);
                return self.seal_dirblock(ctx.seed, pblk);
            }
        }
        // Linear directory full: add a block (no conversion to htree).
        let (_, pblk) = self.append_block(ctx)?;
        pack_block(self.disk.write(pblk)?, end, &[(name.to_vec(), ino, ft)]);
        self.seal_dirblock(ctx.seed, pblk)
    }

    /// Removes `name` found at `f`; returns nothing (the caller holds the inode).
    pub(crate) fn dir_remove(
        &mut self,
        ctx: &DirCtx,
        name: &[u8],
        f: &Found,
    ) -> Result<(), Ext4Error> {
        self.check_tail(ctx.seed, f.pblk)?;
        let end = self.dir_end();
        let buf = self.disk.write(f.pblk)?;
        let ents = parse_block(buf, end)?;
        let k = ents
            .iter()
            .position(|e| e.ino != 0 && name_of(buf, e) == name)
            .ok_or_else(|| corrupt("entry vanished"))?;
        if k == 0 {
            put32(buf, ents[0].off, 0);
        } else {
            let p = &ents[k - 1];
            put16(buf, p.off + 4, (p.rec_len + ents[k].rec_len) as u16);
        }
        self.seal_dirblock(ctx.seed, f.pblk)
    }

    pub(crate) fn dir_set_type(
        &mut self,
        ctx: &DirCtx,
        name: &[u8],
        f: &Found,
        ft: u8,
    ) -> Result<(), Ext4Error> {
        self.check_tail(ctx.seed, f.pblk)?;
        let end = self.dir_end();
        let buf = self.disk.write(f.pblk)?;
        for e in parse_block(buf, end)? {
            if e.ino != 0 && name_of(buf, &e) == name {
                buf[e.off + 7] = ft;
            }
        }
        self.seal_dirblock(ctx.seed, f.pblk)
    }

    /// Fills block 0 of a new directory with "." and "..".
    pub(crate) fn init_dir_block(
        &mut self,
        ino: u32,
        gen: u32,
        parent: u32,
        pblk: u64,
    ) -> Result<(), Ext4Error> {
        let end = self.dir_end();
        let buf = self.disk.fresh(pblk)?;
        put_entry(buf, 0, 12, b".", ino, FT_DIR);
        put_entry(buf, 12, end - 12, b"..", parent, FT_DIR);
        let seed = self.inode_seed(ino, gen);
        self.seal_dirblock(seed, pblk)
    }
}
