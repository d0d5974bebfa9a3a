//! Checks of the structures the writer is about to change: damaged groups are
//! refused before anything is written (a free-looking inode or block that is in
//! fact used would otherwise be handed out twice).

use std::io::{Read, Seek, Write};

use super::error::{corrupt, Ext4Error};
use super::group::{test_bit, GroupDesc, BG_INODE_UNINIT};
use super::superblock::Csum;
use super::Ext4Writer;

impl<D: Read + Write + Seek> Ext4Writer<D> {
    /// Every descriptor's bitmaps and inode table lie inside the file system and its
    /// counts fit the group (cheap; done once at open).
    pub(crate) fn check_descs(&mut self) -> Result<(), Ext4Error> {
        let ipg = self.sb.inodes_per_group;
        let itb = self.itable_blocks();
        let (lo, hi) = (self.sb.first_data_block, self.sb.blocks_count);
        for g in 0..self.sb.groups {
            let d = self.gd(g)?;
            let inside = |b: u64, n: u64| b >= lo && b.checked_add(n).is_some_and(|e| e <= hi);
            let what = if !inside(d.block_bitmap, 1) {
                "block bitmap location"
            } else if !inside(d.inode_bitmap, 1) {
                "inode bitmap location"
            } else if !inside(d.inode_table, itb) {
                "inode table location"
            } else if u64::from(d.free_blocks) > self.sb.group_len(g) {
                "free block count"
            } else if d.free_inodes > ipg || d.itable_unused > ipg || d.used_dirs > ipg {
                "inode counts"
            } else {
                continue;
            };
            return Err(corrupt(format!("group {g} descriptor: bad {what}")));
        }
        Ok(())
    }

    pub(crate) fn itable_blocks(&self) -> u64 {
        (u64::from(self.sb.inodes_per_group) * self.sb.inode_size as u64).div_ceil(self.sb.bs)
    }

    /// Before the first change to group `g`'s block bitmap: its free bits match the
    /// descriptor, and the group's own metadata blocks are marked in use.
    pub(crate) fn check_block_bitmap(&mut self, g: u32, d: &GroupDesc) -> Result<(), Ext4Error> {
        if !self.checked.insert((g, false)) {
            return Ok(());
        }
        let len = self.sb.group_len(g) as usize;
        let meta = self.compute_uninit_block_bitmap(g)?;
        let bm = self.disk.read(d.block_bitmap)?;
        let free = (0..len).filter(|&i| !test_bit(bm, i)).count();
        if free != d.free_blocks as usize {
            return Err(corrupt(format!(
                "group {g}: block bitmap has {free} free blocks, its descriptor says {}",
                d.free_blocks
            )));
        }
        if let Some(i) = (0..len).find(|&i| test_bit(&meta, i) && !test_bit(bm, i)) {
            let b = self.sb.group_first_block(g) + i as u64;
            return Err(corrupt(format!(
                "group {g}: metadata block {b} is marked free in the block bitmap"
            )));
        }
        Ok(())
    }

    /// Before the first change to group `g`'s inode bitmap: its free bits match the
    /// descriptor, reserved inodes are in use, and nothing is in use in the part of
    /// the inode table the descriptor calls unused (`itable_unused`).
    pub(crate) fn check_inode_bitmap(&mut self, g: u32, d: &GroupDesc) -> Result<(), Ext4Error> {
        if !self.checked.insert((g, true)) {
            return Ok(());
        }
        let ipg = self.sb.inodes_per_group as usize;
        let uninit_ok = self.sb.csum != Csum::None;
        if uninit_ok && d.flags & BG_INODE_UNINIT != 0 {
            if d.free_inodes as usize != ipg {
                return Err(corrupt(format!(
                    "group {g}: INODE_UNINIT but {} of {ipg} inodes free",
                    d.free_inodes
                )));
            }
            return Ok(());
        }
        let bm = self.disk.read(d.inode_bitmap)?;
        let free = (0..ipg).filter(|&i| !test_bit(bm, i)).count();
        if free != d.free_inodes as usize {
            return Err(corrupt(format!(
                "group {g}: inode bitmap has {free} free inodes, its descriptor says {}",
                d.free_inodes
            )));
        }
        let reserved = if g == 0 {
            self.sb.first_ino as usize - 1
        } else {
            0
        };
        if let Some(i) = (0..reserved.min(ipg)).find(|&i| !test_bit(bm, i)) {
            return Err(corrupt(format!("reserved inode {} is marked free", i + 1)));
        }
        if uninit_ok {
            let first_unused = ipg - d.itable_unused as usize;
            if let Some(i) = (first_unused..ipg).find(|&i| test_bit(bm, i)) {
                let ino = g as usize * ipg + i + 1;
                return Err(corrupt(format!(
                    "group {g}: inode {ino} is in use inside the area its descriptor calls unused"
                )));
            }
        }
        Ok(())
    }
}
