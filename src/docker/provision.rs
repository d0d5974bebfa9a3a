//! The build-time decision: how each node of this image gets docker, checked offline, or a
//! refusal that says how to give one. Nothing here writes; the flavour's plan puts the
//! chosen files on the image and `node.env` tells the first boot what to do.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::detect::{self, DetectError, Installed, NodeView};
use super::{Family, InstallKind, SwarmSupport, Version};
use crate::debian::bundle::{self, Bundle, BundleError};
use crate::debian::snap::{self, SnapError, SnapInfo};
use crate::plan::HostFile;

#[derive(Debug, Error)]
pub enum ProvisionError {
    #[error("this Snappy 15.04 image has no docker, and the 15.04 store that `snappy install docker` used is gone: give a docker snap ([cluster] docker_snap = \"docker_1.6.1.002_armhf.snap\"), or build with --docker none for nodes without docker")]
    SnappyWithoutDocker,
    #[error("the image has no docker and no apt sources to install it from at first boot: give the packages ([cluster] docker_debs = \"DIR\", .deb files from `apt-get download docker.io docker-cli` and their dependencies), or build with --docker none")]
    NoAptSources,
    #[error("docker_debs {dir}: {reason}")]
    Bundle { dir: PathBuf, reason: String },
    #[error("docker_debs {dir}")]
    BundleRead { dir: PathBuf, source: BundleError },
    #[error("docker_snap {path}: {reason}")]
    Snap { path: PathBuf, reason: String },
    #[error("docker_snap {path}")]
    SnapRead { path: PathBuf, source: SnapError },
    #[error("the image's package database")]
    Dpkg(#[source] DetectError),
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How the nodes get docker.
#[derive(Debug, Clone)]
pub enum Provision {
    /// Docker is not wanted (`docker = "none"` and no swarm).
    NotWanted,
    /// The image has docker and its CLI.
    Present,
    /// The distribution's packages, through the image's own apt sources.
    Apt { sources: Vec<String> },
    /// An offline bundle of `.deb` files, each put on the image.
    Bundle {
        bundle: Bundle,
        files: Vec<HostFile>,
    },
    /// A 15.04 docker snap, put on the image.
    Snap { info: SnapInfo, file: HostFile },
}

impl Provision {
    pub fn kind(&self) -> InstallKind {
        match self {
            Provision::NotWanted => InstallKind::None,
            Provision::Present => InstallKind::Present,
            Provision::Apt { .. } => InstallKind::Apt,
            Provision::Bundle { .. } => InstallKind::Bundle,
            Provision::Snap { .. } => InstallKind::Snap,
        }
    }
}

/// What build decided about docker for this image.
#[derive(Debug, Clone)]
pub struct EnginePlan {
    pub installed: Option<Installed>,
    pub provision: Provision,
    /// The version the nodes will run, when known before the first boot.
    pub version: Option<String>,
    /// Which swarm that docker can run (`None`: docker not wanted).
    pub swarm: Option<SwarmSupport>,
    /// Facts the user should hear (printed by build as notes).
    pub notes: Vec<String>,
}

/// What the cluster asks for.
pub struct Request<'a> {
    pub family: Family,
    /// Docker is needed (exposed on TCP or a swarm to run).
    pub wanted: bool,
    pub debs: Option<&'a Path>,
    pub snap: Option<&'a Path>,
}

pub fn plan(view: &dyn NodeView, req: &Request<'_>) -> Result<EnginePlan, ProvisionError> {
    match req.family {
        Family::Debian => plan_debian(view, req),
        Family::Snappy15 => plan_snappy(view, req),
    }
}

fn plan_debian(view: &dyn NodeView, req: &Request<'_>) -> Result<EnginePlan, ProvisionError> {
    let facts = detect::debian(view).map_err(ProvisionError::Dpkg)?;
    let installed = facts.docker.clone();
    let mut notes = Vec::new();
    if req.snap.is_some() {
        notes.push("docker_snap is for Snappy 15.04 images only; ignored".into());
    }
    let mut plan = EnginePlan {
        installed: installed.clone(),
        provision: Provision::NotWanted,
        version: None,
        swarm: None,
        notes,
    };
    if !req.wanted {
        return Ok(plan);
    }
    if let Some(d) = installed.as_ref().filter(|d| d.dockerd && d.cli) {
        plan.provision = Provision::Present;
        plan.version = d.version.clone();
        plan.swarm = Some(swarm_of(d.version.as_deref()));
        if req.debs.is_some() {
            plan.notes.push(format!(
                "the image already has docker ({}); docker_debs is not put on it",
                d.describe()
            ));
        }
        return Ok(plan);
    }
    if let Some(dir) = req.debs {
        let arch = facts
            .arch
            .as_deref()
            .ok_or_else(|| ProvisionError::Bundle {
                dir: dir.to_owned(),
                reason: "the image's architecture is unknown (no dpkg database to read it from)"
                    .into(),
            })?;
        let bundle = bundle::check_bundle(dir, arch, &facts.packages).map_err(|source| {
            ProvisionError::BundleRead {
                dir: dir.to_owned(),
                source,
            }
        })?;
        let files = bundle
            .debs
            .iter()
            .map(|(p, _)| HostFile::digest(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(path, source)| ProvisionError::Read { path, source })?;
        plan.version = Some(bundle.daemon.version.clone());
        plan.swarm = Some(swarm_of(Some(&bundle.daemon.version)));
        plan.notes.push(format!(
            "docker from {}: {} {} and {} .deb files, installed at first boot without network",
            dir.display(),
            bundle.daemon.package,
            bundle.daemon.version,
            bundle.debs.len()
        ));
        plan.provision = Provision::Bundle { bundle, files };
        return Ok(plan);
    }
    if facts.apt_sources.is_empty() {
        return Err(ProvisionError::NoAptSources);
    }
    // Every Debian-family release in scope packages docker 20.10 or later.
    plan.swarm = Some(SwarmSupport::SwarmMode);
    plan.notes.push(format!(
        "the image has no docker: the first boot installs docker.io (and docker-cli) from the image's apt sources ({}); the nodes need that archive reachable",
        facts.apt_sources.join(", ")
    ));
    plan.provision = Provision::Apt {
        sources: facts.apt_sources,
    };
    Ok(plan)
}

fn plan_snappy(view: &dyn NodeView, req: &Request<'_>) -> Result<EnginePlan, ProvisionError> {
    let installed = detect::snappy(view);
    let mut plan = EnginePlan {
        installed: installed.clone(),
        provision: Provision::NotWanted,
        version: None,
        swarm: None,
        notes: Vec::new(),
    };
    if req.debs.is_some() {
        plan.notes
            .push("docker_debs is for Debian-family images only; ignored".into());
    }
    if !req.wanted {
        return Ok(plan);
    }
    if let Some(d) = &installed {
        plan.provision = Provision::Present;
        plan.version = d.version.clone();
        plan.swarm = Some(swarm_of(d.version.as_deref()));
        if req.snap.is_some() {
            plan.notes.push(format!(
                "the image already has the docker snap {}; docker_snap is not put on it",
                d.version.as_deref().unwrap_or("?")
            ));
        }
        return Ok(plan);
    }
    let Some(path) = req.snap else {
        return Err(ProvisionError::SnappyWithoutDocker);
    };
    let snap_err = |reason: String| ProvisionError::Snap {
        path: path.to_owned(),
        reason,
    };
    let info = snap::read_snap(path).map_err(|source| ProvisionError::SnapRead {
        path: path.to_owned(),
        source,
    })?;
    if info.name != "docker" {
        return Err(snap_err(format!(
            "this is the snap {:?}, not docker",
            info.name
        )));
    }
    let arch = detect::debian(view)
        .ok()
        .and_then(|f| f.arch)
        .unwrap_or_default();
    let fits = info.architectures.is_empty()
        || info
            .architectures
            .iter()
            .any(|a| a == "all" || a == &arch || arch.is_empty());
    if !fits {
        return Err(snap_err(format!(
            "built for {}, the image is {arch}",
            info.architectures.join(", ")
        )));
    }
    let file =
        HostFile::digest(path).map_err(|(path, source)| ProvisionError::Read { path, source })?;
    plan.version = Some(info.version.clone());
    plan.swarm = Some(swarm_of(Some(&info.version)));
    plan.notes.push(format!(
        "docker snap {} from {}: installed offline at first boot",
        info.version,
        path.display()
    ));
    plan.provision = Provision::Snap { info, file };
    Ok(plan)
}

/// An unreadable version is taken as a current docker: the distributions in scope package
/// nothing older than 1.12 except the 15.04 snap, whose version is always readable.
fn swarm_of(version: Option<&str>) -> SwarmSupport {
    version
        .and_then(Version::from_package)
        .map_or(SwarmSupport::SwarmMode, Version::swarm)
}
