//! Metadata block cache with per-operation transactions.
//!
//! Every metadata change lands in `pending` (copy-on-write from `committed`/`clean`).
//! A failed operation drops `pending`, so the device is never touched by it; a
//! successful one moves `pending` into `committed`, written out at `finish`.
//! Freed blocks get a tombstone so stale cached copies never overwrite data that
//! is later streamed straight into those blocks.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};

use super::error::{corrupt, Ext4Error};
use super::undo::Undo;

pub(crate) struct Disk<D> {
    pub dev: D,
    bs: u64,
    blocks: u64,
    pending: BTreeMap<u64, Option<Vec<u8>>>,
    committed: BTreeMap<u64, Vec<u8>>,
    clean: HashMap<u64, Vec<u8>>,
}

impl<D: Read + Write + Seek> Disk<D> {
    pub(crate) fn new(dev: D, bs: u64, blocks: u64) -> Self {
        Disk {
            dev,
            bs,
            blocks,
            pending: BTreeMap::new(),
            committed: BTreeMap::new(),
            clean: HashMap::new(),
        }
    }

    fn check(&self, blk: u64) -> Result<(), Ext4Error> {
        if blk >= self.blocks {
            return Err(corrupt(format!("block {blk} beyond end of file system")));
        }
        Ok(())
    }

    fn load(&mut self, blk: u64) -> Result<(), Ext4Error> {
        self.check(blk)?;
        if self.pending.contains_key(&blk)
            || self.committed.contains_key(&blk)
            || self.clean.contains_key(&blk)
        {
            return Ok(());
        }
        let mut buf = vec![0u8; self.bs as usize];
        self.dev.seek(SeekFrom::Start(blk * self.bs))?;
        self.dev.read_exact(&mut buf)?;
        self.clean.insert(blk, buf);
        Ok(())
    }

    /// Current contents of a metadata block.
    pub(crate) fn read(&mut self, blk: u64) -> Result<&[u8], Ext4Error> {
        self.load(blk)?;
        if let Some(e) = self.pending.get(&blk) {
            return e
                .as_deref()
                .ok_or_else(|| corrupt(format!("metadata read of freed block {blk}")));
        }
        if let Some(v) = self.committed.get(&blk) {
            return Ok(v);
        }
        Ok(&self.clean[&blk])
    }

    /// Mutable contents of a metadata block, part of the current operation.
    pub(crate) fn write(&mut self, blk: u64) -> Result<&mut [u8], Ext4Error> {
        if !matches!(self.pending.get(&blk), Some(Some(_))) {
            let data = self.read(blk)?.to_vec();
            self.pending.insert(blk, Some(data));
        }
        Ok(self
            .pending
            .get_mut(&blk)
            .and_then(|e| e.as_deref_mut())
            .expect("just inserted"))
    }

    /// A freshly allocated metadata block, zero-filled (its old contents are irrelevant).
    pub(crate) fn fresh(&mut self, blk: u64) -> Result<&mut [u8], Ext4Error> {
        self.check(blk)?;
        self.pending.insert(blk, Some(vec![0u8; self.bs as usize]));
        Ok(self
            .pending
            .get_mut(&blk)
            .and_then(|e| e.as_deref_mut())
            .expect("just inserted"))
    }

    /// Forget any cached copy of a block that has just been freed.
    pub(crate) fn forget(&mut self, blk: u64) {
        if self.pending.contains_key(&blk)
            || self.committed.contains_key(&blk)
            || self.clean.contains_key(&blk)
        {
            self.pending.insert(blk, None);
        }
    }

    pub(crate) fn commit(&mut self) {
        for (blk, e) in std::mem::take(&mut self.pending) {
            match e {
                Some(v) => {
                    self.clean.remove(&blk);
                    self.committed.insert(blk, v);
                }
                None => {
                    self.clean.remove(&blk);
                    self.committed.remove(&blk);
                }
            }
        }
    }

    pub(crate) fn rollback(&mut self) {
        self.pending.clear();
    }

    /// Streams file data straight to the device (data blocks are never cached),
    /// saving the bytes it replaces in `undo` first.
    pub(crate) fn write_data(
        &mut self,
        blk: u64,
        data: &[u8],
        undo: &mut Undo,
    ) -> Result<(), Ext4Error> {
        let n = data.len() as u64 / self.bs;
        if blk + n > self.blocks {
            return Err(corrupt("data write beyond end of file system"));
        }
        let mut old = vec![0u8; data.len()];
        undo.save(&mut self.dev, blk * self.bs, &mut old)?;
        self.dev.seek(SeekFrom::Start(blk * self.bs))?;
        self.dev.write_all(data)?;
        Ok(())
    }

    /// Writes all committed metadata blocks.
    pub(crate) fn flush(&mut self) -> Result<(), Ext4Error> {
        debug_assert!(self.pending.is_empty());
        for (blk, v) in &self.committed {
            self.dev.seek(SeekFrom::Start(blk * self.bs))?;
            self.dev.write_all(v)?;
        }
        Ok(())
    }
}
