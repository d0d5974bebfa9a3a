//! The boot test's inputs: the Debian base image (cached by make-base.sh), the cluster
//! configs, and the node images clem-image builds from them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::common::{self, BIN};
use super::vm::{bootfs, elapsed, run, scripts, text};
use super::{CLUSTER_EXTRA, EXTRA_NODE, NODES, NODE_EXTRA, OFFLINE, ROGUE};

/// The base image and the package repository its only apt source points at.
pub(crate) struct Base {
    pub image: PathBuf,
    /// docker.io, docker-cli and their dependencies; the .debs double as the offline
    /// node's bundle.
    pub repo: PathBuf,
}

/// What the builds made: three clusters (ours, the rogue's, the offline node's).
pub(crate) struct Built {
    /// The test's SSH key (private half), authorized on our cluster and the rogue.
    pub key: PathBuf,
    pub config: PathBuf,
    pub cluster: PathBuf,
    pub out: PathBuf,
    /// The rogue's cluster directory (another CA).
    pub other: PathBuf,
    pub out_rogue: PathBuf,
    pub offline_dir: PathBuf,
    pub out_offline: PathBuf,
    /// The key the offline cluster made for itself (no key was given).
    pub offline_key: PathBuf,
}

/// 1. The base image (cached across runs, keyed by make-base.sh's hash).
pub(crate) fn base_image(work: &Path) -> Base {
    let t = Instant::now();
    let cache = std::env::var_os("CLEM_BOOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clem-image-boot")
        });
    // /proc/self belongs to the effective user: root needs no sudo.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut make = if root {
        Command::new(scripts().join("make-base.sh"))
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "env"])
            .arg(format!("CLEM_BOOT_CACHE={}", cache.display()))
            .arg(scripts().join("make-base.sh"));
        c
    };
    let o = run(make.arg(work).env("CLEM_BOOT_CACHE", &cache));
    assert!(o.status.success(), "make-base.sh failed:\n{}", text(&o));
    let repo = work.join("repo");
    assert!(
        repo.join("Packages").exists(),
        "make-base.sh made no repo/Packages"
    );
    println!("base image: {} ({})", elapsed(t), text(&o).trim());
    Base {
        image: work.join("base.img"),
        repo,
    }
}

/// Our cluster's config: TLS, zero-touch swarm mode (no token; the manager inits the swarm
/// and joins the worker over mutual TLS), the user's own cloud-config (one file for every
/// node, and inline text for rpi2 that writes a file and runs a command).
fn cluster_toml(work: &Path, public: &Path) -> PathBuf {
    let mut toml = format!(
        "[cluster]\ncloud_config = \"extra-cloud-config.yaml\"\nssh_keys = [\"{}\"]\n\
         docker = \"tls\"\ninterface = \"eth0\"\n\n[swarm]\nmode = \"swarm-mode\"\n\n",
        public.display()
    );
    std::fs::write(work.join("extra-cloud-config.yaml"), CLUSTER_EXTRA).unwrap();
    for n in NODES.iter().chain([&ROGUE]) {
        toml.push_str(&format!(
            "[[node]]\nname = \"{}\"\naddress = \"{}\"\nrole = \"{}\"\n",
            n.name, n.cidr, n.role
        ));
        if n.name == EXTRA_NODE {
            toml.push_str(&format!("cloud_config_inline = '''\n{NODE_EXTRA}'''\n"));
        }
        toml.push('\n');
    }
    let config = work.join("cluster.toml");
    std::fs::write(&config, &toml).unwrap();
    config
}

/// `clem-image build` of `config` into `out` with HOME at `home`; must succeed.
fn build(
    base: &Path,
    config: &Path,
    cluster: &Path,
    out: &Path,
    home: &Path,
    extra: &[&str],
) -> String {
    let o = run(Command::new(BIN)
        .arg("build")
        .arg("--image")
        .arg(base)
        .arg("--config")
        .arg(config)
        .arg("--cluster-dir")
        .arg(cluster)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("HOME", home));
    assert!(o.status.success(), "clem-image build failed:\n{}", text(&o));
    text(&o)
}

/// 2. Cluster configs and images: rpi1 and rpi2, the rogue rpi3 (same config, another
///    cluster directory, so another CA), and the offline rpi4.
pub(crate) fn build_all(work: &Path, base: &Base) -> Built {
    let (key, public) = common::keygen(work, "id_ed25519");
    let config = cluster_toml(work, &public);
    let (out, cluster) = (work.join("out"), work.join("cluster"));
    let t = Instant::now();
    let said = build(
        &base.image,
        &config,
        &cluster,
        &out,
        work,
        &["--node", "rpi1,rpi2"],
    );
    // The base has no docker: the build says the first boot installs it over apt.
    assert!(
        said.contains("the first boot installs docker.io (and docker-cli) from the image's apt sources (http://10.0.2.100/)"),
        "build did not say how docker gets there:\n{said}"
    );
    let (other, out_rogue) = (work.join("cluster-other"), work.join("out-rogue"));
    build(
        &base.image,
        &config,
        &other,
        &out_rogue,
        work,
        &["--node", ROGUE.name],
    );
    let (offline_dir, out_offline, offline_key) = build_offline(work, base);
    println!("clem-image build (4 nodes, 3 clusters): {}", elapsed(t));
    for n in &NODES {
        let img = out.join(format!("{}.img", n.name));
        let (has, net) = common::tool("mtype", &["-i", &bootfs(&img), "::/network-config"]);
        assert!(
            has && net.contains(n.cidr),
            "{}.img: no network-config with {} on bootfs: {net}",
            n.name,
            n.cidr
        );
    }
    Built {
        key,
        config,
        cluster,
        out,
        other,
        out_rogue,
        offline_dir,
        out_offline,
        offline_key,
    }
}

/// The offline node: its own cluster (CA), docker from the bundle, no swarm; and built as
/// on a fresh machine: no key given and an empty HOME, so the cluster makes its own SSH
/// key, which must log in. Returns its cluster directory, output and key.
fn build_offline(work: &Path, base: &Base) -> (PathBuf, PathBuf, PathBuf) {
    let offline_cfg = work.join("cluster-offline.toml");
    std::fs::write(
        &offline_cfg,
        format!(
            "[cluster]\ndocker = \"tls\"\ninterface = \"eth0\"\ndocker_debs = \"{}\"\n\
             [swarm]\nmode = \"none\"\n[[node]]\nname = \"{}\"\naddress = \"{}\"\nrole = \"{}\"\n",
            base.repo.display(),
            OFFLINE.name,
            OFFLINE.cidr,
            OFFLINE.role
        ),
    )
    .unwrap();
    let offline_dir = work.join("cluster-offline");
    let fresh_home = work.join("home-fresh");
    std::fs::create_dir_all(&fresh_home).unwrap();
    let out_offline = work.join("out-offline");
    let o = run(Command::new(BIN)
        .arg("build")
        .arg("--image")
        .arg(&base.image)
        .arg("--config")
        .arg(&offline_cfg)
        .arg("--cluster-dir")
        .arg(&offline_dir)
        .arg("--out")
        .arg(&out_offline)
        .arg("--json")
        .env("HOME", &fresh_home));
    assert!(
        o.status.success(),
        "clem-image build (offline) failed:\n{}",
        text(&o)
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("build --json");
    assert_eq!(summary["login"]["source"], "cluster", "{summary}");
    let offline_key = PathBuf::from(summary["login"]["identity"].as_str().unwrap());
    assert_eq!(offline_key, offline_dir.join("ssh/id_ed25519"));
    assert!(
        text(&o).contains("installed at first boot without network"),
        "{}",
        text(&o)
    );
    (offline_dir, out_offline, offline_key)
}
