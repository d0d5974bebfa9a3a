//! One partition of each image compared: its table fields, its file system, and its
//! listing (added, removed and changed files).

use std::collections::BTreeMap;

use serde_json::json;

use super::content::Readers;
use super::report::{owner, push, Change, PartDiff, Status};
use super::{DiffError, Side};
use crate::fs::Entry;
use crate::inspect::{PartReport, Report};

/// Every partition number either image has, compared; only those that differ are kept.
pub(super) fn diff_parts(
    (side_a, rep_a): (Side, &Report),
    (side_b, rep_b): (Side, &Report),
) -> Result<Vec<PartDiff>, DiffError> {
    let parts_a = by_number(rep_a);
    let parts_b = by_number(rep_b);
    let mut numbers: Vec<u32> = parts_a.keys().chain(parts_b.keys()).copied().collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut partitions = Vec::new();
    for n in numbers {
        let pd = match (parts_a.get(&n), parts_b.get(&n)) {
            (Some(pa), Some(pb)) => diff_part(n, (side_a, pa), (side_b, pb))?,
            (Some(pa), None) => Some(one_sided(n, Status::Removed, pa)),
            (None, Some(pb)) => Some(one_sided(n, Status::Added, pb)),
            (None, None) => None,
        };
        partitions.extend(pd);
    }
    Ok(partitions)
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
    let mut readers = Readers::new((side_a, side_b), (ia, ib), number);
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

pub(super) fn file_changes(a: &Entry, b: &Entry) -> Vec<Change> {
    let mut c = Vec::new();
    push(&mut c, "type", json!(a.kind), json!(b.kind));
    push(&mut c, "size", json!(a.size), json!(b.size));
    push(&mut c, "mode", json!(a.mode), json!(b.mode));
    push(&mut c, "owner", owner(a), owner(b));
    push(&mut c, "sha256", json!(a.sha256), json!(b.sha256));
    push(&mut c, "target", json!(a.target), json!(b.target));
    c
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::diff::text::show_changes;
    use crate::fs::EntryKind;

    pub(in crate::diff) fn entry(path: &str, sha: &str) -> Entry {
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
}
