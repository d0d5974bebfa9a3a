//! The first-boot files one by one: the boot unit and its scripts, the docker files from
//! the build host, the swarm token, the TLS material, and the manager's swarm watch.

use super::env::{EnginePaths, NodeEnv};
use super::layout::Layout;
use super::{Body, Engine, FirstBootError, NodeFile, UNIT_NAME};
use crate::cluster::config::{Cluster, DockerExposure, NodeSpec, Role, Swarm};
use crate::cluster::tls::{ClusterCa, TlsError};
use crate::overlay::{self, TemplateError};
use crate::plan::HostFile;

fn data(path: impl Into<String>, text: impl Into<String>, mode: u16) -> NodeFile {
    NodeFile {
        path: path.into(),
        body: Body::Data(text.into().into_bytes()),
        mode,
    }
}

/// A unit enabled as `systemctl enable` (and snappy) does it: an absolute symlink.
fn enable(target: &str, unit: &str) -> NodeFile {
    NodeFile {
        path: format!("/etc/systemd/system/{target}.wants/{unit}"),
        body: Body::Symlink(format!("/etc/systemd/system/{unit}")),
        mode: 0o777,
    }
}

/// A bundle file's name, as it lands on the node: plain characters only, since the first
/// boot passes it to apt.
fn deb_name(f: &HostFile) -> Result<&str, FirstBootError> {
    f.path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            n.ends_with(".deb")
                && !n.starts_with(['.', '-'])
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._+~-".contains(&b))
        })
        .ok_or_else(|| FirstBootError::DebName(f.path.clone()))
}

/// The host files (bundle, snap, swarm image) that go onto the image for docker, and where
/// they land.
pub(super) fn engine_files(
    lay: &Layout,
    engine: &Engine<'_>,
) -> Result<(Vec<NodeFile>, EnginePaths), FirstBootError> {
    let mut files = Vec::new();
    let mut copy = |path: String, f: &HostFile| {
        files.push(NodeFile {
            path: path.clone(),
            body: Body::Copy(f.clone()),
            mode: 0o644,
        });
        path
    };
    for deb in engine.debs {
        copy(format!("{}/{}", lay.debs_dir, deb_name(deb)?), deb);
    }
    let paths = EnginePaths {
        debs_dir: (!engine.debs.is_empty()).then_some(lay.debs_dir),
        snap: engine
            .snap
            .map(|f| copy(format!("{}/docker.snap", lay.data_dir), f)),
        swarm_image: engine
            .swarm_image
            .map(|f| copy(format!("{}/swarm-image.tar", lay.data_dir), f)),
    };
    Ok((files, paths))
}

/// What every node gets: node.env, the script and its library, the unit, enabled.
pub(super) fn boot_files(lay: &Layout, env: &NodeEnv) -> Result<Vec<NodeFile>, TemplateError> {
    Ok(vec![
        data(format!("{}/node.env", lay.conf_dir), env.render()?, 0o600),
        data(lay.script, overlay::FIRSTBOOT_SCRIPT.text, 0o755),
        data(lay.lib, overlay::FIRSTBOOT_LIB.text, 0o644),
        data(
            format!("/etc/systemd/system/{UNIT_NAME}"),
            overlay::FIRSTBOOT_UNIT.render(&lay.unit_vars())?,
            0o644,
        ),
        enable("multi-user.target", UNIT_NAME),
    ])
}

/// The join token, when the swarm joins a manager with one.
pub(super) fn token_file(cluster: &Cluster, lay: &Layout) -> Option<NodeFile> {
    match &cluster.swarm {
        Swarm::Join { token, .. } => Some(data(
            format!("{}/swarm-token", lay.conf_dir),
            format!("{token}\n"),
            0o600,
        )),
        _ => None,
    }
}

/// The node's docker TLS material, and on a manager that calls the workers' docker APIs,
/// the client credential for that.
pub(super) fn tls_files(
    cluster: &Cluster,
    ca: Option<&ClusterCa>,
    node: &NodeSpec,
    lay: &Layout,
) -> Result<Vec<NodeFile>, TlsError> {
    let (DockerExposure::Tls, Some(ca)) = (cluster.docker, ca) else {
        return Ok(Vec::new());
    };
    let tls = format!("{}/tls", lay.conf_dir);
    let pair = ca.node_server(&node.name, node.address.as_ref().map(|a| a.addr))?;
    let mut files = vec![
        data(format!("{tls}/ca.pem"), ca.cert_pem(), 0o644),
        data(format!("{tls}/server-cert.pem"), pair.cert, 0o644),
        data(format!("{tls}/server-key.pem"), pair.key, 0o600),
    ];
    let calls_workers = matches!(
        cluster.swarm,
        Swarm::ZeroTouch { .. } | Swarm::Legacy { .. }
    );
    // The credential to call other nodes' docker APIs lives on managers only.
    if node.role == Role::Manager && calls_workers {
        let client = ca.manager_client(&node.name)?;
        files.push(data(
            format!("{tls}/manager-client-cert.pem"),
            client.cert,
            0o600,
        ));
        files.push(data(
            format!("{tls}/manager-client-key.pem"),
            client.key,
            0o600,
        ));
    }
    Ok(files)
}

/// `name address role` per line, for the manager's swarm watch. Every field is validated
/// (host names, IP addresses), so the file needs no quoting.
fn cluster_nodes(cluster: &Cluster) -> String {
    let mut s = String::from("# Written by clem-image: name address role\n");
    for n in &cluster.members {
        let addr = n.address.as_ref().map(|a| a.addr.to_string());
        s.push_str(&format!(
            "{} {} {}\n",
            n.name,
            addr.as_deref().unwrap_or("-"),
            n.role.as_str()
        ));
    }
    s
}

/// The zero-touch manager's swarm watch: the node list, the script, its unit and timer.
pub(super) fn watch_files(
    cluster: &Cluster,
    node: &NodeSpec,
    lay: &Layout,
) -> Result<Vec<NodeFile>, TemplateError> {
    if node.role != Role::Manager || !matches!(cluster.swarm, Swarm::ZeroTouch { .. }) {
        return Ok(Vec::new());
    }
    Ok(vec![
        data(
            format!("{}/cluster-nodes", lay.conf_dir),
            cluster_nodes(cluster),
            0o644,
        ),
        data(lay.watch_script, overlay::SWARM_WATCH_SCRIPT.text, 0o755),
        data(
            "/etc/systemd/system/clem-swarm-watch.service",
            overlay::SWARM_WATCH_UNIT.render(&lay.unit_vars())?,
            0o644,
        ),
        data(
            "/etc/systemd/system/clem-swarm-watch.timer",
            overlay::SWARM_WATCH_TIMER.text,
            0o644,
        ),
        enable("timers.target", "clem-swarm-watch.timer"),
    ])
}
