use std::path::{Path, PathBuf};

use clap::Args;

use clem_image::build::{build, BuildOptions};
use clem_image::cluster::config::{Cluster, DockerExposure, Overrides};
use clem_image::cluster::login::{self, KeySource};
use clem_image::fs::time::build_epoch;
use clem_image::node::parse_optional_nodes;
use clem_image::summary::{summarize, Invocation};

use super::sample::{is_sample, SAMPLE_IMAGE};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Upstream image: raw, or xz, gzip, zstd, bzip2 or a one-image zip (by content)
    /// [default: the config's `image`, else the bundled test sample]
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Nodes to build: `rpi1..rpi4`, `rpi1,rpi3`, or the flag repeated [default: the
    /// config's [[node]] list]
    #[arg(long = "node", value_name = "NODES")]
    pub nodes: Vec<String>,
    /// Cluster config (TOML); see `clem-image init`
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SSH public key file to authorize (repeatable) [default: the config's, else
    /// ~/.ssh/*.pub, else the cluster's own key, made once in the cluster directory]
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
    /// Print the summary (images, nodes, keys, docker, swarm, next steps) as JSON
    #[arg(long)]
    pub json: bool,
    /// Cache of decompressed bases: a rebuild from the same input decompresses nothing;
    /// the 3 most recently used bases are kept [default: $XDG_CACHE_HOME/clem-image, else
    /// ~/.cache/clem-image]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Decompress into the output directory and leave the cache alone
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
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
    let mut messages = Vec::new();
    let mut say = |m: String| {
        eprintln!("{m}");
        messages.push(m);
    };
    let (image, sample) = upstream(args.image.as_deref(), cluster.image.as_deref());
    if sample {
        say(sample_warning(&image));
    }
    let login = login::choose(&cluster.ssh_key_files, &cluster.dir, &mut |w| {
        say(format!("warning: {w}"))
    })?;
    if let KeySource::Cluster { private, created } = &login.source {
        say(cluster_key_note(private, *created));
    }
    if cluster.docker == DockerExposure::InsecureTcp {
        say(
            "WARNING: --docker insecure-tcp: every node's docker API will listen on plain TCP \
             port 2375 without authentication. Anyone who can reach a node gets root on it. \
             Use this only on an isolated network; the default (tls) is safe."
                .into(),
        );
    }
    let epoch = build_epoch().map_err(anyhow::Error::msg)?;
    let opts = BuildOptions {
        image: image.clone(),
        cluster,
        keys: login.keys.clone(),
        out: args.out.clone(),
        epoch,
        strict: args.strict,
        sha256: args.sha256,
        sample,
        config: args.config.clone(),
        cache: cache_dir(args),
    };
    let built = build(&opts, &mut say)?;
    let how = Invocation {
        config: args.config.as_deref(),
        out: &args.out,
        image: &image,
        sample,
    };
    let summary = summarize(&built, &login, &how, messages);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.to_text());
    }
    Ok(0)
}

/// The cache to use: none with `--no-cache`, else `--cache` or the default.
fn cache_dir(args: &BuildArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    args.cache.clone().or_else(clem_image::cache::default_dir)
}

/// The image to build from: `--image`, else the config's, else the bundled sample; and
/// whether it is the sample (named, copied or by default).
fn upstream(flag: Option<&Path>, config: Option<&Path>) -> (PathBuf, bool) {
    let image = flag
        .or(config)
        .map_or_else(|| PathBuf::from(SAMPLE_IMAGE), Path::to_owned);
    let sample = is_sample(&image);
    (image, sample)
}

fn sample_warning(image: &Path) -> String {
    format!(
        "WARNING: building from the bundled TEST sample {}: a scaled-down image for tests that \
         does not boot on a Pi. Give the real image with --image FILE or [cluster] image = \
         \"FILE\" in the config",
        image.display()
    )
}

fn cluster_key_note(private: &Path, created: bool) -> String {
    let made = if created {
        "made a new SSH key for this cluster"
    } else {
        "using this cluster's SSH key"
    };
    format!(
        "note: no SSH key given (--ssh-key, [cluster] ssh_keys) and none in ~/.ssh/*.pub: {made}, \
         {} (private, 0600) and {}.pub; log in with `ssh -i {} USER@NODE`",
        private.display(),
        private.display(),
        private.display()
    )
}
