//! The report in words, as `diff` prints it without `--json`.

use serde_json::{json, Value};

use super::report::{owner, Change, DiffReport, Status};
use crate::fs::{Entry, EntryKind};
use crate::probe::PartInfo;
use crate::secret::NOT_SHOWN;

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

pub(super) fn show_changes(changes: &[Change]) -> String {
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
