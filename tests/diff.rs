//! `clem-image diff`: the golden image-level check (two nodes differ in exactly the files
//! their manifests say are per-node), identity, table changes, and damaged input (exit 2).

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Builds `nodes` from the MBR sample into `dir/out` with the fixture key.
fn build(dir: &Path, nodes: &str) -> PathBuf {
    build_nodes(dir, nodes, &[])
}

fn diff(a: &Path, b: &Path, json: bool, home: &Path) -> (Option<i32>, String, String) {
    let mut args = vec!["diff", a.to_str().unwrap(), b.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let o = clem(&args, home);
    (o.status.code(), stdout(&o), stderr(&o))
}

/// (partition, path) → sha256 of every file a manifest says the build injected.
fn injected(manifest: &Path) -> Vec<(u64, String, String)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    v["injected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["partition"].as_u64().unwrap(),
                i["path"].as_str().unwrap().to_string(),
                i["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The manifests' injected files: (partition, path, sha256).
type Injected = Vec<(u64, String, String)>;

/// Files as (partition, path).
type Files = BTreeSet<(u64, String)>;

#[test]
fn two_nodes_differ_in_exactly_their_per_node_files() {
    let tmp = tempfile::tempdir().unwrap();
    // Two workers: the same set of files, each with its own contents (rpi1, the manager,
    // also carries the swarm watch and its client certificate).
    let out = build(tmp.path(), "rpi1..rpi3");
    let (a, b) = (out.join("rpi2.img"), out.join("rpi3.img"));
    let (ia, ib) = (
        injected(&out.join("rpi2.manifest.json")),
        injected(&out.join("rpi3.manifest.json")),
    );
    let expected = expected_differences(&ia, &ib);

    let (code, json, err) = diff(&a, &b, true, tmp.path());
    assert_eq!(code, Some(1), "{err}");
    let (listed, secret) = listed_in_json(&json, &ia, &ib);
    assert_eq!(
        listed, expected,
        "diff lists other files than the manifests"
    );

    // The nodes' TLS keys and node.env (0600 root) are secrets; the rest is public.
    assert!(
        secret.iter().any(|(_, p)| p.ends_with("server-key.pem")),
        "{json}"
    );
    assert!(secret.len() < expected.len(), "{json}");
    check_text_diff(&a, &b, tmp.path(), &expected, &secret);
}

/// Expected: every injected file whose content differs between the two manifests (or
/// that only one node has), with the manifests' digests on each side.
fn expected_differences(ia: &Injected, ib: &Injected) -> Files {
    let mut expected = BTreeSet::new();
    for (p, path, sha) in ia.iter().chain(ib) {
        let sha_a = ia.iter().find(|x| x.0 == *p && x.1 == *path).map(|x| &x.2);
        let sha_b = ib.iter().find(|x| x.0 == *p && x.1 == *path).map(|x| &x.2);
        if sha_a != sha_b {
            expected.insert((*p, path.clone()));
        }
        assert!(!sha.is_empty());
    }
    assert!(
        !expected.is_empty(),
        "the nodes' manifests should differ somewhere: {ia:?}"
    );
    expected
}

/// The files `diff --json` lists (added, removed, changed) and those among them it calls
/// secrets; each change's digests are the ones the build recorded, no table changed.
fn listed_in_json(json: &str, ia: &Injected, ib: &Injected) -> (Files, Files) {
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["identical"], false);
    assert_eq!(v["image"], serde_json::json!([]), "{json}");
    let mut listed = BTreeSet::new();
    // Files diff calls secrets: never shown as a diff (tests/secrets.rs checks which).
    let mut secret = BTreeSet::new();
    for p in v["partitions"].as_array().unwrap() {
        let n = p["number"].as_u64().unwrap();
        assert_eq!(p["status"], "changed", "{json}");
        assert_eq!(p["changes"], serde_json::json!([]), "table changed: {json}");
        for kind in ["added", "removed"] {
            for e in p[kind].as_array().unwrap() {
                listed.insert((n, e["path"].as_str().unwrap().to_string()));
            }
        }
        for c in p["changed"].as_array().unwrap() {
            let path = c["path"].as_str().unwrap().to_string();
            check_recorded_digests(c, n, &path, ia, ib, json);
            if c["secret"] == true {
                assert!(c.get("diff").is_none(), "{path}: a secret's diff: {json}");
                secret.insert((n, path.clone()));
            }
            listed.insert((n, path));
        }
    }
    (listed, secret)
}

/// The digests diff reports for a changed file are the ones the build recorded.
fn check_recorded_digests(c: &Value, n: u64, path: &str, ia: &Injected, ib: &Injected, json: &str) {
    let sha = c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|ch| ch["field"] == "sha256")
        .unwrap_or_else(|| panic!("{path}: no sha256 change: {json}"));
    let rec = |m: &[(u64, String, String)]| {
        m.iter()
            .find(|x| x.0 == n && x.1 == path)
            .map(|x| x.2.clone())
    };
    if let (Some(sa), Some(sb)) = (rec(ia), rec(ib)) {
        assert_eq!(sha["a"], sa.as_str());
        assert_eq!(sha["b"], sb.as_str());
    }
}

/// Text: one line per changed file and a unified diff of each public one (they are
/// small text); a secret says so instead.
fn check_text_diff(a: &Path, b: &Path, dir: &Path, expected: &Files, secret: &Files) {
    let (code, text, err) = diff(a, b, false, dir);
    assert_eq!(code, Some(1), "{err}");
    for (p, path) in expected {
        assert!(
            text.contains(&format!("  ~ {path}: ")),
            "no line for {path}:\n{text}"
        );
        if secret.contains(&(*p, path.clone())) {
            assert!(
                text.contains(&format!("  ~ {path}: differs (secret, not shown); ")),
                "{text}"
            );
            assert!(!text.contains(&format!("--- a/p{p}{path}\n")), "{text}");
            continue;
        }
        assert!(
            text.contains(&format!("--- a/p{p}{path}\n+++ b/p{p}{path}\n@@ ")),
            "no unified diff for {path}:\n{text}"
        );
    }
    assert!(text.contains("\n-") && text.contains("\n+"), "{text}");
}

#[test]
fn an_image_and_itself_are_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let out = build(tmp.path(), "rpi1");
    let img = out.join("rpi1.img");
    let (code, text, err) = diff(&img, &img, false, tmp.path());
    assert_eq!((code, text.as_str()), (Some(0), ""), "{err}");
    let (code, json, _) = diff(&img, &img, true, tmp.path());
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["identical"], true);
    assert_eq!(v["partitions"], serde_json::json!([]));

    // The .xz and its decompression (by xz itself) are the same image, byte for byte.
    let raw = tmp.path().join("sample.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    let (code, text, err) = diff(&fixture(SAMPLE_MBR), &raw, false, tmp.path());
    assert_eq!((code, text.as_str()), (Some(0), ""), "{err}");
}

#[test]
fn mbr_and_gpt_samples_differ_in_the_table_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, json, err) = diff(&fixture(SAMPLE_MBR), &fixture(SAMPLE_GPT), true, tmp.path());
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let fields: Vec<&str> = v["image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["label", "id"], "{json}");
    assert_eq!(v["image"][0]["a"], "mbr");
    assert_eq!(v["image"][0]["b"], "gpt");
    for p in v["partitions"].as_array().unwrap() {
        assert_eq!(p["status"], "changed");
        assert!(p["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "type"));
        for kind in ["added", "removed", "changed"] {
            assert_eq!(p[kind], serde_json::json!([]), "files differ: {json}");
        }
    }
    let (code, text, _) = diff(
        &fixture(SAMPLE_MBR),
        &fixture(SAMPLE_GPT),
        false,
        tmp.path(),
    );
    assert_eq!(code, Some(1));
    assert!(text.starts_with("image: label mbr -> gpt, id "), "{text}");
}

#[test]
fn damaged_or_missing_images_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good = fixture(SAMPLE_MBR);

    let trunc = dir.join("truncated.img.xz");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();

    // Partition 2's superblock keeps its magic but claims an absurd block size.
    let broken = dir.join("broken.img");
    unxz(&good, &broken);
    let p2 = sfdisk_parts(&broken)[1].clone();
    let mut raw = std::fs::read(&broken).unwrap();
    let sb = p2.start as usize + 1024;
    raw[sb + 24..sb + 28].copy_from_slice(&40u32.to_le_bytes());
    std::fs::write(&broken, raw).unwrap();

    let missing = dir.join("missing.img");
    let cases: [(&Path, &[&str]); 3] = [
        (&trunc, &["truncated.img.xz", "truncated"]),
        (&broken, &["broken.img", "partition 2", "ext4"]),
        (&missing, &["missing.img", "cannot open"]),
    ];
    for (bad, needles) in cases {
        for (a, b) in [(good.as_path(), bad), (bad, good.as_path())] {
            let (code, out, err) = diff(a, b, false, dir);
            assert_eq!(code, Some(2), "{} vs {}: {err}", a.display(), b.display());
            assert!(out.is_empty(), "{out}");
            for n in needles {
                assert!(err.contains(n), "stderr lacks {n:?}: {err}");
            }
        }
    }
}

// What ext4_changes_are_listed_with_a_text_diff changes on `writable`.
const HOST: &str = "/system-data/etc/writable/hostname";
const PASSWD: &str = "/system-data/var/lib/extrausers/passwd";
const LINK: &str = "/system-data/apps/docker/current";
const GONE: &str = "/system-data/etc/writable/timezone";
const NEW: &str = "/system-data/new.txt";

/// Changes made with debugfs (an independent ext4 writer) on `writable`: a text file
/// rewritten, mode and owner changed, a symlink retargeted, a file added and one removed.
#[test]
fn ext4_changes_are_listed_with_a_text_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let before = dir.join("before.img");
    unxz(&fixture(SAMPLE_MBR), &before);
    let p4 = sfdisk_parts(&before)[3].clone();
    let part = dir.join("writable.ext4");
    extract(&before, &p4, &part);
    let old_host = change_with_debugfs(dir, &part);
    let after = dir.join("after.img");
    std::fs::copy(&before, &after).unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&after)
            .unwrap();
        f.seek(SeekFrom::Start(p4.start)).unwrap();
        f.write_all(&std::fs::read(&part).unwrap()).unwrap();
    }

    let (code, json, err) = diff(&before, &after, true, dir);
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    let parts = v["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{json}");
    check_listed_changes(&parts[0], &json, &old_host);
}

/// Makes the test's changes in the ext4 file `part` with debugfs; returns the hostname
/// file's text before.
fn change_with_debugfs(dir: &Path, part: &Path) -> String {
    let local_host = dir.join("hostname");
    std::fs::write(&local_host, "rpi9\n").unwrap();
    let local_new = dir.join("new.txt");
    std::fs::write(&local_new, "hello\n").unwrap();
    let old_host = tool(
        "debugfs",
        &["-R", &format!("cat {HOST}"), part.to_str().unwrap()],
    )
    .1;
    let script = format!(
        "rm {HOST}\nwrite {} {HOST}\nsif {HOST} mode 0100644\nsif {HOST} uid 0\nsif {HOST} gid 0\n\
         sif {PASSWD} mode 0100600\nsif {PASSWD} uid 1000\n\
         rm {LINK}\nsymlink {LINK} 9.9\n\
         rm {GONE}\nwrite {} {NEW}\n",
        local_host.display(),
        local_new.display()
    );
    let cmds = dir.join("cmds");
    std::fs::write(&cmds, script).unwrap();
    let (ok, log) = tool(
        "debugfs",
        &["-w", "-f", cmds.to_str().unwrap(), part.to_str().unwrap()],
    );
    assert!(ok, "debugfs: {log}");
    old_host
}

/// Partition 4 of the JSON report lists exactly the changes, field by field, with a
/// unified diff of the hostname.
fn check_listed_changes(p: &Value, json: &str, old_host: &str) {
    assert_eq!(p["number"], 4);
    let paths = |k: &str| -> Vec<String> {
        p[k].as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths("added"), [NEW]);
    assert_eq!(paths("removed"), [GONE]);
    assert_eq!(paths("changed"), [LINK, HOST, PASSWD]);
    let fields = |i: usize| -> Vec<(String, Value, Value)> {
        p["changed"][i]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["field"].as_str().unwrap().to_string(),
                    c["a"].clone(),
                    c["b"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        fields(0),
        [
            ("size".into(), 9.into(), 3.into()),
            ("target".into(), "1.6.1.002".into(), "9.9".into())
        ]
    );
    let f1: Vec<String> = fields(1).into_iter().map(|f| f.0).collect();
    assert_eq!(f1, ["size", "sha256"], "{json}");
    let want_diff = format!(
        "--- a/p4{HOST}\n+++ b/p4{HOST}\n@@ -1 +1 @@\n-{}+rpi9\n",
        old_host.lines().next().unwrap().to_string() + "\n"
    );
    assert_eq!(p["changed"][1]["diff"], want_diff.as_str(), "{json}");
    assert_eq!(
        fields(2),
        [
            ("mode".into(), "0644".into(), "0600".into()),
            ("owner".into(), "0:0".into(), "1000:0".into())
        ]
    );
}
