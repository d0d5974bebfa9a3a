//! Ubuntu Snappy Core 15.04. Per-node state lives on `writable`: `/etc/writable/hostname`
//! is `system-data/etc/writable/hostname`, `/home` is `user-data/`, each `auto` entry of
//! `/etc/system-image/writable-paths` is `system-data/<path>`, and the partition itself is
//! mounted at `/writable`. cloud-init reads its seed from
//! `/var/lib/cloud/seed/nocloud-net/`, i.e. on `writable`, not on `system-boot`.

use std::path::Path;

use super::{rootfs, seed, NodeInputs, PlanError};
use crate::cluster::firstboot::{layout, NodeFile};
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::{EntryKind, FsKind};
use crate::plan::{FileOp, NodePlan, OpKind, Owner};
use crate::probe::{open_part, ImageInfo};

/// `/etc/systemd/system` is a "transition" writable path: copied from the system partition
/// at boot only while missing on `writable`. Creating it ourselves means copying it first.
const UNIT_DIR: &str = "/etc/systemd/system";

pub(super) fn plan(
    info: &ImageInfo,
    image: &Path,
    inp: &NodeInputs<'_>,
    files: &[NodeFile],
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    let writable = info
        .by_label("writable")
        .filter(|p| p.fs == FsKind::Ext4)
        .ok_or(PlanError::NoPartition("ext4 writable"))?;
    let system = info
        .system_part
        .and_then(|n| info.part(n))
        .ok_or(PlanError::NoPartition("system-a"))?;
    let w = writable.partition.number;
    let wr = Ext4Reader::open(open_part(image, &writable.partition)?)?;
    let sr = Ext4Reader::open(open_part(image, &system.partition)?)?;
    let epoch = inp.epoch;
    let op = |path: &str, kind: OpKind, owner: Owner| FileOp::ext4(w, path, kind, owner, epoch);

    // Host name: /etc/hostname -> writable/hostname -> system-data/etc/writable/hostname.
    plan.push(op(
        "/system-data/etc/writable/hostname",
        OpKind::File {
            data: format!("{}\n", inp.node.name).into_bytes(),
        },
        Owner::root(0o644),
    ));

    // SSH keys for the default user, whose entry is in extrausers on this flavour.
    let passwd = wr
        .read("/system-data/var/lib/extrausers/passwd")
        .or_else(|_| sr.read("/etc/passwd"))
        .unwrap_or_default();
    let user = rootfs::lookup_user(&String::from_utf8_lossy(&passwd), "ubuntu");
    let (uid, gid) = match &user {
        Some(u) => (u.uid, u.gid),
        None => {
            plan.notes.push(
                "no 'ubuntu' user in extrausers or /etc/passwd; authorized_keys owned by 1000:1000"
                    .into(),
            );
            (1000, 1000)
        }
    };
    if !inp.keys.is_empty() {
        let ssh = "/user-data/ubuntu/.ssh";
        plan.push(op(
            ssh,
            OpKind::Dir,
            Owner {
                mode: 0o700,
                uid,
                gid,
            },
        ));
        plan.push(op(
            &format!("{ssh}/authorized_keys"),
            OpKind::File {
                data: rootfs::authorized_keys(inp.keys),
            },
            Owner {
                mode: 0o600,
                uid,
                gid,
            },
        ));
    }

    // cloud-init's seed, replacing the stock one (new instance-id, so it runs again).
    let (meta, user_data) = seed::render(info.flavour, inp)?;
    let seed_dir = "/system-data/var/lib/cloud/seed/nocloud-net";
    for (name, body) in [("meta-data", meta), ("user-data", user_data)] {
        plan.push(op(
            &format!("{seed_dir}/{name}"),
            OpKind::File {
                data: body.into_bytes(),
            },
            Owner::root(0o644),
        ));
    }

    // Enabling a unit writes into /etc/systemd/system: do the transition copy first.
    let unit_dir_w = format!("/system-data{UNIT_DIR}");
    if !wr.exists(&unit_dir_w) {
        for e in sr.list_under(UNIT_DIR)? {
            let rel = &e.path[UNIT_DIR.len()..];
            let owner = Owner {
                mode: e
                    .mode
                    .as_deref()
                    .and_then(|m| u16::from_str_radix(m, 8).ok())
                    .unwrap_or(0o644),
                uid: e.uid.unwrap_or(0),
                gid: e.gid.unwrap_or(0),
            };
            let kind = match e.kind {
                EntryKind::Dir => OpKind::Dir,
                EntryKind::Symlink => OpKind::Symlink {
                    target: e.target.clone().unwrap_or_default(),
                },
                EntryKind::File => OpKind::File {
                    data: sr.read(&e.path)?,
                },
                EntryKind::Other => continue,
            };
            plan.push(op(&format!("{unit_dir_w}{rel}"), kind, owner));
        }
        plan.notes.push(format!(
            "copied the system partition's {UNIT_DIR} to writable (a transition path) before enabling units"
        ));
    }

    // First-boot files: /writable/... is the partition root; /etc/systemd/system is mapped.
    let lay = layout(info.flavour);
    let conf = lay.conf_dir.trim_start_matches("/writable");
    plan.push(op(conf, OpKind::Dir, Owner::root(0o700)));
    rootfs::push_node_files(plan, w, files, epoch, |p| {
        if let Some(rest) = p.strip_prefix("/writable/") {
            format!("/{rest}")
        } else {
            format!("/system-data{p}")
        }
    });
    Ok(())
}
