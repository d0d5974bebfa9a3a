//! How the nodes get docker, and the swarm fitted to that docker: decided once per build,
//! before any image is written, so what cannot work is refused first.

use std::path::Path;

use super::BuildError;
use crate::cluster::config::{Cluster, Swarm};
use crate::docker::provision::{self, EnginePlan, Request};
use crate::docker::{self, Family};
use crate::explain;
use crate::plan::HostFile;
use crate::probe::Flavour;
use crate::probe::ImageInfo;

/// Decides how the nodes get docker and fits the swarm to that docker; refuses, before any
/// image is written, what cannot work.
pub(super) fn plan_docker(
    cluster: &Cluster,
    info: &ImageInfo,
    raw: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(Cluster, EnginePlan, Option<HostFile>), BuildError> {
    let family = match info.flavour {
        Flavour::SnappyCore15 => Family::Snappy15,
        _ => Family::Debian,
    };
    let req = Request {
        family,
        wanted: cluster.wants_docker() && info.flavour != Flavour::Unknown,
        debs: cluster.docker_debs.as_deref(),
        snap: cluster.docker_snap.as_deref(),
    };
    let engine = explain::with_view(info, raw, |v| provision::plan(v, &req))?;
    for n in &engine.notes {
        log(format!("note: {n}"));
    }
    let version = engine
        .version
        .clone()
        .unwrap_or_else(|| "of unknown version".into());
    let mut cluster = match engine.swarm {
        Some(s) => cluster.clone().fit_swarm(s, &version)?,
        None => cluster.clone(),
    };
    let swarm_image = match (&cluster.swarm, &cluster.swarm_image_file) {
        (Swarm::Legacy { .. }, Some(p)) => Some(swarm_image_file(p)?),
        (_, Some(p)) => {
            cluster.warnings.push(format!(
                "[swarm] image_file {} is for the standalone (legacy) swarm; not put on the image",
                p.display()
            ));
            None
        }
        (Swarm::Legacy { image, .. }, None) => {
            let old = engine
                .version
                .as_deref()
                .and_then(docker::Version::from_package)
                .is_none_or(|v| {
                    v < docker::Version {
                        major: 1,
                        minor: 10,
                    }
                });
            if old {
                cluster.warnings.push(format!(
                    "the first boot pulls {image} with docker {version}; a docker older than 1.10 may not pull from today's registries: give the image as a file ([swarm] image_file = \"rpi-swarm.tar\", made with docker save)"
                ));
            }
            None
        }
        _ => None,
    };
    Ok((cluster, engine, swarm_image))
}

/// Checks that `path` is a tar archive (what `docker save` writes) and takes its digest.
fn swarm_image_file(path: &Path) -> Result<HostFile, BuildError> {
    let bad = |reason: String| BuildError::SwarmImage {
        path: path.to_owned(),
        reason,
    };
    let mut head = [0u8; 512];
    let (mut f, _) = crate::io::regular::open_user_file(path, crate::io::regular::PAYLOAD)
        .map_err(|e| bad(e.problem))?;
    std::io::Read::read_exact(&mut f, &mut head)
        .map_err(|_| bad("shorter than one tar header: not a docker save tarball".into()))?;
    if &head[257..262] != b"ustar" {
        return Err(bad(
            "not a tar archive (docker save writes one; a compressed tarball must be decompressed first)".into(),
        ));
    }
    HostFile::digest(path).map_err(|(path, source)| BuildError::Io { path, source })
}

/// Extra cloud-config was checked against one cloud-init release's schema; an image whose
/// cloud-init is of another major release ignores keys it does not know.
pub(super) fn warn_schema_version(
    cluster: &Cluster,
    info: &ImageInfo,
    raw: &Path,
    log: &mut dyn FnMut(String),
) {
    let extra =
        cluster.cloud_config.is_some() || cluster.nodes.iter().any(|n| n.cloud_config.is_some());
    if !extra {
        return;
    }
    let schema = crate::cloudinit::schema::version();
    let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
    match explain::cloud_init_version(info, raw) {
        Some(v) if major(&v) != major(schema) => log(format!(
            "warning: this image runs cloud-init {v}; your cloud-config was checked against cloud-init {schema}'s schema, so keys newer than {v} are ignored on the node"
        )),
        _ => {}
    }
}
