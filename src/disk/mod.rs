//! Partition tables (MBR and GPT) and the windows they define.
//!
//! The table is read once into a plain [`PartitionTable`] so the rest of the tool never
//! cares which label the disk carries; `inspect` prints it and `verify` compares it.

mod gpt;
mod gpt_check;
mod mbr;
mod mbr_check;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::io::Window;

pub const SECTOR: u64 = 512;

#[derive(Debug, Error)]
pub enum DiskError {
    #[error("{path}: cannot read the partition table")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: no partition table (no 0x55AA boot signature in the first sector)")]
    NoTable { path: PathBuf },
    #[error("{path}: bad {label} partition table: {detail}")]
    Bad {
        path: PathBuf,
        label: &'static str,
        detail: String,
    },
    #[error("{path}: bad GPT partition table")]
    Gpt {
        path: PathBuf,
        source: ::gpt::GptError,
    },
    #[error("{path}: bad GPT partition entry {number}")]
    GptEntry {
        path: PathBuf,
        number: u32,
        source: io::Error,
    },
    #[error("{path}: bad MBR partition table")]
    Mbr {
        path: PathBuf,
        source: mbrman::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Mbr,
    Gpt,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Mbr => "mbr",
            Label::Gpt => "gpt",
        }
    }
}

/// One partition, in bytes from the start of the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// 1-based, as `sfdisk` and the kernel number them.
    pub number: u32,
    pub start: u64,
    pub size: u64,
    /// MBR: the type byte as hex (`0c`); GPT: the type GUID.
    pub type_id: String,
    /// GPT partition name; MBR has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub bootable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionTable {
    pub label: Label,
    /// MBR disk signature (8 hex digits) or GPT disk GUID.
    pub id: String,
    pub partitions: Vec<Partition>,
}

impl PartitionTable {
    /// Reads the table of the image at `path` without writing to it.
    pub fn read(path: &Path) -> Result<PartitionTable, DiskError> {
        Self::read_as(path, path)
    }

    /// As [`read`](Self::read), naming the image `name` in errors (the user's input file
    /// rather than our decompressed copy of it).
    pub fn read_as(file_path: &Path, path: &Path) -> Result<PartitionTable, DiskError> {
        let io_err = |source| DiskError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(file_path).map_err(io_err)?;
        // Seeking to the end also sizes a block device (a flashed card), whose metadata says 0.
        let disk_len = file.seek(SeekFrom::End(0)).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let mut sector = [0u8; SECTOR as usize];
        file.read_exact(&mut sector).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                DiskError::NoTable {
                    path: path.to_owned(),
                }
            } else {
                io_err(e)
            }
        })?;
        if sector[510..512] != [0x55, 0xAA] {
            return Err(DiskError::NoTable {
                path: path.to_owned(),
            });
        }
        // A protective MBR (type 0xEE) means the real table is GPT.
        let protective = (0..4).any(|i| sector[446 + i * 16 + 4] == 0xEE);
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let table = if protective {
            gpt::read(path, file, disk_len)?
        } else {
            mbr::read(path, &mut file, &sector, disk_len)?
        };
        table.check_bounds(path, disk_len)?;
        Ok(table)
    }

    fn check_bounds(&self, path: &Path, disk_len: u64) -> Result<(), DiskError> {
        let bad = |detail: String| DiskError::Bad {
            path: path.to_owned(),
            label: match self.label {
                Label::Mbr => "MBR",
                Label::Gpt => "GPT",
            },
            detail,
        };
        if self.partitions.is_empty() {
            return Err(bad("it lists no partitions".into()));
        }
        let mut spans: Vec<&Partition> = self.partitions.iter().collect();
        spans.sort_by_key(|p| p.start);
        for p in &spans {
            if p.size == 0 {
                return Err(bad(format!("partition {} is empty (0 sectors)", p.number)));
            }
            let end = p.start.checked_add(p.size).filter(|&e| e <= disk_len);
            if p.start == 0 || end.is_none() {
                return Err(bad(format!(
                    "partition {} (bytes {}..{}) lies outside the {}-byte image",
                    p.number,
                    p.start,
                    p.start.saturating_add(p.size),
                    disk_len
                )));
            }
        }
        for w in spans.windows(2) {
            if w[0].start + w[0].size > w[1].start {
                return Err(bad(format!(
                    "partitions {} and {} overlap",
                    w[0].number, w[1].number
                )));
            }
        }
        Ok(())
    }

    pub fn get(&self, number: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.number == number)
    }
}

impl Partition {
    /// A window over this partition of `disk`.
    pub fn window<T: Seek>(&self, disk: T) -> Window<T> {
        Window::new(disk, self.start, self.size)
    }
}
