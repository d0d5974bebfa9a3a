//! The cluster config, TLS material and what lands in images for docker and the swarm,
//! judged by openssl, debugfs, mtools and cloud-init's own schema check.

mod common;

use clem_image::cluster::firstboot::NodeEnv;
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

    for (node, ip) in [("rpi1", "10.0.5.25"), ("rpi2", "10.0.5.26")] {
        let cert = dir.join(format!("nodes/{node}/cert.pem"));
        check_server_certificate(&dir.join("tls/ca.pem"), &cert, node, ip);
        check_node_image(
            tmp.path(),
            &out.join(format!("{node}.img")),
            &cert,
            node,
            ip,
        );
    }
}

/// The node's server certificate: signed by the CA, SANs = host name and address.
fn check_server_certificate(ca: &Path, cert: &Path, node: &str, ip: &str) {
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
}

/// The node's image: its root fsck-clean, carrying exactly the cluster directory's
/// certificate, the node.env contract and the token, which stays off the FAT.
fn check_node_image(dir: &Path, img: &Path, cert: &Path, node: &str, ip: &str) {
    let parts = sfdisk_parts(img);
    let p2 = dir.join(format!("{node}-p2"));
    extract(img, &parts[1], &p2);
    let (ok, text) = tool("e2fsck", &["-fn", p2.to_str().unwrap()]);
    assert!(ok, "{text}");
    // The image carries exactly the certificate from the cluster directory.
    assert_eq!(
        debugfs(&p2, "cat /etc/clem-image/tls/server-cert.pem"),
        std::fs::read_to_string(cert).unwrap()
    );
    check_node_env(&debugfs(&p2, "cat /etc/clem-image/node.env"), node, ip);
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

/// Every variable of the contract, once, in its order, with this node's values.
fn check_node_env(env: &str, node: &str, ip: &str) {
    let keys: Vec<&str> = env
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert_eq!(keys, NodeEnv::KEYS, "{env}");
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
        ("[swarm]\nmode = \"swarm-mode\"\nmanager = \"10.0.5.1:2377\"\ntoken = \"$(curl evil)\"\n[[node]]\nname = \"a\"\n", ":4:"),
        ("[swarm]\nmode = \"legacy\"\ndiscovery = \"nodes://1.2.3.4:2375\"\nimage = \"x; rm -rf /\"\n[[node]]\nname = \"a\"\n", ":4:"),
        ("[cluster]\ninterface = \"eth0`id`\"\n[[node]]\nname = \"a\"\n", ":2:"),
        ("[cluster]\ndockr = \"tls\"\n", ":2:"),
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

fn build_with(config: &str, image: &str, tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("cluster");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("cluster.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = tmp.join("out");
    let key = fixture("keys/test_ed25519.pub");
    let o = clem(
        &[
            "build",
            "--image",
            fixture(image).to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--ssh-key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(tmp.join("build.log"), stderr(&o)).unwrap();
    out
}

fn part_of(img: &Path, n: usize, tmp: &Path) -> std::path::PathBuf {
    let p = tmp.join(format!(
        "{}-p{}",
        img.file_name().unwrap().to_string_lossy(),
        n + 1
    ));
    extract(img, &sfdisk_parts(img)[n], &p);
    let (ok, text) = tool("e2fsck", &["-fn", p.to_str().unwrap()]);
    assert!(ok, "{text}");
    p
}

const ZERO_TOUCH: &str = r#"
[cluster]
interface = "eth0"
gateway = "10.0.5.1"
dns = ["10.0.5.1"]

[[node]]
name = "rpi1"
address = "10.0.5.11/24"
role = "manager"

[[node]]
name = "rpi2"
address = "10.0.5.12/24"
"#;

#[test]
fn zero_touch_swarm_is_the_default_and_only_the_manager_holds_the_client_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = build_with(ZERO_TOUCH, SAMPLE_RASPIOS, tmp.path());
    let ca = tmp.path().join("cluster/tls/ca.pem");

    let m = part_of(&out.join("rpi1.img"), 1, tmp.path());
    let env = debugfs(&m, "cat /etc/clem-image/node.env");
    for line in [
        "SWARM_MODE='zero-touch'",
        "ROLE='manager'",
        "NODE_ADDRESS='10.0.5.11'",
    ] {
        assert!(env.lines().any(|l| l == line), "{line}:\n{env}");
    }
    // 10.0.5.0/24 lies inside swarm's default overlay pool 10.0.0.0/8: another pool is used.
    assert!(
        env.lines().any(|l| l == "ADDR_POOL='172.30.0.0/16'"),
        "{env}"
    );
    // The manager scans its own subnet for nodes built later from this cluster directory.
    assert!(
        env.lines().any(|l| l == "SCAN_SUBNET='10.0.5.0/24'"),
        "{env}"
    );
    let nodes = debugfs(&m, "cat /etc/clem-image/cluster-nodes");
    assert!(
        nodes.contains("rpi1 10.0.5.11 manager\n") && nodes.contains("rpi2 10.0.5.12 worker\n"),
        "{nodes}"
    );
    for f in ["manager-client-key.pem", "manager-client-cert.pem"] {
        let st = debugfs_stat(&m, &format!("/etc/clem-image/tls/{f}")).unwrap();
        assert_eq!((st.0 & 0o777, st.1, st.2), (0o600, 0, 0), "{f}");
    }
    // The manager's client certificate is a client certificate of this cluster's CA.
    let cert = tmp.path().join("mc.pem");
    std::fs::write(
        &cert,
        debugfs(&m, "cat /etc/clem-image/tls/manager-client-cert.pem"),
    )
    .unwrap();
    let (ok, text) = openssl(&[
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let wants = debugfs(&m, "ls /etc/systemd/system/timers.target.wants");
    assert!(wants.contains("clem-swarm-watch.timer"), "{wants}");
    let script = debugfs(&m, "cat /usr/local/lib/clem-image/swarm-watch");
    assert!(script.starts_with("#!/bin/bash"), "{script}");

    let w = part_of(&out.join("rpi2.img"), 1, tmp.path());
    let env = debugfs(&w, "cat /etc/clem-image/node.env");
    assert!(env.lines().any(|l| l == "ROLE='worker'"), "{env}");
    let tls = debugfs(&w, "ls /etc/clem-image/tls");
    assert!(
        !tls.contains("manager-client"),
        "worker holds a manager credential: {tls}"
    );
    assert!(tls.contains("server-key.pem"), "{tls}");
    assert!(!debugfs(&w, "ls /etc/clem-image").contains("cluster-nodes"));
    assert!(!debugfs(&w, "ls /etc/systemd/system").contains("clem-swarm-watch"));

    // Static addresses reach cloud-init as network-config v2, for eth0 only.
    let img = out.join("rpi2.img");
    let at = format!("{}@@{}", img.display(), sfdisk_parts(&img)[0].start);
    let (ok, net) = tool("mtype", &["-i", &at, "::/network-config"]);
    assert!(ok, "{net}");
    assert!(
        net.contains("version: 2") && net.contains("  \"eth0\":"),
        "{net}"
    );
    assert!(net.contains("addresses: [\"10.0.5.12/24\"]"), "{net}");
    assert!(net.contains("\"via\": \"10.0.5.1\""), "{net}");
    assert!(!net.contains("eth1"), "{net}");
}

#[test]
fn legacy_swarm_uses_static_discovery_and_warns_about_token() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[swarm]\nmode = \"legacy\"\n{}",
        ZERO_TOUCH.replace("[cluster]\n", "[cluster]\ndocker = \"insecure-tcp\"\n")
    );
    // [swarm] must come before [cluster] keys? TOML tables are order-free: move it.
    let cfg =
        cfg.replacen("[swarm]\nmode = \"legacy\"\n", "", 1) + "\n[swarm]\nmode = \"legacy\"\n";
    let out = build_with(&cfg, SAMPLE_RASPIOS, tmp.path());
    let w = part_of(&out.join("rpi2.img"), 1, tmp.path());
    let env = debugfs(&w, "cat /etc/clem-image/node.env");
    assert!(
        env.lines()
            .any(|l| l == "SWARM_DISCOVERY='nodes://10.0.5.11:2375,10.0.5.12:2375'"),
        "{env}"
    );
    assert!(
        env.lines()
            .any(|l| l == "SWARM_IMAGE='nimblestratus/rpi-swarm'"),
        "{env}"
    );

    let tmp2 = tempfile::tempdir().unwrap();
    let cfg = "[cluster]\ndocker = \"insecure-tcp\"\n[swarm]\nmode = \"legacy\"\ndiscovery = \"token://0123abcd\"\n[[node]]\nname = \"rpi1\"\n";
    build_with(cfg, SAMPLE_RASPIOS, tmp2.path());
    let log = std::fs::read_to_string(tmp2.path().join("build.log")).unwrap();
    assert!(
        log.contains("token://") && log.contains("shut down"),
        "{log}"
    );
}

#[test]
fn snappy_static_address() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = "[cluster]\ngateway = \"10.0.5.1\"\n[[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\n";
    let out = build_with(cfg, SAMPLE_MBR, tmp.path());
    let p4 = part_of(&out.join("rpi1.img"), 3, tmp.path());
    let ifaces = debugfs(&p4, "cat /system-data/etc/network/interfaces.d/eth0");
    assert!(ifaces.contains("iface eth0 inet static"), "{ifaces}");
    assert!(
        ifaces.contains("address 10.0.5.11") && ifaces.contains("netmask 255.255.255.0"),
        "{ifaces}"
    );
    assert!(ifaces.contains("gateway 10.0.5.1"), "{ifaces}");
}
