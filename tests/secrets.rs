//! Secrets are never printed: `diff`, `inspect` and `explain` (text and `--json`) of TLS
//! node images and of a node whose user cloud-config writes a private key. The keys are
//! shown to be on the images with debugfs and mtools first, so "not printed" is not
//! "not there"; the digests diff reports are checked with sha256sum.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// Builds `nodes` from `sample` with the fixture key (default `docker = "tls"`) and the
/// extra `args`.
fn build(dir: &Path, sample: &str, nodes: &str, out: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(out);
    let image = fixture(sample);
    let mut all = vec!["--image", image.to_str().unwrap()];
    all.extend_from_slice(args);
    build_nodes_with(dir, &fixture("keys/test_ed25519.pub"), &out, nodes, &all);
    out
}

/// stdout of `clem-image args` (exit status `code`), with stderr checked for keys too.
fn run(args: &[&str], home: &Path, code: i32) -> String {
    let o = clem(args, home);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    assert_no_key(&stderr(&o), &format!("{args:?} stderr"));
    stdout(&o)
}

fn assert_no_key(text: &str, what: &str) {
    for line in text.lines() {
        assert!(
            !line.contains("PRIVATE KEY"),
            "{what} prints key material: {line}"
        );
    }
}

/// Every output of diff (a, b), inspect and explain (a), text and JSON.
fn outputs(a: &Path, b: &Path, home: &Path) -> Vec<(String, String)> {
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let cmds: [(&[&str], i32); 6] = [
        (&["diff", a, b], 1),
        (&["diff", a, b, "--json"], 1),
        (&["inspect", a], 0),
        (&["inspect", a, "--json"], 0),
        (&["explain", a], 0),
        (&["explain", a, "--json"], 0),
    ];
    cmds.iter()
        .map(|(args, code)| (args.join(" "), run(args, home, *code)))
        .collect()
}

/// The body lines of the PEM block in `text` (what a leak would show besides the armour).
fn key_body(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.contains("BEGIN"))
        .skip(1)
        .take_while(|l| !l.contains("END"))
        .map(|l| l.trim().to_string())
        .filter(|l| l.len() >= 16)
        .collect()
}

/// The `changed` entry for `path` in partition `number` of a diff's JSON.
fn changed<'a>(v: &'a Value, number: u64, path: &str) -> &'a Value {
    v["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["number"] == number)
        .flat_map(|p| p["changed"].as_array().unwrap())
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("{path} not listed as changed: {v:#}"))
}

fn sha_change(c: &Value) -> (String, String) {
    let s = c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ch| ch["field"] == "sha256")
        .unwrap_or_else(|| panic!("no sha256 change: {c:#}"));
    (
        s["a"].as_str().unwrap().into(),
        s["b"].as_str().unwrap().into(),
    )
}

#[test]
fn tls_node_keys_are_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = build(dir, SAMPLE_MBR, "rpi1..rpi2", "out", &[]);
    let (a, b) = (out.join("rpi1.img"), out.join("rpi2.img"));

    // The keys are there, 0600 root, by debugfs on each writable partition.
    let key = "/clem-image/tls/server-key.pem";
    let mut digests = Vec::new();
    let mut bodies = Vec::new();
    for img in [&a, &b] {
        let part = dir.join("writable.ext4");
        extract(img, &sfdisk_parts(img)[3], &part);
        let text = debugfs(&part, &format!("cat {key}"));
        assert!(text.contains("PRIVATE KEY-----"), "no key at {key}: {text}");
        bodies.extend(key_body(&text));
        assert_eq!(
            debugfs_stat(&part, key).map(|s| (s.0 & 0o7777, s.1)),
            Some((0o600, 0))
        );
        let dumped = dir.join("key.pem");
        debugfs(&part, &format!("dump {key} {}", dumped.display()));
        digests.push(sha256_file(&dumped));
        std::fs::remove_file(&dumped).unwrap();
    }
    assert!(!bodies.is_empty());
    assert_ne!(digests[0], digests[1], "two nodes, two keys");

    for (what, text) in outputs(&a, &b, dir) {
        assert_no_key(&text, &what);
        for body in &bodies {
            assert!(!text.contains(body.as_str()), "{what} prints a key line");
        }
    }

    // Still reported as differing: with its digests (sha256sum's), never a diff.
    let text = run(&["diff", a.to_str().unwrap(), b.to_str().unwrap()], dir, 1);
    assert!(
        text.contains(&format!("  ~ {key}: differs (secret, not shown); ")),
        "{text}"
    );
    let json = run(
        &["diff", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
        dir,
        1,
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    for path in [key, "/clem-image/node.env"] {
        let c = changed(&v, 4, path);
        assert_eq!(c["secret"], true, "{c:#}");
        assert!(c.get("diff").is_none(), "{c:#}");
    }
    assert_eq!(
        sha_change(changed(&v, 4, key)),
        (digests[0].clone(), digests[1].clone())
    );
    // A public file beside them keeps its unified diff.
    let cert = changed(&v, 4, "/clem-image/tls/server-cert.pem");
    assert!(cert.get("secret").is_none(), "{cert:#}");
    assert!(cert["diff"].as_str().unwrap().contains("CERTIFICATE"));
}

#[test]
fn a_private_key_in_user_cloud_config_is_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (private, _) = keygen(dir, "user_key");
    let pem = std::fs::read_to_string(&private).unwrap();
    let mut cc = String::from(
        "#cloud-config\nwrite_files:\n  - path: /root/.ssh/id_ed25519\n    permissions: '0600'\n    content: |\n",
    );
    for l in pem.lines() {
        cc += &format!("      {l}\n");
    }
    let cc_file = dir.join("cc.yaml");
    std::fs::write(&cc_file, &cc).unwrap();
    let with = build(
        dir,
        SAMPLE_RASPIOS,
        "rpi1",
        "with",
        &["--cloud-config", cc_file.to_str().unwrap()],
    )
    .join("rpi1.img");
    let without = build(dir, SAMPLE_RASPIOS, "rpi1", "without", &[]).join("rpi1.img");

    // The key is in the seed (mtools reads it; clem-image sends it base64-encoded).
    let fat = format!("{}@@{}", with.display(), sfdisk_parts(&with)[0].start);
    let (ok, seed) = tool("mtype", &["-i", &fat, "::user-data"]);
    assert!(ok, "{seed}");
    assert!(seed.contains("base64"), "{seed}");
    let seed_file = dir.join("user-data");
    let (ok, text) = tool(
        "mcopy",
        &["-n", "-i", &fat, "::user-data", seed_file.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let body = key_body(&pem);
    assert!(!body.is_empty());

    for (what, text) in outputs(&with, &without, dir) {
        assert_no_key(&text, &what);
        for b in &body {
            assert!(!text.contains(b.as_str()), "{what} prints a key line");
        }
    }
    let v: Value =
        serde_json::from_str(&run(&["explain", with.to_str().unwrap(), "--json"], dir, 0)).unwrap();
    assert_eq!(
        v["first_boot"]["writes"],
        serde_json::json!(["/root/.ssh/id_ed25519 (0600, content (secret, not shown))"])
    );
    let json = run(
        &[
            "diff",
            with.to_str().unwrap(),
            without.to_str().unwrap(),
            "--json",
        ],
        dir,
        1,
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    let ud = changed(&v, 1, "/user-data");
    assert_eq!(ud["secret"], true, "{ud:#}");
    assert!(ud.get("diff").is_none(), "{ud:#}");
    assert_eq!(sha_change(ud).0, sha256_file(&seed_file));
}
