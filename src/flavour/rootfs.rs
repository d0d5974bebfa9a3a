//! Flavours with one ext4 root (Raspberry Pi OS, Ubuntu for Pi): node files land at their
//! own paths on the root partition. Also the helpers other flavours share.

use std::path::Path;

use super::{layout, NodeInputs, PlanError};
use crate::cluster::firstboot::{Body, NodeFile};
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

/// The shipped `/etc/hosts` with `node` on its 127.0.1.1 line (Debian maps the host name
/// there), added when there is none; every other line kept as shipped.
fn hosts_naming(shipped: &str, node: &str) -> String {
    let mut text = String::new();
    let mut replaced = false;
    for line in shipped.lines() {
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
    text
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
    let hosts = rd.read("/etc/hosts").unwrap_or_default();
    plan.push(op(
        "/etc/hosts",
        OpKind::File {
            data: hosts_naming(&String::from_utf8_lossy(&hosts), node).into_bytes(),
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

#[cfg(test)]
mod tests {
    use super::hosts_naming;

    #[test]
    fn hosts_names_the_node_on_127_0_1_1() {
        let shipped = "127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n";
        assert_eq!(
            hosts_naming(shipped, "n1"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tn1\n"
        );
        assert_eq!(
            hosts_naming("127.0.0.1 localhost", "n1"),
            "127.0.0.1 localhost\n127.0.1.1\tn1\n"
        );
    }
}
