//! Group descriptors, bitmaps and the block/inode allocators.

use std::io::{Read, Seek, Write};

use super::csum::{crc16, crc32c};
use super::error::{corrupt, Ext4Error};
use super::le::{get16, get32, put16};
use super::superblock::Csum;
use super::Ext4Writer;

pub(crate) const BG_INODE_UNINIT: u16 = 0x1;
pub(crate) const BG_BLOCK_UNINIT: u16 = 0x2;

/// The fields of a group descriptor this writer reads or changes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub used_dirs: u32,
    pub flags: u16,
    pub itable_unused: u32,
}

fn set_bit(bm: &mut [u8], i: usize) {
    bm[i / 8] |= 1 << (i % 8);
}

fn clear_bit(bm: &mut [u8], i: usize) {
    bm[i / 8] &= !(1 << (i % 8));
}

pub(crate) fn test_bit(bm: &[u8], i: usize) -> bool {
    bm[i / 8] & (1 << (i % 8)) != 0
}

impl<D: Read + Write + Seek> Ext4Writer<D> {
    fn gd_loc(&self, g: u32) -> (u64, usize) {
        let byte = u64::from(g) * self.sb.desc_size as u64;
        (
            self.sb.gdt_start() + byte / self.sb.bs,
            (byte % self.sb.bs) as usize,
        )
    }

    pub(crate) fn gd(&mut self, g: u32) -> Result<GroupDesc, Ext4Error> {
        let (blk, off) = self.gd_loc(g);
        let wide = self.sb.desc_size >= 64;
        let b = &self.disk.read(blk)?[off..off + self.sb.desc_size];
        let lo32 = |o| u64::from(get32(b, o));
        let hi32 = |o| {
            if wide {
                u64::from(get32(b, o)) << 32
            } else {
                0
            }
        };
        let lo16 = |o| u32::from(get16(b, o));
        let hi16 = |o| {
            if wide {
                u32::from(get16(b, o)) << 16
            } else {
                0
            }
        };
        Ok(GroupDesc {
            block_bitmap: lo32(0x0) | hi32(0x20),
            inode_bitmap: lo32(0x4) | hi32(0x24),
            inode_table: lo32(0x8) | hi32(0x28),
            free_blocks: lo16(0xC) | hi16(0x2C),
            free_inodes: lo16(0xE) | hi16(0x2E),
            used_dirs: lo16(0x10) | hi16(0x30),
            flags: get16(b, 0x12),
            itable_unused: lo16(0x1C) | hi16(0x32),
        })
    }

    /// Stores the counters and flags of `d` (locations never change) and marks the group.
    pub(crate) fn put_gd(&mut self, g: u32, d: &GroupDesc) -> Result<(), Ext4Error> {
        let (blk, off) = self.gd_loc(g);
        let wide = self.sb.desc_size >= 64;
        let ds = self.sb.desc_size;
        let b = &mut self.disk.write(blk)?[off..off + ds];
        put16(b, 0xC, d.free_blocks as u16);
        put16(b, 0xE, d.free_inodes as u16);
        put16(b, 0x10, d.used_dirs as u16);
        put16(b, 0x12, d.flags);
        put16(b, 0x1C, d.itable_unused as u16);
        if wide {
            put16(b, 0x2C, (d.free_blocks >> 16) as u16);
            put16(b, 0x2E, (d.free_inodes >> 16) as u16);
            put16(b, 0x30, (d.used_dirs >> 16) as u16);
            put16(b, 0x32, (d.itable_unused >> 16) as u16);
        }
        self.touched.insert(g);
        Ok(())
    }

    fn desc_csum(&self, g: u32, desc: &[u8]) -> u16 {
        match self.sb.csum {
            Csum::Meta => {
                let mut d = desc.to_vec();
                put16(&mut d, 0x1E, 0);
                let c = crc32c(self.sb.seed, &g.to_le_bytes());
                (crc32c(c, &d) & 0xFFFF) as u16
            }
            Csum::Gdt => {
                let mut c = crc16(!0, &self.sb.uuid);
                c = crc16(c, &g.to_le_bytes());
                c = crc16(c, &desc[..0x1E]);
                if desc.len() > 0x20 {
                    c = crc16(c, &desc[0x20..]);
                }
                c
            }
            Csum::None => 0,
        }
    }

    /// Checks every descriptor checksum (refuse to build on a damaged table).
    pub(crate) fn verify_descs(&mut self) -> Result<(), Ext4Error> {
        if self.sb.csum == Csum::None {
            return Ok(());
        }
        for g in 0..self.sb.groups {
            let (blk, off) = self.gd_loc(g);
            let desc = self.disk.read(blk)?[off..off + self.sb.desc_size].to_vec();
            if get16(&desc, 0x1E) != self.desc_csum(g, &desc) {
                return Err(corrupt(format!("group {g} descriptor checksum mismatch")));
            }
        }
        Ok(())
    }

    /// Refreshes bitmap and descriptor checksums of a changed group.
    pub(crate) fn seal_group(&mut self, g: u32) -> Result<(), Ext4Error> {
        if self.sb.csum == Csum::None {
            return Ok(());
        }
        let d = self.gd(g)?;
        let (blk, off) = self.gd_loc(g);
        let wide = self.sb.desc_size >= 64;
        if self.sb.csum == Csum::Meta {
            let bbytes = (self.sb.blocks_per_group / 8) as usize;
            let ibytes = (self.sb.inodes_per_group / 8) as usize;
            let bsum = if d.flags & BG_BLOCK_UNINIT == 0 {
                Some(crc32c(
                    self.sb.seed,
                    &self.disk.read(d.block_bitmap)?[..bbytes],
                ))
            } else {
                None
            };
            let isum = if d.flags & BG_INODE_UNINIT == 0 {
                Some(crc32c(
                    self.sb.seed,
                    &self.disk.read(d.inode_bitmap)?[..ibytes],
                ))
            } else {
                None
            };
            let b = &mut self.disk.write(blk)?[off..];
            if let Some(c) = bsum {
                put16(b, 0x18, c as u16);
                if wide {
                    put16(b, 0x38, (c >> 16) as u16);
                }
            }
            if let Some(c) = isum {
                put16(b, 0x1A, c as u16);
                if wide {
                    put16(b, 0x3A, (c >> 16) as u16);
                }
            }
        }
        let desc = self.disk.read(blk)?[off..off + self.sb.desc_size].to_vec();
        let c = self.desc_csum(g, &desc);
        put16(&mut self.disk.write(blk)?[off..], 0x1E, c);
        Ok(())
    }

    fn uninit_flags_valid(&self) -> bool {
        self.sb.csum != Csum::None
    }

    /// The block bitmap of `g`, materialised first if the group is still BLOCK_UNINIT.
    fn block_bitmap(&mut self, g: u32) -> Result<(GroupDesc, u64), Ext4Error> {
        let mut d = self.gd(g)?;
        if self.uninit_flags_valid() && d.flags & BG_BLOCK_UNINIT != 0 {
            self.checked.insert((g, false));
            let bm = self.compute_uninit_block_bitmap(g)?;
            let len = self.sb.group_len(g) as usize;
            let free = (0..len).filter(|&i| !test_bit(&bm, i)).count() as u32;
            if free != d.free_blocks {
                return Err(corrupt(format!(
                    "group {g}: BLOCK_UNINIT free count {} disagrees with layout ({free})",
                    d.free_blocks
                )));
            }
            self.disk.fresh(d.block_bitmap)?.copy_from_slice(&bm);
            d.flags &= !BG_BLOCK_UNINIT;
            self.put_gd(g, &d)?;
            self.verified.insert((g, false));
        }
        self.verify_bitmap(g, &d, false)?;
        self.check_block_bitmap(g, &d)?;
        Ok((d, d.block_bitmap))
    }

    /// Checks a bitmap against its descriptor checksum the first time it is used
    /// (before this session changes it; commits keep the two in step afterwards).
    fn verify_bitmap(&mut self, g: u32, d: &GroupDesc, inode: bool) -> Result<(), Ext4Error> {
        if self.sb.csum != Csum::Meta || !self.verified.insert((g, inode)) {
            return Ok(());
        }
        let (blk, nbytes, lo, hi) = if inode {
            (d.inode_bitmap, self.sb.inodes_per_group / 8, 0x1A, 0x3A)
        } else {
            (
                d.block_bitmap,
                (self.sb.blocks_per_group / 8) as u32,
                0x18,
                0x38,
            )
        };
        let c = crc32c(self.sb.seed, &self.disk.read(blk)?[..nbytes as usize]);
        let (gblk, off) = self.gd_loc(g);
        let wide = self.sb.desc_size >= 64;
        let desc = &self.disk.read(gblk)?[off..];
        let ok = get16(desc, lo) == c as u16 && (!wide || get16(desc, hi) == (c >> 16) as u16);
        if !ok {
            let what = if inode { "inode" } else { "block" };
            return Err(corrupt(format!(
                "group {g} {what} bitmap checksum mismatch"
            )));
        }
        Ok(())
    }

    /// What an uninitialised group's bitmap stands for: its superblock/GDT backup and
    /// any group's bitmaps or inode table placed inside it; padding bits set.
    pub(crate) fn compute_uninit_block_bitmap(&mut self, g: u32) -> Result<Vec<u8>, Ext4Error> {
        let bs = self.sb.bs as usize;
        let mut bm = vec![0u8; bs];
        let first = self.sb.group_first_block(g);
        let len = self.sb.group_len(g);
        let mark = |bm: &mut Vec<u8>, b: u64, n: u64| {
            for x in b.max(first)..b.saturating_add(n).min(first + len) {
                set_bit(bm, (x - first) as usize);
            }
        };
        if self.sb.has_super(g) {
            let n = 1 + self.sb.gdt_blocks() + self.sb.reserved_gdt;
            mark(&mut bm, first, n);
        }
        let itb = self.itable_blocks();
        for h in 0..self.sb.groups {
            let d = self.gd(h)?;
            mark(&mut bm, d.block_bitmap, 1);
            mark(&mut bm, d.inode_bitmap, 1);
            mark(&mut bm, d.inode_table, itb);
        }
        for i in len as usize..bs * 8 {
            set_bit(&mut bm, i);
        }
        Ok(bm)
    }

    pub(crate) fn free_blocks_total(&mut self) -> Result<u64, Ext4Error> {
        let mut n = 0;
        for g in 0..self.sb.groups {
            n += u64::from(self.gd(g)?.free_blocks);
        }
        Ok(n)
    }

    /// First-fit from `goal`: returns the first free run (at most `want` blocks,
    /// never crossing a group) at or after `goal`, wrapping around once.
    pub(crate) fn alloc_run(&mut self, goal: u64, want: u64) -> Result<(u64, u64), Ext4Error> {
        let goal = goal.clamp(self.sb.first_data_block, self.sb.blocks_count - 1);
        let g0 = self.sb.group_of_block(goal);
        let n = self.sb.groups;
        let goal_off = goal - self.sb.group_first_block(g0);
        for k in 0..=n {
            let g = (g0 + k) % n;
            // The goal group is searched from the goal first and, last, before it.
            let (start_in, end) = match k {
                0 => (goal_off, self.sb.group_len(g)),
                _ if k == n => (0, goal_off),
                _ => (0, self.sb.group_len(g)),
            };
            if start_in >= end || self.gd(g)?.free_blocks == 0 {
                continue;
            }
            let (mut d, bmb) = self.block_bitmap(g)?;
            let bm = self.disk.read(bmb)?;
            let mut i = start_in;
            while i < end && test_bit(bm, i as usize) {
                i += 1;
            }
            if i >= end {
                continue;
            }
            let mut j = i;
            while j < end && j - i < want && !test_bit(bm, j as usize) {
                j += 1;
            }
            let bm = self.disk.write(bmb)?;
            for x in i..j {
                set_bit(bm, x as usize);
            }
            d.free_blocks = d
                .free_blocks
                .checked_sub((j - i) as u32)
                .ok_or_else(|| corrupt(format!("group {g} free block count too low")))?;
            self.put_gd(g, &d)?;
            return Ok((self.sb.group_first_block(g) + i, j - i));
        }
        Err(Ext4Error::NoSpace("no free blocks".into()))
    }

    /// Allocates exactly `want` blocks as runs, contiguous where possible.
    pub(crate) fn alloc_blocks(
        &mut self,
        goal: u64,
        want: u64,
        max_run: u64,
    ) -> Result<Vec<(u64, u64)>, Ext4Error> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut left = want;
        let mut goal = goal;
        while left > 0 {
            let (b, n) = self.alloc_run(goal, left.min(max_run))?;
            match out.last_mut() {
                Some((pb, pn)) if *pb + *pn == b && *pn + n <= max_run => *pn += n,
                _ => out.push((b, n)),
            }
            left -= n;
            goal = b + n;
        }
        Ok(out)
    }

    pub(crate) fn free_run(&mut self, start: u64, n: u64) -> Result<(), Ext4Error> {
        let mut b = start;
        let end = start + n;
        while b < end {
            if b < self.sb.first_data_block || b >= self.sb.blocks_count {
                return Err(corrupt(format!("freeing block {b} outside file system")));
            }
            let g = self.sb.group_of_block(b);
            let gfirst = self.sb.group_first_block(g);
            let gend = (gfirst + self.sb.group_len(g)).min(end);
            let (mut d, bmb) = self.block_bitmap(g)?;
            let bm = self.disk.write(bmb)?;
            for x in b..gend {
                let i = (x - gfirst) as usize;
                if !test_bit(bm, i) {
                    return Err(corrupt(format!("block {x} freed twice")));
                }
                clear_bit(bm, i);
            }
            d.free_blocks += (gend - b) as u32;
            self.put_gd(g, &d)?;
            for x in b..gend {
                self.disk.forget(x);
            }
            b = gend;
        }
        Ok(())
    }

    /// Allocates an inode, preferring group `goal_group`; first free slot wins.
    pub(crate) fn alloc_inode(&mut self, goal_group: u32, is_dir: bool) -> Result<u32, Ext4Error> {
        let ipg = self.sb.inodes_per_group;
        for k in 0..self.sb.groups {
            let g = (goal_group + k) % self.sb.groups;
            let mut d = self.gd(g)?;
            if d.free_inodes == 0 {
                continue;
            }
            self.check_inode_bitmap(g, &d)?;
            let uninit = self.uninit_flags_valid() && d.flags & BG_INODE_UNINIT != 0;
            if uninit {
                let bm = self.disk.fresh(d.inode_bitmap)?;
                for i in ipg as usize..bm.len() * 8 {
                    set_bit(bm, i);
                }
                d.flags &= !BG_INODE_UNINIT;
                self.verified.insert((g, true));
            }
            self.verify_bitmap(g, &d, true)?;
            let bm = self.disk.read(d.inode_bitmap)?;
            let lowest = if g == 0 { self.sb.first_ino - 1 } else { 0 };
            let Some(idx) = (lowest..ipg).find(|&i| !test_bit(bm, i as usize)) else {
                return Err(corrupt(format!("group {g} free inode count wrong")));
            };
            set_bit(self.disk.write(d.inode_bitmap)?, idx as usize);
            d.free_inodes -= 1;
            if is_dir {
                d.used_dirs += 1;
            }
            if self.uninit_flags_valid() && idx >= ipg.saturating_sub(d.itable_unused) {
                d.itable_unused = ipg - idx - 1;
            }
            self.put_gd(g, &d)?;
            let ino = g * ipg + idx + 1;
            // The slot may hold stale bytes if the table was never zeroed.
            self.zero_inode(ino)?;
            return Ok(ino);
        }
        Err(Ext4Error::NoSpace("no free inodes".into()))
    }

    pub(crate) fn free_inode(&mut self, ino: u32, is_dir: bool) -> Result<(), Ext4Error> {
        let ipg = self.sb.inodes_per_group;
        let g = (ino - 1) / ipg;
        let idx = ((ino - 1) % ipg) as usize;
        let mut d = self.gd(g)?;
        self.verify_bitmap(g, &d, true)?;
        self.check_inode_bitmap(g, &d)?;
        let bm = self.disk.write(d.inode_bitmap)?;
        if !test_bit(bm, idx) {
            return Err(corrupt(format!("inode {ino} freed twice")));
        }
        clear_bit(bm, idx);
        d.free_inodes += 1;
        if is_dir {
            d.used_dirs -= 1;
        }
        self.put_gd(g, &d)
    }
}
