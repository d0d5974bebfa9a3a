//! What a node runs on first boot, as files on the node's running system: the unit, the
//! script, its `node.env`, the node's TLS material and swarm token. Paths here are the
//! node's own view (`/etc/...`); the flavour maps them onto partitions.

use std::collections::BTreeMap;

use thiserror::Error;

use super::config::{Cluster, DockerExposure, NodeSpec, Swarm};
use super::tls::{ClusterCa, TlsError};
use super::values::shell_quote;
use crate::flavour::Flavour;
use crate::overlay::{self, TemplateError};

#[derive(Debug, Error)]
pub enum FirstBootError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Template(#[from] TemplateError),
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
}

pub fn layout(flavour: Flavour) -> Layout {
    match flavour {
        // Snappy's /etc and /usr are read-only; /writable is the writable partition itself.
        Flavour::SnappyCore15 => Layout {
            conf_dir: "/writable/clem-image",
            script: "/writable/clem-image/firstboot",
            docker_unit: "snappy-autopilot.service",
        },
        _ => Layout {
            conf_dir: "/etc/clem-image",
            script: "/usr/local/lib/clem-image/firstboot",
            docker_unit: "containerd.service",
        },
    }
}

/// The first-boot files for `node`.
pub fn node_files(
    cluster: &Cluster,
    ca: Option<&ClusterCa>,
    node: &NodeSpec,
    flavour: Flavour,
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
    let (manager, image, discovery) = match &cluster.swarm {
        Swarm::None => (String::new(), String::new(), String::new()),
        Swarm::Mode { manager, .. } => (manager.to_string(), String::new(), String::new()),
        Swarm::Legacy { discovery, image } => {
            (String::new(), image.to_string(), discovery.to_string())
        }
    };
    vars.insert("swarm_manager", q(&manager));
    vars.insert("swarm_image", q(&image));
    vars.insert("swarm_discovery", q(&discovery));
    vars.insert("conf_dir", lay.conf_dir.to_string());
    vars.insert("script", lay.script.to_string());
    vars.insert("docker_unit", lay.docker_unit.to_string());

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
    if let Swarm::Mode { token, .. } = &cluster.swarm {
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
    }
    Ok(files)
}
