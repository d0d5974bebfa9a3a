//! Reproducible builds: the same inputs give the same bytes for every output, whatever the
//! time of day, the working directory or the output directory; `SOURCE_DATE_EPOCH` is the
//! only clock, and it is really used.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `build --node nodes --out out` from `cwd` (so a relative `out` lands there), with
/// `SOURCE_DATE_EPOCH` set to `epoch` or removed.
fn build_in(cwd: &Path, out: &str, nodes: &str, epoch: Option<&str>) -> PathBuf {
    // One test's builds share the cluster directory beside `one/` and `two/`.
    let cluster = cwd
        .ancestors()
        .find(|a| a.join("cluster-root").exists())
        .unwrap_or(cwd)
        .join("cluster");
    let home = cwd.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key = fixture("keys/test_ed25519.pub");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .env("HOME", &home)
        .args(["build", "--node", nodes, "--out", out, "--ssh-key"])
        .arg(&key)
        // TLS keys and certificates are inputs (made once, then reused): every build here
        // shares one cluster directory, as builds of one cluster do.
        .arg("--cluster-dir")
        .arg(&cluster);
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    let o = cmd.output().expect("run clem-image");
    assert!(o.status.success(), "build: {}", stderr(&o));
    cwd.join(out)
}

/// File name → SHA-256 of every file in `dir` (hidden temporaries would show up too).
fn digests(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                sha256_file(&e.path()),
            )
        })
        .collect()
}

#[test]
fn two_builds_at_different_times_and_places_are_identical() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cluster-root"), "").unwrap();
    let (here, there) = (tmp.path().join("one"), tmp.path().join("two/deeper"));
    std::fs::create_dir_all(&here).unwrap();
    std::fs::create_dir_all(&there).unwrap();
    let first = digests(&build_in(&here, "out", "rpi1..rpi2", None));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let second = digests(&build_in(&there, "images/cluster", "rpi1..rpi2", None));
    let names: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "rpi1.img",
            "rpi1.img.bmap",
            "rpi1.manifest.json",
            "rpi2.img",
            "rpi2.img.bmap",
            "rpi2.manifest.json"
        ]
    );
    assert_eq!(first, second, "outputs differ between two identical builds");
}

#[test]
fn source_date_epoch_is_the_only_clock() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cluster-root"), "").unwrap();
    let dir = tmp.path();
    let img = |out: &Path| out.join("rpi1.img");
    let a = build_in(dir, "a", "rpi1", Some("1500000000"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = build_in(dir, "b", "rpi1", Some("1500000000"));
    let c = build_in(dir, "c", "rpi1", Some("1600000000"));
    assert_eq!(digests(&a), digests(&b), "same epoch, different bytes");
    assert_ne!(
        sha256_file(&img(&a)),
        sha256_file(&img(&c)),
        "SOURCE_DATE_EPOCH changed nothing: is it used?"
    );
    // The default epoch (unset) differs from an explicit, different one as well.
    let d = build_in(dir, "d", "rpi1", None);
    assert_ne!(sha256_file(&img(&a)), sha256_file(&img(&d)));

    // What differs is time stamps only: same files, so diff finds only a byte difference
    // inside the partition the build wrote to.
    let o = clem(
        &[
            "diff",
            "--json",
            img(&a).to_str().unwrap(),
            img(&c).to_str().unwrap(),
        ],
        dir,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["partitions"], serde_json::json!([]), "{v}");
    assert!(v["bytes"]["partition"].is_u64(), "{v}");
}
