use std::path::PathBuf;

use clap::Args;

use clem_image::build::{build, BuildOptions};
use clem_image::fs::time::build_epoch;
use clem_image::node::parse_nodes;
use clem_image::sshkey;

/// The bundled sample image, the default input.
pub const SAMPLE_IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/snappy-rpi2-sample.img.xz"
);

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Upstream image, raw (.img) or xz-compressed (.img.xz) [default: the bundled sample]
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Nodes to build: `rpi1..rpi4`, `rpi1,rpi3`, or the flag repeated
    #[arg(long = "node", value_name = "NODES", required = true)]
    pub nodes: Vec<String>,
    /// SSH public key file to authorize (repeatable) [default: ~/.ssh/*.pub]
    #[arg(long = "ssh-key", value_name = "FILE")]
    pub ssh_keys: Vec<PathBuf>,
    /// Output directory
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
}

pub fn run(args: &BuildArgs) -> anyhow::Result<i32> {
    let nodes = parse_nodes(&args.nodes)?;
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| PathBuf::from(SAMPLE_IMAGE));
    let mut keys = Vec::new();
    for path in &args.ssh_keys {
        keys.extend(sshkey::read_keys(path)?);
    }
    if args.ssh_keys.is_empty() {
        keys = sshkey::default_keys(&mut |w| eprintln!("warning: {w}"));
        if keys.is_empty() {
            eprintln!(
                "warning: no SSH public key given and none found in ~/.ssh/*.pub: \
                 the nodes will have no authorized key (use --ssh-key FILE)"
            );
        }
    }
    let epoch = build_epoch().map_err(anyhow::Error::msg)?;
    let opts = BuildOptions {
        image: image.clone(),
        nodes,
        keys,
        out: args.out.clone(),
        epoch,
    };
    let built = build(&opts, &mut |msg| eprintln!("{msg}"))?;
    for n in &built.nodes {
        println!("{}  {}", n.sha256, n.image.display());
    }
    Ok(0)
}
