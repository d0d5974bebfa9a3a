//! `inspect`: the partition table, each partition's file system, and every file with its
//! size, mode and SHA-256, in a stable order (so two listings diff cleanly).

use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::disk::Label;
use crate::fs::part::{PartFs, PartFsError};
use crate::fs::{Entry, FsKind};
use crate::probe::{self, Flavour, PartInfo, ProbeError};
use crate::source::{RawImage, SourceError};

#[derive(Debug, Error)]
pub enum InspectError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Fs(#[from] PartFsError),
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
        let files = match part.fs {
            FsKind::Unknown => Vec::new(),
            _ => PartFs::open(raw.path(), path, &part.partition)?.walk()?,
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
