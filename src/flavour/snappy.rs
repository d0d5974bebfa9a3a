//! Ubuntu Snappy Core 15.04. Per-node state lives on `writable`: `/etc/writable/hostname`
//! is `system-data/etc/writable/hostname`, `/home` is `user-data/`, each `auto` entry of
//! `/etc/system-image/writable-paths` is `system-data/<path>`, and the partition itself is
//! mounted at `/writable`. cloud-init reads its seed from
//! `/var/lib/cloud/seed/nocloud-net/`, i.e. on `writable`, not on `system-boot`.

use std::collections::BTreeMap;
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
const IFACES_DIR: &str = "/etc/network/interfaces.d";

/// Copies `dir` from the system partition to `system-data/<dir>` on writable, as the first
/// boot would, unless writable already has it (or the system has nothing to copy).
fn transition_copy(
    sr: &Ext4Reader,
    wr: &Ext4Reader,
    dir: &str,
    w: u32,
    epoch: u64,
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    let target = format!("/system-data{dir}");
    if wr.exists(&target) || !sr.exists(dir) {
        return Ok(());
    }
    for e in sr.list_under(dir)? {
        let rel = &e.path[dir.len()..];
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
        plan.push(FileOp::ext4(
            w,
            &format!("{target}{rel}"),
            kind,
            owner,
            epoch,
        ));
    }
    plan.notes.push(format!(
        "copied the system partition's {dir} to writable (a transition path) before changing it"
    ));
    Ok(())
}

fn netmask(prefix: u8) -> String {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    std::net::Ipv4Addr::from(bits).to_string()
}

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
    let (meta, user_data) = seed::render(info.flavour, inp, plan)?;
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
    transition_copy(&sr, &wr, UNIT_DIR, w, epoch, plan)?;

    // A static address: ifupdown's interfaces.d, also a transition path.
    if let Some(addr) = &inp.node.address {
        if addr.addr.is_ipv6() {
            return Err(PlanError::Input(format!(
                "node {}: static IPv6 addresses are not supported on Snappy 15.04 (use IPv4, or DHCP)",
                inp.node.name
            )));
        }
        transition_copy(&sr, &wr, IFACES_DIR, w, epoch, plan)?;
        let c = inp.cluster;
        let mut vars = BTreeMap::new();
        vars.insert("node", inp.node.name.to_string());
        vars.insert("interface", c.interface.to_string());
        vars.insert("address", addr.addr.to_string());
        vars.insert("netmask", netmask(addr.prefix));
        let mut options = String::new();
        if let Some(gw) = c.gateway {
            options.push_str(&format!("    gateway {gw}\n"));
        }
        if !c.dns.is_empty() {
            let dns: Vec<String> = c.dns.iter().map(ToString::to_string).collect();
            options.push_str(&format!("    dns-nameservers {}\n", dns.join(" ")));
        }
        vars.insert("options", options);
        let body = crate::overlay::SNAPPY_INTERFACES.render(&vars)?;
        plan.push(op(
            &format!("/system-data{IFACES_DIR}/{}", c.interface),
            OpKind::File {
                data: body.into_bytes(),
            },
            Owner::root(0o644),
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
