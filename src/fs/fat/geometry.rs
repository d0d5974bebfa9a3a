//! The FAT boot sector, checked field by field against the partition before anything
//! (fatfs included) computes an offset from it.

/// Clusters we are willing to track (4 bytes each in memory): far above any boot partition.
const MAX_CLUSTERS: u64 = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bits {
    Fat12,
    Fat16,
    Fat32,
}

/// Where the root directory lives.
#[derive(Debug, Clone, Copy)]
pub(super) enum Root {
    /// FAT12/16: a fixed region of `entries` 32-byte entries at byte `offset`.
    Fixed { offset: u64, entries: u64 },
    /// FAT32: an ordinary cluster chain.
    Chain(u32),
}

/// The layout of a FAT file system, every value within the partition.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub bits: Bits,
    pub cluster_size: u64,
    /// Byte offset of the FAT that fatfs reads (the active one).
    pub fat_offset: u64,
    pub data_offset: u64,
    /// Data clusters; valid cluster numbers are 2..clusters + 2.
    pub clusters: u32,
    pub root: Root,
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        b[at..at + 4].try_into().expect("4 bytes"),
    ))
}

impl Geometry {
    pub fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset + u64::from(cluster - 2) * self.cluster_size
    }

    /// Parses `boot` (the first 512 bytes) of a partition of `part_len` bytes.
    pub fn parse(boot: &[u8], part_len: u64) -> Result<Geometry, String> {
        if boot.len() < 512 || boot[510..512] != [0x55, 0xAA] {
            return Err("no boot sector signature".into());
        }
        let bps = u16_at(boot, 11);
        let spc = u64::from(boot[13]);
        if !bps.is_power_of_two() || !(512..=4096).contains(&bps) {
            return Err(format!("bytes per sector {bps} (must be 512 to 4096)"));
        }
        if !spc.is_power_of_two() || spc > 128 {
            return Err(format!("sectors per cluster {spc} (must be 1 to 128)"));
        }
        let reserved = u16_at(boot, 14);
        let fats = u64::from(boot[16]);
        if reserved == 0 || !(1..=2).contains(&fats) {
            return Err(format!("{reserved} reserved sectors and {fats} FATs"));
        }
        let fat32 = u16_at(boot, 22) == 0;
        let fat_sectors = if fat32 {
            u32_at(boot, 36)
        } else {
            u16_at(boot, 22)
        };
        let total = match (u16_at(boot, 19), u32_at(boot, 32)) {
            (0, t) | (t, 0) => t,
            _ => return Err("both the 16- and the 32-bit sector counts are set".into()),
        };
        if total * bps > part_len {
            return Err(format!(
                "the boot sector claims {} bytes but the partition has {part_len}",
                total * bps
            ));
        }
        let root_entries = u16_at(boot, 17);
        if fat32 != (root_entries == 0) || fat_sectors == 0 {
            return Err(format!(
                "{root_entries} root entries and {fat_sectors} sectors per FAT do not fit \
                 each other"
            ));
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let fat_start = reserved;
        let root_start = fat_start + fats * fat_sectors;
        let data_start = root_start + root_sectors;
        if data_start >= total {
            return Err(format!(
                "the FATs and root directory ({data_start} sectors) fill the whole \
                 {total}-sector file system"
            ));
        }
        let clusters = (total - data_start) / spc;
        let geo = Geometry {
            bits: bits_for(clusters, fat32)?,
            cluster_size: bps * spc,
            fat_offset: (fat_start + active_fat(boot, fat32, fats)? * fat_sectors) * bps,
            data_offset: data_start * bps,
            clusters: clusters as u32,
            root: Root::Fixed {
                offset: root_start * bps,
                entries: root_entries,
            },
        };
        geo.finish(boot, fat_sectors * bps, reserved)
    }

    /// The FAT32 fields and the FAT's capacity.
    fn finish(mut self, boot: &[u8], fat_bytes: u64, reserved: u64) -> Result<Geometry, String> {
        let needed = (u64::from(self.clusters) + 2) * self.entry_bits() / 8;
        if fat_bytes < needed.max(1) || fat_bytes > 256 << 20 {
            return Err(format!(
                "a FAT of {fat_bytes} bytes for {} clusters (needs {needed})",
                self.clusters
            ));
        }
        if self.bits == Bits::Fat32 {
            if u16_at(boot, 42) != 0 {
                return Err("unknown FAT32 version".into());
            }
            let root = u32_at(boot, 44);
            if root < 2 || root >= u64::from(self.clusters) + 2 {
                return Err(format!("root directory cluster {root} is out of range"));
            }
            if u16_at(boot, 48) >= reserved || u16_at(boot, 50) >= reserved {
                return Err("FSInfo or backup boot sector outside the reserved area".into());
            }
            self.root = Root::Chain(root as u32);
        }
        Ok(self)
    }

    pub fn entry_bits(&self) -> u64 {
        match self.bits {
            Bits::Fat12 => 12,
            Bits::Fat16 => 16,
            Bits::Fat32 => 32,
        }
    }
}

/// The FAT type follows from the cluster count (as fatfs and the kernel decide it).
fn bits_for(clusters: u64, fat32: bool) -> Result<Bits, String> {
    let bits = match clusters {
        0 => return Err("no data clusters".into()),
        1..4085 => Bits::Fat12,
        4085..65525 => Bits::Fat16,
        _ => Bits::Fat32,
    };
    if clusters > MAX_CLUSTERS {
        return Err(format!("{clusters} clusters (more than {MAX_CLUSTERS})"));
    }
    if fat32 != (bits == Bits::Fat32) {
        return Err(format!(
            "{clusters} clusters contradict the {} layout",
            if fat32 { "FAT32" } else { "FAT12/16" }
        ));
    }
    Ok(bits)
}

/// FAT32 may turn mirroring off and name the one FAT in use.
fn active_fat(boot: &[u8], fat32: bool, fats: u64) -> Result<u64, String> {
    let flags = u16_at(boot, 40);
    if !fat32 || flags & 0x80 == 0 {
        return Ok(0);
    }
    let active = flags & 0x0F;
    if active >= fats {
        return Err(format!("active FAT {active} of {fats}"));
    }
    Ok(active)
}
