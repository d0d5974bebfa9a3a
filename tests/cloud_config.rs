//! Users' extra cloud-config (per cluster, per node): merged into the seed under clem-image's
//! own keys, judged by PyYAML (the loader cloud-init uses) and `cloud-init schema`; invalid
//! additions are refused with their file, line and key path, before any image is written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// True when `cmd` can be run; in CI a missing judge is a failure, not a skip.
fn have(cmd: &str, args: &[&str]) -> bool {
    let ok = Command::new(cmd)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "{cmd} is required in CI (.ci/run installs it)"
    );
    if !ok {
        eprintln!("skipped: {cmd} is not available");
    }
    ok
}

fn have_pyyaml() -> bool {
    have("python3", &["-c", "import yaml"])
}

/// What PyYAML's safe loader (cloud-init's) makes of `text`, as JSON.
fn pyyaml(text: &str) -> Value {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), text).unwrap();
    let (ok, out) = tool(
        "python3",
        &[
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            tmp.path().to_str().unwrap(),
        ],
    );
    assert!(ok, "PyYAML refused:\n{text}\n{out}");
    serde_json::from_str(&out).unwrap()
}

/// cloud-init's own reading of a user-data (the installed cloud-init's mergers, driven as
/// its cloud-config part handler drives them), as JSON: the merged document, and each
/// part's payload bytes.
const CLOUD_INIT_MERGE: &str = r#"
import email, importlib.util, json, sys, yaml
from cloudinit import mergers
raw = open(sys.argv[1], 'rb').read()
msg = email.message_from_bytes(raw)
buf, payloads = {}, []
for part in msg.walk():
    if part.is_multipart():
        continue
    payload = part.get_payload(decode=True)
    payloads.append(payload.decode('utf-8'))
    if part.get_content_type() != 'text/cloud-config':
        continue
    doc = yaml.safe_load(payload)
    found = mergers.dict_extract_mergers(doc)
    found += mergers.string_extract_mergers(part.get('Merge-Type', ''))
    if not found:
        found = mergers.string_extract_mergers('dict(replace)+list()+str()')
    buf = mergers.construct(found).merge(buf, doc)
print(json.dumps({'merged': buf, 'payloads': payloads}, default=str))
"#;

fn have_cloud_init_python() -> bool {
    have(
        "/usr/bin/python3",
        &["-c", "import cloudinit.mergers, yaml"],
    )
}

/// What cloud-init makes of the multipart `user_data`: (merged document, part payloads).
fn cloud_init_merge(user_data: &str) -> (Value, Vec<String>) {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), user_data).unwrap();
    let (ok, out) = tool(
        "/usr/bin/python3",
        &["-c", CLOUD_INIT_MERGE, tmp.path().to_str().unwrap()],
    );
    assert!(ok, "cloud-init's merge failed:\n{user_data}\n{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let payloads = v["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    (v["merged"].clone(), payloads)
}

const CLUSTER_EXTRA: &str = "#cloud-config
packages: [htop]
write_files:
  - path: /etc/clem-extra.txt
    content: |
      hello from the cluster
    permissions: '0644'
runcmd:
  - [sh, -c, 'echo ran > /var/tmp/clem-extra-ran']
hostname: not-the-node-name
users:
  - name: pi
    shell: /bin/zsh
  - name: ops
    groups: [adm]
frobnicate: 1
";

fn write_config(dir: &Path, cluster_extra: &str, node_inline: &str) -> PathBuf {
    std::fs::write(dir.join("extra.yaml"), cluster_extra).unwrap();
    let cfg = dir.join("cluster.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cluster]\nssh_keys = [\"{}\"]\ncloud_config = \"extra.yaml\"\n\n\
             [[node]]\nname = \"rpi1\"\ncloud_config_inline = '''\n{node_inline}'''\n\n\
             [[node]]\nname = \"rpi2\"\n",
            fixture("keys/test_ed25519.pub").display()
        ),
    )
    .unwrap();
    cfg
}

fn build(dir: &Path, sample: &str, cfg: &Path) -> std::process::Output {
    clem(
        &[
            "build",
            "--image",
            fixture(sample).to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
        ],
        dir,
    )
}

fn fat_file(img: &Path, name: &str) -> String {
    let at = format!("{}@@{}", img.display(), sfdisk_parts(img)[0].start);
    let (ok, text) = tool("mtype", &["-i", &at, &format!("::/{name}")]);
    assert!(ok, "mtype {name}: {text}");
    text
}

#[test]
fn extra_cloud_config_is_merged_under_the_tools_keys_and_passes_cloud_inits_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        CLUSTER_EXTRA,
        "#cloud-config\nwrite_files:\n  - path: /etc/node-only\n    content: \"rpi1\\n\"\n",
    );
    let o = build(tmp.path(), SAMPLE_RASPIOS, &cfg);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // The merge is reported, and the unknown key is a warning that points at its line.
    for want in [
        "extra.yaml:16: frobnicate: unknown top-level key",
        "rpi1: cloud-config: hostname: clem-image's value wins",
        "rpi1: cloud-config: write_files: lists joined, 1 item(s) from before then 1 from this node's cloud-config",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }

    for node in ["rpi1", "rpi2"] {
        check_seed(tmp.path(), node);
    }
    check_explain(tmp.path());
}

/// Node `node`'s built seed: its FAT passes fsck.vfat, its user-data is multipart, and,
/// where cloud-init is installed, cloud-init's reading of it and its schema agree.
fn check_seed(dir: &Path, node: &str) {
    let img = dir.join("out").join(format!("{node}.img"));
    let boot = dir.join(format!("{node}-boot.vfat"));
    extract(&img, &sfdisk_parts(&img)[0], &boot);
    let (ok, text) = tool("fsck.vfat", &["-n", boot.to_str().unwrap()]);
    assert!(ok, "fsck.vfat: {text}");

    let user_data = fat_file(&img, "user-data");
    assert!(
        user_data.starts_with("Content-Type: multipart/mixed"),
        "{user_data}"
    );
    if have_cloud_init_python() {
        check_cloud_inits_reading(node, &user_data);
    }
    if have("cloud-init", &["--version"]) && have_cloud_init_python() {
        check_cloud_inits_schema(dir, node, &user_data);
    }
}

/// What cloud-init's mergers make of the seed: the user's files as parts of their own,
/// clem-image's keys winning, lists joined in order.
fn check_cloud_inits_reading(node: &str, user_data: &str) {
    let (v, payloads) = cloud_init_merge(user_data);
    // The user's files reach the node byte for byte, each as a part of its own.
    assert_eq!(payloads[1], CLUSTER_EXTRA, "{payloads:?}");
    assert_eq!(payloads.len(), if node == "rpi1" { 3 } else { 2 });
    assert_eq!(v["hostname"], node, "{v:#}");
    assert_eq!(v["packages"], json!(["htop"]));
    // clem-image's own command first, then the user's.
    assert_eq!(
        v["runcmd"],
        json!([
            ["systemctl", "start", "--no-block", "clem-firstboot.service"],
            ["sh", "-c", "echo ran > /var/tmp/clem-extra-ran"]
        ])
    );
    // The tool's pi is cloud-init's default user (`user:`), whose settings come
    // before any `users` entry of the same name; the user's list stays as given.
    assert_eq!(v["user"]["name"], "pi", "{v:#}");
    assert_eq!(v["user"]["shell"], "/bin/bash", "the tool's pi wins");
    let users: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["pi", "ops"], "{v:#}");
    let paths: Vec<&str> = v["write_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let want: &[&str] = if node == "rpi1" {
        &["/etc/clem-extra.txt", "/etc/node-only"]
    } else {
        &["/etc/clem-extra.txt"]
    };
    assert_eq!(paths, want);
    assert_eq!(v["write_files"][0]["content"], "hello from the cluster\n");
    assert_eq!(v["write_files"][0]["permissions"], "0644");
    // The key the tool's seed always carries stays.
    assert!(v["ssh_authorized_keys"][0]
        .as_str()
        .unwrap()
        .starts_with("ssh-ed25519 "));
}

/// The merged document, as cloud-init will hold it, passes its schema.
fn check_cloud_inits_schema(dir: &Path, node: &str, user_data: &str) {
    let (v, _) = cloud_init_merge(user_data);
    let ud = dir.join(format!("{node}-merged.yaml"));
    std::fs::write(
        &ud,
        format!("#cloud-config\n{}", serde_json::to_string(&v).unwrap()),
    )
    .unwrap();
    let (ok, text) = tool(
        "cloud-init",
        &["schema", "--config-file", ud.to_str().unwrap()],
    );
    assert!(ok && text.contains("Valid"), "cloud-init schema: {text}");
}

/// `explain` reads the merged seed like any other, and says what the extra keys will do.
fn check_explain(dir: &Path) {
    let o = clem(
        &[
            "explain",
            dir.join("out/rpi1.img").to_str().unwrap(),
            "--json",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["first_boot"]["hostname"], "rpi1", "{v:#}");
    // ... and says what the extra keys will do.
    let fb = &v["first_boot"];
    assert_eq!(
        fb["writes"],
        json!(["/etc/clem-extra.txt (0644)", "/etc/node-only"])
    );
    assert_eq!(fb["packages"], json!(["htop"]));
    assert_eq!(
        fb["runs"],
        json!([
            "systemctl start --no-block clem-firstboot.service",
            "sh -c echo ran > /var/tmp/clem-extra-ran"
        ])
    );
    assert!(
        v["findings"].as_array().unwrap().is_empty(),
        "{:#}",
        v["findings"]
    );
}

#[test]
fn invalid_extra_cloud_config_is_refused_with_file_line_and_key_path() {
    let good_node = "#cloud-config\nruncmd: [\"true\"]\n";
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "#cloud-config\nruncmd: echo hi\n",
            good_node,
            &["extra.yaml:2: runcmd:", "not of type \"array\""],
        ),
        (
            "#cloud-config\nwrite_files:\n  - path: /x\n    contnet: y\n",
            good_node,
            &["extra.yaml:4: write_files[0].contnet: unknown key"],
        ),
        (
            "#cloud-config\nruncmd: [echo\nhostname: x\n",
            good_node,
            &["extra.yaml:", "YAML"],
        ),
        (
            "packages: [htop]\n",
            good_node,
            &[
                "extra.yaml:1: not cloud-config",
                "first line is not `#cloud-config`",
            ],
        ),
        (
            "#include\nhttps://example.org/x\n",
            good_node,
            &["extra.yaml:1: not cloud-config", "download each URL"],
        ),
        (
            "#cloud-config\n",
            // Inline text: findings point at the config file's own lines (the text starts
            // on line 8 of cluster.toml).
            "#cloud-config\nusers:\n  - name: ops\n    groups: 7\n",
            &["cluster.toml:11: users[0].groups: an integer is not one of the accepted types"],
        ),
    ];
    for (i, (cluster, node, wants)) in cases.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write_config(tmp.path(), cluster, node);
        let o = build(tmp.path(), SAMPLE_RASPIOS, &cfg);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "case {i}: {err}");
        for want in *wants {
            assert!(err.contains(want), "case {i}: missing {want:?} in:\n{err}");
        }
        assert!(
            files_starting(&tmp.path().join("out"), "").is_empty(),
            "case {i}: output left behind"
        );
    }

    file_and_inline_text_or_a_missing_file_are_refused();
}

/// A section with both a file and inline text, and a file that is not there: both
/// refused, naming the config file's line.
fn file_and_inline_text_or_a_missing_file_are_refused() {
    // A file and inline text for the same section: which one is meant is not guessed.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x.yaml"), "#cloud-config\n").unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[cluster]\ncloud_config = \"x.yaml\"\ncloud_config_inline = \"#cloud-config\\n\"\n[[node]]\nname = \"rpi1\"\n",
    )
    .unwrap();
    let o = build(tmp.path(), SAMPLE_RASPIOS, &cfg);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("c.toml:2: cloud_config (a file) and cloud_config_inline"));

    // A file that is not there.
    std::fs::write(
        &cfg,
        "[cluster]\ncloud_config = \"missing.yaml\"\n[[node]]\nname = \"rpi1\"\n",
    )
    .unwrap();
    let o = build(tmp.path(), SAMPLE_RASPIOS, &cfg);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("c.toml:2: cloud_config: ")
            && stderr(&o).contains("missing.yaml: no such file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn snappy_seed_on_writable_carries_the_merged_cloud_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(
        tmp.path(),
        "#cloud-config\nruncmd:\n  - [touch, /var/tmp/from-the-cluster]\n",
        "#cloud-config\n",
    );
    let o = build(tmp.path(), SAMPLE_MBR, &cfg);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("Snappy 15.04 carries cloud-init 0.7.x"),
        "{err}"
    );
    let img = tmp.path().join("out/rpi1.img");
    let parts = sfdisk_parts(&img);
    let writable = tmp.path().join("writable.ext4");
    extract(&img, parts.last().unwrap(), &writable);
    let (ok, text) = tool("e2fsck", &["-fn", writable.to_str().unwrap()]);
    assert!(ok, "e2fsck: {text}");
    let ud = debugfs(
        &writable,
        "cat /system-data/var/lib/cloud/seed/nocloud-net/user-data",
    );
    assert!(ud.starts_with("Content-Type: multipart/mixed"), "{ud}");
    if have_cloud_init_python() {
        let (v, _) = cloud_init_merge(&ud);
        assert_eq!(v["hostname"], "rpi1");
        assert_eq!(
            v["runcmd"][1],
            json!(["touch", "/var/tmp/from-the-cluster"])
        );
    }
}

/// Our loader against PyYAML on the scalars YAML 1.1 and 1.2 disagree on: what we check
/// is what cloud-init will see.
#[test]
fn yaml_reads_and_writes_as_cloud_inits_loader_does() {
    use clem_image::cloudinit::yaml;
    if !have_pyyaml() {
        return;
    }
    let text = "#cloud-config
a: yes
b: off
c: 0644
d: 0x1F
e: 1:30
f: 1e5
g: 1.5e+3
h: ~
i: 'yes'
j: 08
k: 2015-04-23
l: [y, n, On]
m: |
  two
  lines
n: >
  folded
  text
o: \"esc\\taped \\u00e9\"
p: -0b101
q: 1_000
r: .5
";
    let ours = yaml::load(text).unwrap().value;
    // PyYAML turns a date into a date object, which json cannot dump: compare it apart.
    let mut theirs = pyyaml(&text.replace("k: 2015-04-23\n", ""));
    theirs["k"] = json!("2015-04-23");
    assert_eq!(ours.to_json(), theirs);
}

/// An image whose cloud-init is older than the schema's: the build says which keys may be
/// ignored on the node (the schema cannot know what an older release lacks).
#[test]
fn build_warns_when_the_images_cloud_init_is_older_than_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("old.img");
    unxz(&fixture(SAMPLE_RASPIOS), &raw);
    plant_cloud_init_version(&raw, 1, "22.4.2");

    let cfg = write_config(
        tmp.path(),
        "#cloud-config\npackages: [htop]\n",
        "#cloud-config\n",
    );
    let o = clem(
        &[
            "build",
            "--image",
            raw.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            tmp.path().join("out").to_str().unwrap(),
        ],
        tmp.path(),
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("this image runs cloud-init 22.4.2; your cloud-config was checked against cloud-init 25.1.4's schema"),
        "{err}"
    );
    // The stock sample (no version.py) gets no such warning.
    let o = build(tmp.path(), SAMPLE_RASPIOS, &cfg);
    assert!(
        !stderr(&o).contains("this image runs cloud-init"),
        "{}",
        stderr(&o)
    );
}
