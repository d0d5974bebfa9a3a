//! `cat`: one file's bytes out of an image (raw or compressed), read-only, through the
//! same FAT and ext4 readers as `inspect`. A symlink is refused with its target named (the
//! target is a path on the node, which need not be on this partition); a secret
//! ([`Sensitivity`]) only with `allow_secret`.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::fs::part::{PartFs, PartFsError};
use crate::fs::{Entry, EntryKind};
use crate::inspect::InspectError;
use crate::probe::{self, ImageInfo, PartInfo};
use crate::secret::Sensitivity;
use crate::source::{RawImage, SourceError};

#[derive(Debug, Error)]
pub enum CatError {
    #[error("{0:?}: expected PARTITION:PATH (a partition number or label, then an absolute path, e.g. writable:/system-data/etc/hostname or 1:/cmdline.txt)")]
    Spec(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Fs(#[from] PartFsError),
    #[error("{image}: no partition {partition} (partitions: {known})")]
    NoPartition {
        image: PathBuf,
        partition: String,
        known: String,
    },
    /// The file is there but not printed: a directory, a symlink, a secret.
    #[error("{image}: partition {number}: {path}: {why}")]
    Refused {
        image: PathBuf,
        number: u32,
        path: String,
        why: String,
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
    let refuse = |why: String| CatError::Refused {
        image: image.to_owned(),
        number: part.partition.number,
        path: spec.path.clone(),
        why,
    };
    let fs = PartFs::open(raw.path(), image, &part.partition)?;
    // A FAT name matches in any case: read it by the name the listing gives.
    let entry = fs.stat(&spec.path)?;
    check_kind(&entry).map_err(refuse)?;
    let data = fs.read(&entry.path)?;
    let s = Sensitivity::of(&entry, Some(&data));
    if s.is_secret() && !allow_secret {
        return Err(refuse(format!(
            "a secret ({}): not printed without --secret",
            s.why()
        )));
    }
    Ok(data)
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
