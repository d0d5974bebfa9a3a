use std::path::PathBuf;

use clap::Args;

use clem_image::build::{build, BuildOptions};
use clem_image::cluster::config::{Cluster, DockerExposure, Overrides};
use clem_image::fs::time::build_epoch;
use clem_image::node::parse_optional_nodes;
use clem_image::sshkey;

/// The bundled sample image, the default input.
pub const SAMPLE_IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/snappy-rpi2-sample.img.xz"
);

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Upstream image: raw, or xz, gzip, zstd, bzip2 or a one-image zip (by content)
    /// [default: the bundled sample]
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Nodes to build: `rpi1..rpi4`, `rpi1,rpi3`, or the flag repeated [default: the
    /// config's [[node]] list]
    #[arg(long = "node", value_name = "NODES")]
    pub nodes: Vec<String>,
    /// Cluster config (TOML); see `clem-image init`
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SSH public key file to authorize (repeatable) [default: the config's, else ~/.ssh/*.pub]
    #[arg(long = "ssh-key", value_name = "FILE")]
    pub ssh_keys: Vec<PathBuf>,
    /// How docker listens on the network; overrides the config
    #[arg(long, value_enum, value_name = "MODE")]
    pub docker: Option<DockerExposure>,
    /// Where the cluster CA and certificates live [default: the config's directory, else
    /// ./clem-cluster]
    #[arg(long, value_name = "DIR")]
    pub cluster_dir: Option<PathBuf>,
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Fail on doubtful seed findings too (a datasource setup the tool cannot resolve, …)
    #[arg(long)]
    pub strict: bool,
    /// Extra cloud-config for every node (a `#cloud-config` file), instead of the config's
    /// `cloud_config`
    #[arg(long, value_name = "FILE")]
    pub cloud_config: Option<PathBuf>,
    /// Also write each image's whole SHA-256 (`rpiN.img.sha256`, for `sha256sum -c`). Every
    /// image always gets a block map with a SHA-256 per data range (`rpiN.img.bmap`), which
    /// `verify` and `flash` check
    #[arg(long)]
    pub sha256: bool,
    /// Use cluster private keys (CA, node, client) that group or others may read; they
    /// are refused otherwise, as ssh refuses such keys
    #[arg(long)]
    pub allow_open_keys: bool,
}

pub fn run(args: &BuildArgs) -> anyhow::Result<i32> {
    let nodes = parse_optional_nodes(&args.nodes)?;
    let cluster = Cluster::load(
        args.config.as_deref(),
        Overrides {
            nodes,
            docker: args.docker,
            ssh_key_files: args.ssh_keys.clone(),
            dir: args.cluster_dir.clone(),
            cloud_config: args.cloud_config.clone(),
            allow_open_keys: args.allow_open_keys,
        },
    )?;
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| PathBuf::from(SAMPLE_IMAGE));
    let mut keys = Vec::new();
    for path in &cluster.ssh_key_files {
        keys.extend(sshkey::read_keys(path)?);
    }
    if cluster.ssh_key_files.is_empty() {
        keys = sshkey::default_keys(&mut |w| eprintln!("warning: {w}"));
        if keys.is_empty() {
            eprintln!(
                "warning: no SSH public key given and none found in ~/.ssh/*.pub: \
                 the nodes will have no authorized key (use --ssh-key FILE)"
            );
        }
    }
    if cluster.docker == DockerExposure::InsecureTcp {
        eprintln!(
            "WARNING: --docker insecure-tcp: every node's docker API will listen on plain TCP \
             port 2375 without authentication. Anyone who can reach a node gets root on it. \
             Use this only on an isolated network; the default (tls) is safe."
        );
    }
    let epoch = build_epoch().map_err(anyhow::Error::msg)?;
    let opts = BuildOptions {
        image,
        cluster,
        keys,
        out: args.out.clone(),
        epoch,
        strict: args.strict,
        sha256: args.sha256,
    };
    let built = build(&opts, &mut |msg| eprintln!("{msg}"))?;
    // stdout: one line per image, in sha256sum's format when whole-image hashes were made.
    for n in &built.nodes {
        match &n.sha256 {
            Some(sha) => println!("{sha}  {}", n.image.display()),
            None => println!("{}", n.image.display()),
        }
    }
    Ok(0)
}
