//! What an image holds: its partition table, each partition's file system and label, and
//! the OS flavour, found by reading (never writing) the image.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

mod flavour;
pub use flavour::Flavour;

use crate::disk::{DiskError, Partition, PartitionTable};
use crate::fs::part::{FsCause, PartFs, PartFsError, PartWindow};
use crate::fs::FsKind;

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// Boxed: the largest cause, carried by many callers' errors.
    #[error(transparent)]
    Fs(Box<PartFsError>),
    #[error("{path}: cannot open")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<PartFsError> for ProbeError {
    fn from(e: PartFsError) -> Self {
        ProbeError::Fs(Box::new(e))
    }
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

/// Opens a read-only window on partition `p` of the image at `path` (for readers that
/// need the raw window; file-system readers use [`PartFs`]).
pub fn open_part(path: &Path, p: &Partition) -> Result<PartWindow, ProbeError> {
    PartFs::window(path, p).map_err(|source| ProbeError::Open {
        path: path.to_owned(),
        source,
    })
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
    let mut parts = Vec::new();
    let mut system = None;
    for p in &table.partitions {
        let fs = match PartFs::open(file_path, name, p) {
            Ok(fs) => Some(fs),
            Err(PartFsError {
                cause: FsCause::NoFs,
                ..
            }) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(fs) = fs.as_ref().filter(|fs| fs.kind() == FsKind::Ext4) {
            if system.is_none() && fs.exists("/etc/os-release") {
                system = Some(read_system(fs)?);
            }
        }
        parts.push(PartInfo {
            partition: p.clone(),
            fs: fs.as_ref().map_or(FsKind::Unknown, PartFs::kind),
            fs_label: fs.map(|fs| fs.label()).filter(|l| !l.is_empty()),
        });
    }
    let (system_part, os_release, has_writable_paths) = match system {
        Some(s) => (Some(s.number), s.os_release, s.writable_paths),
        None => (None, BTreeMap::new(), false),
    };
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

/// What the partition holding the OS says about it.
struct System {
    number: u32,
    os_release: BTreeMap<String, String>,
    /// Snappy's `/etc/system-image/writable-paths` is there.
    writable_paths: bool,
}

fn read_system(fs: &PartFs) -> Result<System, PartFsError> {
    let text = fs.read("/etc/os-release")?;
    Ok(System {
        number: fs.number(),
        os_release: parse_os_release(&String::from_utf8_lossy(&text)),
        writable_paths: fs.exists("/etc/system-image/writable-paths"),
    })
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
