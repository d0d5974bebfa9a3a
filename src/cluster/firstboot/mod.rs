//! What a node runs on first boot, as files on the node's running system: the unit, the
//! scripts and the `lib.sh` they share, its `node.env` ([`NodeEnv`]), the node's TLS
//! material and swarm token. Paths here are the node's own view (`/etc/...`, from
//! [`layout`]); the flavour maps them onto partitions. [`node_files`] puts the steps of
//! `files.rs` together.

mod env;
mod files;
mod layout;

use std::path::PathBuf;

use thiserror::Error;

use super::config::{Cluster, NodeSpec};
use super::tls::{ClusterCa, TlsError};
use crate::docker::InstallKind;
use crate::overlay::TemplateError;
use crate::plan::HostFile;
use crate::probe::Flavour;
pub use env::{EnginePaths, NodeEnv};
pub use layout::{layout, Layout};

#[derive(Debug, Error)]
pub enum FirstBootError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}: a .deb file name must be letters, digits and . _ + ~ - (it lands on the node as it is)")]
    DebName(PathBuf),
}

/// One file (or symlink) as the node will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFile {
    pub path: String,
    pub body: Body,
    pub mode: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Data(Vec<u8>),
    Symlink(String),
    /// A file from the build host (a docker bundle, snap or image tarball), streamed.
    Copy(HostFile),
}

/// What the first boot needs beyond the cluster config: how this image gets docker and the
/// files build puts on it for that, and who logs in.
pub struct Engine<'a> {
    pub install: InstallKind,
    /// `.deb` files of an offline bundle.
    pub debs: &'a [HostFile],
    /// A 15.04 docker snap.
    pub snap: Option<&'a HostFile>,
    /// The legacy swarm's image, a `docker save` tarball (build gives one only for the
    /// legacy swarm).
    pub swarm_image: Option<&'a HostFile>,
    /// The user who gets the `docker` group.
    pub login_user: &'a str,
    /// The docker version the node will run, when build knows it (for `explain`).
    pub version: Option<&'a str>,
}

pub const UNIT_NAME: &str = "clem-firstboot.service";

/// The first-boot files for `node`.
pub fn node_files(
    cluster: &Cluster,
    ca: Option<&ClusterCa>,
    node: &NodeSpec,
    flavour: Flavour,
    engine: &Engine<'_>,
) -> Result<Vec<NodeFile>, FirstBootError> {
    let lay = layout(flavour);
    let (engine_files, paths) = files::engine_files(&lay, engine)?;
    let env = NodeEnv::new(cluster, node, flavour, engine, paths);
    let mut out = files::boot_files(&lay, &env)?;
    out.extend(engine_files);
    out.extend(files::token_file(cluster, &lay));
    out.extend(files::tls_files(cluster, ca, node, &lay)?);
    out.extend(files::watch_files(cluster, node, &lay)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::config::Overrides;
    use crate::overlay;

    fn cluster(dir: &std::path::Path, text: &str) -> Cluster {
        let p = dir.join("cluster.toml");
        std::fs::write(&p, text).unwrap();
        Cluster::load(Some(&p), Overrides::default()).unwrap()
    }

    fn engine<'a>(debs: &'a [HostFile]) -> Engine<'a> {
        Engine {
            install: InstallKind::Bundle,
            debs,
            snap: None,
            swarm_image: None,
            login_user: "pi",
            version: Some("26.1.5"),
        }
    }

    fn body<'a>(files: &'a [NodeFile], path: &str) -> &'a Body {
        &files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path} in {files:#?}"))
            .body
    }

    fn text(files: &[NodeFile], path: &str) -> String {
        match body(files, path) {
            Body::Data(d) => String::from_utf8(d.clone()).unwrap(),
            b => panic!("{path} is {b:?}"),
        }
    }

    const ZERO_TOUCH: &str = "[cluster]\ndocker = \"tls\"\n\
        [[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\n\
        [[node]]\nname = \"rpi2\"\naddress = \"10.0.5.12/24\"\n";

    #[test]
    fn every_flavour_gets_the_scripts_their_library_and_rendered_templates() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path(), ZERO_TOUCH);
        let ca = ClusterCa::open_or_create(dir.path(), &mut |_| {}).unwrap();
        let deb = HostFile {
            path: "/host/docker.io_26.1.5_armhf.deb".into(),
            size: 1,
            sha256: String::new(),
        };
        let debs = [deb];
        for flavour in [
            Flavour::SnappyCore15,
            Flavour::RaspberryPiOs,
            Flavour::UbuntuPi,
        ] {
            let lay = layout(flavour);
            let files = node_files(&c, Some(&ca), &c.nodes[0], flavour, &engine(&debs)).unwrap();
            for (path, t) in [
                (lay.script, overlay::FIRSTBOOT_SCRIPT),
                (lay.lib, overlay::FIRSTBOOT_LIB),
                (lay.watch_script, overlay::SWARM_WATCH_SCRIPT),
                (
                    "/etc/systemd/system/clem-swarm-watch.timer",
                    overlay::SWARM_WATCH_TIMER,
                ),
            ] {
                // Shipped as they are: their `{{...}}` are docker's format strings.
                assert_eq!(text(&files, path), t.text, "{path}");
            }
            let env = text(&files, &format!("{}/node.env", lay.conf_dir));
            let paths = EnginePaths {
                debs_dir: Some(lay.debs_dir),
                ..EnginePaths::default()
            };
            let want = NodeEnv::new(&c, &c.nodes[0], flavour, &engine(&debs), paths);
            assert_eq!(env, want.render().unwrap());
            assert!(env.contains("\nSCAN_SUBNET='10.0.5.0/24'\n"), "{env}");
            for unit in ["clem-firstboot.service", "clem-swarm-watch.service"] {
                let u = text(&files, &format!("/etc/systemd/system/{unit}"));
                assert!(!u.contains("{{"), "{unit}: {u}");
                assert!(u.contains(lay.conf_dir), "{unit}: {u}");
            }
            let deb = format!("{}/docker.io_26.1.5_armhf.deb", lay.debs_dir);
            assert!(matches!(body(&files, &deb), Body::Copy(_)));
            text(
                &files,
                &format!("{}/tls/manager-client-key.pem", lay.conf_dir),
            );
            assert_eq!(
                text(&files, &format!("{}/cluster-nodes", lay.conf_dir)),
                "# Written by clem-image: name address role\n\
                 rpi1 10.0.5.11 manager\nrpi2 10.0.5.12 worker\n"
            );
        }
    }

    #[test]
    fn a_worker_gets_no_watch_and_no_client_credential() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path(), ZERO_TOUCH);
        let ca = ClusterCa::open_or_create(dir.path(), &mut |_| {}).unwrap();
        let files =
            node_files(&c, Some(&ca), &c.nodes[1], Flavour::UbuntuPi, &engine(&[])).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&"/etc/clem-image/tls/server-key.pem"),
            "{paths:?}"
        );
        for p in &paths {
            assert!(
                !p.contains("swarm-watch") && !p.contains("manager-client"),
                "{p}"
            );
        }
        let env = text(&files, "/etc/clem-image/node.env");
        assert!(env.contains("\nROLE='worker'\n") && env.contains("\nSCAN_SUBNET=''\n"));
        assert!(env.contains("\nDOCKER_DEBS=''\n"), "{env}");
    }

    #[test]
    fn a_join_swarm_gets_its_token_and_no_tls_without_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(
            dir.path(),
            "[cluster]\ndocker = \"insecure-tcp\"\n[swarm]\nmode = \"swarm-mode\"\n\
             manager = \"10.0.5.25:2377\"\ntoken = \"SWMTKN-1-0123456789abcdef-fedcba9876543210\"\n\
             [[node]]\nname = \"rpi3\"\n",
        );
        let files =
            node_files(&c, None, &c.nodes[0], Flavour::RaspberryPiOs, &engine(&[])).unwrap();
        let tok = files
            .iter()
            .find(|f| f.path == "/etc/clem-image/swarm-token")
            .unwrap();
        assert_eq!(tok.mode, 0o600);
        assert!(files.iter().all(|f| !f.path.contains("/tls/")));
        let env = text(&files, "/etc/clem-image/node.env");
        assert!(env.contains("\nSWARM_MANAGER='10.0.5.25:2377'\n"), "{env}");
        assert!(env.contains("\nDOCKER_PORT='2375'\n"), "{env}");
    }

    #[test]
    fn a_bundle_file_with_an_odd_name_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let c = cluster(dir.path(), ZERO_TOUCH);
        let debs = [HostFile {
            path: "/host/-rf.deb".into(),
            size: 1,
            sha256: String::new(),
        }];
        let e = node_files(
            &c,
            None,
            &c.nodes[0],
            Flavour::RaspberryPiOs,
            &engine(&debs),
        )
        .unwrap_err();
        assert!(crate::error::chain(&e).contains("/host/-rf.deb"), "{e}");
    }
}
