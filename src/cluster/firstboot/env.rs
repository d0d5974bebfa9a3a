//! `node.env`: the one contract between clem-image and the node's scripts. Every value the
//! scripts read is a field here; [`NodeEnv::KEYS`] names them as the scripts see them, and
//! `overlays/firstboot/node.env` is rendered from it with every value shell-quoted.

use std::net::IpAddr;

use super::Engine;
use crate::cluster::config::{overlay_pool, Cluster, DockerExposure, NodeSpec, Role, Swarm};
use crate::cluster::values::{shell_quote, Cidr, Interface};
use crate::docker::InstallKind;
use crate::node::NodeName;
use crate::overlay::{self, TemplateError};
use crate::probe::Flavour;

/// What one node's first boot is told. Text fields are empty when they do not apply, as
/// the scripts test them (`[ -n "$X" ]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnv {
    pub node_name: NodeName,
    pub flavour: Flavour,
    pub docker_mode: DockerExposure,
    /// The docker API's TCP port; none when docker stays on its socket only.
    pub docker_port: Option<u16>,
    pub interface: Interface,
    /// The static address; none means the script asks the interface.
    pub node_address: Option<IpAddr>,
    /// `Swarm::kind`: none, zero-touch, swarm-mode or legacy.
    pub swarm_mode: &'static str,
    pub role: Role,
    /// The zero-touch swarm's overlay address pool.
    pub addr_pool: Option<Cidr>,
    /// The subnet a zero-touch manager scans for nodes built later.
    pub scan_subnet: Option<Cidr>,
    /// `host:port` of the manager to join (swarm mode with a token).
    pub swarm_manager: String,
    /// The legacy swarm's image and discovery URL.
    pub swarm_image: String,
    pub swarm_discovery: String,
    pub docker_install: InstallKind,
    /// Node paths of what build put on the image for docker (see [`EnginePaths`]).
    pub docker_debs: String,
    pub docker_snap: String,
    pub swarm_image_file: String,
    /// The user who gets the `docker` group.
    pub login_user: String,
    /// The docker version the node will run, when build knows it.
    pub docker_version: String,
}

/// Where the engine's host files land on the node, as node.env names them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EnginePaths {
    /// The `.deb` directory, when there is a bundle.
    pub debs_dir: Option<&'static str>,
    pub snap: Option<String>,
    pub swarm_image: Option<String>,
}

impl NodeEnv {
    /// The variables, in the order the scripts' node.env lists them.
    pub const KEYS: [&'static str; 19] = [
        "NODE_NAME",
        "FLAVOUR",
        "DOCKER_MODE",
        "DOCKER_PORT",
        "INTERFACE",
        "NODE_ADDRESS",
        "SWARM_MODE",
        "ROLE",
        "ADDR_POOL",
        "SCAN_SUBNET",
        "SWARM_MANAGER",
        "SWARM_IMAGE",
        "SWARM_DISCOVERY",
        "DOCKER_INSTALL",
        "DOCKER_DEBS",
        "DOCKER_SNAP",
        "SWARM_IMAGE_FILE",
        "LOGIN_USER",
        "DOCKER_VERSION",
    ];

    /// node.env for `node` of `cluster`, its docker coming as `engine` says and its
    /// files placed at `paths`.
    pub fn new(
        cluster: &Cluster,
        node: &NodeSpec,
        flavour: Flavour,
        engine: &Engine<'_>,
        paths: EnginePaths,
    ) -> NodeEnv {
        let (swarm_manager, swarm_image, swarm_discovery) = match &cluster.swarm {
            Swarm::None | Swarm::ZeroTouch { .. } => Default::default(),
            Swarm::Join { manager, .. } => (manager.to_string(), String::new(), String::new()),
            Swarm::Legacy { discovery, image } => {
                (String::new(), image.to_string(), discovery.to_string())
            }
        };
        NodeEnv {
            node_name: node.name.clone(),
            flavour,
            docker_mode: cluster.docker,
            docker_port: cluster.docker.port(),
            interface: cluster.interface.clone(),
            node_address: node.address.as_ref().map(|a| a.addr),
            swarm_mode: cluster.swarm.kind(),
            role: node.role,
            addr_pool: match &cluster.swarm {
                Swarm::ZeroTouch { address_pool } => overlay_pool(cluster, address_pool.as_ref()),
                _ => None,
            },
            scan_subnet: scan_subnet(cluster, node),
            swarm_manager,
            swarm_image,
            swarm_discovery,
            docker_install: engine.install,
            docker_debs: paths.debs_dir.unwrap_or_default().to_string(),
            docker_snap: paths.snap.unwrap_or_default(),
            swarm_image_file: paths.swarm_image.unwrap_or_default(),
            login_user: engine.login_user.to_string(),
            docker_version: engine.version.unwrap_or_default().to_string(),
        }
    }

    /// Every variable's value, unquoted, in [`NodeEnv::KEYS`] order.
    pub fn values(&self) -> [(&'static str, String); 19] {
        // Destructured so that a new field cannot be left out of node.env.
        let NodeEnv {
            node_name,
            flavour,
            docker_mode,
            docker_port,
            interface,
            node_address,
            swarm_mode,
            role,
            addr_pool,
            scan_subnet,
            swarm_manager,
            swarm_image,
            swarm_discovery,
            docker_install,
            docker_debs,
            docker_snap,
            swarm_image_file,
            login_user,
            docker_version,
        } = self;
        let opt = |v: Option<String>| v.unwrap_or_default();
        let k = Self::KEYS;
        [
            (k[0], node_name.to_string()),
            (k[1], flavour.as_str().to_string()),
            (k[2], docker_mode.as_str().to_string()),
            (k[3], opt(docker_port.map(|p| p.to_string()))),
            (k[4], interface.to_string()),
            (k[5], opt(node_address.map(|a| a.to_string()))),
            (k[6], swarm_mode.to_string()),
            (k[7], role.as_str().to_string()),
            (k[8], opt(addr_pool.as_ref().map(Cidr::to_string))),
            (k[9], opt(scan_subnet.as_ref().map(Cidr::to_string))),
            (k[10], swarm_manager.clone()),
            (k[11], swarm_image.clone()),
            (k[12], swarm_discovery.clone()),
            (k[13], docker_install.as_str().to_string()),
            (k[14], docker_debs.clone()),
            (k[15], docker_snap.clone()),
            (k[16], swarm_image_file.clone()),
            (k[17], login_user.clone()),
            (k[18], docker_version.clone()),
        ]
    }

    /// `overlays/firstboot/node.env` filled in: each value a single-quoted shell word.
    pub fn render(&self) -> Result<String, TemplateError> {
        let mut vars: std::collections::BTreeMap<&str, String> = self
            .values()
            .into_iter()
            .map(|(k, v)| (k, shell_quote(&v)))
            .collect();
        // In a comment, unquoted: a validated node name is only [a-z0-9.-].
        vars.insert("node", self.node_name.to_string());
        overlay::FIRSTBOOT_ENV.render(&vars)
    }
}

/// The zero-touch manager looks for nodes built later on its own /24-or-smaller subnet.
fn scan_subnet(cluster: &Cluster, node: &NodeSpec) -> Option<Cidr> {
    let a = node.address.as_ref()?;
    let wanted = matches!(cluster.swarm, Swarm::ZeroTouch { .. })
        && node.role == Role::Manager
        && (24..=30).contains(&a.prefix);
    match a.addr {
        IpAddr::V4(v4) if wanted => {
            let mask = u32::MAX.checked_shl(32 - u32::from(a.prefix)).unwrap_or(0);
            Some(Cidr {
                addr: IpAddr::V4((u32::from(v4) & mask).into()),
                prefix: a.prefix,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> NodeEnv {
        NodeEnv {
            node_name: NodeName::new("rpi1").unwrap(),
            flavour: Flavour::RaspberryPiOs,
            docker_mode: DockerExposure::Tls,
            docker_port: Some(2376),
            interface: "eth0".parse().unwrap(),
            node_address: Some("10.0.5.11".parse().unwrap()),
            swarm_mode: "zero-touch",
            role: Role::Manager,
            addr_pool: Some("172.30.0.0/16".parse().unwrap()),
            scan_subnet: Some("10.0.5.0/24".parse().unwrap()),
            swarm_manager: String::new(),
            swarm_image: String::new(),
            swarm_discovery: String::new(),
            docker_install: InstallKind::Bundle,
            docker_debs: "/var/lib/clem-image/debs".into(),
            docker_snap: String::new(),
            swarm_image_file: String::new(),
            login_user: "it's me".into(),
            docker_version: "26.1.5".into(),
        }
    }

    #[test]
    fn the_template_uses_every_key_and_nothing_else() {
        let mut want: std::collections::BTreeSet<&str> = NodeEnv::KEYS.into_iter().collect();
        want.insert("node");
        assert_eq!(overlay::FIRSTBOOT_ENV.placeholders(), want);
        let keys: Vec<&str> = sample().values().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, NodeEnv::KEYS);
    }

    #[test]
    fn renders_every_key_once_quoted_in_order() {
        let env = sample();
        let text = env.render().unwrap();
        assert!(!text.contains("{{"), "{text}");
        assert!(
            text.starts_with("# Written by clem-image for node rpi1;"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().skip(1).collect();
        let want: Vec<String> = env
            .values()
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        assert_eq!(lines, want);
        assert!(text.contains("\nLOGIN_USER='it'\\''s me'\n"), "{text}");
        assert!(text.contains("\nDOCKER_PORT='2376'\n"), "{text}");
        assert!(text.contains("\nSCAN_SUBNET='10.0.5.0/24'\n"), "{text}");
    }

    #[test]
    fn absent_values_are_empty_words() {
        let env = NodeEnv {
            docker_mode: DockerExposure::None,
            docker_port: None,
            node_address: None,
            addr_pool: None,
            scan_subnet: None,
            ..sample()
        };
        let text = env.render().unwrap();
        for k in ["DOCKER_PORT", "NODE_ADDRESS", "ADDR_POOL", "SCAN_SUBNET"] {
            assert!(text.contains(&format!("\n{k}=''\n")), "{k}: {text}");
        }
        assert!(text.contains("\nDOCKER_MODE='none'\n"), "{text}");
    }
}
