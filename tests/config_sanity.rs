//! Config values that parse but cannot work together are refused with the file and the line.
//! Judge: the exit code and the message (`<file>:<line>: …`); for network-config, Python's
//! YAML parser (the one cloud-init uses) reading the emitted interface key back as a string.

mod common;

use common::*;
use std::path::Path;

/// `status --config` on `toml` (it loads the config first); returns (exit code, stderr, path).
fn load(toml: &str) -> (Option<i32>, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cluster.toml");
    std::fs::write(&cfg, toml).unwrap();
    let o = clem(&["status", "--config", cfg.to_str().unwrap()], tmp.path());
    (o.status.code(), stderr(&o), cfg.display().to_string())
}

/// Judges a refusal: exit 1, and the message names the file, the line and `words`.
fn refused(toml: &str, line: usize, words: &str) {
    let (code, err, path) = load(toml);
    assert_eq!(code, Some(1), "{err}");
    // Our checks and a value refused while parsing both say `file:line:`.
    let at_line = err.contains(&format!("{path}:{line}: "));
    assert!(at_line, "wanted line {line}: {err}");
    assert!(err.contains(words), "wanted {words:?}: {err}");
}

/// Two nodes (lines 2-4 and 6-8) with the given addresses, after a `[cluster]` of `head`.
fn two(head: &str, a: &str, b: &str) -> String {
    format!(
        "{head}[[node]]\nname = \"rpi1\"\naddress = \"{a}\"\n\n[[node]]\nname = \"rpi2\"\naddress = \"{b}\"\n"
    )
}

#[test]
fn two_nodes_with_one_address() {
    refused(
        &two("\n", "10.0.5.11/24", "10.0.5.11/24"),
        8,
        "address 10.0.5.11 is also rpi1's",
    );
}

#[test]
fn the_subnets_network_address() {
    refused(
        &two("\n", "10.0.5.0/24", "10.0.5.12/24"),
        4,
        "is the network address of 10.0.5.0/24",
    );
}

#[test]
fn the_subnets_broadcast_address() {
    refused(
        &two("\n", "10.0.5.11/24", "10.0.5.255/24"),
        8,
        "is the broadcast address of 10.0.5.0/24",
    );
}

#[test]
fn a_loopback_address() {
    refused(
        &two("\n", "127.0.0.2/8", "10.0.5.12/24"),
        4,
        "is a loopback address",
    );
}

#[test]
fn a_multicast_address() {
    refused(
        &two("\n", "224.0.0.5/24", "10.0.5.12/24"),
        4,
        "is a multicast address",
    );
}

#[test]
fn the_unspecified_address() {
    refused(
        &two("\n", "0.0.0.0/0", "10.0.5.12/24"),
        4,
        "is the unspecified address",
    );
}

#[test]
fn nodes_in_different_subnets() {
    refused(
        &two("\n", "10.0.5.11/24", "10.0.6.12/24"),
        8,
        "must share one subnet",
    );
}

#[test]
fn a_gateway_outside_the_subnet() {
    let head = "[cluster]\ngateway = \"10.0.6.1\"\n";
    let toml = two(head, "10.0.5.11/24", "10.0.5.12/24");
    refused(
        &toml,
        2,
        "gateway 10.0.6.1 is outside rpi1's subnet 10.0.5.0/24",
    );
}

#[test]
fn a_gateway_that_is_a_node() {
    let head = "[cluster]\ngateway = \"10.0.5.12\"\n";
    refused(
        &two(head, "10.0.5.11/24", "10.0.5.12/24"),
        2,
        "gateway 10.0.5.12 is rpi2's own address",
    );
}

#[test]
fn two_managers_in_zero_touch_would_make_two_swarms() {
    let toml = "[[node]]\nname = \"rpi1\"\nrole = \"manager\"\n\n[[node]]\nname = \"rpi2\"\nrole = \"manager\"\n";
    refused(toml, 7, "makes two swarms");
    // Joining an existing swarm, two managers are two managers of it: not this error.
    let join = format!(
        "[swarm]\nmode = \"swarm-mode\"\nmanager = \"10.0.5.1:2377\"\ntoken = \"SWMTKN-1-a-b\"\n{toml}"
    );
    let (_, err, _) = load(&join);
    assert!(!err.contains("two swarms"), "{err}");
}

fn interface(name: &str) {
    let toml = format!("[cluster]\ninterface = \"{name}\"\n[[node]]\nname = \"rpi1\"\n");
    refused(&toml, 2, "interface name");
}

#[test]
fn interface_dot() {
    interface(".");
}

#[test]
fn interface_dot_dot() {
    interface("..");
}

#[test]
fn interface_leading_dash() {
    interface("-eth0");
}

#[test]
fn interface_names_the_kernel_refuses() {
    for name in ["eth0:1", "eth/0", "eth 0", "a234567890123456", ""] {
        interface(name);
    }
}

#[test]
fn a_host_name_longer_than_linux_allows() {
    let long = format!("{}.b", "a".repeat(63)); // 65 characters, labels within 63
    let toml = format!("\n[[node]]\nname = \"{long}\"\n");
    refused(&toml, 3, "a Linux host name has at most 64");
    // On the command line too.
    let tmp = tempfile::tempdir().unwrap();
    let o = clem(&["status", "--node", &long], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("at most 64"), "{}", stderr(&o));
    // 64 is allowed.
    let ok = format!("{}.b", "a".repeat(62));
    let (_, err, _) = load(&format!("\n[[node]]\nname = \"{ok}\"\n"));
    assert!(!err.contains("at most 64"), "{err}");
}

/// Builds rpi1 with `interface` and returns the network-config from its boot partition.
fn network_config(interface: &str, tmp: &Path) -> String {
    let cfg = tmp.join("cluster.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cluster]\ninterface = \"{interface}\"\ngateway = \"10.0.5.1\"\n\
             [[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\n"
        ),
    )
    .unwrap();
    let out = tmp.join("out");
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
        tmp,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = out.join("rpi1.img");
    let at = format!("{}@@{}", img.display(), sfdisk_parts(&img)[0].start);
    let (ok, net) = tool("mtype", &["-i", &at, "::/network-config"]);
    assert!(ok, "{net}");
    net
}

/// Interface names YAML would read as a boolean, a number or null stay strings: judged by
/// PyYAML, which cloud-init parses network-config with.
#[test]
fn network_config_interface_keys_are_quoted() {
    for name in ["on", "0777", "null"] {
        let tmp = tempfile::tempdir().unwrap();
        let net = network_config(name, tmp.path());
        let py = "import sys, yaml; d = yaml.safe_load(sys.stdin); \
                  print(repr([(type(k).__name__, k) for k in d['ethernets']]))";
        let mut child = std::process::Command::new("python3")
            .args(["-c", py])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with PyYAML (cloud-init's parser)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(net.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{net}");
        let keys = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(keys, format!("[('str', '{name}')]"), "{net}");
    }
}
