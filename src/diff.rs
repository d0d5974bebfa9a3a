//! `diff`: what differs between two images — the partition table, each partition's files
//! (added, removed, changed in type, size, mode, owner, SHA-256 or link target), and a
//! unified diff of small text files. When tables and listings match, the raw bytes are
//! compared too, so "identical" means byte for byte.

mod unified;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;

use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::{Entry, EntryKind, FsKind};
use crate::inspect::{inspect_raw, InspectError, PartReport, RawImage, Report};
use crate::io::sparse::data_ranges;
use crate::io::{ReadOnly, Window};
use crate::probe::{self, PartInfo};
use crate::secret::{Sensitivity, NOT_SHOWN};

pub use unified::unified;

/// Text files shown inline must be smaller than this on both sides.
pub const TEXT_LIMIT: u64 = 64 * 1024;

#[derive(Debug, Error)]
pub enum DiffError {
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error("{path}: partition {number}: {file}: {detail}")]
    File {
        path: PathBuf,
        number: u32,
        file: String,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

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
    /// A secret on either side ([`Sensitivity`]): no diff, only its fields and digests.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// Unified diff, for text files under [`TEXT_LIMIT`] on both sides, never for secrets.
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

/// Compares the images at `a` and `b` (.img or .img.xz).
pub fn diff(a: &Path, b: &Path) -> Result<DiffReport, DiffError> {
    let raw_a = RawImage::open(a)?;
    let raw_b = RawImage::open(b)?;
    let rep_a = inspect_raw(&raw_a, a)?;
    let rep_b = inspect_raw(&raw_b, b)?;

    let mut image = Vec::new();
    push(&mut image, "size", json!(rep_a.size), json!(rep_b.size));
    push(&mut image, "label", json!(rep_a.label), json!(rep_b.label));
    push(&mut image, "id", json!(rep_a.id), json!(rep_b.id));
    push(
        &mut image,
        "flavour",
        json!(rep_a.flavour),
        json!(rep_b.flavour),
    );

    let parts_a = by_number(&rep_a);
    let parts_b = by_number(&rep_b);
    let mut numbers: Vec<u32> = parts_a.keys().chain(parts_b.keys()).copied().collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut partitions = Vec::new();
    for n in numbers {
        let side_a = Side {
            raw: &raw_a,
            name: a,
        };
        let side_b = Side {
            raw: &raw_b,
            name: b,
        };
        let pd = match (parts_a.get(&n), parts_b.get(&n)) {
            (Some(pa), Some(pb)) => diff_part(n, (side_a, pa), (side_b, pb))?,
            (Some(pa), None) => Some(one_sided(n, Status::Removed, pa)),
            (None, Some(pb)) => Some(one_sided(n, Status::Added, pb)),
            (None, None) => None,
        };
        partitions.extend(pd);
    }

    let mut bytes = None;
    if image.is_empty() && partitions.is_empty() {
        if let Some(offset) = first_difference(&raw_a, a, &raw_b, b)? {
            let partition = rep_a
                .partitions
                .iter()
                .map(|p| &p.info.partition)
                .find(|p| (p.start..p.start + p.size).contains(&offset))
                .map(|p| p.number);
            bytes = Some(ByteDiff { offset, partition });
        }
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

#[derive(Clone, Copy)]
struct Side<'a> {
    raw: &'a RawImage,
    name: &'a Path,
}

fn push(out: &mut Vec<Change>, field: &'static str, a: Value, b: Value) {
    if a != b {
        out.push(Change { field, a, b });
    }
}

fn by_number(r: &Report) -> BTreeMap<u32, &PartReport> {
    r.partitions
        .iter()
        .map(|p| (p.info.partition.number, p))
        .collect()
}

fn one_sided(number: u32, status: Status, p: &PartReport) -> PartDiff {
    let info = Some(p.info.clone());
    let (a, b) = match status {
        Status::Removed => (info, None),
        _ => (None, info),
    };
    PartDiff {
        number,
        status,
        a,
        b,
        changes: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
    }
}

fn diff_part(
    number: u32,
    (side_a, pa): (Side, &PartReport),
    (side_b, pb): (Side, &PartReport),
) -> Result<Option<PartDiff>, DiffError> {
    let (ia, ib) = (&pa.info, &pb.info);
    let mut changes = Vec::new();
    let (qa, qb) = (&ia.partition, &ib.partition);
    push(&mut changes, "start", json!(qa.start), json!(qb.start));
    push(&mut changes, "size", json!(qa.size), json!(qb.size));
    push(&mut changes, "type", json!(qa.type_id), json!(qb.type_id));
    push(&mut changes, "name", json!(qa.name), json!(qb.name));
    push(
        &mut changes,
        "bootable",
        json!(qa.bootable),
        json!(qb.bootable),
    );
    push(&mut changes, "fs", json!(ia.fs), json!(ib.fs));
    push(
        &mut changes,
        "fs_label",
        json!(ia.fs_label),
        json!(ib.fs_label),
    );

    let files_a: BTreeMap<&str, &Entry> = pa.files.iter().map(|e| (e.path.as_str(), e)).collect();
    let files_b: BTreeMap<&str, &Entry> = pb.files.iter().map(|e| (e.path.as_str(), e)).collect();
    let added: Vec<Entry> = pb
        .files
        .iter()
        .filter(|e| !files_a.contains_key(e.path.as_str()))
        .cloned()
        .collect();
    let removed: Vec<Entry> = pa
        .files
        .iter()
        .filter(|e| !files_b.contains_key(e.path.as_str()))
        .cloned()
        .collect();
    let mut changed = Vec::new();
    let mut readers = Readers {
        sides: (side_a, side_b),
        infos: (ia, ib),
        number,
        open: None,
    };
    for (path, ea) in &files_a {
        let Some(eb) = files_b.get(path) else {
            continue;
        };
        let fc = file_changes(ea, eb);
        if !fc.is_empty() {
            changed.push(readers.file_change(path, (ea, eb), fc)?);
        }
    }
    if changes.is_empty() && added.is_empty() && removed.is_empty() && changed.is_empty() {
        return Ok(None);
    }
    Ok(Some(PartDiff {
        number,
        status: Status::Changed,
        a: None,
        b: None,
        changes,
        added,
        removed,
        changed,
    }))
}

fn owner(e: &Entry) -> Value {
    match (e.uid, e.gid) {
        (None, None) => Value::Null,
        (u, g) => json!(format!(
            "{}:{}",
            u.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            g.map(|g| g.to_string()).unwrap_or_else(|| "-".into())
        )),
    }
}

fn file_changes(a: &Entry, b: &Entry) -> Vec<Change> {
    let mut c = Vec::new();
    push(&mut c, "type", json!(a.kind), json!(b.kind));
    push(&mut c, "size", json!(a.size), json!(b.size));
    push(&mut c, "mode", json!(a.mode), json!(b.mode));
    push(&mut c, "owner", owner(a), owner(b));
    push(&mut c, "sha256", json!(a.sha256), json!(b.sha256));
    push(&mut c, "target", json!(a.target), json!(b.target));
    c
}

fn is_text_candidate(a: &Entry, b: &Entry) -> bool {
    // A name that was not UTF-8 is listed lossily and cannot be opened by that name.
    !a.path.contains(char::REPLACEMENT_CHARACTER)
        && a.kind == EntryKind::File
        && b.kind == EntryKind::File
        && a.sha256 != b.sha256
        && a.size < TEXT_LIMIT
        && b.size < TEXT_LIMIT
}

fn as_text(data: &[u8]) -> Option<&str> {
    if data.contains(&0) {
        return None;
    }
    std::str::from_utf8(data).ok()
}

/// Both sides' file systems of one partition, opened when a file's content is first
/// needed.
struct Readers<'a> {
    sides: (Side<'a>, Side<'a>),
    infos: (&'a PartInfo, &'a PartInfo),
    number: u32,
    open: Option<(FsRead, FsRead)>,
}

impl Readers<'_> {
    /// A changed file: its fields, and a unified diff of small text files that are not
    /// secrets ([`Sensitivity`]). A secret's content never leaves this function.
    fn file_change(
        &mut self,
        path: &str,
        (ea, eb): (&Entry, &Entry),
        changes: Vec<Change>,
    ) -> Result<FileChange, DiffError> {
        let mut secret =
            Sensitivity::of_entry(ea).is_secret() || Sensitivity::of_entry(eb).is_secret();
        let mut diff = None;
        if !secret && is_text_candidate(ea, eb) {
            let (sa, sb) = self.sides;
            let n = self.number;
            if self.open.is_none() {
                self.open = Some((
                    FsRead::open(sa, self.infos.0, n)?,
                    FsRead::open(sb, self.infos.1, n)?,
                ));
            }
            let (ra, rb) = self.open.as_ref().expect("just opened");
            let da = ra.read(sa, n, path)?;
            let db = rb.read(sb, n, path)?;
            secret = Sensitivity::of_content(&da).is_secret()
                || Sensitivity::of_content(&db).is_secret();
            if let (false, Some(ta), Some(tb)) = (secret, as_text(&da), as_text(&db)) {
                let name = |side: &str| format!("{side}/p{n}{path}");
                let u = unified(ta, tb, &name("a"), &name("b"));
                diff = (!u.is_empty()).then_some(u);
            }
        }
        Ok(FileChange {
            path: path.to_string(),
            changes,
            secret,
            diff,
        })
    }
}

/// A partition's file system, open for reading file contents.
enum FsRead {
    Fat(Box<Fat<Window<ReadOnly<File>>>>),
    Ext4(Ext4Reader),
    None,
}

impl FsRead {
    fn open(side: Side, info: &PartInfo, number: u32) -> Result<FsRead, DiffError> {
        let win = probe::open_part(side.raw.path(), &info.partition)
            .map_err(|e| DiffError::Inspect(e.into()))?;
        let err = |detail: String| DiffError::File {
            path: side.name.to_owned(),
            number,
            file: "/".into(),
            detail,
        };
        Ok(match info.fs {
            FsKind::Vfat => {
                FsRead::Fat(Box::new(Fat::open(win, 0).map_err(|e| err(e.to_string()))?))
            }
            FsKind::Ext4 => FsRead::Ext4(Ext4Reader::open(win).map_err(|e| err(e.to_string()))?),
            FsKind::Unknown => FsRead::None,
        })
    }

    fn read(&self, side: Side, number: u32, path: &str) -> Result<Vec<u8>, DiffError> {
        let err = |detail: String| DiffError::File {
            path: side.name.to_owned(),
            number,
            file: path.into(),
            detail,
        };
        match self {
            FsRead::Fat(f) => f.read(path).map_err(|e| err(e.to_string())),
            FsRead::Ext4(r) => r.read(path).map_err(|e| err(e.to_string())),
            FsRead::None => Err(err("no readable file system".into())),
        }
    }
}

/// The first offset where two equally long raw images differ. Ranges that are holes in
/// both are equal without being read.
fn first_difference(
    a: &RawImage,
    a_name: &Path,
    b: &RawImage,
    b_name: &Path,
) -> Result<Option<u64>, DiffError> {
    let open = |raw: &RawImage, name: &Path| {
        let io_err = |source| DiffError::Io {
            path: name.to_owned(),
            source,
        };
        let f = File::open(raw.path()).map_err(io_err)?;
        let len = f.metadata().map_err(io_err)?.len();
        let ranges = data_ranges(&f, len).map_err(io_err)?;
        Ok::<_, DiffError>((f, len, ranges))
    };
    let (fa, len, ra) = open(a, a_name)?;
    let (fb, len_b, rb) = open(b, b_name)?;
    if len != len_b {
        return Ok(Some(len.min(len_b)));
    }
    let mut ranges: Vec<(u64, u64)> = ra.into_iter().chain(rb).collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some((_, end)) if s <= *end => *end = (*end).max(e),
            _ => merged.push((s, e)),
        }
    }
    const CHUNK: usize = 1 << 20;
    let (mut ba, mut bb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    for (s, e) in merged {
        let mut at = s;
        while at < e {
            let k = ((e - at) as usize).min(CHUNK);
            fa.read_exact_at(&mut ba[..k], at)
                .map_err(|source| DiffError::Io {
                    path: a_name.to_owned(),
                    source,
                })?;
            fb.read_exact_at(&mut bb[..k], at)
                .map_err(|source| DiffError::Io {
                    path: b_name.to_owned(),
                    source,
                })?;
            if ba[..k] != bb[..k] {
                let i = ba[..k]
                    .iter()
                    .zip(&bb[..k])
                    .position(|(x, y)| x != y)
                    .expect("slices differ");
                return Ok(Some(at + i as u64));
            }
            at += k as u64;
        }
    }
    Ok(None)
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit()) => {
            s[..16].to_string()
        }
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn show_changes(changes: &[Change]) -> String {
    changes
        .iter()
        .map(|c| format!("{} {} -> {}", c.field, show(&c.a), show(&c.b)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show_part(p: &PartInfo) -> String {
    let q = &p.partition;
    let mut s = format!("start {} size {} type {}", q.start, q.size, q.type_id);
    if let Some(n) = &q.name {
        s += &format!(" name {n}");
    }
    if q.bootable {
        s += " (boot)";
    }
    s += &format!(" fs {}", show(&json!(p.fs)));
    if let Some(l) = &p.fs_label {
        s += &format!(" label {l}");
    }
    s
}

fn show_entry(e: &Entry) -> String {
    let kind = show(&json!(e.kind));
    let mut s = match e.kind {
        EntryKind::Dir => kind,
        _ => format!("{kind}, {} bytes", e.size),
    };
    if let Some(m) = &e.mode {
        s += &format!(", mode {m}, owner {}", show(&owner(e)));
    }
    if let Some(t) = &e.target {
        s += &format!(", -> {t}");
    }
    s
}

impl DiffReport {
    /// Human-readable: nothing at all for identical images (as diff(1)); otherwise one
    /// line per difference, with unified diffs of small text files after their line.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if !self.image.is_empty() {
            let _ = writeln!(s, "image: {}", show_changes(&self.image));
        }
        for p in &self.partitions {
            match p.status {
                Status::Added => {
                    let info = p.b.as_ref().expect("added partitions carry b");
                    let _ = writeln!(s, "partition {}: added: {}", p.number, show_part(info));
                    continue;
                }
                Status::Removed => {
                    let info = p.a.as_ref().expect("removed partitions carry a");
                    let _ = writeln!(s, "partition {}: removed: {}", p.number, show_part(info));
                    continue;
                }
                Status::Changed => {}
            }
            if !p.changes.is_empty() {
                let _ = writeln!(s, "partition {}: {}", p.number, show_changes(&p.changes));
            }
            if p.added.is_empty() && p.removed.is_empty() && p.changed.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "partition {}: {} added, {} removed, {} changed",
                p.number,
                p.added.len(),
                p.removed.len(),
                p.changed.len()
            );
            for e in &p.removed {
                let _ = writeln!(s, "  - {} ({})", e.path, show_entry(e));
            }
            for e in &p.added {
                let _ = writeln!(s, "  + {} ({})", e.path, show_entry(e));
            }
            for c in &p.changed {
                let secret = if c.secret {
                    format!("differs {NOT_SHOWN}; ")
                } else {
                    String::new()
                };
                let _ = writeln!(s, "  ~ {}: {secret}{}", c.path, show_changes(&c.changes));
                if let Some(d) = &c.diff {
                    s += d;
                }
            }
        }
        if let Some(b) = &self.bytes {
            let place = match b.partition {
                Some(n) => format!("in partition {n}"),
                None => "outside every partition".into(),
            };
            let _ = writeln!(
                s,
                "bytes: first difference at offset {} ({place}); tables and file listings \
                 match (time stamps or file-system metadata differ)",
                b.offset
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, sha: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            size: 3,
            mode: Some("0644".into()),
            uid: Some(0),
            gid: Some(0),
            sha256: Some(sha.repeat(64)),
            target: None,
        }
    }

    #[test]
    fn file_changes_name_each_field() {
        let a = entry("/x", "a");
        let mut b = entry("/x", "b");
        assert_eq!(file_changes(&a, &a), vec![]);
        b.uid = Some(1000);
        b.mode = Some("0600".into());
        let fields: Vec<&str> = file_changes(&a, &b).iter().map(|c| c.field).collect();
        assert_eq!(fields, ["mode", "owner", "sha256"]);
        assert_eq!(
            show_changes(&file_changes(&a, &b)),
            "mode 0644 -> 0600, owner 0:0 -> 1000:0, sha256 aaaaaaaaaaaaaaaa -> bbbbbbbbbbbbbbbb"
        );
    }

    #[test]
    fn text_only_when_small_utf8_without_nul() {
        assert_eq!(as_text(b"hi\n"), Some("hi\n"));
        assert_eq!(as_text(b"a\0b"), None);
        assert_eq!(as_text(&[0xff, 0xfe]), None);
        let a = entry("/x", "a");
        let mut b = entry("/x", "b");
        assert!(is_text_candidate(&a, &b));
        b.size = TEXT_LIMIT;
        assert!(!is_text_candidate(&a, &b));
    }
}
