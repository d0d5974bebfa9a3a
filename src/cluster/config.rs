//! The cluster config (`cluster.toml`): what every node shares and what each node owns.
//! Unknown keys and bad values are errors that name the line; CLI flags override it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::sanity::{self, NodeFacts};
use super::values::{Cidr, Discovery, HostPort, ImageRef, Interface, Token, UserName};
use crate::cloudinit::{CloudConfigError, Fragment, Origin};
use crate::docker::SwarmSupport;
use crate::node::NodeName;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `message` starts with the line number when toml gives one: `file:line: …`.
    #[error("{path}:{message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    CloudConfig(#[from] CloudConfigError),
    #[error(transparent)]
    Key(#[from] super::tls::TlsError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DockerExposure {
    /// Docker API on 2376 with mutual TLS (the default).
    #[default]
    Tls,
    /// Docker API on plain 2375: root for anyone on the network.
    InsecureTcp,
    /// Leave docker as the image has it.
    None,
}

impl DockerExposure {
    pub fn as_str(self) -> &'static str {
        match self {
            DockerExposure::Tls => "tls",
            DockerExposure::InsecureTcp => "insecure-tcp",
            DockerExposure::None => "none",
        }
    }

    pub fn port(self) -> Option<u16> {
        match self {
            DockerExposure::Tls => Some(2376),
            DockerExposure::InsecureTcp => Some(2375),
            DockerExposure::None => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmKind {
    /// No swarm: docker only.
    None,
    /// Docker's built-in swarm mode: `docker swarm join --token … manager:2377`.
    SwarmMode,
    /// The standalone swarm of 2015: an agent container with a discovery URL.
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Manager,
    Worker,
}

impl Role {
    /// The name the config, the reports and the swarm use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the swarm of a resolved config is, by name: the reports and the first-boot files
/// carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmSetup {
    None,
    ZeroTouch,
    /// Joining a given manager with a given token.
    SwarmMode,
    Legacy,
}

impl SwarmSetup {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmSetup::None => "none",
            SwarmSetup::ZeroTouch => "zero-touch",
            SwarmSetup::SwarmMode => "swarm-mode",
            SwarmSetup::Legacy => "legacy",
        }
    }
}

impl std::fmt::Display for SwarmSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterSection {
    #[serde(default)]
    ssh_keys: Vec<toml::Spanned<PathBuf>>,
    /// The upstream image to build from when `--image` is not given.
    image: Option<toml::Spanned<PathBuf>>,
    docker: Option<DockerExposure>,
    interface: Option<Interface>,
    gateway: Option<toml::Spanned<IpAddr>>,
    #[serde(default)]
    dns: Vec<IpAddr>,
    /// A docker `.snap` to install offline on Snappy 15.04 (the store is gone).
    docker_snap: Option<toml::Spanned<PathBuf>>,
    /// A directory of `.deb` files (docker, its CLI, their dependencies) installed at first
    /// boot with no network, on Debian-family images without docker.
    docker_debs: Option<toml::Spanned<PathBuf>>,
    /// The login user cloud-init creates (default: `pi` on Raspberry Pi OS, `ubuntu` on
    /// Ubuntu).
    user: Option<UserName>,
    /// Extra cloud-config, from a file or inline (not both).
    cloud_config: Option<toml::Spanned<PathBuf>>,
    cloud_config_inline: Option<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwarmSection {
    mode: Option<SwarmKind>,
    /// Overlay address pool for `swarm init`; chosen automatically when unset.
    address_pool: Option<Cidr>,
    manager: Option<HostPort>,
    token: Option<Token>,
    discovery: Option<Discovery>,
    image: Option<ImageRef>,
    /// The legacy swarm's image as a `docker save` tarball, loaded at first boot (a 2015
    /// docker may not pull from today's registries).
    image_file: Option<toml::Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    name: toml::Spanned<String>,
    address: Option<toml::Spanned<Cidr>>,
    role: Option<toml::Spanned<Role>>,
    /// Extra cloud-config, from a file or inline (not both).
    cloud_config: Option<toml::Spanned<PathBuf>>,
    cloud_config_inline: Option<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    cluster: ClusterSection,
    #[serde(default)]
    swarm: SwarmSection,
    #[serde(default, rename = "node")]
    nodes: Vec<NodeSection>,
}

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

/// Reads the extra cloud-config a section points at: a file relative to the config, or inline
/// text whose findings are reported at their lines in the config file.
fn load_cloud_config(
    file: Option<&toml::Spanned<PathBuf>>,
    inline: Option<&toml::Spanned<String>>,
    cfg_path: &Path,
    base: &Path,
    text: &str,
) -> Result<Option<Fragment>, ConfigError> {
    match (file, inline) {
        (Some(p), Some(_)) => Err(ConfigError::Invalid {
            path: cfg_path.to_owned(),
            line: line_of(text, p.span().start),
            message: "cloud_config (a file) and cloud_config_inline (text): give one".into(),
        }),
        (Some(p), None) => {
            let path = existing("cloud_config", p, text, cfg_path, base)?;
            Ok(Some(Fragment::read(&path)?))
        }
        (None, Some(inline)) => {
            let raw = &text[inline.span()];
            // A multi-line string's first line break is not part of its value.
            let skip = usize::from(
                ["\"\"\"\n", "'''\n", "\"\"\"\r\n", "'''\r\n"]
                    .iter()
                    .any(|q| raw.starts_with(q)),
            );
            let origin = Origin {
                file: cfg_path.display().to_string(),
                first_line: line_of(text, inline.span().start) + skip,
            };
            Ok(Some(Fragment::parse(inline.get_ref(), origin)?))
        }
        (None, None) => Ok(None),
    }
}

/// The checks of values that parse but do not fit together (see `sanity`), at their lines.
fn check_semantics(
    file: &ConfigFile,
    text: &str,
    cfg_path: &Path,
    zero_touch: bool,
) -> Result<(), ConfigError> {
    let facts: Vec<NodeFacts<'_>> = file
        .nodes
        .iter()
        .map(|n| NodeFacts {
            name: n.name.get_ref(),
            name_line: line_of(text, n.name.span().start),
            address: n
                .address
                .as_ref()
                .map(|a| (a.get_ref(), line_of(text, a.span().start))),
            manager_line: n
                .role
                .as_ref()
                .filter(|r| *r.get_ref() == Role::Manager)
                .map(|r| line_of(text, r.span().start)),
        })
        .collect();
    let gateway = file
        .cluster
        .gateway
        .as_ref()
        .map(|g| (*g.get_ref(), line_of(text, g.span().start)));
    sanity::check(&facts, gateway, zero_touch).map_err(|(line, message)| ConfigError::Invalid {
        path: cfg_path.to_owned(),
        line,
        message,
    })
}

/// The files the config names, relative to it, each checked to exist: a missing one is
/// reported at its line now rather than by whatever reads it later.
struct NamedFiles {
    ssh_keys: Vec<PathBuf>,
    image: Option<PathBuf>,
    docker_snap: Option<PathBuf>,
    docker_debs: Option<PathBuf>,
    swarm_image_file: Option<PathBuf>,
}

impl NamedFiles {
    fn check(
        file: &ConfigFile,
        text: &str,
        cfg_path: &Path,
        base: &Path,
    ) -> Result<NamedFiles, ConfigError> {
        let resolve =
            |key: &str, p: &toml::Spanned<PathBuf>| existing(key, p, text, cfg_path, base);
        let one = |key: &str, p: &Option<toml::Spanned<PathBuf>>| {
            p.as_ref().map(|p| resolve(key, p)).transpose()
        };
        let c = &file.cluster;
        Ok(NamedFiles {
            ssh_keys: c
                .ssh_keys
                .iter()
                .map(|p| resolve("ssh_keys", p))
                .collect::<Result<_, _>>()?,
            image: one("image", &c.image)?,
            docker_snap: one("docker_snap", &c.docker_snap)?,
            docker_debs: one("docker_debs", &c.docker_debs)?,
            swarm_image_file: one("image_file", &file.swarm.image_file)?,
        })
    }
}

/// A path the config names under `key`, relative to the config: refused at its line when
/// nothing is there.
fn existing(
    key: &str,
    p: &toml::Spanned<PathBuf>,
    text: &str,
    cfg_path: &Path,
    base: &Path,
) -> Result<PathBuf, ConfigError> {
    let path = base.join(expand_home(p.get_ref()));
    if path.exists() {
        return Ok(path);
    }
    Err(ConfigError::Invalid {
        path: cfg_path.to_owned(),
        line: line_of(text, p.span().start),
        message: format!(
            "{key}: {}: no such file (paths are relative to the config; ~ is your home)",
            path.display()
        ),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A TOML error as `L: message (column C)`, without the quoted source line that
/// toml's own rendering carries (the file may not be a config at all, but a secret).
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            format!("{line}: {message} (column {column})")
        }
        None => format!(" {message}"),
    }
}

impl Cluster {
    /// Every manager first: the first is the one that inits a zero-touch swarm.
    pub fn managers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.members.iter().filter(|n| n.role == Role::Manager)
    }

    /// Loads `path` (if any) and applies `over`.
    pub fn load(path: Option<&Path>, over: Overrides) -> Result<Cluster, ConfigError> {
        let (file, text) = match path {
            Some(p) => {
                let text =
                    crate::io::regular::read_user_text(p, crate::io::regular::CLUSTER_CONFIG)
                        .map_err(|e| ConfigError::Read {
                            path: p.to_owned(),
                            source: std::io::Error::other(e.problem),
                        })?;
                let file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.to_owned(),
                    message: parse_message(&text, &e),
                })?;
                (file, text)
            }
            None => (ConfigFile::default(), String::new()),
        };
        let cfg_path = path.map(Path::to_owned).unwrap_or_default();
        let base = path
            .and_then(Path::parent)
            .map(Path::to_owned)
            .unwrap_or_default();

        // Nodes from the file, each name validated with its line.
        let mut file_nodes: Vec<NodeSpec> = Vec::new();
        for n in &file.nodes {
            let line = line_of(&text, n.name.span().start);
            let invalid = |message: String| ConfigError::Invalid {
                path: cfg_path.clone(),
                line,
                message,
            };
            let name = NodeName::new(n.name.get_ref()).map_err(|e| invalid(e.to_string()))?;
            if file_nodes.iter().any(|x| x.name == name) {
                return Err(invalid(format!("node {name} is listed twice")));
            }
            file_nodes.push(NodeSpec {
                name,
                address: n.address.as_ref().map(|a| a.get_ref().clone()),
                role: n.role.as_ref().map_or(Role::Worker, |r| *r.get_ref()),
                cloud_config: load_cloud_config(
                    n.cloud_config.as_ref(),
                    n.cloud_config_inline.as_ref(),
                    &cfg_path,
                    &base,
                    &text,
                )?,
            });
        }
        // The cluster's members: the file's nodes, plus any named only on the command line.
        let mut members = file_nodes.clone();
        for name in &over.nodes {
            if name.as_str().len() > sanity::MAX_HOST_NAME {
                return Err(ConfigError::Conflict(format!(
                    "--node {name}: {} characters, and a Linux host name has at most {}",
                    name.as_str().len(),
                    sanity::MAX_HOST_NAME
                )));
            }
            if !members.iter().any(|n| &n.name == name) {
                members.push(NodeSpec {
                    name: name.clone(),
                    address: None,
                    role: Role::Worker,
                    cloud_config: None,
                });
            }
        }
        if members.is_empty() {
            return Err(ConfigError::Conflict(
                "no node given: use --node (e.g. --node rpi1..rpi4) or [[node]] in the config"
                    .into(),
            ));
        }
        // The first member manages unless the file names a manager.
        if !members.iter().any(|n| n.role == Role::Manager) {
            members[0].role = Role::Manager;
        }
        // With --node, build those; else every member. A node built alone later still
        // knows the whole cluster (the manager's list, legacy discovery).
        let nodes: Vec<NodeSpec> = if over.nodes.is_empty() {
            members.clone()
        } else {
            over.nodes
                .iter()
                .filter_map(|name| members.iter().find(|n| &n.name == name).cloned())
                .collect()
        };

        let docker = over.docker.or(file.cluster.docker).unwrap_or_default();
        let conflict = |msg: &str| ConfigError::Conflict(format!("{}: {msg}", cfg_path.display()));
        // Zero-touch needs the manager to reach workers over mutual TLS: the default
        // whenever docker is exposed with TLS.
        let default_kind = if docker == DockerExposure::Tls {
            SwarmKind::SwarmMode
        } else {
            SwarmKind::None
        };
        let swarm = match file.swarm.mode.unwrap_or(default_kind) {
            SwarmKind::None => Swarm::None,
            SwarmKind::SwarmMode => match (file.swarm.manager.clone(), file.swarm.token.clone()) {
                (None, None) if docker == DockerExposure::Tls => Swarm::ZeroTouch {
                    address_pool: file.swarm.address_pool.clone(),
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
            SwarmKind::Legacy => {
                let discovery = match file.swarm.discovery.clone() {
                    Some(d) => d,
                    None => static_discovery(&members, docker)?,
                };
                Swarm::Legacy {
                    discovery,
                    image: file
                        .swarm
                        .image
                        .clone()
                        .unwrap_or_else(|| DEFAULT_LEGACY_IMAGE.parse().expect("valid")),
                }
            }
        };

        check_semantics(
            &file,
            &text,
            &cfg_path,
            matches!(swarm, Swarm::ZeroTouch { .. }),
        )?;

        let mut warnings = Vec::new();
        if let Swarm::Legacy { discovery, .. } = &swarm {
            if discovery.as_str().starts_with("token://") {
                warnings.push(
                    "legacy swarm with token:// discovery: Docker's hosted discovery service was shut down years ago, so this cluster cannot form; use nodes:// (the default when discovery is not set)".into(),
                );
            }
        }
        let cloud_config = match &over.cloud_config {
            Some(p) => Some(Fragment::read(p)?),
            None => load_cloud_config(
                file.cluster.cloud_config.as_ref(),
                file.cluster.cloud_config_inline.as_ref(),
                &cfg_path,
                &base,
                &text,
            )?,
        };
        let fragments = cloud_config
            .iter()
            .chain(members.iter().filter_map(|n| n.cloud_config.as_ref()));
        for f in fragments {
            warnings.extend(f.warnings.iter().cloned());
        }
        let named = NamedFiles::check(&file, &text, &cfg_path, &base)?;
        let ssh_key_files = if over.ssh_key_files.is_empty() {
            named.ssh_keys
        } else {
            over.ssh_key_files
        };
        let dir = over.dir.unwrap_or_else(|| {
            if path.is_some() {
                base.clone()
            } else {
                PathBuf::from("clem-cluster")
            }
        });
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        warnings.extend(super::tls::check_key_modes(&dir, over.allow_open_keys)?);
        Ok(Cluster {
            dir,
            ssh_key_files,
            image: named.image,
            warnings,
            docker,
            docker_snap: named.docker_snap,
            docker_debs: named.docker_debs,
            swarm_image_file: named.swarm_image_file,
            swarm_explicit: file.swarm.mode.is_some()
                || file.swarm.manager.is_some()
                || file.swarm.token.is_some(),
            interface: file
                .cluster
                .interface
                .unwrap_or_else(|| "eth0".parse().expect("valid")),
            gateway: file.cluster.gateway.map(|g| *g.get_ref()),
            dns: file.cluster.dns,
            user: file.cluster.user,
            cloud_config,
            swarm,
            nodes,
            members,
        })
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
    /// Docker is needed on the nodes: exposed on TCP, or a swarm to run.
    pub fn wants_docker(&self) -> bool {
        self.docker != DockerExposure::None || !matches!(self.swarm, Swarm::None)
    }

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

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => p.to_owned(),
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

    fn load(text: &str) -> Result<Cluster, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cluster.toml");
        std::fs::write(&p, text).unwrap();
        Cluster::load(Some(&p), Overrides::default())
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let e = load("[cluster]\ndocker = \"tls\"\nfoo = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3: ") && e.contains("foo"), "{e}");
        let e = load("[cluster]\ndocker = \"open\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: "), "{e}");
        let e = load("[[node]]\nname = \"rpi1\"\n\n[[node]]\nname = \"rpi_2\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":5:") && e.contains("rpi_2"), "{e}");
        let e = load("[[node]]\nname = \"rpi1\"\naddress = \"10.0.5.1\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3: ") && e.contains("prefix"), "{e}");
        let e = load(
            "[swarm]\nmode = \"legacy\"\ndiscovery = \"token://x;reboot\"\n[[node]]\nname=\"a\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":3: "), "{e}");
    }

    #[test]
    fn defaults_and_roles() {
        let c = load("[[node]]\nname = \"rpi1\"\n[[node]]\nname = \"rpi2\"\n").unwrap();
        assert_eq!(c.docker, DockerExposure::Tls);
        assert_eq!(c.nodes[0].role, Role::Manager);
        assert_eq!(c.nodes[1].role, Role::Worker);
        // Building one worker alone: it stays a worker, and the cluster is still all nodes.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[[node]]\nname = \"rpi1\"\n[[node]]\nname = \"rpi2\"\n").unwrap();
        let over = Overrides {
            nodes: vec![NodeName::new("rpi2").unwrap()],
            ..Overrides::default()
        };
        let c = Cluster::load(Some(&p), over).unwrap();
        assert_eq!(c.nodes.len(), 1);
        assert_eq!(c.nodes[0].role, Role::Worker);
        assert_eq!(c.members.len(), 2);
        assert_eq!(c.members[0].role, Role::Manager);
        assert_eq!(c.interface.as_str(), "eth0");
        assert!(matches!(c.swarm, Swarm::ZeroTouch { .. }));
    }
}
