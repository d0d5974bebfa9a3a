//! The resolved cluster, as the rest of the program sees it: config file and command line
//! merged, every value checked.

use std::net::IpAddr;
use std::path::PathBuf;

use super::kinds::{DockerExposure, Role, SwarmSetup};
use crate::cloudinit::Fragment;
use crate::cluster::values::{Cidr, Discovery, HostPort, ImageRef, Interface, Token, UserName};
use crate::node::NodeName;

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: NodeName,
    pub address: Option<Cidr>,
    pub role: Role,
    /// This node's extra cloud-config, merged over the cluster's.
    pub cloud_config: Option<Fragment>,
}

#[derive(Debug, Clone)]
pub enum Swarm {
    None,
    /// Swarm mode with no token given: the manager inits the swarm at first boot and joins
    /// every worker by calling its docker API over mutual TLS.
    ZeroTouch {
        address_pool: Option<Cidr>,
    },
    /// Swarm mode, joining an existing manager with a known token.
    Join {
        manager: HostPort,
        token: Token,
    },
    /// The standalone swarm of 2015: agent containers and a discovery URL.
    Legacy {
        discovery: Discovery,
        image: ImageRef,
    },
}

impl Swarm {
    pub fn setup(&self) -> SwarmSetup {
        match self {
            Swarm::None => SwarmSetup::None,
            Swarm::ZeroTouch { .. } => SwarmSetup::ZeroTouch,
            Swarm::Join { .. } => SwarmSetup::SwarmMode,
            Swarm::Legacy { .. } => SwarmSetup::Legacy,
        }
    }

    /// `setup()` by name.
    pub fn kind(&self) -> &'static str {
        self.setup().as_str()
    }
}

/// The seed's agent image (armhf).
pub const DEFAULT_LEGACY_IMAGE: &str = "nimblestratus/rpi-swarm";

/// The resolved cluster: config file plus command-line overrides.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Where the CA, client and node certificates live.
    pub dir: PathBuf,
    pub ssh_key_files: Vec<PathBuf>,
    /// The config's `[cluster] image`, relative to the config.
    pub image: Option<PathBuf>,
    pub docker: DockerExposure,
    pub interface: Interface,
    pub gateway: Option<IpAddr>,
    pub dns: Vec<IpAddr>,
    pub docker_snap: Option<PathBuf>,
    pub docker_debs: Option<PathBuf>,
    /// The legacy swarm's image as a `docker save` tarball.
    pub swarm_image_file: Option<PathBuf>,
    /// `[swarm] mode` was given: the swarm is not adapted to the image's docker.
    pub swarm_explicit: bool,
    pub user: Option<UserName>,
    /// Extra cloud-config for every node.
    pub cloud_config: Option<Fragment>,
    pub swarm: Swarm,
    /// Every node of the cluster (the config's and the command line's); `nodes` are the
    /// ones built now.
    pub members: Vec<NodeSpec>,
    /// Things the user should hear about this config (printed by build).
    pub warnings: Vec<String>,
    pub nodes: Vec<NodeSpec>,
}

/// Command-line values that win over the file.
#[derive(Debug, Default)]
pub struct Overrides {
    pub nodes: Vec<NodeName>,
    pub docker: Option<DockerExposure>,
    pub ssh_key_files: Vec<PathBuf>,
    pub dir: Option<PathBuf>,
    /// Extra cloud-config for every node, instead of the file's.
    pub cloud_config: Option<PathBuf>,
    /// Use private keys that group or others may read (with a warning).
    pub allow_open_keys: bool,
}

impl Cluster {
    /// Every manager first: the first is the one that inits a zero-touch swarm.
    pub fn managers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.members.iter().filter(|n| n.role == Role::Manager)
    }

    /// Docker is needed on the nodes: exposed on TCP, or a swarm to run.
    pub fn wants_docker(&self) -> bool {
        self.docker != DockerExposure::None || !matches!(self.swarm, Swarm::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_setups_by_name() {
        assert_eq!(Swarm::None.kind(), "none");
        let zt = Swarm::ZeroTouch { address_pool: None };
        assert_eq!(
            (zt.setup(), zt.kind()),
            (SwarmSetup::ZeroTouch, "zero-touch")
        );
        let legacy = Swarm::Legacy {
            discovery: "nodes://a:2375".parse().unwrap(),
            image: DEFAULT_LEGACY_IMAGE.parse().unwrap(),
        };
        assert_eq!(legacy.kind(), "legacy");
    }
}
