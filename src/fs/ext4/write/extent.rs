//! Extent trees: read all extents of an inode, rebuild a tree from a list.
//!
//! The writer never edits a tree in place: it reads the full extent list, frees
//! the old index/leaf blocks and writes a minimal (fully packed) tree. That keeps
//! every tree as shallow and narrow as possible, which is also what e2fsck expects.

use std::io::{Read, Seek, Write};

use super::csum::crc32c;
use super::error::{corrupt, Ext4Error};
use super::inode::{Inode, EXTENTS_FL};
use super::le::{get16, get32, put16, put32};
use super::superblock::Csum;
use super::Ext4Writer;

const MAGIC: u16 = 0xF30A;
/// Longest initialised extent.
pub(crate) const MAX_LEN: u64 = 32768;
const MAX_DEPTH: u16 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub lblk: u32,
    pub len: u32,
    pub pblk: u64,
}

/// Extents plus the tree blocks that hold them.
pub(crate) struct Tree {
    pub extents: Vec<Extent>,
    pub nodes: Vec<u64>,
}

fn header(b: &mut [u8], entries: usize, max: usize, depth: u16) {
    put16(b, 0, MAGIC);
    put16(b, 2, entries as u16);
    put16(b, 4, max as u16);
    put16(b, 6, depth);
    put32(b, 8, 0);
}

/// Appends `e` to `v`, merging with the last extent when contiguous.
pub(crate) fn push_extent(v: &mut Vec<Extent>, e: Extent) {
    if let Some(l) = v.last_mut() {
        if l.lblk + l.len == e.lblk
            && l.pblk + u64::from(l.len) == e.pblk
            && u64::from(l.len + e.len) <= MAX_LEN
        {
            l.len += e.len;
            return;
        }
    }
    v.push(e);
}

impl<D: Read + Write + Seek> Ext4Writer<D> {
    fn per_block(&self) -> usize {
        (self.sb.bs as usize - 12) / 12
    }

    pub(crate) fn read_tree(&mut self, inode: &Inode) -> Result<Tree, Ext4Error> {
        if inode.flags() & EXTENTS_FL == 0 {
            return Err(Ext4Error::Unsupported(format!(
                "inode {} uses block maps, not extents",
                inode.ino
            )));
        }
        let mut t = Tree {
            extents: Vec::new(),
            nodes: Vec::new(),
        };
        let root = inode.i_block().to_vec();
        let seed = self.inode_seed(inode.ino, inode.generation());
        self.walk(inode.ino, seed, &root, None, &mut t)?;
        self.check_extents(inode.ino, &t.extents)?;
        Ok(t)
    }

    /// Extents must be non-empty, inside the file system and in strictly increasing,
    /// non-overlapping logical order (lookups and frees rely on it).
    fn check_extents(&self, ino: u32, exts: &[Extent]) -> Result<(), Ext4Error> {
        let mut next_l = 0u64;
        for e in exts {
            let end = e.pblk.checked_add(u64::from(e.len));
            if e.len == 0
                || e.pblk < self.sb.first_data_block
                || end.is_none_or(|x| x > self.sb.blocks_count)
                || u64::from(e.lblk) < next_l
            {
                return Err(corrupt(format!(
                    "inode {ino}: extent of {} blocks at {} (logical {}) is invalid",
                    e.len, e.pblk, e.lblk
                )));
            }
            next_l = u64::from(e.lblk) + u64::from(e.len);
        }
        Ok(())
    }

    fn walk(
        &mut self,
        ino: u32,
        seed: u32,
        node: &[u8],
        want_depth: Option<u16>,
        t: &mut Tree,
    ) -> Result<(), Ext4Error> {
        let bad = |what: &str| corrupt(format!("inode {ino}: extent tree {what}"));
        if get16(node, 0) != MAGIC {
            return Err(bad("bad magic"));
        }
        let n = usize::from(get16(node, 2));
        let depth = get16(node, 6);
        if depth > MAX_DEPTH || want_depth.is_some_and(|d| d != depth) {
            return Err(bad("bad depth"));
        }
        if 12 + n * 12 > node.len() || n > usize::from(get16(node, 4)) {
            return Err(bad("bad entry count"));
        }
        for i in 0..n {
            let e = &node[12 + 12 * i..24 + 12 * i];
            if depth == 0 {
                let raw_len = u32::from(get16(e, 4));
                // Uninitialised extents store len + 32768; the blocks are still allocated.
                let len = if raw_len > 32768 {
                    raw_len - 32768
                } else {
                    raw_len
                };
                let pblk = u64::from(get32(e, 8)) | (u64::from(get16(e, 6)) << 32);
                t.extents.push(Extent {
                    lblk: get32(e, 0),
                    len,
                    pblk,
                });
            } else {
                let child = u64::from(get32(e, 4)) | (u64::from(get16(e, 8)) << 32);
                // A node reached twice (shared or looping) would multiply the work.
                if t.nodes.contains(&child) || t.nodes.len() as u64 >= self.sb.blocks_count {
                    return Err(bad("reuses a block"));
                }
                if child < self.sb.first_data_block {
                    return Err(bad("points outside the file system"));
                }
                t.nodes.push(child);
                let buf = self.disk.read(child)?.to_vec();
                if self.sb.csum == Csum::Meta {
                    let tail = 12 + 12 * usize::from(get16(&buf, 4));
                    if tail + 4 > buf.len() || get32(&buf, tail) != crc32c(seed, &buf[..tail]) {
                        return Err(bad("block checksum mismatch"));
                    }
                }
                self.walk(ino, seed, &buf, Some(depth - 1), t)?;
            }
        }
        Ok(())
    }

    /// Frees the data and tree blocks of an extent-mapped inode.
    pub(crate) fn free_tree(&mut self, inode: &Inode) -> Result<(), Ext4Error> {
        let t = self.read_tree(inode)?;
        for e in &t.extents {
            self.free_run(e.pblk, u64::from(e.len))?;
        }
        for b in &t.nodes {
            self.free_run(*b, 1)?;
        }
        Ok(())
    }

    /// Writes a minimal tree for `exts` (sorted, non-overlapping) into `inode`,
    /// allocating tree blocks near `goal`. Returns the number of tree blocks.
    pub(crate) fn write_tree(
        &mut self,
        inode: &mut Inode,
        exts: &[Extent],
        goal: u64,
    ) -> Result<u64, Ext4Error> {
        let per = self.per_block();
        // Entries of the current level: (first logical block, 12 raw bytes).
        let mut level: Vec<(u32, [u8; 12])> = exts
            .iter()
            .map(|e| {
                let mut r = [0u8; 12];
                put32(&mut r, 0, e.lblk);
                put16(&mut r, 4, e.len as u16);
                put16(&mut r, 6, (e.pblk >> 32) as u16);
                put32(&mut r, 8, e.pblk as u32);
                (e.lblk, r)
            })
            .collect();
        let mut depth = 0u16;
        let mut used = 0u64;
        let seed = self.inode_seed(inode.ino, inode.generation());
        let meta = self.sb.csum == Csum::Meta;
        while level.len() > 4 {
            let chunks: Vec<&[(u32, [u8; 12])]> = level.chunks(per).collect();
            let blocks = self.alloc_blocks(goal, chunks.len() as u64, MAX_LEN)?;
            let list: Vec<u64> = blocks.iter().flat_map(|&(b, n)| b..b + n).collect();
            let mut next = Vec::with_capacity(chunks.len());
            for (chunk, &blk) in chunks.iter().zip(&list) {
                let buf = self.disk.fresh(blk)?;
                header(buf, chunk.len(), per, depth);
                for (i, (_, r)) in chunk.iter().enumerate() {
                    buf[12 + 12 * i..24 + 12 * i].copy_from_slice(r);
                }
                if meta {
                    let tail = 12 + 12 * per;
                    let c = crc32c(seed, &buf[..tail]);
                    put32(buf, tail, c);
                }
                let mut r = [0u8; 12];
                put32(&mut r, 0, chunk[0].0);
                put32(&mut r, 4, blk as u32);
                put16(&mut r, 8, (blk >> 32) as u16);
                next.push((chunk[0].0, r));
            }
            used += list.len() as u64;
            level = next;
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(Ext4Error::NoSpace("extent tree too deep".into()));
            }
        }
        let root = inode.i_block_mut();
        root.fill(0);
        header(root, level.len(), 4, depth);
        for (i, (_, r)) in level.iter().enumerate() {
            root[12 + 12 * i..24 + 12 * i].copy_from_slice(r);
        }
        inode.set_flags(inode.flags() | EXTENTS_FL);
        Ok(used)
    }
}

/// Maps a logical block through a sorted extent list.
pub(crate) fn map_block(exts: &[Extent], lblk: u32) -> Option<u64> {
    let i = exts.partition_point(|e| e.lblk + e.len <= lblk);
    let e = exts.get(i)?;
    (e.lblk <= lblk).then(|| e.pblk + u64::from(lblk - e.lblk))
}
