//! In-place ext4 writer: create, replace and remove files, directories and
//! symlinks in an unmounted, clean ext4 file system, without root or mount.
//!
//! Design: metadata blocks are changed only in a copy-on-write cache
//! (the `cache` module); each public operation is a transaction that either commits to
//! that cache or is rolled back entirely (so a failed operation, e.g. "no
//! space", leaves the device untouched). File data is streamed straight into
//! freshly allocated blocks after every allocation of the operation succeeded; the
//! bytes it replaces are saved first (`undo`) and written back if the operation
//! fails, so a failure leaves every byte of the file system unchanged. Before a
//! group's bitmaps are first changed they are checked against its descriptor
//! (`check`): a damaged group is refused rather than handed out twice.
//! [`Ext4Writer::finish`] writes the metadata, checksums and free counts.
//! Nothing depends on the clock or randomness: same inputs, same bytes.
//!
//! Understood: 1–32 KiB blocks, extents (trees of any depth, rebuilt minimal on
//! change), flex_bg, 32- and 64-byte group descriptors (64bit), `uninit_bg`
//! (CRC16) and `metadata_csum` (CRC32C, incl. `metadata_csum_seed`), BLOCK_UNINIT /
//! INODE_UNINIT groups and `itable_unused`, linear and hashed (htree) directories
//! with legacy/half-MD4/TEA hashes, signed or unsigned, up to `large_dir` depth.
//! A journal, if any, is left alone (the file system must be clean).
//!
//! Refused at [`Ext4Writer::open`], by name: needs_recovery, meta_bg, bigalloc,
//! inline_data, encrypt, casefold, verity, quota, project, mmp, ea_inode,
//! journal_dev, sparse_super2, snapshots and any unknown feature bit; file systems
//! without `extent` or `filetype`; an unclean or erroring state; geometry that does
//! not add up (first data block, group counts, a file system larger than its
//! partition, descriptors pointing outside it). Paths are
//! resolved without following symlinks. Allocation is first fit: inodes in the
//! parent's group (then onwards), blocks from the start of the inode's group,
//! contiguous runs where the free space allows.

mod cache;
mod check;
mod csum;
mod dir;
mod error;
mod extent;
mod group;
mod hash;
mod htree;
mod inode;
mod le;
mod superblock;
mod undo;

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};

pub use error::Ext4Error;

use cache::Disk;
use dir::{DirCtx, FT_DIR, FT_REG, FT_SYMLINK};
use extent::{Extent, MAX_LEN};
use inode::{Inode, S_IFDIR, S_IFLNK, S_IFREG};
use superblock::{Superblock, SB_OFFSET, SB_SIZE};
use undo::Undo;

const ROOT_INO: u32 = 2;

/// Ownership, permissions and time of a new or replaced entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits only (e.g. `0o644`); the file type comes from the call.
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch, used for atime, ctime, mtime and crtime (ns = 0).
    pub mtime: u32,
}

/// A writer over one ext4 file system (e.g. a partition [`crate::io::window::Window`]).
pub struct Ext4Writer<D: Read + Write + Seek> {
    disk: Disk<D>,
    sb: Superblock,
    /// Groups changed by the current operation (checksums refreshed on commit).
    touched: BTreeSet<u32>,
    /// Bitmaps (group, is_inode_bitmap) whose on-disk checksum has been checked.
    verified: BTreeSet<(u32, bool)>,
    /// Whether any operation committed (an untouched file system is not rewritten).
    changed: bool,
    /// Data blocks overwritten by the current operation, restored if it fails.
    undo: Undo,
    /// Groups whose bitmaps were checked against their descriptor (inode bitmap: true).
    checked: BTreeSet<(u32, bool)>,
}

fn split_path(path: &str) -> Result<Vec<&[u8]>, Ext4Error> {
    let comps: Vec<&[u8]> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::as_bytes)
        .collect();
    for c in &comps {
        if *c == b"." || *c == b".." || c.len() > 255 || c.contains(&0) {
            return Err(Ext4Error::InvalidPath(path.to_string()));
        }
    }
    Ok(comps)
}

impl<D: Read + Write + Seek> Ext4Writer<D> {
    /// Reads and validates the superblock and group descriptors. Writes nothing.
    pub fn open(mut dev: D) -> Result<Self, Ext4Error> {
        let mut raw = vec![0u8; SB_SIZE];
        dev.seek(SeekFrom::Start(SB_OFFSET))?;
        dev.read_exact(&mut raw)?;
        let sb = Superblock::parse(raw)?;
        let part = dev.seek(SeekFrom::End(0))?;
        if sb.blocks_count.checked_mul(sb.bs).is_none_or(|n| n > part) {
            return Err(Ext4Error::Corrupt(format!(
                "{} blocks of {} bytes do not fit the partition ({part} bytes)",
                sb.blocks_count, sb.bs
            )));
        }
        let mut w = Ext4Writer {
            disk: Disk::new(dev, sb.bs, sb.blocks_count),
            sb,
            touched: BTreeSet::new(),
            verified: BTreeSet::new(),
            changed: false,
            undo: Undo::new(),
            checked: BTreeSet::new(),
        };
        w.verify_descs()?;
        w.check_descs()?;
        Ok(w)
    }

    /// Runs one operation as a transaction: commit on success, roll back on error.
    fn txn<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Ext4Error>,
    ) -> Result<T, Ext4Error> {
        let r = f(self).and_then(|v| {
            for g in std::mem::take(&mut self.touched) {
                self.seal_group(g)?;
            }
            Ok(v)
        });
        match r {
            Ok(v) => {
                self.disk.commit();
                self.undo.clear();
                self.changed = true;
                Ok(v)
            }
            Err(e) => {
                self.touched.clear();
                self.disk.rollback();
                // Data blocks written before the failure get their old bytes back.
                self.undo.restore(&mut self.disk.dev)?;
                Err(e)
            }
        }
    }

    fn group_of_ino(&self, ino: u32) -> u32 {
        (ino - 1) / self.sb.inodes_per_group
    }

    /// Walks `comps` from the root; every component must be a directory.
    fn resolve_dir(&mut self, comps: &[&[u8]], path: &str) -> Result<u32, Ext4Error> {
        let mut ino = ROOT_INO;
        for c in comps {
            let ctx = self.load_dir(ino)?;
            match self.dir_lookup(&ctx, c)? {
                Some(f) if f.ft == FT_DIR => ino = f.ino,
                Some(_) => return Err(Ext4Error::NotADirectory(path.to_string())),
                None => return Err(Ext4Error::NotFound(path.to_string())),
            }
        }
        Ok(ino)
    }

    /// Creates `path` and any missing parents, all with `meta`. Existing directories are kept.
    pub fn mkdir_p(&mut self, path: &str, meta: Meta) -> Result<(), Ext4Error> {
        let comps = split_path(path)?;
        self.txn(|w| {
            let mut ino = ROOT_INO;
            for c in &comps {
                let mut ctx = w.load_dir(ino)?;
                match w.dir_lookup(&ctx, c)? {
                    Some(f) if f.ft == FT_DIR => ino = f.ino,
                    Some(_) => return Err(Ext4Error::NotADirectory(path.to_string())),
                    None => {
                        ino = w.make_dir(&mut ctx, c, meta)?;
                        w.store_dir(ctx)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn make_dir(&mut self, parent: &mut DirCtx, name: &[u8], meta: Meta) -> Result<u32, Ext4Error> {
        if parent.inode.links() >= 65000 {
            return Err(Ext4Error::NoSpace(
                "parent directory link count limit".into(),
            ));
        }
        let pino = parent.inode.ino;
        let ino = self.alloc_inode(self.group_of_ino(pino), true)?;
        let goal = self.sb.group_first_block(self.group_of_ino(ino));
        let (blk, _) = self.alloc_run(goal, 1)?;
        let mut inode = self.blank_inode(ino);
        inode.apply_meta(S_IFDIR, &meta);
        inode.set_links(2);
        self.init_dir_block(ino, inode.generation(), pino, blk)?;
        let tree = self.write_tree(
            &mut inode,
            &[Extent {
                lblk: 0,
                len: 1,
                pblk: blk,
            }],
            blk,
        )?;
        inode.set_size(self.sb.bs);
        inode.set_fs_blocks(1 + tree, self.sb.bs);
        self.write_inode(&inode)?;
        self.dir_add(parent, name, ino, FT_DIR)?;
        parent.inode.set_links(parent.inode.links() + 1);
        Ok(ino)
    }

    /// For create-or-replace: an inode ready to be filled (old blocks freed,
    /// directory entry in place with type `ft`).
    fn prepare_target(&mut self, path: &str, ft: u8) -> Result<Inode, Ext4Error> {
        let mut comps = split_path(path)?;
        let name = comps
            .pop()
            .ok_or_else(|| Ext4Error::InvalidPath(path.to_string()))?;
        let dir = self.resolve_dir(&comps, path)?;
        let mut ctx = self.load_dir(dir)?;
        let inode = match self.dir_lookup(&ctx, name)? {
            Some(f) => {
                let old = self.read_inode(f.ino)?;
                if old.is_dir() || f.ft == FT_DIR {
                    return Err(Ext4Error::IsADirectory(path.to_string()));
                }
                if !matches!(old.kind(), S_IFREG | S_IFLNK) {
                    return Err(Ext4Error::Unsupported(format!(
                        "replacing special file {path}"
                    )));
                }
                self.free_data(&old)?;
                if f.ft != ft {
                    self.dir_set_type(&ctx, name, &f, ft)?;
                }
                old
            }
            None => {
                let ino = self.alloc_inode(self.group_of_ino(dir), false)?;
                self.dir_add(&mut ctx, name, ino, ft)?;
                let mut i = self.blank_inode(ino);
                i.set_links(1);
                i
            }
        };
        self.store_dir(ctx)?;
        Ok(inode)
    }

    /// Frees the blocks of a regular file or symlink (not its xattr block).
    fn free_data(&mut self, inode: &Inode) -> Result<(), Ext4Error> {
        // A fast symlink keeps its target in i_block and owns no data blocks
        // (whatever its flags say); only an xattr block may be counted.
        if inode.kind() == S_IFLNK && inode.data_sectors(self.sb.bs) == 0 {
            return Ok(());
        }
        if inode.flags() & inode::INLINE_DATA_FL != 0 {
            return Err(Ext4Error::Unsupported(format!(
                "inline data in inode {}",
                inode.ino
            )));
        }
        self.free_tree(inode)
    }

    /// Creates or replaces the regular file `path` with `len` bytes from `data`.
    /// The parent directory must exist. Replacing frees the old blocks.
    pub fn write_file(
        &mut self,
        path: &str,
        data: &mut dyn Read,
        len: u64,
        meta: Meta,
    ) -> Result<(), Ext4Error> {
        let bs = self.sb.bs;
        self.txn(|w| {
            let mut inode = w.prepare_target(path, FT_REG)?;
            if len >= 1 << 31 && !w.sb.large_file {
                return Err(Ext4Error::Unsupported(format!(
                    "{path}: 2 GiB or larger without the large_file feature"
                )));
            }
            let nblocks = len.div_ceil(bs);
            if nblocks > u64::from(u32::MAX) {
                return Err(Ext4Error::NoSpace(format!("{path}: file too large")));
            }
            // Fail fast (and untouched) when the data alone cannot fit.
            let free = w.free_blocks_total()?;
            if nblocks > free {
                return Err(Ext4Error::NoSpace(format!(
                    "{path}: needs {nblocks} blocks, {free} free"
                )));
            }
            let goal = w.sb.group_first_block(w.group_of_ino(inode.ino));
            let runs = w.alloc_blocks(goal, nblocks, MAX_LEN)?;
            let mut exts = Vec::with_capacity(runs.len());
            let mut l = 0u32;
            for &(b, n) in &runs {
                exts.push(Extent {
                    lblk: l,
                    len: n as u32,
                    pblk: b,
                });
                l += n as u32;
            }
            inode.apply_meta(S_IFREG, &meta);
            inode.set_flags(inode.flags() & !inode::INDEX_FL);
            let tree = w.write_tree(&mut inode, &exts, goal)?;
            inode.set_size(len);
            inode.set_fs_blocks(nblocks + tree, bs);
            w.write_inode(&inode)?;
            w.stream(data, len, &exts)
        })
    }

    /// Copies `len` bytes of `data` into the blocks of `exts`, zero-padding the tail.
    fn stream(&mut self, data: &mut dyn Read, len: u64, exts: &[Extent]) -> Result<(), Ext4Error> {
        let bs = self.sb.bs;
        let chunk_blocks = (1 << 20) / bs;
        let mut buf = vec![0u8; (chunk_blocks * bs) as usize];
        let mut done = 0u64;
        for e in exts {
            let mut off = 0u64;
            while off < u64::from(e.len) {
                let nb = chunk_blocks.min(u64::from(e.len) - off);
                let want = (nb * bs).min(len - done) as usize;
                let b = &mut buf[..(nb * bs) as usize];
                let mut got = 0;
                while got < want {
                    match data.read(&mut b[got..want]) {
                        Ok(0) => {
                            return Err(Ext4Error::ShortData {
                                expected: len,
                                got: done + got as u64,
                            })
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                b[want..].fill(0);
                self.disk.write_data(e.pblk + off, b, &mut self.undo)?;
                done += want as u64;
                off += nb;
            }
        }
        Ok(())
    }

    /// Creates or replaces a symlink. Targets under 60 bytes live in the inode.
    pub fn symlink(&mut self, path: &str, target: &str, meta: Meta) -> Result<(), Ext4Error> {
        let t = target.as_bytes();
        if t.is_empty() || t.len() as u64 >= self.sb.bs || t.contains(&0) {
            return Err(Ext4Error::InvalidPath(format!("symlink target {target:?}")));
        }
        self.txn(|w| {
            let mut inode = w.prepare_target(path, FT_SYMLINK)?;
            inode.apply_meta(S_IFLNK, &meta);
            inode.set_size(t.len() as u64);
            let flags = inode.flags() & !(inode::INDEX_FL | inode::EXTENTS_FL);
            inode.set_flags(flags);
            if t.len() < 60 {
                let ib = inode.i_block_mut();
                ib.fill(0);
                ib[..t.len()].copy_from_slice(t);
                inode.set_fs_blocks(0, w.sb.bs);
            } else {
                let goal = w.sb.group_first_block(w.group_of_ino(inode.ino));
                let (blk, _) = w.alloc_run(goal, 1)?;
                w.disk.fresh(blk)?[..t.len()].copy_from_slice(t);
                let tree = w.write_tree(
                    &mut inode,
                    &[Extent {
                        lblk: 0,
                        len: 1,
                        pblk: blk,
                    }],
                    blk,
                )?;
                inode.set_fs_blocks(1 + tree, w.sb.bs);
            }
            w.write_inode(&inode)
        })
    }

    /// Removes a regular file or symlink (its inode is freed with the last link).
    pub fn remove(&mut self, path: &str) -> Result<(), Ext4Error> {
        let mut comps = split_path(path)?;
        let name = comps
            .pop()
            .ok_or_else(|| Ext4Error::InvalidPath(path.to_string()))?;
        self.txn(|w| {
            let dir = w.resolve_dir(&comps, path)?;
            let ctx = w.load_dir(dir)?;
            let f = w
                .dir_lookup(&ctx, name)?
                .ok_or_else(|| Ext4Error::NotFound(path.to_string()))?;
            let mut inode = w.read_inode(f.ino)?;
            if inode.is_dir() || f.ft == FT_DIR {
                return Err(Ext4Error::IsADirectory(path.to_string()));
            }
            if !matches!(inode.kind(), S_IFREG | S_IFLNK) {
                return Err(Ext4Error::Unsupported(format!(
                    "removing special file {path}"
                )));
            }
            w.dir_remove(&ctx, name, &f)?;
            let links = inode.links().saturating_sub(1);
            if links > 0 {
                inode.set_links(links);
                return w.write_inode(&inode);
            }
            w.free_data(&inode)?;
            w.release_xattr_block(&inode)?;
            w.free_inode(f.ino, false)?;
            // A zeroed inode is what e2fsck expects of a free slot (no dtime checks).
            w.zero_inode(f.ino)
        })
    }

    /// Drops this inode's reference to its external xattr block.
    fn release_xattr_block(&mut self, inode: &Inode) -> Result<(), Ext4Error> {
        let blk = inode.file_acl();
        if blk == 0 {
            return Ok(());
        }
        let buf = self.disk.read(blk)?;
        // Only a real xattr block (h_magic) may have its reference count changed.
        if le::get32(buf, 0) != 0xEA02_0000 {
            return Err(error::corrupt(format!(
                "inode {}: block {blk} is not an xattr block",
                inode.ino
            )));
        }
        let refs = le::get32(buf, 4);
        if refs <= 1 {
            return self.free_run(blk, 1);
        }
        let meta = self.sb.csum == superblock::Csum::Meta;
        let seed = self.sb.seed;
        let buf = self.disk.write(blk)?;
        le::put32(buf, 4, refs - 1);
        if meta {
            // The xattr block checksum covers its block number and the block with h_checksum zeroed.
            le::put32(buf, 0x10, 0);
            let c = csum::crc32c(seed, &blk.to_le_bytes());
            let c = csum::crc32c(c, buf);
            le::put32(buf, 0x10, c);
        }
        Ok(())
    }

    /// Writes all metadata, free counts and checksums; returns the device.
    pub fn finish(mut self) -> Result<D, Ext4Error> {
        if !self.changed {
            return Ok(self.disk.dev);
        }
        let mut fb = 0u64;
        let mut fi = 0u32;
        for g in 0..self.sb.groups {
            let d = self.gd(g)?;
            fb += u64::from(d.free_blocks);
            fi += d.free_inodes;
        }
        self.disk.flush()?;
        let raw = self.sb.finalize(fb, fi).to_vec();
        self.disk.dev.seek(SeekFrom::Start(SB_OFFSET))?;
        self.disk.dev.write_all(&raw)?;
        self.disk.dev.flush()?;
        Ok(self.disk.dev)
    }
}
