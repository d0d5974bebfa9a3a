//! Private keys: refused when group or others may read them (as ssh refuses such keys)
//! unless `--allow-open-keys`; and every file `init` and the TLS code write gets its mode
//! whatever the umask. Judges: exit code and message; `stat -c %a` for modes.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// clem-image run through `sh -c 'umask 000; exec …'`.
fn clem_umask_000(args: &[&str], cwd: &Path) -> Output {
    let o = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .output()
        .unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    o
}

/// The mode as `stat` reports it (octal, e.g. "600").
fn stat_mode(p: &Path) -> String {
    let (ok, text) = tool("stat", &["-c", "%a", p.to_str().unwrap()]);
    assert!(ok, "{text}");
    text.trim().to_string()
}

fn init(root: &Path) -> std::path::PathBuf {
    let dir = root.join("c");
    let o = clem_umask_000(&["init", "--dir", dir.to_str().unwrap()], root);
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

#[test]
fn init_under_umask_000_writes_every_file_with_its_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    for (path, mode) in [
        ("", "755"),
        ("cluster.toml", "600"),
        ("tls", "700"),
        ("tls/ca-key.pem", "600"),
        ("tls/ca.pem", "644"),
        ("client", "700"),
        ("client/key.pem", "600"),
        ("client/cert.pem", "644"),
        ("client/ca.pem", "644"),
        ("client/spec", "644"),
    ] {
        assert_eq!(stat_mode(&dir.join(path)), mode, "{path}");
    }
}

/// A node's key and directories, written by `build` under umask 000.
#[test]
fn node_keys_written_under_umask_000_are_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    std::fs::write(
        dir.join("cluster.toml"),
        "[[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\n",
    )
    .unwrap();
    let key = fixture("keys/test_ed25519.pub");
    let out = tmp.path().join("out");
    let o = clem_umask_000(
        &[
            "build",
            "--image",
            fixture(SAMPLE_RASPIOS).to_str().unwrap(),
            "--config",
            dir.join("cluster.toml").to_str().unwrap(),
            "--ssh-key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for (path, mode) in [
        ("nodes", "700"),
        ("nodes/rpi1", "700"),
        ("nodes/rpi1/key.pem", "600"),
        ("nodes/rpi1/cert.pem", "644"),
        ("nodes/rpi1/client/key.pem", "600"),
    ] {
        assert_eq!(stat_mode(&dir.join(path)), mode, "{path}");
    }
}

fn chmod(p: &Path, mode: &str) {
    let (ok, text) = tool("chmod", &[mode, p.to_str().unwrap()]);
    assert!(ok, "{text}");
}

/// `status --config` (it loads the cluster, keys included, before anything else).
fn status(dir: &Path, extra: &[&str]) -> Output {
    let cfg = dir.join("cluster.toml");
    let mut args = vec!["status", "--config", cfg.to_str().unwrap()];
    args.extend(extra);
    clem(&args, dir.parent().unwrap())
}

#[test]
fn a_group_readable_ca_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    let key = dir.join("tls/ca-key.pem");
    chmod(&key, "640");
    let o = status(&dir, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}: a private key readable by its group (mode 0640)",
            key.display()
        )),
        "{err}"
    );
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn a_world_readable_node_key_is_refused_by_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    let node = dir.join("nodes/rpi1");
    std::fs::create_dir_all(&node).unwrap();
    std::fs::write(node.join("key.pem"), "not read: refused on its mode\n").unwrap();
    chmod(&node.join("key.pem"), "644");
    let o = clem(
        &[
            "build",
            "--config",
            dir.join("cluster.toml").to_str().unwrap(),
            "--out",
            tmp.path().join("out").to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("nodes/rpi1/key.pem: a private key readable by others (mode 0644)"),
        "{err}"
    );
    assert!(!err.contains("not read"), "{err}");
    assert!(!tmp.path().join("out").join("rpi1.img").exists());
}

/// With `--allow-open-keys` the key is used, with a warning naming it.
#[test]
fn allow_open_keys_uses_the_key_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path());
    let key = dir.join("client/key.pem");
    chmod(&key, "604");
    let o = status(&dir, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("readable by others"), "{}", stderr(&o));
    // Allowed: the run goes on (and fails later only because no node answers).
    let o = status(
        &dir,
        &["--allow-open-keys", "--endpoint", "rpi1=127.0.0.1:1"],
    );
    let err = stderr(&o);
    assert!(err.contains("warning: --allow-open-keys: using"), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(stdout(&o).contains("rpi1"), "{}{err}", stdout(&o));
}
