//! Which swarm the cluster runs: chosen from `[swarm]` and the docker exposure, fitted later
//! to the docker the image has, and the overlay address pool for `swarm init`.

use std::net::IpAddr;
use std::path::Path;

use super::error::ConfigError;
use super::file::SwarmSection;
use super::kinds::{DockerExposure, SwarmKind};
use super::model::{Cluster, NodeSpec, Swarm, DEFAULT_LEGACY_IMAGE};
use crate::cluster::values::{Cidr, Discovery};
use crate::docker::SwarmSupport;

/// The swarm `[swarm]` asks for, with docker exposed as `docker`; `cfg_path` names the file
/// in refusals.
pub(super) fn resolve(
    section: &SwarmSection,
    docker: DockerExposure,
    members: &[NodeSpec],
    cfg_path: &Path,
) -> Result<Swarm, ConfigError> {
    let conflict = |msg: &str| ConfigError::Conflict(format!("{}: {msg}", cfg_path.display()));
    // Zero-touch needs the manager to reach workers over mutual TLS: the default
    // whenever docker is exposed with TLS.
    let default_kind = if docker == DockerExposure::Tls {
        SwarmKind::SwarmMode
    } else {
        SwarmKind::None
    };
    Ok(match section.mode.unwrap_or(default_kind) {
        SwarmKind::None => Swarm::None,
        SwarmKind::SwarmMode => match (section.manager.clone(), section.token.clone()) {
            (None, None) if docker == DockerExposure::Tls => Swarm::ZeroTouch {
                address_pool: section.address_pool.clone(),
            },
            (None, None) => {
                return Err(conflict(
                    "zero-touch swarm mode needs docker = \"tls\" (the manager joins workers over mutual TLS); give manager and token to join an existing swarm",
                ))
            }
            (Some(manager), Some(token)) => Swarm::Join { manager, token },
            _ => {
                return Err(conflict(
                    "[swarm] needs both manager and token to join an existing swarm, or neither for zero-touch",
                ))
            }
        },
        SwarmKind::Legacy if docker == DockerExposure::None => {
            return Err(conflict(
                "legacy swarm needs docker on TCP (docker = \"tls\" or \"insecure-tcp\")",
            ))
        }
        SwarmKind::Legacy => Swarm::Legacy {
            discovery: match section.discovery.clone() {
                Some(d) => d,
                None => static_discovery(members, docker)?,
            },
            image: section
                .image
                .clone()
                .unwrap_or_else(|| DEFAULT_LEGACY_IMAGE.parse().expect("valid")),
        },
    })
}

/// What the user should hear about the chosen swarm.
pub(super) fn warnings(swarm: &Swarm) -> Vec<String> {
    match swarm {
        Swarm::Legacy { discovery, .. } if discovery.as_str().starts_with("token://") => vec![
            "legacy swarm with token:// discovery: Docker's hosted discovery service was shut down years ago, so this cluster cannot form; use nodes:// (the default when discovery is not set)".into(),
        ],
        _ => Vec::new(),
    }
}

/// Static discovery from the config: every member's `address:port` (its name where it has
/// no address).
fn static_discovery(
    members: &[NodeSpec],
    docker: DockerExposure,
) -> Result<Discovery, ConfigError> {
    let port = docker.port().unwrap_or(2375);
    let list: Vec<String> = members
        .iter()
        .map(|n| match &n.address {
            Some(a) => format!("{}:{port}", a.addr),
            None => format!("{}:{port}", n.name),
        })
        .collect();
    format!("nodes://{}", list.join(","))
        .parse()
        .map_err(|e: String| ConfigError::Conflict(e))
}

impl Cluster {
    /// Fits the swarm to the docker the nodes will run. Swarm mode needs Docker 1.12: on an
    /// older docker the default becomes the standalone swarm (static `nodes://` discovery,
    /// TLS as configured); swarm mode asked for explicitly is refused.
    pub fn fit_swarm(
        mut self,
        support: SwarmSupport,
        version: &str,
    ) -> Result<Cluster, ConfigError> {
        let swarm_mode = matches!(self.swarm, Swarm::ZeroTouch { .. } | Swarm::Join { .. });
        if support == SwarmSupport::SwarmMode || !swarm_mode {
            return Ok(self);
        }
        if self.swarm_explicit {
            return Err(ConfigError::Conflict(format!(
                "[swarm] mode = \"swarm-mode\" needs Docker 1.12 or later (`docker swarm` arrived in 1.12), and the nodes' docker is {version}: use mode = \"legacy\" (the standalone swarm of 2015), or give a newer docker"
            )));
        }
        self.swarm = Swarm::Legacy {
            discovery: static_discovery(&self.members, self.docker)?,
            image: DEFAULT_LEGACY_IMAGE.parse().expect("valid"),
        };
        self.warnings.push(format!(
            "docker {version} has no swarm mode (Docker 1.12 and later): the nodes run the standalone swarm of 2015 instead, with static nodes:// discovery{}",
            if self.docker == DockerExposure::Tls { " and TLS" } else { "" }
        ));
        Ok(self)
    }
}

/// Picks the overlay address pool for `swarm init`: swarm's default 10.0.0.0/8 unless a
/// node address falls inside it, then the first candidate no node address falls into.
pub fn overlay_pool(cluster: &Cluster, configured: Option<&Cidr>) -> Option<Cidr> {
    if let Some(c) = configured {
        return Some(c.clone());
    }
    let inside = |pool: &Cidr| {
        cluster
            .members
            .iter()
            .filter_map(|n| n.address.as_ref())
            .any(|a| match (a.addr, pool.addr) {
                (IpAddr::V4(x), IpAddr::V4(p)) => {
                    let mask = u32::MAX
                        .checked_shl(32 - u32::from(pool.prefix))
                        .unwrap_or(0);
                    u32::from(x) & mask == u32::from(p) & mask
                }
                _ => false,
            })
    };
    let default: Cidr = "10.0.0.0/8".parse().expect("valid");
    if !inside(&default) {
        return None;
    }
    ["172.30.0.0/16", "192.168.224.0/20"]
        .iter()
        .map(|c| c.parse::<Cidr>().expect("valid"))
        .find(|c| !inside(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeName;

    fn member(name: &str, address: Option<&str>) -> NodeSpec {
        NodeSpec {
            name: NodeName::new(name).unwrap(),
            address: address.map(|a| a.parse().unwrap()),
            role: super::super::kinds::Role::Worker,
            cloud_config: None,
        }
    }

    #[test]
    fn the_default_swarm_follows_the_docker_exposure() {
        let s = SwarmSection::default();
        let p = Path::new("c.toml");
        let m = [member("a", None)];
        assert!(matches!(
            resolve(&s, DockerExposure::Tls, &m, p).unwrap(),
            Swarm::ZeroTouch { .. }
        ));
        assert!(matches!(
            resolve(&s, DockerExposure::InsecureTcp, &m, p).unwrap(),
            Swarm::None
        ));
    }

    #[test]
    fn legacy_discovery_defaults_to_the_members() {
        let s = SwarmSection {
            mode: Some(SwarmKind::Legacy),
            ..SwarmSection::default()
        };
        let m = [member("a", Some("10.0.5.1/24")), member("b", None)];
        let Swarm::Legacy { discovery, .. } =
            resolve(&s, DockerExposure::InsecureTcp, &m, Path::new("c.toml")).unwrap()
        else {
            panic!("not legacy")
        };
        assert_eq!(discovery.as_str(), "nodes://10.0.5.1:2375,b:2375");
        let e = resolve(&s, DockerExposure::None, &m, Path::new("c.toml")).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("c.toml: legacy swarm needs docker on TCP"));
    }

    #[test]
    fn half_a_join_is_refused() {
        let s = SwarmSection {
            token: Some("SWMTKN-1-abc".parse().unwrap()),
            ..SwarmSection::default()
        };
        let e = resolve(&s, DockerExposure::Tls, &[], Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("needs both manager and token"),
            "{e}"
        );
    }
}
