//! Image families and where each keeps what a node owns. This is the only place that knows.
//!
//! - Snappy Core 15.04: node state on `writable` (`system-data/…`, `user-data/…`); the
//!   A/B system partitions are replaced whole on update and are never touched. Its path
//!   rules ([`snappy::place`], [`snappy::written`]) are public: `explain` reads through them.
//! - Raspberry Pi OS and Ubuntu for Pi: one ext4 root; cloud-init's seed on the FAT boot
//!   partition.

/// The first-boot files' paths per flavour: one table, kept beside the files it places.
pub use crate::cluster::firstboot::layout;
mod rootfs;
mod seed;
pub use seed::cluster_login_user;
pub mod snappy;

use std::path::Path;

use thiserror::Error;

use crate::cluster::config::{Cluster, NodeSpec};
use crate::cluster::firstboot::{self, FirstBootError};
use crate::cluster::tls::ClusterCa;
use crate::docker::{EnginePlan, Provision};
use crate::fs::ext4::read::Ext4ReadError;
use crate::overlay::TemplateError;
use crate::plan::{HostFile, NodePlan};
pub use crate::probe::Flavour;
use crate::probe::{ImageInfo, ProbeError};
use crate::sshkey::PublicKey;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error("the image has no FAT boot partition to hold the cloud-init seed")]
    NoBootFat,
    #[error("the image has no {0} partition")]
    NoPartition(&'static str),
    #[error("cannot tell which image family this is (no /etc/os-release on any ext4 partition); refusing to guess where files go")]
    UnknownFlavour,
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    FirstBoot(#[from] FirstBootError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(
        "node {node}: static IPv6 addresses are not supported on Snappy 15.04 (use IPv4, or DHCP)"
    )]
    SnappyIpv6 { node: crate::node::NodeName },
    #[error(transparent)]
    CloudConfig(#[from] crate::cloudinit::CloudConfigError),
    /// The cause names the path it could not read.
    #[error("reading the image")]
    Read(#[from] Ext4ReadError),
}

/// The docker files and facts the first-boot files carry, from the build's decision.
fn first_boot_engine<'a>(inp: &NodeInputs<'a>, user: &'a str) -> firstboot::Engine<'a> {
    let (debs, snap) = match &inp.engine.provision {
        Provision::Bundle { files, .. } => (&files[..], None),
        Provision::Snap { file, .. } => (&[][..], Some(file)),
        _ => (&[][..], None),
    };
    firstboot::Engine {
        install: inp.engine.provision.kind(),
        debs,
        snap,
        swarm_image: inp.swarm_image,
        login_user: user,
        version: inp.engine.version.as_deref(),
    }
}

/// Everything a node's plan is made from.
pub struct NodeInputs<'a> {
    pub cluster: &'a Cluster,
    pub node: &'a NodeSpec,
    pub keys: &'a [PublicKey],
    pub ca: Option<&'a ClusterCa>,
    pub epoch: u64,
    /// How the nodes get docker (decided once for the image).
    pub engine: &'a EnginePlan,
    /// The legacy swarm's image tarball, checked by build.
    pub swarm_image: Option<&'a HostFile>,
}

/// What the build writes into this image for one node. `image` is read (never written)
/// for what the plan depends on: users, and directories a transition must copy.
pub fn plan_node(
    info: &ImageInfo,
    image: &Path,
    inp: &NodeInputs<'_>,
) -> Result<NodePlan, PlanError> {
    let mut plan = NodePlan::new(inp.node.name.clone());
    plan.ca_sha256 = inp.ca.map(ClusterCa::sha256);
    let user = seed::login_user(info.flavour, inp);
    let engine = first_boot_engine(inp, &user);
    let files = firstboot::node_files(inp.cluster, inp.ca, inp.node, info.flavour, &engine)?;
    match info.flavour {
        Flavour::SnappyCore15 => snappy::plan(info, image, inp, &files, &mut plan)?,
        Flavour::RaspberryPiOs | Flavour::UbuntuPi => {
            rootfs::plan(info, image, inp, &files, &mut plan)?;
            seed::fat_seed(info, inp, &mut plan)?;
        }
        Flavour::Unknown => return Err(PlanError::UnknownFlavour),
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::PlanError;
    use crate::error::chain;
    use crate::fs::ext4::read::Ext4ReadError;

    #[test]
    fn a_read_error_names_its_cause_once() {
        let e = PlanError::Read(Ext4ReadError::Path {
            path: "/etc/passwd".into(),
            source: ext4_view::Ext4Error::NotFound,
        });
        let text = chain(&e);
        assert!(text.starts_with("reading the image: "), "{text}");
        assert_eq!(text.matches("/etc/passwd").count(), 1, "{text}");
    }
}
