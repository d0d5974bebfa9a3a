//! What an image holds: its partition table, each partition's file system and label, and
//! the OS flavour, found by reading (never writing) the image.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::disk::{DiskError, Partition, PartitionTable};
use crate::flavour::Flavour;
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::{self, FsKind};
use crate::io::ReadOnly;

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("{path}: partition {number}: {detail}")]
    Partition {
        path: PathBuf,
        number: u32,
        detail: String,
    },
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct PartInfo {
    #[serde(flatten)]
    pub partition: Partition,
    pub fs: FsKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fs_label: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub size: u64,
    pub table: PartitionTable,
    pub parts: Vec<PartInfo>,
    pub flavour: Flavour,
    /// The system partition's `/etc/os-release`, parsed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub os_release: BTreeMap<String, String>,
    /// Partition number holding the OS (whose os-release was read).
    #[serde(skip)]
    pub system_part: Option<u32>,
}

impl ImageInfo {
    pub fn part(&self, number: u32) -> Option<&PartInfo> {
        self.parts.iter().find(|p| p.partition.number == number)
    }

    pub fn by_label(&self, label: &str) -> Option<&PartInfo> {
        self.parts.iter().find(|p| {
            p.fs_label.as_deref() == Some(label) || p.partition.name.as_deref() == Some(label)
        })
    }

    /// The first FAT partition: the boot partition on every Pi image.
    pub fn boot_fat(&self) -> Option<&PartInfo> {
        self.parts.iter().find(|p| p.fs == FsKind::Vfat)
    }
}

/// Opens a read-only window on partition `p` of the image at `path`.
pub fn open_part(
    path: &Path,
    p: &Partition,
) -> Result<crate::io::Window<ReadOnly<File>>, ProbeError> {
    let file = File::open(path).map_err(|source| ProbeError::Open {
        path: path.to_owned(),
        source,
    })?;
    Ok(p.window(ReadOnly(file)))
}

pub fn probe(path: &Path) -> Result<ImageInfo, ProbeError> {
    probe_as(path, path)
}

/// As [`probe`], naming the image `name` in errors.
pub fn probe_as(file_path: &Path, name: &Path) -> Result<ImageInfo, ProbeError> {
    let path = name;
    let table = PartitionTable::read_as(file_path, name)?;
    // Seeking to the end also sizes a block device (a flashed card), whose metadata says 0.
    let size = File::open(file_path)
        .and_then(|mut f| std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)))
        .map_err(|source| ProbeError::Open {
            path: path.to_owned(),
            source,
        })?;
    let part_err = |number: u32, detail: String| ProbeError::Partition {
        path: path.to_owned(),
        number,
        detail,
    };
    let mut parts = Vec::new();
    let mut os_release = BTreeMap::new();
    let mut system_part = None;
    let mut has_writable_paths = false;
    for p in &table.partitions {
        let mut win = open_part(file_path, p)?;
        let kind = fs::detect(&mut win).map_err(|e| part_err(p.number, e.to_string()))?;
        let fs_label = match kind {
            FsKind::Vfat => {
                let fat = Fat::open(win, 0).map_err(|e| part_err(p.number, format!("FAT: {e}")))?;
                Some(fat.label())
            }
            FsKind::Ext4 => {
                let rd =
                    Ext4Reader::open(win).map_err(|e| part_err(p.number, format!("ext4: {e}")))?;
                if system_part.is_none() && rd.exists("/etc/os-release") {
                    let text = rd
                        .read("/etc/os-release")
                        .map_err(|e| part_err(p.number, format!("ext4: {e}")))?;
                    os_release = parse_os_release(&String::from_utf8_lossy(&text));
                    has_writable_paths = rd.exists("/etc/system-image/writable-paths");
                    system_part = Some(p.number);
                }
                Some(rd.label())
            }
            FsKind::Unknown => None,
        };
        parts.push(PartInfo {
            partition: p.clone(),
            fs: kind,
            fs_label: fs_label.filter(|l| !l.is_empty()),
        });
    }
    let mut info = ImageInfo {
        size,
        table,
        parts,
        flavour: Flavour::Unknown,
        os_release,
        system_part,
    };
    info.flavour = Flavour::detect(&info, has_writable_paths);
    Ok(info)
}

/// `KEY=value` lines (comments skipped), each value passed through `unquote`.
pub fn parse_kv(text: &str, unquote: impl Fn(&str) -> String) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), unquote(v.trim())))
        })
        .collect()
}

/// `KEY=value` lines with optional quotes, as os-release(5) defines them.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    parse_kv(text, |v| {
        v.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v)
            .to_string()
    })
}
