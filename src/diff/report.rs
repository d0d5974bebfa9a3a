//! What `diff` found, as `--json` prints it.

use serde::Serialize;
use serde_json::{json, Value};

use crate::fs::Entry;
use crate::probe::PartInfo;

/// One field that differs: its name and both values (`null` where a side has none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub field: &'static str,
    pub a: Value,
    pub b: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Serialize)]
pub struct FileChange {
    pub path: String,
    pub changes: Vec<Change>,
    /// A secret on either side ([`Sensitivity`](crate::secret::Sensitivity)): no diff, only its fields and digests.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// Unified diff, for text files under [`TEXT_LIMIT`](super::TEXT_LIMIT) on both sides, never for secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// A partition (matched by number) that differs. Files of an added or removed partition
/// are not listed; `a`/`b` describe the side that has it.
#[derive(Debug, Serialize)]
pub struct PartDiff {
    pub number: u32,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<PartInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<PartInfo>,
    pub changes: Vec<Change>,
    pub added: Vec<Entry>,
    pub removed: Vec<Entry>,
    pub changed: Vec<FileChange>,
}

/// The first differing byte of two images whose tables and listings match.
#[derive(Debug, Serialize)]
pub struct ByteDiff {
    pub offset: u64,
    /// The partition holding that byte; `null` outside every partition.
    pub partition: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct DiffReport {
    /// The two images as named on the command line (lossily, if not UTF-8).
    pub a: String,
    pub b: String,
    pub identical: bool,
    /// Image-wide fields: size, label, id, flavour.
    pub image: Vec<Change>,
    /// Only partitions that differ, by number.
    pub partitions: Vec<PartDiff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<ByteDiff>,
}

/// Records `field` when its two values differ.
pub(super) fn push(out: &mut Vec<Change>, field: &'static str, a: Value, b: Value) {
    if a != b {
        out.push(Change { field, a, b });
    }
}

/// A listing entry's owner as one value, `uid:gid` (`-` for a side FAT lacks).
pub(super) fn owner(e: &Entry) -> Value {
    match (e.uid, e.gid) {
        (None, None) => Value::Null,
        (u, g) => json!(format!(
            "{}:{}",
            u.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            g.map(|g| g.to_string()).unwrap_or_else(|| "-".into())
        )),
    }
}
