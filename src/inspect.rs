//! `inspect`: the partition table, each partition's file system, and every file with its
//! size, mode and SHA-256, in a stable order (so two listings diff cleanly).

use std::path::{Path, PathBuf};

use serde::Serialize;
use std::os::fd::AsRawFd;
use thiserror::Error;

use crate::disk::Label;
use crate::flavour::Flavour;
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::{Entry, FsKind};
use crate::io::sparse::write_sparse;
use crate::probe::{self, PartInfo, ProbeError};
use crate::source::{split_io_error, Compression, Source, SourceError};

#[derive(Debug, Error)]
pub enum InspectError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("{path}: partition {number}: {detail}")]
    Fs {
        path: PathBuf,
        number: u32,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub size: u64,
    pub label: Label,
    pub id: String,
    pub flavour: Flavour,
    pub partitions: Vec<PartReport>,
}

#[derive(Debug, Serialize)]
pub struct PartReport {
    #[serde(flatten)]
    pub info: PartInfo,
    pub files: Vec<Entry>,
}

/// A raw image to read: the file itself, or a sparse temporary copy of an `.xz`.
pub struct RawImage {
    path: PathBuf,
    _tmp: Option<std::fs::File>,
}

impl RawImage {
    pub fn open(path: &Path) -> Result<RawImage, InspectError> {
        let mut src = Source::open(path)?;
        if src.compression() == Compression::None {
            return Ok(RawImage {
                path: path.to_owned(),
                _tmp: None,
            });
        }
        let io_err = |source| InspectError::Io {
            path: std::env::temp_dir(),
            source,
        };
        // An unlinked file, reached through /proc: a crash or kill leaves nothing behind.
        let tmp = tempfile::tempfile().map_err(io_err)?;
        write_sparse(&mut src, &tmp, |_, _| {}).map_err(|e| match split_io_error(e) {
            Ok(se) => InspectError::Source(se),
            Err(e) => io_err(e),
        })?;
        Ok(RawImage {
            path: PathBuf::from(format!("/proc/self/fd/{}", tmp.as_raw_fd())),
            _tmp: Some(tmp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub fn inspect(path: &Path) -> Result<Report, InspectError> {
    let raw = RawImage::open(path)?;
    inspect_raw(&raw, path)
}

/// As [`inspect`], on an image already opened (so a caller can go on reading it), naming
/// it `path` in errors.
pub fn inspect_raw(raw: &RawImage, path: &Path) -> Result<Report, InspectError> {
    let info = probe::probe_as(raw.path(), path)?;
    let mut partitions = Vec::new();
    for part in &info.parts {
        let fs_err = |detail: String| InspectError::Fs {
            path: path.to_owned(),
            number: part.partition.number,
            detail,
        };
        let win = probe::open_part(raw.path(), &part.partition)?;
        let files = match part.fs {
            FsKind::Vfat => Fat::open(win, 0)
                .and_then(|f| f.list())
                .map_err(|e| fs_err(e.to_string()))?,
            FsKind::Ext4 => Ext4Reader::open(win)
                .and_then(|r| r.list())
                .map_err(|e| fs_err(e.to_string()))?,
            FsKind::Unknown => Vec::new(),
        };
        partitions.push(PartReport {
            info: part.clone(),
            files,
        });
    }
    Ok(Report {
        size: info.size,
        label: info.table.label,
        id: info.table.id.clone(),
        flavour: info.flavour,
        partitions,
    })
}

/// The file system's name as `mount -t` and the JSON spell it.
pub fn fs_name(fs: FsKind) -> &'static str {
    match fs {
        FsKind::Vfat => "vfat",
        FsKind::Ext4 => "ext4",
        FsKind::Unknown => "unknown",
    }
}

/// Column headings of a partition's file listing, aligned with [`file_line`].
const HEADINGS: [&str; 6] = ["MODE", "UID", "GID", "SIZE", "SHA-256", "PATH"];

fn file_line([mode, uid, gid, size, sha, path]: [&str; 6]) -> String {
    format!("  {mode:>4} {uid:>5}:{gid:<5} {size:>10} {sha:<64} {path}")
}

fn entry_line(f: &Entry) -> String {
    let id = |v: Option<u32>| v.map(|u| u.to_string()).unwrap_or_else(|| "-".into());
    let path = match &f.target {
        Some(t) => format!("{} -> {t}", f.path),
        None => f.path.clone(),
    };
    file_line([
        f.mode.as_deref().unwrap_or("-"),
        &id(f.uid),
        &id(f.gid),
        &f.size.to_string(),
        f.sha256.as_deref().unwrap_or("-"),
        &path,
    ])
}

impl Report {
    /// A human-readable listing: full SHA-256 digests, one headed table per partition.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} label {}, {} bytes, flavour {}",
            self.label.as_str(),
            self.id,
            self.size,
            self.flavour.as_str()
        );
        for p in &self.partitions {
            let i = &p.info;
            let _ = writeln!(
                s,
                "\npartition {}: start {} size {} type {}{} fs {} label {}",
                i.partition.number,
                i.partition.start,
                i.partition.size,
                i.partition.type_id,
                if i.partition.bootable { " (boot)" } else { "" },
                fs_name(i.fs),
                i.fs_label.as_deref().unwrap_or("-")
            );
            if p.files.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{}", file_line(HEADINGS).trim_end());
            for f in &p.files {
                let _ = writeln!(s, "{}", entry_line(f));
            }
        }
        s
    }
}
