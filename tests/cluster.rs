//! The cluster config, TLS material and what lands in images for docker and the swarm,
//! judged by openssl, debugfs, mtools and cloud-init's own schema check.

mod common;

use common::*;
use std::path::Path;

fn openssl(args: &[&str]) -> (bool, String) {
    tool("openssl", args)
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_writes_a_loadable_config_a_ca_and_an_operator_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let o = clem(&["init", "--dir", dir.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg = std::fs::read_to_string(dir.join("cluster.toml")).unwrap();
    assert!(cfg.contains("docker = \"tls\""), "{cfg}");
    assert_eq!(mode_of(&dir.join("tls/ca-key.pem")), 0o600);
    assert_eq!(mode_of(&dir.join("client/key.pem")), 0o600);
    // DOCKER_CERT_PATH layout: ca.pem, cert.pem, key.pem.
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(dir.join("client").join(f).exists(), "client/{f}");
    }
    let ca = dir.join("tls/ca.pem");
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().unwrap(),
        dir.join("client/cert.pem").to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    // A second init refuses to overwrite.
    let o = clem(&["init", "--dir", dir.to_str().unwrap()], tmp.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

const CONFIG: &str = r#"
[cluster]
docker = "tls"
interface = "eth0"

[swarm]
mode = "swarm-mode"
manager = "10.0.5.25:2377"
token = "SWMTKN-1-0123456789abcdef-fedcba9876543210"

[[node]]
name = "rpi1"
address = "10.0.5.25/24"
role = "manager"

[[node]]
name = "rpi2"
address = "10.0.5.26/24"
"#;

#[test]
fn build_with_a_config_places_certificates_token_and_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    std::fs::create_dir(&dir).unwrap();
    let cfg = dir.join("cluster.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = tmp.path().join("out");
    let key = fixture("keys/test_ed25519.pub");
    let o = clem(
        &[
            "build",
            "--image",
            fixture(SAMPLE_RASPIOS).to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--ssh-key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let ca = dir.join("tls/ca.pem");
    for (node, ip) in [("rpi1", "10.0.5.25"), ("rpi2", "10.0.5.26")] {
        // The node's server certificate: signed by the CA, SANs = host name and address.
        let cert = dir.join(format!("nodes/{node}/cert.pem"));
        let (ok, text) = openssl(&[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            ca.to_str().unwrap(),
            cert.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        let (ok, text) = openssl(&[
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-noout",
            "-ext",
            "subjectAltName",
        ]);
        assert!(ok, "{text}");
        assert!(text.contains(&format!("DNS:{node}")), "{text}");
        assert!(text.contains(&format!("IP Address:{ip}")), "{text}");
        // Valid long before the build: a Pi without RTC may boot with an old clock.
        let (_, dates) = openssl(&[
            "x509",
            "-in",
            cert.to_str().unwrap(),
            "-noout",
            "-startdate",
        ]);
        assert!(dates.contains("2000"), "{dates}");

        let img = out.join(format!("{node}.img"));
        let parts = sfdisk_parts(&img);
        let p2 = tmp.path().join(format!("{node}-p2"));
        extract(&img, &parts[1], &p2);
        let (ok, text) = tool("e2fsck", &["-fn", p2.to_str().unwrap()]);
        assert!(ok, "{text}");
        // The image carries exactly the certificate from the cluster directory.
        assert_eq!(
            debugfs(&p2, "cat /etc/clem-image/tls/server-cert.pem"),
            std::fs::read_to_string(&cert).unwrap()
        );
        let env = debugfs(&p2, "cat /etc/clem-image/node.env");
        for line in [
            format!("NODE_NAME='{node}'"),
            "DOCKER_MODE='tls'".to_string(),
            "DOCKER_PORT='2376'".to_string(),
            format!("NODE_ADDRESS='{ip}'"),
            "SWARM_MODE='swarm-mode'".to_string(),
            "SWARM_MANAGER='10.0.5.25:2377'".to_string(),
        ] {
            assert!(
                env.lines().any(|l| l == line),
                "{line} not in node.env:\n{env}"
            );
        }
        // The token is a secret: root-only on ext4, nowhere on FAT.
        let tok = debugfs(&p2, "cat /etc/clem-image/swarm-token");
        assert_eq!(tok.trim(), "SWMTKN-1-0123456789abcdef-fedcba9876543210");
        let st = debugfs_stat(&p2, "/etc/clem-image/swarm-token").unwrap();
        assert_eq!((st.0 & 0o777, st.1, st.2), (0o600, 0, 0));
        let at = format!("{}@@{}", img.display(), parts[0].start);
        for f in ["user-data", "meta-data"] {
            let (_, text) = tool("mtype", &["-i", &at, &format!("::/{f}")]);
            assert!(!text.contains("SWMTKN"), "token leaked to FAT {f}");
            assert!(!text.contains("PRIVATE KEY"), "key leaked to FAT {f}");
        }
    }
}

#[test]
fn insecure_tcp_warns_loudly_and_uses_2375() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = clem(
        &[
            "build",
            "--image",
            fixture(SAMPLE_RASPIOS).to_str().unwrap(),
            "--node",
            "rpi1",
            "--docker",
            "insecure-tcp",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("WARNING") && err.contains("2375") && err.contains("root"),
        "{err}"
    );
    let img = out.join("rpi1.img");
    let p2 = tmp.path().join("p2");
    extract(&img, &sfdisk_parts(&img)[1], &p2);
    let env = debugfs(&p2, "cat /etc/clem-image/node.env");
    assert!(env.contains("DOCKER_PORT='2375'"), "{env}");
    // No TLS material is made or placed in this mode.
    assert!(!debugfs(&p2, "ls /etc/clem-image").contains("tls"));
}

#[test]
fn crafted_config_values_are_refused_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("[[node]]\nname = \"rpi1;reboot\"\n", ":2:"),
        ("[swarm]\nmode = \"swarm-mode\"\nmanager = \"10.0.5.1:2377\"\ntoken = \"$(curl evil)\"\n[[node]]\nname = \"a\"\n", "line 4"),
        ("[swarm]\nmode = \"legacy\"\ndiscovery = \"nodes://1.2.3.4:2375\"\nimage = \"x; rm -rf /\"\n[[node]]\nname = \"a\"\n", "line 4"),
        ("[cluster]\ninterface = \"eth0`id`\"\n[[node]]\nname = \"a\"\n", "line 2"),
        ("[cluster]\ndockr = \"tls\"\n", "line 2"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let cfg = tmp.path().join(format!("c{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out = tmp.path().join(format!("out{i}"));
        let o = clem(
            &[
                "build",
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "case {i} accepted");
        assert!(
            err.contains(want) && err.contains(&format!("c{i}.toml")),
            "case {i}: {err}"
        );
        assert!(files_starting(&out, "").is_empty(), "case {i} left output");
    }
}

#[test]
fn generated_user_data_passes_cloud_inits_schema() {
    if which("cloud-init").is_none() {
        // .ci/run installs cloud-init; a developer machine may lack it.
        assert!(std::env::var_os("CI").is_none(), "cloud-init missing in CI");
        eprintln!("skipped: cloud-init is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let key = fixture("keys/test_ed25519.pub");
    let o = clem(
        &[
            "build",
            "--image",
            fixture(SAMPLE_RASPIOS).to_str().unwrap(),
            "--node",
            "rpi1",
            "--ssh-key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = out.join("rpi1.img");
    let at = format!("{}@@{}", img.display(), sfdisk_parts(&img)[0].start);
    let (ok, user_data) = tool("mtype", &["-i", &at, "::/user-data"]);
    assert!(ok);
    let ud = tmp.path().join("user-data");
    // mtype may convert line ends; write what it printed.
    std::fs::write(&ud, user_data).unwrap();
    let (ok, text) = tool(
        "cloud-init",
        &["schema", "--config-file", ud.to_str().unwrap()],
    );
    assert!(ok && text.contains("Valid"), "cloud-init schema: {text}");
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(cmd))
            .find(|c| c.is_file())
    })
}
