//! Docker's engine on the node: what the image carries, what the first boot installs and
//! from where, and which swarm that docker can run; with the checks that a node will not
//! be left without the docker its swarm needs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::image::Img;
use super::Finding;
use crate::cluster::firstboot::layout;
use crate::docker::detect::{self, Installed};
use crate::docker::{InstallKind, SwarmSupport, Version, APT_PACKAGES};
use crate::probe::Flavour;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineStatus {
    /// The image carries docker and its CLI.
    Installed,
    /// The first boot installs it.
    ToInstall,
    /// Neither.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineInstall {
    pub from: InstallKind,
    /// The apt archives, the bundle's directory or the snap file, as the node sees them.
    pub source: Vec<String>,
    /// The packages (apt), `.deb` files (bundle) or snap installed.
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DockerEngine {
    pub status: EngineStatus,
    pub installed: Option<Installed>,
    pub install: Option<EngineInstall>,
    /// The version the node will run, when known before its first boot.
    pub version: Option<String>,
    /// Which swarm that docker can run (`null`: no docker, or not known).
    pub swarm: Option<SwarmSupport>,
}

/// Reads the engine from the image and clem-image's `node.env` (when there is one).
pub(super) fn engine(
    img: &Img<'_>,
    env: Option<&BTreeMap<String, String>>,
    findings: &mut Vec<Finding>,
) -> DockerEngine {
    let snappy = img.info.flavour == Flavour::SnappyCore15;
    let (installed, sources) = if snappy {
        (detect::snappy(img), Vec::new())
    } else {
        match detect::debian(img) {
            Ok(f) => (f.docker, f.apt_sources),
            Err(e) => {
                findings.push(Finding::warning(format!(
                    "cannot read docker's package: {}",
                    crate::error::chain(&e)
                )));
                (None, Vec::new())
            }
        }
    };
    let complete = installed.as_ref().is_some_and(|d| d.dockerd && d.cli);
    let get = |k: &str| env.and_then(|e| e.get(k)).filter(|v| !v.is_empty());
    let kind = get("DOCKER_INSTALL").and_then(|k| InstallKind::parse(k));
    let install = match kind {
        Some(InstallKind::Apt) if !complete => Some(EngineInstall {
            from: InstallKind::Apt,
            source: sources.clone(),
            packages: APT_PACKAGES.iter().map(|p| p.to_string()).collect(),
        }),
        Some(InstallKind::Bundle) if !complete => get("DOCKER_DEBS").map(|dir| EngineInstall {
            from: InstallKind::Bundle,
            source: vec![dir.clone()],
            packages: img
                .list(dir)
                .into_iter()
                .map(|c| c.name)
                .filter(|n| n.ends_with(".deb"))
                .collect(),
        }),
        Some(InstallKind::Snap) if !complete => get("DOCKER_SNAP").map(|f| EngineInstall {
            from: InstallKind::Snap,
            packages: if img.exists(f) {
                vec!["docker".into()]
            } else {
                Vec::new()
            },
            source: vec![f.clone()],
        }),
        _ => None,
    };
    let version = get("DOCKER_VERSION")
        .cloned()
        .or_else(|| installed.as_ref().and_then(|d| d.version.clone()));
    let status = if complete {
        EngineStatus::Installed
    } else if install.as_ref().is_some_and(|i| !i.packages.is_empty()) {
        EngineStatus::ToInstall
    } else {
        EngineStatus::Missing
    };
    let swarm = match (status, version.as_deref().and_then(Version::from_package)) {
        (EngineStatus::Missing, _) => None,
        (_, Some(v)) => Some(v.swarm()),
        // The distributions' docker.io is 20.10 or later on every release in scope.
        (_, None) if kind == Some(InstallKind::Apt) => Some(SwarmSupport::SwarmMode),
        _ => None,
    };
    let eng = DockerEngine {
        status,
        installed,
        install,
        version,
        swarm,
    };
    if let Some(env) = env {
        check(&eng, env, &sources, findings);
    }
    eng
}

/// A node whose first boot needs docker must get one, and the swarm it is set up for must
/// be one that docker can run.
fn check(
    eng: &DockerEngine,
    env: &BTreeMap<String, String>,
    sources: &[String],
    findings: &mut Vec<Finding>,
) {
    let get = |k: &str| env.get(k).map(String::as_str).unwrap_or("");
    let swarm = get("SWARM_MODE");
    let needed = get("DOCKER_MODE") != "none" || !matches!(swarm, "" | "none");
    if needed && eng.status == EngineStatus::Missing {
        let how = match eng.install.as_ref().map(|i| i.from) {
            Some(InstallKind::Bundle) => {
                "the docker bundle it names has no .deb files on the image"
            }
            Some(InstallKind::Snap) => "the docker snap it names is not on the image",
            _ => "nothing installs it",
        };
        findings.push(Finding::error(format!(
            "the first boot needs docker, which the image does not have, and {how}: the node would never run docker or join the swarm"
        )));
    }
    if eng
        .install
        .as_ref()
        .is_some_and(|i| i.from == InstallKind::Apt)
    {
        if sources.is_empty() {
            findings.push(Finding::error(
                "the first boot installs docker over apt, but the image has no apt sources",
            ));
        } else {
            findings.push(Finding::note(format!(
                "the first boot installs docker from the image's apt sources ({}): the nodes need that archive reachable",
                sources.join(", ")
            )));
        }
    }
    if matches!(swarm, "zero-touch" | "swarm-mode") && eng.swarm == Some(SwarmSupport::LegacyOnly) {
        findings.push(Finding::error(format!(
            "the node is set up for swarm mode, which needs Docker 1.12 or later; its docker is {}: it could never init or join the swarm",
            eng.version.as_deref().unwrap_or("older")
        )));
    }
}

/// `node.env`'s values, when clem-image wrote one.
pub(super) fn node_env(img: &Img<'_>) -> Option<BTreeMap<String, String>> {
    let lay = layout(img.info.flavour);
    img.read(&format!("{}/node.env", lay.conf_dir))
        .map(|t| super::boot::parse_env(&t))
}

impl DockerEngine {
    /// The engine in plain words, as first-boot steps where it is installed.
    pub(super) fn summary(&self, login_user: Option<&str>) -> Vec<String> {
        let mut s = Vec::new();
        match (self.status, &self.installed, &self.install) {
            (EngineStatus::Installed, Some(d), _) => {
                s.push(format!(
                    "Docker is installed: {} (from {}).",
                    d.describe(),
                    d.from
                ));
            }
            (EngineStatus::ToInstall, _, Some(i)) => {
                let step = match i.from {
                    InstallKind::Apt => format!(
                        "The first boot installs docker: {} from the image's apt sources ({}), waiting and retrying until the archive answers.",
                        i.packages.join(" and "),
                        i.source.join(", ")
                    ),
                    InstallKind::Bundle => format!(
                        "The first boot installs docker offline from {} .deb files in {}.",
                        i.packages.len(),
                        i.source.join(", ")
                    ),
                    _ => format!(
                        "The first boot installs the docker snap {} offline.",
                        i.source.join(", ")
                    ),
                };
                s.push(step);
                if let Some(u) = login_user.filter(|_| i.from != InstallKind::Snap) {
                    s.push(format!("Then {u} joins the docker group."));
                }
            }
            _ => s.push("Docker is not installed, and nothing installs it.".into()),
        }
        match self.swarm {
            Some(SwarmSupport::SwarmMode) => {
                s.push("That docker runs swarm mode (docker swarm).".into())
            }
            Some(SwarmSupport::LegacyOnly) => s.push(format!(
                "That docker ({}) has no swarm mode: only the standalone swarm of 2015.",
                self.version.as_deref().unwrap_or("?")
            )),
            None => {}
        }
        s
    }
}
