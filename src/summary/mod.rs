//! What a build made and what to do next: the per-node table and the next commands, as one
//! model rendered as text (stdout of `build`) and as JSON (`build --json`), so both say the
//! same thing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::build::Built;
use crate::cluster::config::{DockerExposure, NodeSpec, Role, Swarm, SwarmSetup};
use crate::cluster::login::{KeySource, Login};
use crate::docker::provision::Provision;

mod next;

pub use next::shell_word;

#[derive(Debug, Serialize)]
pub struct BuildSummary {
    pub image: Upstream,
    pub flavour: String,
    pub out: PathBuf,
    pub cluster_dir: PathBuf,
    pub docker: DockerFacts,
    /// `none`, `zero-touch`, `swarm-mode` (joining a given manager) or `legacy`.
    pub swarm: SwarmSetup,
    pub login: LoginFacts,
    pub nodes: Vec<NodeRow>,
    pub next: Vec<NextStep>,
    /// What the build said on stderr, as `warning: …` / `note: …` lines.
    pub messages: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Upstream {
    pub path: PathBuf,
    /// The bundled test sample: it does not boot on a Pi.
    pub sample: bool,
}

#[derive(Debug, Serialize)]
pub struct DockerFacts {
    /// `tls`, `insecure-tcp` or `none`.
    pub exposure: DockerExposure,
    pub port: Option<u16>,
    /// How the nodes get docker: `present`, `apt`, `bundle`, `snap`, `none`.
    pub install: String,
    pub version: Option<String>,
    /// The same, in words.
    pub how: String,
    /// The operator's client certificate directory (`DOCKER_CERT_PATH`), with TLS.
    pub cert_path: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct LoginFacts {
    pub user: String,
    /// `given` (--ssh-key or the config), `home` (~/.ssh/*.pub) or `cluster` (generated).
    pub source: String,
    /// The private key to log in with, when it is the cluster's own.
    pub identity: Option<PathBuf>,
    /// This build generated the cluster key.
    pub created: bool,
    pub keys: Vec<KeyFact>,
}

#[derive(Debug, Serialize)]
pub struct KeyFact {
    #[serde(rename = "type")]
    pub kind: String,
    /// As `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of the blob's digest.
    pub fingerprint: String,
    pub comment: String,
}

#[derive(Debug, Serialize)]
pub struct NodeRow {
    pub name: String,
    pub image: PathBuf,
    pub bmap: PathBuf,
    pub manifest: PathBuf,
    pub sha256: Option<String>,
    /// The configured address (`10.0.5.25/24`); none means DHCP.
    pub address: Option<String>,
    /// Where to reach it: its address without prefix, else its host name.
    pub host: String,
    pub role: Role,
    /// What the node does in the swarm at first boot.
    pub swarm: String,
}

#[derive(Debug, Serialize)]
pub struct NextStep {
    pub what: String,
    pub commands: Vec<String>,
}

/// How the build was asked for, for commands that repeat it.
pub struct Invocation<'a> {
    pub config: Option<&'a Path>,
    pub out: &'a Path,
    pub image: &'a Path,
    pub sample: bool,
}

pub fn summarize(
    built: &Built,
    login: &Login,
    how: &Invocation<'_>,
    messages: Vec<String>,
) -> BuildSummary {
    let cluster = &built.cluster;
    let docker = DockerFacts {
        exposure: cluster.docker,
        port: cluster.docker.port(),
        install: built.engine.provision.kind().as_str().into(),
        version: built.engine.version.clone(),
        how: install_words(&built.engine.provision).into(),
        cert_path: (cluster.docker == DockerExposure::Tls).then(|| cluster.dir.join("client")),
    };
    let nodes = built
        .nodes
        .iter()
        .filter_map(|out| {
            let spec = cluster.nodes.iter().find(|n| n.name == out.node)?;
            Some(NodeRow {
                name: out.node.to_string(),
                image: out.image.clone(),
                bmap: out.bmap.clone(),
                manifest: out.manifest.clone(),
                sha256: out.sha256.clone(),
                address: spec.address.as_ref().map(ToString::to_string),
                host: host_of(spec),
                role: spec.role,
                swarm: swarm_part(&cluster.swarm, spec.role).into(),
            })
        })
        .collect();
    let mut summary = BuildSummary {
        image: Upstream {
            path: how.image.to_owned(),
            sample: how.sample,
        },
        flavour: built.flavour.as_str().into(),
        out: how.out.to_owned(),
        cluster_dir: cluster.dir.clone(),
        docker,
        swarm: cluster.swarm.setup(),
        login: login_facts(login, &built.login_user),
        nodes,
        next: Vec::new(),
        messages,
    };
    summary.next = next::steps(&summary, built, how);
    summary
}

fn host_of(spec: &NodeSpec) -> String {
    spec.address
        .as_ref()
        .map_or_else(|| spec.name.to_string(), |a| a.addr.to_string())
}

fn swarm_part(swarm: &Swarm, role: Role) -> &'static str {
    match (swarm, role) {
        (Swarm::None, _) => "-",
        (Swarm::ZeroTouch { .. }, Role::Manager) => "inits the swarm, joins the others",
        (Swarm::ZeroTouch { .. }, Role::Worker) => "joined by the manager",
        (Swarm::Join { .. }, Role::Manager) => "joins the given swarm as manager",
        (Swarm::Join { .. }, Role::Worker) => "joins the given swarm",
        (Swarm::Legacy { .. }, Role::Manager) => "legacy manager + agent",
        (Swarm::Legacy { .. }, Role::Worker) => "legacy agent",
    }
}

fn login_facts(login: &Login, user: &str) -> LoginFacts {
    let (source, created) = match &login.source {
        KeySource::Given(_) => ("given", false),
        KeySource::Home => ("home", false),
        KeySource::Cluster { created, .. } => ("cluster", *created),
    };
    LoginFacts {
        user: user.into(),
        source: source.into(),
        identity: login.identity().map(Path::to_owned),
        created,
        keys: login
            .keys
            .iter()
            .map(|k| KeyFact {
                kind: k.kind.clone(),
                fingerprint: k.fingerprint(),
                comment: k.comment.clone(),
            })
            .collect(),
    }
}

/// How docker gets onto the nodes, in words.
fn install_words(p: &Provision) -> &'static str {
    match p {
        Provision::NotWanted => "not set up",
        Provision::Present => "already on the image",
        Provision::Apt { .. } => "installed at first boot from the image's apt sources",
        Provision::Bundle { .. } => "installed at first boot from the .deb files on the image",
        Provision::Snap { .. } => "installed at first boot from the snap on the image",
    }
}

impl BuildSummary {
    /// The text `build` prints on stdout: the table, then the next steps.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let n = self.nodes.len();
        let _ = writeln!(
            t,
            "Built {n} node image{} from {} ({}):",
            if n == 1 { "" } else { "s" },
            self.image.path.display(),
            self.flavour
        );
        t.push_str(&self.table());
        t.push_str(&self.facts());
        t.push_str("\nNext:\n");
        for (i, step) in self.next.iter().enumerate() {
            let _ = writeln!(t, "  {}. {}", i + 1, step.what);
            for c in &step.commands {
                let _ = writeln!(t, "       {c}");
            }
        }
        t
    }

    fn table(&self) -> String {
        let docker = match self.docker.port {
            Some(p) => format!("{} :{p}", self.docker.exposure.as_str()),
            None => self.docker.exposure.as_str().to_string(),
        };
        let keys = self.login.keys.len().to_string();
        let mut rows = vec![[
            "NODE".to_string(),
            "IMAGE".into(),
            "ADDRESS".into(),
            "ROLE".into(),
            "KEYS".into(),
            "DOCKER".into(),
            "SWARM".into(),
        ]];
        for r in &self.nodes {
            rows.push([
                r.name.clone(),
                r.image.display().to_string(),
                r.address.clone().unwrap_or_else(|| "dhcp".into()),
                r.role.to_string(),
                keys.clone(),
                docker.clone(),
                r.swarm.clone(),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut t = String::new();
        for r in rows {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(t, "  {}", cells.join("  ").trim_end());
        }
        t
    }

    fn facts(&self) -> String {
        let mut t = String::new();
        let l = &self.login;
        let keys: Vec<String> = l
            .keys
            .iter()
            .map(|k| {
                format!("{} {} {}", k.kind, k.fingerprint, k.comment)
                    .trim_end()
                    .to_string()
            })
            .collect();
        let _ = writeln!(
            t,
            "Login user {}, authorized keys: {}",
            l.user,
            keys.join(", ")
        );
        if let Some(id) = &l.identity {
            let _ = writeln!(
                t,
                "  (no key was given or found in ~/.ssh, so the cluster has its own: {}{})",
                id.display(),
                if l.created { ", made now" } else { "" }
            );
        }
        if self.docker.exposure != DockerExposure::None {
            let version = self
                .docker
                .version
                .as_deref()
                .unwrap_or("of the distribution's version");
            let _ = writeln!(t, "Docker {version}: {}", self.docker.how);
        }
        if let Some(dir) = &self.docker.cert_path {
            let _ = writeln!(t, "Operator's docker certificates: {}", dir.display());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_serialise_role_and_swarm_by_name() {
        let row = NodeRow {
            name: "rpi1".into(),
            image: "out/rpi1.img".into(),
            bmap: "out/rpi1.img.bmap".into(),
            manifest: "out/rpi1.json".into(),
            sha256: None,
            address: None,
            host: "rpi1".into(),
            role: Role::Manager,
            swarm: swarm_part(&Swarm::None, Role::Manager).into(),
        };
        let j = serde_json::to_value(&row).unwrap();
        assert_eq!(
            (j["role"].as_str(), j["swarm"].as_str()),
            (Some("manager"), Some("-"))
        );
        let zt = Swarm::ZeroTouch { address_pool: None };
        assert_eq!(swarm_part(&zt, Role::Worker), "joined by the manager");
        assert_eq!(serde_json::to_value(zt.setup()).unwrap(), "zero-touch");
    }

    #[test]
    fn docker_facts_name_the_exposure_as_the_config_does() {
        let facts = DockerFacts {
            exposure: DockerExposure::InsecureTcp,
            port: Some(2375),
            install: "present".into(),
            version: None,
            how: "already on the image".into(),
            cert_path: None,
        };
        let j = serde_json::to_value(&facts).unwrap();
        assert_eq!(j["exposure"], "insecure-tcp");
    }
}
