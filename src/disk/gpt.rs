//! GPT labels, through the `gpt` crate (read-only: we never rewrite a table).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use super::{DiskError, Label, Partition, PartitionTable};

pub(super) fn read(
    path: &Path,
    mut file: File,
    disk_len: u64,
) -> Result<PartitionTable, DiskError> {
    let bad = |detail: String| DiskError::Bad {
        path: path.to_owned(),
        label: "GPT",
        detail,
    };
    // The crate panics on some header values: it only sees a header that passed our checks.
    super::gpt_check::check(&mut file, disk_len).map_err(bad)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|source| DiskError::Io {
            path: path.to_owned(),
            source,
        })?;
    let disk = gpt::GptConfig::new()
        .writable(false)
        .open_from_device(file)
        .map_err(|source| DiskError::Gpt {
            path: path.to_owned(),
            source,
        })?;
    let lb = *disk.logical_block_size();
    let mut partitions = Vec::new();
    for (&number, p) in disk.partitions() {
        if !p.is_used() {
            continue;
        }
        let entry = |source| DiskError::GptEntry {
            path: path.to_owned(),
            number,
            source,
        };
        let start = p.bytes_start(lb).map_err(entry)?;
        let size = p.bytes_len(lb).map_err(entry)?;
        partitions.push(Partition {
            number,
            start,
            size,
            type_id: p.part_type_guid.guid.to_string().to_uppercase(),
            name: Some(p.name.clone()),
            // Legacy BIOS bootable attribute (bit 2).
            bootable: p.flags & (1 << 2) != 0,
        });
    }
    partitions.sort_by_key(|p| p.number);
    Ok(PartitionTable {
        label: Label::Gpt,
        id: disk.guid().to_string().to_uppercase(),
        partitions,
    })
}
