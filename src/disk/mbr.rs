//! DOS/MBR labels, through `mbrman`. Logical partitions are listed after the primaries.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use super::{DiskError, Label, Partition, PartitionTable, SECTOR};

pub(super) fn read(
    path: &Path,
    file: &mut File,
    sector: &[u8],
    disk_len: u64,
) -> Result<PartitionTable, DiskError> {
    let bad = |detail: String| DiskError::Bad {
        path: path.to_owned(),
        label: "MBR",
        detail,
    };
    // mbrman follows the EBR chain with 32-bit sums: it only sees a chain we have bounded.
    super::mbr_check::check(file, sector, disk_len).map_err(bad)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|source| DiskError::Io {
            path: path.to_owned(),
            source,
        })?;
    let mbr = mbrman::MBR::read_from(file, SECTOR as u32).map_err(|source| DiskError::Mbr {
        path: path.to_owned(),
        source,
    })?;
    let mut partitions = Vec::new();
    for (i, entry) in mbr.iter() {
        if entry.is_unused() || entry.is_extended() {
            continue;
        }
        partitions.push(Partition {
            number: i as u32,
            start: u64::from(entry.starting_lba) * SECTOR,
            size: u64::from(entry.sectors) * SECTOR,
            type_id: format!("{:02x}", entry.sys),
            name: None,
            bootable: entry.is_active(),
        });
    }
    let sig = mbr.header.disk_signature;
    Ok(PartitionTable {
        label: Label::Mbr,
        // Stored little-endian; print it the way sfdisk and blkid do.
        id: format!("{:08x}", u32::from_le_bytes(sig)),
        partitions,
    })
}
