//! `env NODE`: the docker CLI's environment for one node, as `docker-machine env` printed it
//! (`eval "$(clem-image env rpi1)"`), and with `--context` the `docker context create` line
//! for a persistent docker context. Paths are absolute so the lines work from any directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use clem_image::cluster::config::{Cluster, DockerExposure, NodeSpec, Overrides, Role};
use clem_image::node::NodeName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvShell {
    /// POSIX sh, bash, zsh: `export NAME="value"`
    Sh,
    /// fish: `set -gx NAME "value"`
    Fish,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The node whose docker to talk to [default with --context: the cluster's manager]
    #[arg(value_name = "NODE")]
    pub node: Option<String>,
    /// Cluster config (TOML); see `clem-image init`
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the cluster CA and the operator's certificate live [default: the config's
    /// directory, else ./clem-cluster]
    #[arg(long, value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,
    /// The shell the lines are for
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: EnvShell,
    /// Print the `docker context create clem-NODE …` command line instead
    #[arg(long)]
    pub context: bool,
}

/// Where the docker CLI connects, and with which certificates (none without TLS).
struct Endpoint {
    node: NodeName,
    host: String,
    certs: Option<PathBuf>,
}

pub fn run(args: &EnvArgs) -> anyhow::Result<i32> {
    let ep = endpoint(args)?;
    if ep.certs.is_none() {
        eprintln!(
            "WARNING: this cluster's docker API is insecure-tcp: anyone who can reach {} \
             controls its docker, unauthenticated and unencrypted",
            ep.host
        );
    }
    if args.context {
        println!("{}", context_line(&ep));
    } else {
        print!("{}", env_lines(&ep, args));
    }
    Ok(0)
}

fn endpoint(args: &EnvArgs) -> anyhow::Result<Endpoint> {
    let wanted = args.node.as_deref().map(NodeName::new).transpose()?;
    if wanted.is_none() && !args.context {
        bail!("which node? `clem-image env rpi1` (or `--context` for the manager)");
    }
    if wanted.is_none() && args.config.is_none() {
        bail!("which node? without --config nothing says which node manages: `clem-image env --context rpi1`");
    }
    // With a config the node must be one of its own: a typo is not a new node.
    let extra = match &args.config {
        Some(_) => Vec::new(),
        None => wanted.iter().cloned().collect(),
    };
    let cluster = Cluster::load(
        args.config.as_deref(),
        Overrides {
            nodes: extra,
            dir: args.cluster_dir.clone(),
            ..Overrides::default()
        },
    )?;
    let node = pick(&cluster, wanted.as_ref(), args.config.as_deref())?;
    let host = match node.address.as_ref().map(|c| c.addr) {
        Some(std::net::IpAddr::V6(a)) => format!("[{a}]"),
        Some(a) => a.to_string(),
        None => node.name.to_string(),
    };
    let certs = match cluster.docker {
        DockerExposure::Tls => Some(client_dir(&cluster.dir)?),
        DockerExposure::InsecureTcp => None,
        DockerExposure::None => bail!(
            "this cluster's docker API is not exposed (docker = \"none\"): there is nothing \
             to connect to; set docker = \"tls\" and rebuild"
        ),
    };
    let port = cluster.docker.port().expect("an exposed docker has a port");
    Ok(Endpoint {
        node: node.name.clone(),
        host: format!("{host}:{port}"),
        certs,
    })
}

/// The named node (which must be in the config, when there is one), else the first manager.
fn pick<'a>(
    cluster: &'a Cluster,
    wanted: Option<&NodeName>,
    config: Option<&Path>,
) -> anyhow::Result<&'a NodeSpec> {
    let Some(name) = wanted else {
        return cluster
            .members
            .iter()
            .find(|n| n.role == Role::Manager)
            .context("the cluster has no manager");
    };
    if let Some(cfg) = config {
        if !cluster.members.iter().any(|n| &n.name == name) {
            let known: Vec<&str> = cluster.members.iter().map(|n| n.name.as_str()).collect();
            bail!(
                "{}: has no node {name} (its nodes: {})",
                cfg.display(),
                known.join(", ")
            );
        }
    }
    cluster
        .members
        .iter()
        .find(|n| &n.name == name)
        .context("the node is not in the cluster")
}

/// `<dir>/client`, absolute, holding the three files the docker CLI reads.
fn client_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let client = dir.join("client");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        let p = client.join(f);
        if !p.is_file() {
            bail!(
                "{}: missing; the operator's certificates are made by `clem-image init` or \
                 `clem-image build` (is --cluster-dir or --config right?)",
                p.display()
            );
        }
    }
    std::fs::canonicalize(&client).with_context(|| format!("{}: cannot resolve", client.display()))
}

/// A value in double quotes, for sh (`\`, `"`, `$` and backquote escaped) or fish (`\`, `"`
/// and `$`).
fn dquote(v: &str, shell: EnvShell) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        let special = matches!(c, '\\' | '"' | '$') || (c == '`' && shell == EnvShell::Sh);
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn env_lines(ep: &Endpoint, args: &EnvArgs) -> String {
    let set = |name: &str, value: &str| match args.shell {
        EnvShell::Sh => format!("export {name}={}\n", dquote(value, EnvShell::Sh)),
        EnvShell::Fish => format!("set -gx {name} {};\n", dquote(value, EnvShell::Fish)),
    };
    let unset = |name: &str| match args.shell {
        EnvShell::Sh => format!("unset {name}\n"),
        EnvShell::Fish => format!("set -e {name};\n"),
    };
    let mut out = set("DOCKER_HOST", &format!("tcp://{}", ep.host));
    match &ep.certs {
        Some(dir) => {
            out += &set("DOCKER_TLS_VERIFY", "1");
            out += &set("DOCKER_CERT_PATH", &dir.to_string_lossy());
        }
        None => {
            out += &unset("DOCKER_TLS_VERIFY");
            out += &unset("DOCKER_CERT_PATH");
        }
    }
    let mut cmd = format!("clem-image env {}", ep.node);
    if let Some(c) = &args.config {
        cmd += &format!(" --config {}", shell_word(&c.to_string_lossy()));
    }
    if let Some(d) = &args.cluster_dir {
        cmd += &format!(" --cluster-dir {}", shell_word(&d.to_string_lossy()));
    }
    out += "# Run this command to configure your shell:\n";
    out += &match args.shell {
        EnvShell::Sh => format!("# eval \"$({cmd})\"\n"),
        EnvShell::Fish => format!("# eval ({cmd} --shell fish)\n"),
    };
    out
}

/// `docker context create clem-rpi1 --docker 'host=tcp://…,ca=…,cert=…,key=…'`.
fn context_line(ep: &Endpoint) -> String {
    let mut fields = vec![format!("host=tcp://{}", ep.host)];
    if let Some(dir) = &ep.certs {
        for (k, f) in [("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem")] {
            fields.push(format!("{k}={}", dir.join(f).to_string_lossy()));
        }
    }
    // docker reads --docker as one CSV record: a field holding `,` or `"` is quoted.
    let csv: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!(
        "docker context create clem-{} --description {} --docker {}",
        ep.node,
        shell_word(&format!("clem-image node {}", ep.node)),
        shell_word(&csv.join(","))
    )
}

/// One word for a POSIX shell (quoted only when it needs to be).
fn shell_word(s: &str) -> String {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| format!("'{}'", s.replace('\0', "")))
}
