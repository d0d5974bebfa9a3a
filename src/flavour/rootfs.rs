//! Flavours with one ext4 root (Raspberry Pi OS, Ubuntu for Pi): node files land at their
//! own paths on the root partition. Also the helpers other flavours share.

use std::path::Path;

use super::{NodeInputs, PlanError};
use crate::cluster::firstboot::{layout, Body, NodeFile};
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::FsKind;
use crate::plan::{FileOp, NodePlan, OpKind, Owner};
use crate::probe::{open_part, ImageInfo};
use crate::sshkey::PublicKey;

pub(super) struct User {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Looks `name` up in passwd(5) text.
pub(super) fn lookup_user(passwd: &str, name: &str) -> Option<User> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 6 && f[0] == name {
            Some(User {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        } else {
            None
        }
    })
}

pub(super) fn authorized_keys(keys: &[PublicKey]) -> Vec<u8> {
    let mut s = String::from("# Written by clem-image.\n");
    for k in keys {
        s.push_str(&k.line());
        s.push('\n');
    }
    s.into_bytes()
}

/// Adds the first-boot files, mapping each node path to a path on partition `part`.
pub(super) fn push_node_files(
    plan: &mut NodePlan,
    part: u32,
    files: &[NodeFile],
    epoch: u64,
    map: impl Fn(&str) -> String,
) {
    for f in files {
        let kind = match &f.body {
            Body::Data(d) => OpKind::File { data: d.clone() },
            Body::Symlink(t) => OpKind::Symlink { target: t.clone() },
            Body::Copy(h) => OpKind::Copy { source: h.clone() },
        };
        plan.push(FileOp::ext4(
            part,
            &map(&f.path),
            kind,
            Owner::root(f.mode),
            epoch,
        ));
    }
}

pub(super) fn plan(
    info: &ImageInfo,
    image: &Path,
    inp: &NodeInputs<'_>,
    files: &[NodeFile],
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    let root = info
        .system_part
        .and_then(|n| info.part(n))
        .filter(|p| p.fs == FsKind::Ext4)
        .ok_or(PlanError::NoPartition("ext4 root"))?;
    let r = root.partition.number;
    let rd = Ext4Reader::open(open_part(image, &root.partition)?)?;
    let epoch = inp.epoch;
    let node = inp.node.name.as_str();
    let op = |path: &str, kind: OpKind, owner: Owner| FileOp::ext4(r, path, kind, owner, epoch);

    plan.push(op(
        "/etc/hostname",
        OpKind::File {
            data: format!("{node}\n").into_bytes(),
        },
        Owner::root(0o644),
    ));
    // Debian maps the host name to 127.0.1.1; keep the rest of the file as shipped.
    let hosts = rd.read("/etc/hosts").unwrap_or_default();
    let mut text = String::new();
    let mut replaced = false;
    for line in String::from_utf8_lossy(&hosts).lines() {
        if line.split_whitespace().next() == Some("127.0.1.1") {
            text.push_str(&format!("127.0.1.1\t{node}\n"));
            replaced = true;
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if !replaced {
        text.push_str(&format!("127.0.1.1\t{node}\n"));
    }
    plan.push(op(
        "/etc/hosts",
        OpKind::File {
            data: text.into_bytes(),
        },
        Owner::root(0o644),
    ));

    // Images that already have a `pi` user get the keys directly; otherwise cloud-init
    // creates the default user and installs the keys from user-data.
    let passwd = rd.read("/etc/passwd").unwrap_or_default();
    if let (Some(u), false) = (
        lookup_user(&String::from_utf8_lossy(&passwd), "pi"),
        inp.keys.is_empty(),
    ) {
        let ssh = format!("{}/.ssh", u.home);
        let owner = |mode| Owner {
            mode,
            uid: u.uid,
            gid: u.gid,
        };
        plan.push(op(&ssh, OpKind::Dir, owner(0o700)));
        plan.push(op(
            &format!("{ssh}/authorized_keys"),
            OpKind::File {
                data: authorized_keys(inp.keys),
            },
            owner(0o600),
        ));
    }

    plan.push(op(
        layout(info.flavour).conf_dir,
        OpKind::Dir,
        Owner::root(0o700),
    ));
    push_node_files(plan, r, files, epoch, |p| p.to_string());
    Ok(())
}
