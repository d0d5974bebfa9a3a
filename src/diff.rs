//! `diff`: what differs between two images — the partition table, each partition's files
//! (added, removed, changed in type, size, mode, owner, SHA-256 or link target), and a
//! unified diff of small text files. When tables and listings match, the raw bytes are
//! compared too, so "identical" means byte for byte.
//!
//! [`diff`] walks the two images; `report` holds what it finds, `parts` compares one
//! partition's fields and listings, `content` reads changed text files (never secrets),
//! `bytes` compares raw bytes, `text` renders the report and `unified` the line diffs.

mod bytes;
mod content;
mod parts;
mod report;
mod text;
mod unified;

use std::path::Path;

use serde_json::json;
use thiserror::Error;

use crate::fs::part::PartFsError;
use crate::inspect::{inspect_raw, InspectError};
use crate::source::{RawImage, SourceError};

pub use report::{ByteDiff, Change, DiffReport, FileChange, PartDiff, Status};
pub use unified::unified;

/// Text files shown inline must be smaller than this on both sides.
pub const TEXT_LIMIT: u64 = 64 * 1024;

#[derive(Debug, Error)]
pub enum DiffError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Fs(#[from] PartFsError),
    #[error("{path}: cannot read")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// One image being compared: its raw bytes and the name it was given.
#[derive(Clone, Copy)]
struct Side<'a> {
    raw: &'a RawImage,
    name: &'a Path,
}

/// Compares the images at `a` and `b` (.img or .img.xz).
pub fn diff(a: &Path, b: &Path) -> Result<DiffReport, DiffError> {
    let raw_a = RawImage::open(a)?;
    let raw_b = RawImage::open(b)?;
    let side_a = Side {
        raw: &raw_a,
        name: a,
    };
    let side_b = Side {
        raw: &raw_b,
        name: b,
    };
    let rep_a = inspect_raw(&raw_a, a)?;
    let rep_b = inspect_raw(&raw_b, b)?;

    let mut image = Vec::new();
    let push = report::push;
    push(&mut image, "size", json!(rep_a.size), json!(rep_b.size));
    push(&mut image, "label", json!(rep_a.label), json!(rep_b.label));
    push(&mut image, "id", json!(rep_a.id), json!(rep_b.id));
    push(
        &mut image,
        "flavour",
        json!(rep_a.flavour),
        json!(rep_b.flavour),
    );
    let partitions = parts::diff_parts((side_a, &rep_a), (side_b, &rep_b))?;
    let mut bytes = None;
    if image.is_empty() && partitions.is_empty() {
        bytes = bytes::first_byte_diff((side_a, &rep_a), side_b)?;
    }
    Ok(DiffReport {
        a: a.to_string_lossy().into_owned(),
        b: b.to_string_lossy().into_owned(),
        identical: image.is_empty() && partitions.is_empty() && bytes.is_none(),
        image,
        partitions,
        bytes,
    })
}
