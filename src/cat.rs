//! `cat`: one file's bytes out of an image (raw or compressed), read-only, through the
//! same FAT and ext4 readers as `inspect`. A symlink is refused with its target named (the
//! target is a path on the node, which need not be on this partition); a secret
//! ([`Sensitivity`]) only with `allow_secret`.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::{Entry, EntryKind, FsKind};
use crate::inspect::{InspectError, RawImage};
use crate::probe::{self, ImageInfo, PartInfo};
use crate::secret::Sensitivity;

#[derive(Debug, Error)]
pub enum CatError {
    #[error("{0:?}: expected PARTITION:PATH (a partition number or label, then an absolute path, e.g. writable:/system-data/etc/hostname or 1:/cmdline.txt)")]
    Spec(String),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error("{image}: no partition {partition} (partitions: {known})")]
    NoPartition {
        image: PathBuf,
        partition: String,
        known: String,
    },
    #[error("{image}: partition {number}: {path}: {detail}")]
    File {
        image: PathBuf,
        number: u32,
        path: String,
        detail: String,
    },
}

/// `PARTITION:PATH` as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// A partition number (all digits) or a file-system label / GPT partition name.
    pub partition: String,
    /// Absolute within the partition.
    pub path: String,
}

impl Spec {
    pub fn parse(s: &str) -> Result<Spec, CatError> {
        let (part, path) = s.split_once(':').ok_or_else(|| CatError::Spec(s.into()))?;
        if part.is_empty() || !path.starts_with('/') {
            return Err(CatError::Spec(s.into()));
        }
        Ok(Spec {
            partition: part.into(),
            path: path.into(),
        })
    }
}

/// The bytes of `spec`'s file in the image at `image`.
pub fn cat(image: &Path, spec: &Spec, allow_secret: bool) -> Result<Vec<u8>, CatError> {
    let raw = RawImage::open(image)?;
    let info = probe::probe_as(raw.path(), image).map_err(InspectError::from)?;
    let part = find_part(&info, image, &spec.partition)?;
    let number = part.partition.number;
    let fail = |detail: String| CatError::File {
        image: image.to_owned(),
        number,
        path: spec.path.clone(),
        detail,
    };
    let win = probe::open_part(raw.path(), &part.partition).map_err(InspectError::from)?;
    let (entry, data) = match part.fs {
        FsKind::Ext4 => {
            let r = Ext4Reader::open(win).map_err(|e| fail(e.to_string()))?;
            let entry = r
                .stat(&spec.path)
                .map_err(|e| fail(missing(e.to_string())))?;
            check_kind(&entry).map_err(fail)?;
            let data = r.read(&spec.path).map_err(|e| fail(e.to_string()))?;
            (entry, data)
        }
        FsKind::Vfat => {
            let f = Fat::open(win, 0).map_err(|e| fail(e.to_string()))?;
            if spec.path.trim_end_matches('/').is_empty() {
                return Err(fail(check_kind(&dir_entry()).unwrap_err()));
            }
            let names = f.names().map_err(|e| fail(e.to_string()))?;
            let entry = names
                .into_iter()
                .find(|e| e.path.eq_ignore_ascii_case(spec.path.trim_end_matches('/')))
                .ok_or_else(|| fail("no such file".into()))?;
            check_kind(&entry).map_err(fail)?;
            let data = f.read(&entry.path).map_err(|e| fail(e.to_string()))?;
            (entry, data)
        }
        FsKind::Unknown => {
            return Err(fail(
                "the partition holds no FAT or ext4 file system".into(),
            ))
        }
    };
    let s = Sensitivity::of(&entry, Some(&data));
    if s.is_secret() && !allow_secret {
        return Err(fail(format!(
            "a secret ({}): not printed without --secret",
            s.why()
        )));
    }
    Ok(data)
}

/// ext4-view's "not found" in plain words; other errors as they are.
fn missing(detail: String) -> String {
    if detail.to_ascii_lowercase().contains("not found") {
        "no such file".into()
    } else {
        detail
    }
}

/// The FAT root, which no listing has an entry for.
fn dir_entry() -> Entry {
    Entry {
        path: "/".into(),
        kind: EntryKind::Dir,
        size: 0,
        mode: None,
        uid: None,
        gid: None,
        sha256: None,
        target: None,
    }
}

fn check_kind(e: &Entry) -> Result<(), String> {
    match e.kind {
        EntryKind::File => Ok(()),
        EntryKind::Dir => Err("is a directory (inspect lists its files)".into()),
        EntryKind::Symlink => Err(format!(
            "is a symlink to {}: not followed (cat its target by its path on the partition)",
            e.target.as_deref().unwrap_or("?")
        )),
        EntryKind::Other => Err("is not a regular file".into()),
    }
}

fn find_part<'a>(info: &'a ImageInfo, image: &Path, sel: &str) -> Result<&'a PartInfo, CatError> {
    let found = match sel.parse::<u32>() {
        Ok(n) if sel.bytes().all(|c| c.is_ascii_digit()) => info.part(n),
        _ => info.by_label(sel),
    };
    found.ok_or_else(|| CatError::NoPartition {
        image: image.to_owned(),
        partition: sel.into(),
        known: info
            .parts
            .iter()
            .map(|p| match &p.fs_label {
                Some(l) => format!("{} ({l})", p.partition.number),
                None => p.partition.number.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s = Spec::parse("writable:/a:b").unwrap();
        assert_eq!(
            (s.partition.as_str(), s.path.as_str()),
            ("writable", "/a:b")
        );
        assert_eq!(Spec::parse("1:/x").unwrap().partition, "1");
        for bad in ["/x", "1:x", ":/x", "writable"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
