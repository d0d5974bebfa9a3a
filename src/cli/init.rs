use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use clem_image::cluster::config::{Cluster, Overrides};
use clem_image::cluster::tls::ClusterCa;
use clem_image::overlay;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cluster directory to create: cluster.toml, the CA and the operator's certificate
    #[arg(long, value_name = "DIR", default_value = "clem-cluster")]
    pub dir: PathBuf,
}

pub fn run(args: &InitArgs) -> anyhow::Result<i32> {
    let config = args.dir.join("cluster.toml");
    if config.exists() {
        bail!("{}: already exists; not overwriting it", config.display());
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    std::fs::write(&config, overlay::CLUSTER_TOML.text)
        .with_context(|| format!("writing {}", config.display()))?;
    // The example must load: it is the documentation of the format.
    Cluster::load(Some(&config), Overrides::default())?;
    let ca = ClusterCa::open_or_create(&args.dir, &mut |m| eprintln!("{m}"))?;
    let client = ca.operator_client()?;
    println!("wrote {}", config.display());
    println!(
        "operator certificate: DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker -H tcp://rpi1:2376 info",
        client.display()
    );
    Ok(0)
}
