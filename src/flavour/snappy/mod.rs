//! Ubuntu Snappy Core 15.04: the plan that puts a node's state on `writable`. Where each
//! path goes is [`paths`]'s to say (`/etc/writable/hostname` is
//! `system-data/etc/writable/hostname`, `/home` is `user-data/`, `/writable` is the
//! partition itself). cloud-init reads its seed from `/var/lib/cloud/seed/nocloud-net/`,
//! i.e. on `writable`, not on `system-boot`.

mod net;
mod paths;
mod transition;

pub use self::paths::{
    place, system_data, written, Place, AUTO_PATHS, EXTRAUSERS_PASSWD, HOSTNAME, IFACES_DIR,
    SEED_DIR, SYSTEM_DATA, TRANSITION_PATHS, UNIT_DIR, USER_DATA, WRITABLE_LABEL, WRITABLE_MOUNT,
};

use std::path::Path;

use super::{layout, rootfs, seed, NodeInputs, PlanError};
use crate::cluster::firstboot::NodeFile;
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::FsKind;
use crate::plan::{FileOp, NodePlan, OpKind, Owner};
use crate::probe::{open_part, ImageInfo};

/// The partitions a plan reads, and where its operations go.
struct Parts {
    /// `writable`'s partition number: every operation writes there.
    number: u32,
    writable: Ext4Reader,
    system: Ext4Reader,
    epoch: u64,
}

impl Parts {
    fn open(info: &ImageInfo, image: &Path, epoch: u64) -> Result<Parts, PlanError> {
        let writable = info
            .by_label(WRITABLE_LABEL)
            .filter(|p| p.fs == FsKind::Ext4)
            .ok_or(PlanError::NoPartition("ext4 writable"))?;
        let system = info
            .system_part
            .and_then(|n| info.part(n))
            .ok_or(PlanError::NoPartition("system-a"))?;
        Ok(Parts {
            number: writable.partition.number,
            writable: Ext4Reader::open(open_part(image, &writable.partition)?)?,
            system: Ext4Reader::open(open_part(image, &system.partition)?)?,
            epoch,
        })
    }

    /// An operation at `path` of `writable` (a partition path, already mapped).
    fn op(&self, path: &str, kind: OpKind, owner: Owner) -> FileOp {
        FileOp::ext4(self.number, path, kind, owner, self.epoch)
    }
}

pub(super) fn plan(
    info: &ImageInfo,
    image: &Path,
    inp: &NodeInputs<'_>,
    files: &[NodeFile],
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    let parts = Parts::open(info, image, inp.epoch)?;
    host_name(&parts, inp, plan);
    ssh_keys(&parts, inp, plan);
    cloud_seed(&parts, info, inp, plan)?;
    // Enabling a unit writes into /etc/systemd/system: do the transition copy first.
    transition::copy(&parts, UNIT_DIR, plan)?;
    if let Some(addr) = &inp.node.address {
        net::static_address(&parts, inp, addr, plan)?;
    }
    first_boot_files(&parts, info, files, plan);
    Ok(())
}

/// `/etc/hostname` links to `/etc/writable/hostname`, which is on `writable`.
fn host_name(parts: &Parts, inp: &NodeInputs<'_>, plan: &mut NodePlan) {
    plan.push(parts.op(
        &written(HOSTNAME),
        OpKind::File {
            data: format!("{}\n", inp.node.name).into_bytes(),
        },
        Owner::root(0o644),
    ));
}

/// The default user's uid and gid: its entry is in extrausers on this flavour (else the
/// system's passwd); 1000:1000, with a note, when neither has it.
fn ubuntu_ids(parts: &Parts, plan: &mut NodePlan) -> (u32, u32) {
    let passwd = parts
        .writable
        .read(&written(EXTRAUSERS_PASSWD))
        .or_else(|_| parts.system.read("/etc/passwd"))
        .unwrap_or_default();
    match rootfs::lookup_user(&String::from_utf8_lossy(&passwd), "ubuntu") {
        Some(u) => (u.uid, u.gid),
        None => {
            plan.notes.push(
                "no 'ubuntu' user in extrausers or /etc/passwd; authorized_keys owned by 1000:1000"
                    .into(),
            );
            (1000, 1000)
        }
    }
}

/// SSH keys for the default user, in its home on `writable`.
fn ssh_keys(parts: &Parts, inp: &NodeInputs<'_>, plan: &mut NodePlan) {
    let (uid, gid) = ubuntu_ids(parts, plan);
    if inp.keys.is_empty() {
        return;
    }
    let owner = |mode| Owner { mode, uid, gid };
    let ssh = written("/home/ubuntu/.ssh");
    plan.push(parts.op(&ssh, OpKind::Dir, owner(0o700)));
    plan.push(parts.op(
        &format!("{ssh}/authorized_keys"),
        OpKind::File {
            data: rootfs::authorized_keys(inp.keys),
        },
        owner(0o600),
    ));
}

/// cloud-init's seed, replacing the stock one (a new instance-id, so it runs again).
fn cloud_seed(
    parts: &Parts,
    info: &ImageInfo,
    inp: &NodeInputs<'_>,
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    let (meta, user_data) = seed::render(info.flavour, inp, plan)?;
    let seed_dir = written(SEED_DIR);
    for (name, body) in [("meta-data", meta), ("user-data", user_data)] {
        plan.push(parts.op(
            &format!("{seed_dir}/{name}"),
            OpKind::File {
                data: body.into_bytes(),
            },
            Owner::root(0o644),
        ));
    }
    Ok(())
}

/// The first-boot files, each at its path on `writable`.
fn first_boot_files(parts: &Parts, info: &ImageInfo, files: &[NodeFile], plan: &mut NodePlan) {
    let lay = layout(info.flavour);
    plan.push(parts.op(&written(lay.conf_dir), OpKind::Dir, Owner::root(0o700)));
    rootfs::push_node_files(plan, parts.number, files, parts.epoch, written);
}
