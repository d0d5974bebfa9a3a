use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use clem_image::cluster::config::{Cluster, Overrides};
use clem_image::cluster::tls::{make_dir, ClusterCa};
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
    // The directory is the operator's: readable by others (certificates are public), but
    // the key directories in it are 0700 and the keys 0600 (see tls.rs).
    make_dir(&args.dir, 0o755)?;
    write_config(&config).with_context(|| format!("writing {}", config.display()))?;
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

/// cluster.toml, 0600 whatever the umask: it may come to hold the swarm's join token.
fn write_config(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(overlay::CLUSTER_TOML.text.as_bytes())?;
    f.sync_all()
}
