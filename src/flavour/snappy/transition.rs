//! Transition writable paths: the first boot copies one from the system partition to
//! `writable` only while `writable` lacks it. A plan that writes into one must copy it
//! first, or the boot would find it present and never copy the rest.

use super::paths::written;
use super::Parts;
use crate::flavour::PlanError;
use crate::fs::{Entry, EntryKind};
use crate::plan::{NodePlan, OpKind, Owner};

/// An entry's owner as the system partition records it (root, 0644 where it says nothing).
fn owner_of(e: &Entry) -> Owner {
    Owner {
        mode: e
            .mode
            .as_deref()
            .and_then(|m| u16::from_str_radix(m, 8).ok())
            .unwrap_or(0o644),
        uid: e.uid.unwrap_or(0),
        gid: e.gid.unwrap_or(0),
    }
}

/// Copies `dir` from the system partition to `system-data/<dir>` on `writable`, as the first
/// boot would, unless `writable` already has it (or the system has nothing to copy).
pub(super) fn copy(parts: &Parts, dir: &str, plan: &mut NodePlan) -> Result<(), PlanError> {
    let target = written(dir);
    if parts.writable.exists(&target) || !parts.system.exists(dir) {
        return Ok(());
    }
    for e in parts.system.list_under(dir)? {
        let rel = &e.path[dir.len()..];
        let kind = match e.kind {
            EntryKind::Dir => OpKind::Dir,
            EntryKind::Symlink => OpKind::Symlink {
                target: e.target.clone().unwrap_or_default(),
            },
            EntryKind::File => OpKind::File {
                data: parts.system.read(&e.path)?,
            },
            EntryKind::Other => continue,
        };
        plan.push(parts.op(&format!("{target}{rel}"), kind, owner_of(&e)));
    }
    plan.notes.push(format!(
        "copied the system partition's {dir} to writable (a transition path) before changing it"
    ));
    Ok(())
}
