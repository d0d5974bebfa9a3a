//! Hashed directories (dir_index/htree): the index nodes above the leaf blocks, found by
//! name hash, split when full.

use std::io::{Read, Seek, Write};

use super::csum::crc32c;
use super::dir::*;
use super::error::{corrupt, Ext4Error};
use super::hash::dx_hash;
use super::le::{get16, get32, put16, put32};
use super::superblock::Csum;
use super::Ext4Writer;

struct DxNode {
    pblk: u64,
    count_off: usize,
    limit: usize,
    entries: Vec<(u32, u32)>,
    idx: usize,
}

impl<D: Read + Write + Seek> Ext4Writer<D> {
    fn dx_version(&mut self, ctx: &DirCtx) -> Result<u8, Ext4Error> {
        let b0 = self.dpblk(ctx, 0)?;
        let v = self.disk.read(b0)?[0x1C];
        let v = if v <= 2 && self.sb.hash_unsigned {
            v + 3
        } else {
            v
        };
        if v > 5 {
            return Err(Ext4Error::Unsupported(format!(
                "directory hash version {v}"
            )));
        }
        Ok(v)
    }

    fn dx_hash_of(&mut self, ctx: &DirCtx, name: &[u8]) -> Result<u32, Ext4Error> {
        let v = self.dx_version(ctx)?;
        dx_hash(name, v, &self.sb.hash_seed)
            .ok_or_else(|| Ext4Error::Unsupported(format!("directory hash version {v}")))
    }

    fn max_levels(&self) -> usize {
        if self.sb.largedir {
            3
        } else {
            2
        }
    }

    fn dx_parse(
        &mut self,
        seed: u32,
        pblk: u64,
        root: bool,
        hash: u32,
    ) -> Result<DxNode, Ext4Error> {
        let bs = self.sb.bs as usize;
        let tail = self.dx_tail();
        let buf = self.disk.read(pblk)?;
        let count_off = if root {
            if buf[0x1D] != 8 || get32(buf, 0x18) != 0 {
                return Err(corrupt("bad dx root info"));
            }
            0x20
        } else {
            8
        };
        let limit = usize::from(get16(buf, count_off));
        let count = usize::from(get16(buf, count_off + 2));
        if limit != (bs - count_off - tail) / 8 || count == 0 || count > limit {
            return Err(corrupt(format!("bad dx node count/limit in block {pblk}")));
        }
        if tail != 0 {
            let t = count_off + 8 * limit;
            let c = crc32c(seed, &buf[..count_off + 8 * count]);
            let c = crc32c(crc32c(c, &buf[t..t + 4]), &[0u8; 4]);
            if get32(buf, t + 4) != c {
                return Err(corrupt(format!(
                    "dx node in block {pblk} checksum mismatch"
                )));
            }
        }
        let mut entries = vec![(0, get32(buf, count_off + 4))];
        for i in 1..count {
            let o = count_off + 8 * i;
            entries.push((get32(buf, o), get32(buf, o + 4)));
        }
        let idx = entries[1..].partition_point(|e| e.0 <= hash);
        Ok(DxNode {
            pblk,
            count_off,
            limit,
            entries,
            idx,
        })
    }

    fn dx_store(&mut self, ctx: &DirCtx, n: &DxNode) -> Result<(), Ext4Error> {
        let meta = self.sb.csum == Csum::Meta;
        let buf = self.disk.write(n.pblk)?;
        let co = n.count_off;
        put16(buf, co, n.limit as u16);
        put16(buf, co + 2, n.entries.len() as u16);
        put32(buf, co + 4, n.entries[0].1);
        for (i, &(h, b)) in n.entries.iter().enumerate().skip(1) {
            put32(buf, co + 8 * i, h);
            put32(buf, co + 8 * i + 4, b);
        }
        buf[co + 8 * n.entries.len()..co + 8 * n.limit].fill(0);
        if meta {
            let t = co + 8 * n.limit;
            put32(buf, t, 0);
            let c = crc32c(ctx.seed, &buf[..co + 8 * n.entries.len()]);
            // Covers the tail too, with dt_checksum counted as zero.
            let c = crc32c(c, &buf[t..t + 4]);
            let c = crc32c(c, &[0u8; 4]);
            put32(buf, t + 4, c);
        }
        Ok(())
    }

    fn dx_path(&mut self, ctx: &DirCtx, hash: u32) -> Result<Vec<DxNode>, Ext4Error> {
        let b0 = self.dpblk(ctx, 0)?;
        let levels = usize::from(self.disk.read(b0)?[0x1E]);
        if levels >= self.max_levels() {
            return Err(corrupt("dx tree deeper than allowed"));
        }
        let mut path = vec![self.dx_parse(ctx.seed, b0, true, hash)?];
        for _ in 0..levels {
            let n = path.last().expect("non-empty");
            let lblk = n.entries[n.idx].1;
            let pblk = self.dpblk(ctx, lblk)?;
            path.push(self.dx_parse(ctx.seed, pblk, false, hash)?);
        }
        Ok(path)
    }

    /// Leaves that may hold `name`: the hashed one and any that continue its hash.
    pub(super) fn dx_candidates(
        &mut self,
        ctx: &DirCtx,
        name: &[u8],
    ) -> Result<Vec<u32>, Ext4Error> {
        let hash = self.dx_hash_of(ctx, name)?;
        let path = self.dx_path(ctx, hash)?;
        let n = path.last().expect("non-empty");
        let mut out = vec![n.entries[n.idx].1];
        for e in &n.entries[n.idx + 1..] {
            if e.0 & !1 != hash {
                break;
            }
            out.push(e.1);
        }
        Ok(out)
    }

    pub(super) fn dx_add(
        &mut self,
        ctx: &mut DirCtx,
        name: &[u8],
        ino: u32,
        ft: u8,
    ) -> Result<(), Ext4Error> {
        let end = self.dir_end();
        let version = self.dx_version(ctx)?;
        let hash = self.dx_hash_of(ctx, name)?;
        let mut path = self.dx_path(ctx, hash)?;
        let leaf = {
            let n = path.last().expect("non-empty");
            n.entries[n.idx].1
        };
        let pblk = self.dpblk(ctx, leaf)?;
        self.check_tail(ctx.seed, pblk)?;
        let mut copy = self.disk.read(pblk)?.to_vec();
        if insert_in_block(&mut copy, end, name, ino, ft)? {
            self.disk.write(pblk)?.copy_from_slice(&copy);
            return self.seal_dirblock(ctx.seed, pblk);
        }
        // Leaf full: split it by hash into itself and a new block.
        let mut ents: Vec<(u32, Vec<u8>, u32, u8)> = Vec::new();
        for e in parse_block(&copy, end)? {
            if e.ino != 0 {
                let nm = name_of(&copy, &e).to_vec();
                let h = dx_hash(&nm, version, &self.sb.hash_seed).expect("version checked");
                ents.push((h, nm, e.ino, e.ft));
            }
        }
        ents.push((hash, name.to_vec(), ino, ft));
        ents.sort_by_key(|e| e.0);
        let items: Vec<(u32, usize)> = ents.iter().map(|e| (e.0, rec_size(e.1.len()))).collect();
        let split = split_point(&items, end)
            .ok_or_else(|| Ext4Error::DirIndexFull("cannot split directory leaf".into()))?;
        let (lblk2, pblk2) = self.append_block(ctx)?;
        let left: Vec<(Vec<u8>, u32, u8)> = ents[..split]
            .iter()
            .map(|e| (e.1.clone(), e.2, e.3))
            .collect();
        let right: Vec<(Vec<u8>, u32, u8)> = ents[split..]
            .iter()
            .map(|e| (e.1.clone(), e.2, e.3))
            .collect();
        pack_block(self.disk.write(pblk)?, end, &left);
        self.seal_dirblock(ctx.seed, pblk)?;
        pack_block(self.disk.write(pblk2)?, end, &right);
        self.seal_dirblock(ctx.seed, pblk2)?;
        let hash2 = ents[split].0;
        let continued = u32::from(hash2 == ents[split - 1].0);
        let level = path.len() - 1;
        self.dx_insert(ctx, &mut path, level, hash2 | continued, lblk2)
    }

    /// Inserts (hash, block) after the current entry of `path[level]`, splitting
    /// full index nodes and adding a level under the root when needed.
    fn dx_insert(
        &mut self,
        ctx: &mut DirCtx,
        path: &mut Vec<DxNode>,
        level: usize,
        hash: u32,
        blk: u32,
    ) -> Result<(), Ext4Error> {
        if path[level].entries.len() < path[level].limit {
            let n = &mut path[level];
            n.entries.insert(n.idx + 1, (hash, blk));
            let n = &path[level];
            return self.dx_store(ctx, n);
        }
        let bs = self.sb.bs as usize;
        let node_limit = (bs - 8 - self.dx_tail()) / 8;
        if level == 0 {
            let levels = path.len() - 1;
            if levels + 1 >= self.max_levels() {
                return Err(Ext4Error::DirIndexFull(format!(
                    "directory {} (enable large_dir for a third level)",
                    ctx.inode.ino
                )));
            }
            let (nl, npb) = self.append_block(ctx)?;
            self.init_dx_node(npb)?;
            let root = &mut path[0];
            let child = DxNode {
                pblk: npb,
                count_off: 8,
                limit: node_limit,
                entries: std::mem::replace(&mut root.entries, vec![(0, nl)]),
                idx: root.idx,
            };
            root.idx = 0;
            let rpblk = root.pblk;
            self.disk.write(rpblk)?[0x1E] = (levels + 1) as u8;
            self.dx_store(ctx, &path[0])?;
            self.dx_store(ctx, &child)?;
            path.insert(1, child);
            return self.dx_insert(ctx, path, 1, hash, blk);
        }
        let (nl, npb) = self.append_block(ctx)?;
        self.init_dx_node(npb)?;
        let n = &mut path[level];
        let half = n.entries.len() / 2;
        let mut right = DxNode {
            pblk: npb,
            count_off: 8,
            limit: node_limit,
            entries: n.entries.split_off(half),
            idx: 0,
        };
        let key = right.entries[0].0;
        let pos = n.idx + 1;
        if pos <= half {
            n.entries.insert(pos, (hash, blk));
        } else {
            right.entries.insert(pos - half, (hash, blk));
        }
        self.dx_store(ctx, &path[level])?;
        self.dx_store(ctx, &right)?;
        self.dx_insert(ctx, path, level - 1, key, nl)
    }

    /// An interior dx node starts with an empty dirent spanning the block.
    fn init_dx_node(&mut self, pblk: u64) -> Result<(), Ext4Error> {
        let bs = self.sb.bs as usize;
        let buf = self.disk.fresh(pblk)?;
        put32(buf, 0, 0);
        put16(buf, 4, bs as u16);
        Ok(())
    }
}
