use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;

use clem_image::cluster::config::{Cluster, Overrides};
use clem_image::cluster::tls::{make_dir, ClusterCa};
use clem_image::overlay;
use clem_image::summary::shell_word;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cluster directory to create: cluster.toml, the CA and the operator's certificate
    #[arg(long, value_name = "DIR", default_value = "clem-cluster")]
    pub dir: PathBuf,
    /// Print what was made and the next step as JSON
    #[arg(long)]
    pub json: bool,
}

/// What `init` made, and what to do next (`--json` prints it as is).
#[derive(Debug, Serialize)]
struct Initialized {
    config: PathBuf,
    dir: PathBuf,
    ca: PathBuf,
    ca_created: bool,
    /// The operator's certificates (`DOCKER_CERT_PATH`).
    client: PathBuf,
    next: Vec<String>,
}

pub fn run(args: &InitArgs) -> anyhow::Result<i32> {
    let config = args.dir.join("cluster.toml");
    if config.exists() {
        bail!("{}: already exists; not overwriting it", config.display());
    }
    // The directory is the operator's: readable by others (certificates are public), but
    // the key directories in it are 0700 and the keys 0600 (see tls.rs).
    make_dir(&args.dir, 0o755)?;
    let text = render(&config)?;
    write_config(&config, &text).with_context(|| format!("writing {}", config.display()))?;
    // The example must load: it is the documentation of the format.
    Cluster::load(Some(&config), Overrides::default())?;
    let ca = ClusterCa::open_or_create(&args.dir, &mut |m| eprintln!("{m}"))?;
    let client = ca.operator_client()?;
    let cfg = shell_word(&config.display().to_string());
    let made = Initialized {
        ca: ClusterCa::ca_path(&args.dir),
        ca_created: ca.created(),
        dir: args.dir.clone(),
        client,
        next: vec![
            format!("edit {cfg}: the upstream image, the nodes' addresses"),
            format!("clem-image build --config {cfg}"),
        ],
        config,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&made)?);
        return Ok(0);
    }
    println!("wrote {}", made.config.display());
    println!("operator certificates: {}", made.client.display());
    println!("Next: {}, then build every node with:", made.next[0]);
    println!("       {}", made.next[1]);
    Ok(0)
}

/// The template, with the build command written for this directory.
fn render(config: &Path) -> anyhow::Result<String> {
    let mut vars = BTreeMap::new();
    vars.insert("config", shell_word(&config.display().to_string()));
    Ok(overlay::CLUSTER_TOML.render(&vars)?)
}

/// cluster.toml, 0600 whatever the umask: it may come to hold the swarm's join token.
fn write_config(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
