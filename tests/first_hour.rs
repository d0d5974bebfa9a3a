//! A new user's first hour: a fresh HOME with no key still gives reachable nodes, the image
//! used is named (and the test sample warned about), `init`'s template and the README agree
//! with the config the tool accepts, and `build`/`init` say what comes next, as text and as
//! JSON. Judged with ssh-keygen, debugfs and serde_json, not our own readers.

mod common;

use common::*;
use std::path::Path;

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

/// The node's authorized keys, as debugfs reads them off `writable` (p4).
fn authorized_keys(img: &Path, tmp: &Path) -> String {
    let parts = sfdisk_parts(img);
    let p4 = tmp.join("p4.ext4");
    extract(img, &parts[3], &p4);
    let text = debugfs(&p4, "cat /user-data/ubuntu/.ssh/authorized_keys");
    std::fs::remove_file(&p4).unwrap();
    text
}

/// `type blob` of a public key line (without its comment).
fn type_and_blob(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_fresh_home_gets_a_cluster_key_that_logs_in_to_every_node() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    // The README's first command, on a machine with no ~/.ssh at all.
    let o = clem(&["build", "--node", "rpi1..rpi4", "--json"], home);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = json(&o);
    let private = home.join("clem-cluster/ssh/id_ed25519");
    assert_eq!(
        summary["login"]["identity"].as_str(),
        Some("clem-cluster/ssh/id_ed25519")
    );
    assert_eq!(summary["login"]["source"], "cluster");
    assert_eq!(summary["login"]["created"], true);
    assert!(stderr(&o).contains("ssh -i clem-cluster/ssh/id_ed25519"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the private key is the operator's alone");
    // ssh-keygen itself derives the public half from the private key we wrote.
    let (ok, derived) = tool("ssh-keygen", &["-y", "-f", private.to_str().unwrap()]);
    assert!(ok, "ssh-keygen cannot read the private key: {derived}");
    let public = std::fs::read_to_string(private.with_extension("pub")).unwrap();
    assert_eq!(type_and_blob(&derived), type_and_blob(&public));
    // The fingerprint the summary prints is ssh-keygen's.
    let (ok, fp) = tool(
        "ssh-keygen",
        &["-l", "-f", private.with_extension("pub").to_str().unwrap()],
    );
    assert!(ok, "{fp}");
    let fingerprint = summary["login"]["keys"][0]["fingerprint"].as_str().unwrap();
    assert!(fp.contains(fingerprint), "{fp} vs {fingerprint}");
    // Every node authorizes exactly that key.
    let nodes = summary["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for n in nodes {
        let img = home.join(n["image"].as_str().unwrap());
        let text = authorized_keys(&img, tmp.path());
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(keys.len(), 1, "{text}");
        assert_eq!(
            type_and_blob(keys[0]),
            type_and_blob(&public),
            "{}",
            n["name"]
        );
    }
    // A later build reuses the key rather than making another.
    let o = clem(&["build", "--node", "rpi1", "--json"], home);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["login"]["created"], false);
    assert_eq!(
        std::fs::read_to_string(private.with_extension("pub")).unwrap(),
        public
    );
}

#[test]
fn the_text_summary_lists_each_node_once_and_the_next_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let key = fixture("keys/test_ed25519.pub");
    let o = clem(
        &[
            "build",
            "--node",
            "rpi1,rpi2",
            "--ssh-key",
            key.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for node in ["rpi1", "rpi2"] {
        assert_eq!(
            text.matches(&format!("out/{node}.img ")).count(),
            1,
            "one table row per node: {text}"
        );
        assert!(
            text.contains(&format!("clem-image flash --node {node} /dev/sdX")),
            "{text}"
        );
    }
    assert!(
        text.contains("DOCKER_CERT_PATH=clem-cluster/client"),
        "{text}"
    );
    assert!(
        text.contains("clem-image status --node rpi1,rpi2 --wait"),
        "{text}"
    );
    // The printed `clem-image env` line really sets docker's variables.
    let eval = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("eval \"$(clem-image env"))
        .unwrap_or_else(|| panic!("no env line: {text}"));
    let eval = eval.split("; docker").next().unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{eval}; echo \"$DOCKER_HOST $DOCKER_CERT_PATH\""))
        .current_dir(tmp.path())
        .env("HOME", tmp.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    let vars = stdout(&o);
    assert!(
        vars.starts_with("tcp://rpi1:2376 /"),
        "{vars}{}",
        stderr(&o)
    );
    assert!(vars.trim_end().ends_with("clem-cluster/client"), "{vars}");
    // Notes and warnings go to stderr only; the image list is not repeated there.
    assert!(
        !text.contains("warning:") && !text.contains("note:"),
        "{text}"
    );
    assert!(!stderr(&o).contains("out/rpi1.img"), "{}", stderr(&o));
}

/// `build --config c/cluster.toml --node rpi1 FLAG` in `dir`, which must succeed.
fn build_rpi1(dir: &Path, flag: &str) -> std::process::Output {
    let o = clem(
        &[
            "build",
            "--config",
            "c/cluster.toml",
            "--node",
            "rpi1",
            flag,
        ],
        dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

#[test]
fn init_then_build_warns_about_the_sample_and_uses_the_configs_image() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let o = clem(&["init", "--dir", "c", "--json"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let init = json(&o);
    assert_eq!(init["config"], "c/cluster.toml");
    assert_eq!(init["ca_created"], true);
    assert!(init["next"][1]
        .as_str()
        .unwrap()
        .contains("clem-image build --config c/cluster.toml"));
    assert!(tmp
        .path()
        .join(init["client"].as_str().unwrap())
        .join("cert.pem")
        .exists());
    let cfg_path = dir.join("cluster.toml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    // The template's own header names the command for this directory.
    assert!(
        cfg.contains("clem-image build --config c/cluster.toml"),
        "{cfg}"
    );

    // No --image and no image = …: the test sample, said loudly and recorded.
    let o = build_rpi1(tmp.path(), "--json");
    assert!(stderr(&o).contains("TEST sample"), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!(s["image"]["sample"], true);
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("out/rpi1.manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["sample"], true);

    // With image = … (relative to the config), that image, and no warning.
    std::fs::copy(fixture(SAMPLE_GPT), dir.join("upstream.img.xz")).unwrap();
    let cfg = cfg.replace(
        "# image = \"ubuntu-15.04-snappy-armhf-rpi2.img.xz\"",
        "image = \"upstream.img.xz\"",
    );
    std::fs::write(&cfg_path, cfg).unwrap();
    let o = build_rpi1(tmp.path(), "--json");
    assert!(!stderr(&o).contains("TEST sample"), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!(s["image"]["path"], "c/upstream.img.xz");
    assert_eq!(s["image"]["sample"], false);
    let o = build_rpi1(tmp.path(), "--sha256");
    assert!(
        stdout(&o).contains("from c/upstream.img.xz"),
        "{}",
        stdout(&o)
    );
    // The GPT sample's table is what the build read (sfdisk, not our reader).
    let v = sfdisk_json(&tmp.path().join("out/rpi1.img"));
    assert_eq!(v["partitiontable"]["label"], "gpt");
}

#[test]
fn a_missing_file_named_in_the_config_is_reported_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cluster.toml");
    for (key, section) in [
        ("ssh_keys = [\"~/.ssh/nope.pub\"]", "cluster"),
        ("image = \"nope.img.xz\"", "cluster"),
        ("docker_snap = \"nope.snap\"", "cluster"),
        ("image_file = \"nope.tar\"", "swarm"),
    ] {
        std::fs::write(&cfg, format!("# a comment\n[{section}]\n{key}\n")).unwrap();
        let o = clem(
            &["build", "--config", cfg.to_str().unwrap(), "--node", "rpi1"],
            tmp.path(),
        );
        assert!(!o.status.success(), "{key}");
        let err = stderr(&o);
        assert!(err.contains("cluster.toml:3:"), "{key}: {err}");
        assert!(err.contains("nope"), "{key}: {err}");
        assert!(err.contains("no such file"), "{key}: {err}");
    }
}

/// The keys the tool accepts in each section, as its own "unknown field" error lists them.
fn accepted_keys(section: &str, tmp: &Path) -> Vec<String> {
    let cfg = tmp.join("probe.toml");
    let text = match section {
        "node" => "[[node]]\nname = \"a\"\nzz_unknown = 1\n".to_string(),
        s => format!("[{s}]\nzz_unknown = 1\n"),
    };
    std::fs::write(&cfg, text).unwrap();
    let o = clem(
        &["build", "--config", cfg.to_str().unwrap(), "--node", "a"],
        tmp,
    );
    let err = stderr(&o);
    let list = err
        .split("expected one of")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    let keys: Vec<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(keys.len() > 3, "{err}");
    keys
}

#[test]
fn every_config_key_is_documented_in_the_template_and_the_readme() {
    let tmp = tempfile::tempdir().unwrap();
    let o = clem(&["init", "--dir", "c"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let template = std::fs::read_to_string(tmp.path().join("c/cluster.toml")).unwrap();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for section in ["cluster", "swarm", "node"] {
        for key in accepted_keys(section, tmp.path()) {
            let set = |l: &str| {
                let l = l.trim_start_matches('#').trim_start();
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            };
            assert!(
                template.lines().any(set),
                "[{section}] {key} is not in init's template"
            );
            assert!(
                readme.lines().any(set) || readme.contains(&format!("`{key}`")),
                "[{section}] {key} is not documented in the README"
            );
        }
    }
    // What the template says about the swarm is what the tool does: zero-touch by default.
    assert!(
        !template.lines().any(|l| l.trim() == "mode = \"none\""),
        "{template}"
    );
    assert!(template.contains("zero-touch"), "{template}");
}

#[test]
fn a_second_ca_is_announced_and_nodes_of_another_ca_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = clem(&["init", "--dir", "mycl"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    // No --config: the build makes ./clem-cluster's CA while mycl/ holds one.
    let o = clem(&["build", "--node", "rpi1"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("NEW CLUSTER CA: created clem-cluster/tls/ca.pem"),
        "{err}"
    );
    assert!(
        err.contains("mycl/tls/ca.pem holds another cluster CA"),
        "{err}"
    );
    // Building rpi2 for mycl into the same out/: rpi1 there trusts the other CA.
    let o = clem(
        &["build", "--config", "mycl/cluster.toml", "--node", "rpi2"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("out/rpi1.manifest.json (rpi1) was built with another cluster CA"),
        "{err}"
    );
    assert!(
        !err.contains("NEW CLUSTER CA"),
        "init made mycl's CA: {err}"
    );
    // Each manifest records the SHA-256 of the CA its node carries (sha256sum judges).
    for (node, ca) in [("rpi1", "clem-cluster"), ("rpi2", "mycl")] {
        let text =
            std::fs::read_to_string(tmp.path().join(format!("out/{node}.manifest.json"))).unwrap();
        let m: serde_json::Value = serde_json::from_str(&text).unwrap();
        let want = sha256_file(&tmp.path().join(ca).join("tls/ca.pem"));
        assert_eq!(m["ca_sha256"].as_str(), Some(want.as_str()), "{node}");
    }
}
