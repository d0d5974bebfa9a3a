//! What a node runs on first boot, as files on the node's running system: the unit, the
//! script, its `node.env`, the node's TLS material and swarm token. Paths here are the
//! node's own view (`/etc/...`); the flavour maps them onto partitions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use thiserror::Error;

use super::config::{overlay_pool, Cluster, DockerExposure, NodeSpec, Role, Swarm};
use super::tls::{ClusterCa, TlsError};
use super::values::shell_quote;
use crate::docker::InstallKind;
use crate::overlay::{self, TemplateError};
use crate::plan::HostFile;
use crate::probe::Flavour;

#[derive(Debug, Error)]
pub enum FirstBootError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}: a .deb file name must be letters, digits and . _ + ~ - (it lands on the node as it is)")]
    DebName(PathBuf),
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

/// One file (or symlink) as the node will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    pub path: String,
    pub body: Body,
    pub mode: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Data(Vec<u8>),
    Symlink(String),
    /// A file from the build host (a docker bundle, snap or image tarball), streamed.
    Copy(HostFile),
}

/// What the first boot needs beyond the cluster config: how this image gets docker and the
/// files build puts on it for that, and who logs in.
pub struct Engine<'a> {
    pub install: InstallKind,
    /// `.deb` files of an offline bundle.
    pub debs: &'a [HostFile],
    /// A 15.04 docker snap.
    pub snap: Option<&'a HostFile>,
    /// The legacy swarm's image, a `docker save` tarball (build gives one only for the
    /// legacy swarm).
    pub swarm_image: Option<&'a HostFile>,
    /// The user who gets the `docker` group.
    pub login_user: &'a str,
    /// The docker version the node will run, when build knows it (for `explain`).
    pub version: Option<&'a str>,
}

pub const UNIT_NAME: &str = "clem-firstboot.service";

/// Where this flavour keeps the first-boot files on the node.
pub struct Layout {
    /// Directory for node.env, the token and TLS files.
    pub conf_dir: &'static str,
    /// The script.
    pub script: &'static str,
    /// Extra unit to order after (Snappy's docker unit has a versioned name).
    pub docker_unit: &'static str,
    /// The manager's swarm watch script.
    pub watch_script: &'static str,
    /// Where the done marker lives (must be writable on the node).
    pub state_dir: &'static str,
    /// Where large files for the first boot go (a docker snap, an image tarball).
    pub data_dir: &'static str,
    /// Where an offline docker bundle's `.deb` files go.
    pub debs_dir: &'static str,
}

/// The network address of an IPv4 `address/prefix`.
fn network_of(c: &super::values::Cidr) -> String {
    match c.addr {
        std::net::IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
            std::net::Ipv4Addr::from(u32::from(v4) & mask).to_string()
        }
        v6 => v6.to_string(),
    }
}

/// `name address role` per line, for the manager's swarm watch. Every field is validated
/// (host names, IP addresses), so the file needs no quoting.
fn cluster_nodes(cluster: &Cluster) -> String {
    let mut s = String::from("# Written by clem-image: name address role\n");
    for n in &cluster.members {
        let addr = n.address.as_ref().map(|a| a.addr.to_string());
        let role = n.role.as_str();
        s.push_str(&format!(
            "{} {} {role}\n",
            n.name,
            addr.as_deref().unwrap_or("-")
        ));
    }
    s
}

pub fn layout(flavour: Flavour) -> Layout {
    match flavour {
        // Snappy's /etc and /usr are read-only; /writable is the writable partition itself.
        Flavour::SnappyCore15 => Layout {
            conf_dir: "/writable/clem-image",
            script: "/writable/clem-image/firstboot",
            docker_unit: "snappy-autopilot.service",
            watch_script: "/writable/clem-image/swarm-watch",
            state_dir: "/writable/clem-image/state",
            data_dir: "/writable/clem-image",
            debs_dir: "/writable/clem-image/debs",
        },
        _ => Layout {
            conf_dir: "/etc/clem-image",
            script: "/usr/local/lib/clem-image/firstboot",
            docker_unit: "containerd.service",
            watch_script: "/usr/local/lib/clem-image/swarm-watch",
            state_dir: "/var/lib/clem-image",
            data_dir: "/var/lib/clem-image",
            debs_dir: crate::docker::BUNDLE_DIR,
        },
    }
}

/// How the node gets docker: `node.env`'s docker values into `vars`, and the host files
/// (bundle, snap, swarm image) that go onto the image for it.
fn engine_part(
    lay: &Layout,
    engine: &Engine<'_>,
    vars: &mut BTreeMap<&str, String>,
) -> Result<Vec<NodeFile>, FirstBootError> {
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
    let debs_dir = if engine.debs.is_empty() {
        ""
    } else {
        lay.debs_dir
    };
    let snap = engine
        .snap
        .map(|f| copy(format!("{}/docker.snap", lay.data_dir), f));
    let image = engine
        .swarm_image
        .map(|f| copy(format!("{}/swarm-image.tar", lay.data_dir), f));
    vars.insert("docker_install", shell_quote(engine.install.as_str()));
    vars.insert("login_user", shell_quote(engine.login_user));
    vars.insert(
        "docker_version",
        shell_quote(engine.version.unwrap_or_default()),
    );
    vars.insert("docker_debs", shell_quote(debs_dir));
    vars.insert(
        "docker_snap",
        shell_quote(snap.as_deref().unwrap_or_default()),
    );
    vars.insert(
        "swarm_image_file",
        shell_quote(image.as_deref().unwrap_or_default()),
    );
    Ok(files)
}

/// The first-boot files for `node`.
pub fn node_files(
    cluster: &Cluster,
    ca: Option<&ClusterCa>,
    node: &NodeSpec,
    flavour: Flavour,
    engine: &Engine<'_>,
) -> Result<Vec<NodeFile>, FirstBootError> {
    let lay = layout(flavour);
    let q = |s: &str| shell_quote(s);
    let mut vars = BTreeMap::new();
    vars.insert("node", node.name.to_string());
    vars.insert("node_q", q(node.name.as_str()));
    vars.insert("flavour", q(flavour.as_str()));
    vars.insert("docker_mode", q(cluster.docker.as_str()));
    vars.insert(
        "docker_port",
        q(&cluster
            .docker
            .port()
            .map(|p| p.to_string())
            .unwrap_or_default()),
    );
    vars.insert("interface", q(cluster.interface.as_str()));
    vars.insert(
        "node_address",
        q(&node
            .address
            .as_ref()
            .map(|a| a.addr.to_string())
            .unwrap_or_default()),
    );
    vars.insert("swarm_mode", q(cluster.swarm.kind()));
    let is_manager = node.role == Role::Manager;
    vars.insert("role", q(if is_manager { "manager" } else { "worker" }));
    let pool = match &cluster.swarm {
        Swarm::ZeroTouch { address_pool } => overlay_pool(cluster, address_pool.as_ref()),
        _ => None,
    };
    vars.insert(
        "addr_pool",
        q(&pool.map(|p| p.to_string()).unwrap_or_default()),
    );
    // The zero-touch manager looks for nodes built later on its own /24-or-smaller subnet.
    let scan = match (&cluster.swarm, &node.address, is_manager) {
        (Swarm::ZeroTouch { .. }, Some(a), true)
            if a.addr.is_ipv4() && (24..=30).contains(&a.prefix) =>
        {
            format!("{}/{}", network_of(a), a.prefix)
        }
        _ => String::new(),
    };
    vars.insert("scan_subnet", q(&scan));
    let (manager, image, discovery) = match &cluster.swarm {
        Swarm::None => (String::new(), String::new(), String::new()),
        Swarm::Join { manager, .. } => (manager.to_string(), String::new(), String::new()),
        Swarm::ZeroTouch { .. } => (String::new(), String::new(), String::new()),
        Swarm::Legacy { discovery, image } => {
            (String::new(), image.to_string(), discovery.to_string())
        }
    };
    vars.insert("swarm_manager", q(&manager));
    vars.insert("swarm_image", q(&image));
    vars.insert("swarm_discovery", q(&discovery));
    let engine_files = engine_part(&lay, engine, &mut vars)?;
    vars.insert("conf_dir", lay.conf_dir.to_string());
    vars.insert("script", lay.script.to_string());
    vars.insert("docker_unit", lay.docker_unit.to_string());
    vars.insert("watch_script", lay.watch_script.to_string());
    vars.insert("state_dir", lay.state_dir.to_string());

    let conf = lay.conf_dir;
    let data = |path: String, text: String, mode: u16| NodeFile {
        path,
        body: Body::Data(text.into_bytes()),
        mode,
    };
    let mut files = vec![
        data(
            format!("{conf}/node.env"),
            overlay::FIRSTBOOT_ENV.render(&vars)?,
            0o600,
        ),
        data(
            lay.script.to_string(),
            overlay::FIRSTBOOT_SCRIPT.text.to_string(),
            0o755,
        ),
        data(
            format!("/etc/systemd/system/{UNIT_NAME}"),
            overlay::FIRSTBOOT_UNIT.render(&vars)?,
            0o644,
        ),
        NodeFile {
            path: format!("/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"),
            // Absolute, as systemctl enable (and snappy) write them.
            body: Body::Symlink(format!("/etc/systemd/system/{UNIT_NAME}")),
            mode: 0o777,
        },
    ];
    files.extend(engine_files);
    if let Swarm::Join { token, .. } = &cluster.swarm {
        files.push(data(
            format!("{conf}/swarm-token"),
            format!("{token}\n"),
            0o600,
        ));
    }
    if let (DockerExposure::Tls, Some(ca)) = (cluster.docker, ca) {
        let pair = ca.node_server(&node.name, node.address.as_ref().map(|a| a.addr))?;
        files.push(data(
            format!("{conf}/tls/ca.pem"),
            ca.cert_pem().to_string(),
            0o644,
        ));
        files.push(data(
            format!("{conf}/tls/server-cert.pem"),
            pair.cert,
            0o644,
        ));
        files.push(data(format!("{conf}/tls/server-key.pem"), pair.key, 0o600));
        // The credential to call other nodes' docker APIs lives on managers only.
        let calls_workers = matches!(
            cluster.swarm,
            Swarm::ZeroTouch { .. } | Swarm::Legacy { .. }
        );
        if is_manager && calls_workers {
            let client = ca.manager_client(&node.name)?;
            files.push(data(
                format!("{conf}/tls/manager-client-cert.pem"),
                client.cert,
                0o600,
            ));
            files.push(data(
                format!("{conf}/tls/manager-client-key.pem"),
                client.key,
                0o600,
            ));
        }
    }
    if is_manager && matches!(cluster.swarm, Swarm::ZeroTouch { .. }) {
        files.push(data(
            format!("{conf}/cluster-nodes"),
            cluster_nodes(cluster),
            0o644,
        ));
        files.push(data(
            lay.watch_script.to_string(),
            overlay::SWARM_WATCH_SCRIPT.text.to_string(),
            0o755,
        ));
        files.push(data(
            "/etc/systemd/system/clem-swarm-watch.service".into(),
            overlay::SWARM_WATCH_UNIT.render(&vars)?,
            0o644,
        ));
        files.push(data(
            "/etc/systemd/system/clem-swarm-watch.timer".into(),
            overlay::SWARM_WATCH_TIMER.text.to_string(),
            0o644,
        ));
        files.push(NodeFile {
            path: "/etc/systemd/system/timers.target.wants/clem-swarm-watch.timer".into(),
            body: Body::Symlink("/etc/systemd/system/clem-swarm-watch.timer".into()),
            mode: 0o777,
        });
    }
    Ok(files)
}
