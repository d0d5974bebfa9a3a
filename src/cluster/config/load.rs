//! `Cluster::load`: read the file, parse it, check what serde cannot, then resolve it with
//! the command line into a `Cluster`. The order of the checks is the order of the errors a
//! user meets, so it stays as it is.

use std::path::{Path, PathBuf};

use super::checks::{check_semantics, NamedFiles};
use super::cloud::load_cloud_config;
use super::error::ConfigError;
use super::file::{line_of, ConfigFile};
use super::kinds::{DockerExposure, Role};
use super::model::{Cluster, NodeSpec, Overrides, Swarm};
use super::swarm;
use crate::cloudinit::Fragment;
use crate::cluster::sanity;
use crate::cluster::tls::check_key_modes;
use crate::io::regular::{read_user_text, CLUSTER_CONFIG};
use crate::node::NodeName;

/// The config as read: its model and text, and where it lives (both empty without a file).
struct Source {
    file: ConfigFile,
    text: String,
    /// The config file, for messages.
    path: PathBuf,
    /// Its directory: paths in it are relative to this.
    base: PathBuf,
    given: bool,
}

/// The cluster's shape once checked: who is in it, who is built, and which swarm.
struct Shape {
    members: Vec<NodeSpec>,
    nodes: Vec<NodeSpec>,
    docker: DockerExposure,
    swarm: Swarm,
}

impl Cluster {
    /// Loads `path` (if any) and applies `over`.
    pub fn load(path: Option<&Path>, over: Overrides) -> Result<Cluster, ConfigError> {
        let src = match path {
            Some(p) => Source::parse(p, read(p)?)?,
            None => Source::none(),
        };
        let shape = src.check(&over)?;
        src.resolve(shape, over)
    }
}

/// The config's text, refused when it is not a regular file of a config's size.
fn read(path: &Path) -> Result<String, ConfigError> {
    read_user_text(path, CLUSTER_CONFIG).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        source: std::io::Error::other(e.problem),
    })
}

impl Source {
    fn parse(path: &Path, text: String) -> Result<Source, ConfigError> {
        Ok(Source {
            file: ConfigFile::parse(path, &text)?,
            text,
            path: path.to_owned(),
            base: path.parent().map(Path::to_owned).unwrap_or_default(),
            given: true,
        })
    }

    fn none() -> Source {
        Source {
            file: ConfigFile::default(),
            text: String::new(),
            path: PathBuf::new(),
            base: PathBuf::new(),
            given: false,
        }
    }

    /// Everything that can be wrong with the file and the command line together.
    fn check(&self, over: &Overrides) -> Result<Shape, ConfigError> {
        let members = members(self.nodes()?, &over.nodes)?;
        let nodes = built(&members, &over.nodes);
        let docker = over.docker.or(self.file.cluster.docker).unwrap_or_default();
        let swarm = swarm::resolve(&self.file.swarm, docker, &members, &self.path)?;
        let zero_touch = matches!(swarm, Swarm::ZeroTouch { .. });
        check_semantics(&self.file, &self.text, &self.path, zero_touch)?;
        Ok(Shape {
            members,
            nodes,
            docker,
            swarm,
        })
    }

    /// The file's nodes, each name validated with its line.
    fn nodes(&self) -> Result<Vec<NodeSpec>, ConfigError> {
        let mut nodes: Vec<NodeSpec> = Vec::new();
        for n in &self.file.nodes {
            let invalid = |message: String| ConfigError::Invalid {
                path: self.path.clone(),
                line: line_of(&self.text, n.name.span().start),
                message,
            };
            let name = NodeName::new(n.name.get_ref()).map_err(|e| invalid(e.to_string()))?;
            if nodes.iter().any(|x| x.name == name) {
                return Err(invalid(format!("node {name} is listed twice")));
            }
            nodes.push(NodeSpec {
                name,
                address: n.address.as_ref().map(|a| a.get_ref().clone()),
                role: n.role.as_ref().map_or(Role::Worker, |r| *r.get_ref()),
                cloud_config: self
                    .cloud_config(n.cloud_config.as_ref(), n.cloud_config_inline.as_ref())?,
            });
        }
        Ok(nodes)
    }

    fn cloud_config(
        &self,
        file: Option<&toml::Spanned<PathBuf>>,
        inline: Option<&toml::Spanned<String>>,
    ) -> Result<Option<Fragment>, ConfigError> {
        load_cloud_config(file, inline, &self.path, &self.base, &self.text)
    }

    /// The checked shape with the files the config names, the cloud-config, the cluster
    /// directory and what to warn about: the `Cluster`.
    fn resolve(self, shape: Shape, over: Overrides) -> Result<Cluster, ConfigError> {
        let mut warnings = swarm::warnings(&shape.swarm);
        let c = &self.file.cluster;
        let cloud_config = match &over.cloud_config {
            Some(p) => Some(Fragment::read(p)?),
            None => self.cloud_config(c.cloud_config.as_ref(), c.cloud_config_inline.as_ref())?,
        };
        let fragments = cloud_config
            .iter()
            .chain(shape.members.iter().filter_map(|n| n.cloud_config.as_ref()));
        for f in fragments {
            warnings.extend(f.warnings.iter().cloned());
        }
        let named = NamedFiles::check(&self.file, &self.text, &self.path, &self.base)?;
        let ssh_key_files = if over.ssh_key_files.is_empty() {
            named.ssh_keys
        } else {
            over.ssh_key_files
        };
        let dir = self.cluster_dir(over.dir);
        warnings.extend(check_key_modes(&dir, over.allow_open_keys)?);
        let s = &self.file.swarm;
        let swarm_explicit = s.mode.is_some() || s.manager.is_some() || s.token.is_some();
        let c = self.file.cluster;
        Ok(Cluster {
            dir,
            ssh_key_files,
            image: named.image,
            warnings,
            docker: shape.docker,
            docker_snap: named.docker_snap,
            docker_debs: named.docker_debs,
            swarm_image_file: named.swarm_image_file,
            swarm_explicit,
            interface: c
                .interface
                .unwrap_or_else(|| "eth0".parse().expect("valid")),
            gateway: c.gateway.map(|g| *g.get_ref()),
            dns: c.dns,
            user: c.user,
            cloud_config,
            swarm: shape.swarm,
            nodes: shape.nodes,
            members: shape.members,
        })
    }

    /// `--cluster-dir`, else the config's directory, else `./clem-cluster`.
    fn cluster_dir(&self, given: Option<PathBuf>) -> PathBuf {
        let dir = given.unwrap_or_else(|| {
            if self.given {
                self.base.clone()
            } else {
                PathBuf::from("clem-cluster")
            }
        });
        if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        }
    }
}

/// The cluster's members: the file's nodes, plus any named only on the command line; the
/// first manages unless the file names a manager.
fn members(file_nodes: Vec<NodeSpec>, named: &[NodeName]) -> Result<Vec<NodeSpec>, ConfigError> {
    let mut members = file_nodes;
    for name in named {
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
            "no node given: use --node (e.g. --node rpi1..rpi4) or [[node]] in the config".into(),
        ));
    }
    if !members.iter().any(|n| n.role == Role::Manager) {
        members[0].role = Role::Manager;
    }
    Ok(members)
}

/// With --node, those; else every member. A node built alone later still knows the whole
/// cluster (the manager's list, legacy discovery).
fn built(members: &[NodeSpec], named: &[NodeName]) -> Vec<NodeSpec> {
    if named.is_empty() {
        return members.to_vec();
    }
    named
        .iter()
        .filter_map(|name| members.iter().find(|n| &n.name == name).cloned())
        .collect()
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

    fn name(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
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
            nodes: vec![name("rpi2")],
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

    #[test]
    fn a_config_that_cannot_be_read_says_so_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent.toml");
        let e = Cluster::load(Some(&p), Overrides::default()).unwrap_err();
        assert_eq!(e.to_string(), format!("{}: cannot read", p.display()));
        let chained = crate::error::chain(&e);
        assert!(chained.len() > e.to_string().len() + 2, "{chained}");
    }

    #[test]
    fn command_line_nodes_join_and_the_first_manages() {
        let m = members(Vec::new(), &[name("a"), name("b")]).unwrap();
        assert_eq!((m[0].role, m[1].role), (Role::Manager, Role::Worker));
        assert!(members(Vec::new(), &[]).is_err());
        // Labels of at most 63, but longer than a host name in all.
        let long = name(&format!("{}.{}", "a".repeat(40), "b".repeat(40)));
        assert!(members(Vec::new(), &[long]).is_err());
        assert_eq!(built(&m, &[name("b"), name("zz")]).len(), 1);
        assert_eq!(built(&m, &[]).len(), 2);
    }

    #[test]
    fn the_cluster_dir_defaults_to_the_config_then_clem_cluster() {
        assert_eq!(
            Source::none().cluster_dir(None),
            PathBuf::from("clem-cluster")
        );
        let src = Source::parse(Path::new("cluster.toml"), String::new()).unwrap();
        assert_eq!(src.cluster_dir(None), PathBuf::from("."));
        assert_eq!(src.cluster_dir(Some("d".into())), PathBuf::from("d"));
    }
}
