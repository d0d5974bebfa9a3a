//! Docker on stock images: what `explain` says each image has, how `build` gets docker onto
//! nodes that have none (apt, an offline `.deb` bundle, a 15.04 snap), and what it refuses
//! before anything is written. Judged with `debugfs`, `e2fsck` and `dpkg-deb`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const STOCK_RASPIOS: &str = "raspios-stock.img.xz";
const STOCK_SNAPPY: &str = "snappy-rpi2-stock.img.xz";

fn explain_json(img: &Path, home: &Path) -> Value {
    let o = clem(&["explain", "--json", img.to_str().unwrap()], home);
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)))
}

fn engine(img: &Path, home: &Path) -> Value {
    explain_json(img, home)["docker_engine"].clone()
}

/// A small real Debian package made by `dpkg-deb --build`, shipping `files` (empty
/// executables) and depending on `depends`.
fn make_deb(dir: &Path, name: &str, arch: &str, files: &[&str], depends: &str) -> PathBuf {
    let root = dir.join(format!("pkg-{name}-{arch}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    let dep = if depends.is_empty() {
        String::new()
    } else {
        format!("Depends: {depends}\n")
    };
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 26.1.5+dfsg1-9\nArchitecture: {arch}\nMaintainer: test <t@example.invalid>\n{dep}Description: test package\n"
        ),
    )
    .unwrap();
    for f in files {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("#!/bin/sh\n# {name}\n")).unwrap();
    }
    let deb = dir.join(format!("{name}_26.1.5+dfsg1-9_{arch}.deb"));
    let (ok, text) = tool(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "-Zxz",
            "--build",
            root.to_str().unwrap(),
            deb.to_str().unwrap(),
        ],
    );
    assert!(ok, "dpkg-deb: {text}");
    std::fs::remove_dir_all(&root).unwrap();
    deb
}

/// docker.io (the daemon) and docker-cli for `arch`, in their own directory.
fn bundle(tmp: &Path, arch: &str) -> PathBuf {
    let dir = tmp.join(format!("debs-{arch}"));
    std::fs::create_dir_all(&dir).unwrap();
    make_deb(&dir, "docker.io", arch, &["usr/sbin/dockerd"], "libc6");
    make_deb(&dir, "docker-cli", arch, &["usr/bin/docker"], "");
    dir
}

/// A 15.04-era docker snap: a click-style `ar` archive whose data.tar.gz holds
/// `meta/package.yaml` (see src/debian/snap.rs for the format's sources).
fn make_snap(tmp: &Path, version: &str, arch: &str) -> PathBuf {
    let work = tmp.join(format!("snap-{version}"));
    let data = work.join("data");
    std::fs::create_dir_all(data.join("meta")).unwrap();
    std::fs::create_dir_all(data.join("bin")).unwrap();
    std::fs::write(
        data.join("meta/package.yaml"),
        format!("name: docker\nversion: {version}\narchitecture: [{arch}]\nvendor: test\ntype: framework\n"),
    )
    .unwrap();
    std::fs::write(data.join("bin/docker"), "#!/bin/sh\n").unwrap();
    let control = work.join("control");
    std::fs::create_dir_all(&control).unwrap();
    std::fs::write(
        control.join("control"),
        format!("Package: docker\nVersion: {version}\nArchitecture: {arch}\n"),
    )
    .unwrap();
    std::fs::write(work.join("debian-binary"), "2.0\n").unwrap();
    std::fs::write(work.join("_click-binary"), "0.4\n").unwrap();
    for (name, from) in [("data.tar.gz", &data), ("control.tar.gz", &control)] {
        let (ok, text) = tool(
            "tar",
            &[
                "-czf",
                work.join(name).to_str().unwrap(),
                "-C",
                from.to_str().unwrap(),
                ".",
            ],
        );
        assert!(ok, "tar: {text}");
    }
    let snap = tmp.join(format!("docker_{version}_{arch}.snap"));
    let o = Command::new("ar")
        .current_dir(&work)
        .arg("rc")
        .arg(&snap)
        .args([
            "debian-binary",
            "_click-binary",
            "control.tar.gz",
            "data.tar.gz",
        ])
        .output()
        .expect("run ar");
    assert!(
        o.status.success(),
        "ar: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    snap
}

/// Runs `build` with `config` (written as cluster.toml in `tmp`); returns (ok, stderr, out).
fn build(tmp: &Path, image: &str, config: &str, extra: &[&str]) -> (bool, String, PathBuf) {
    let cfg = tmp.join("cluster.toml");
    std::fs::write(&cfg, config).unwrap();
    let out = tmp.join("out");
    let key = fixture("keys/test_ed25519.pub");
    let mut args = vec![
        "build",
        "--image",
        fixture(image).to_str().unwrap().to_string().leak(),
        "--config",
        cfg.to_str().unwrap().to_string().leak(),
        "--ssh-key",
        key.to_str().unwrap().to_string().leak(),
        "--out",
        out.to_str().unwrap().to_string().leak(),
    ];
    args.extend_from_slice(extra);
    let o = clem(&args, tmp);
    (o.status.success(), stderr(&o), out)
}

const TWO_NODES: &str = "[[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\n\
                         [[node]]\nname = \"rpi2\"\naddress = \"10.0.5.12/24\"\n";

fn no_images(out: &Path) -> bool {
    std::fs::read_dir(out).map_or(true, |rd| {
        rd.filter_map(Result::ok)
            .all(|e| !e.file_name().to_string_lossy().ends_with(".img"))
    })
}

fn part(img: &Path, n: usize, tmp: &Path) -> PathBuf {
    let p = tmp.join(format!(
        "{}-p{}",
        img.file_name().unwrap().to_string_lossy(),
        n + 1
    ));
    extract(img, &sfdisk_parts(img)[n], &p);
    p
}

fn e2fsck_clean(p: &Path) {
    let (ok, text) = tool("e2fsck", &["-fn", p.to_str().unwrap()]);
    assert!(ok, "e2fsck -fn: {text}");
}

#[test]
fn explain_reports_docker_on_stock_and_prepared_images() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // Stock Raspberry Pi OS: no docker.
    assert_eq!(
        engine(&fixture(STOCK_RASPIOS), t),
        json!({"status": "missing", "installed": null, "install": null, "version": null, "swarm": null})
    );
    // docker.io and docker-cli in the dpkg database.
    let e = engine(&fixture(SAMPLE_RASPIOS), t);
    assert_eq!(e["status"], "installed");
    assert_eq!(e["installed"]["package"], "docker.io");
    assert_eq!(e["installed"]["version"], "26.1.5+dfsg1-9+b9");
    assert_eq!(e["installed"]["cli_package"], "docker-cli");
    assert_eq!(e["installed"]["dockerd"], true);
    assert_eq!(e["installed"]["cli"], true);
    assert_eq!(e["installed"]["from"], "/var/lib/dpkg/status");
    assert_eq!(e["swarm"], "swarm-mode");
    // Stock Snappy 15.04: no docker snap.
    let e = engine(&fixture(STOCK_SNAPPY), t);
    assert_eq!(e["status"], "missing");
    assert_eq!(e["installed"], Value::Null);
    // The sample as `ubuntu-device-flash --install docker` makes it: the 1.6 snap.
    let e = engine(&fixture(SAMPLE_MBR), t);
    assert_eq!(e["status"], "installed");
    assert_eq!(e["installed"]["package"], "docker");
    assert_eq!(e["installed"]["version"], "1.6.1.002");
    assert_eq!(
        e["installed"]["from"],
        "/apps/docker/1.6.1.002/meta/package.yaml"
    );
    assert_eq!(e["swarm"], "legacy-only");
}

#[test]
fn stock_raspios_gets_docker_over_apt_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, err, out) = build(tmp.path(), STOCK_RASPIOS, TWO_NODES, &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("installs docker.io (and docker-cli) from the image's apt sources"),
        "{err}"
    );
    let img = out.join("rpi2.img");
    let v = explain_json(&img, tmp.path());
    let e = &v["docker_engine"];
    assert_eq!(e["status"], "to-install");
    assert_eq!(e["install"]["from"], "apt");
    assert_eq!(e["install"]["packages"], json!(["docker.io", "docker-cli"]));
    assert_eq!(
        e["install"]["source"],
        json!([
            "http://deb.debian.org/debian/",
            "http://deb.debian.org/debian-security/",
            "http://archive.raspberrypi.com/debian/"
        ])
    );
    assert_eq!(e["swarm"], "swarm-mode");
    // A note, not an error: verify passes, also with --strict.
    let findings = v["findings"].as_array().unwrap();
    assert!(findings.iter().any(
        |f| f["level"] == "note" && f["reason"].as_str().unwrap().contains("archive reachable")
    ));
    assert!(
        findings.iter().all(|f| f["level"] == "note"),
        "{findings:#?}"
    );
    let o = clem(&["verify", "--strict", img.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = v["first_boot"]["summary"].to_string();
    assert!(
        summary.contains("The first boot installs docker: docker.io and docker-cli"),
        "{summary}"
    );
    assert!(
        summary.contains("Then pi joins the docker group."),
        "{summary}"
    );
    // node.env as the node's script reads it.
    let root = part(&img, 1, tmp.path());
    let env = debugfs(&root, "cat /etc/clem-image/node.env");
    assert!(env.contains("DOCKER_INSTALL='apt'"), "{env}");
    assert!(env.contains("LOGIN_USER='pi'"), "{env}");
    e2fsck_clean(&root);
}

#[test]
fn offline_bundle_lands_on_the_image_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let debs = bundle(tmp.path(), "arm64");
    let cfg = format!(
        "[cluster]\ndocker_debs = \"{}\"\n{TWO_NODES}",
        debs.display()
    );
    let (ok, err, out) = build(tmp.path(), STOCK_RASPIOS, &cfg, &[]);
    assert!(ok, "{err}");
    let img = out.join("rpi1.img");
    let root = part(&img, 1, tmp.path());
    e2fsck_clean(&root);
    for entry in std::fs::read_dir(&debs).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap();
        let dumped = tmp.path().join(format!("dumped-{name}"));
        debugfs(
            &root,
            &format!("dump /var/lib/clem-image/debs/{name} {}", dumped.display()),
        );
        assert_eq!(sha256_file(&dumped), sha256_file(&p), "{name}");
        // dpkg-deb itself reads the copy as the package it was.
        let (ok, text) = tool("dpkg-deb", &["-f", dumped.to_str().unwrap(), "Package"]);
        assert!(ok && name.starts_with(text.trim()), "{text}");
    }
    let env = debugfs(&root, "cat /etc/clem-image/node.env");
    assert!(env.contains("DOCKER_INSTALL='bundle'"), "{env}");
    assert!(
        env.contains("DOCKER_DEBS='/var/lib/clem-image/debs'"),
        "{env}"
    );
    let e = engine(&img, tmp.path());
    assert_eq!(e["status"], "to-install");
    assert_eq!(e["install"]["from"], "bundle");
    assert_eq!(e["version"], "26.1.5+dfsg1-9");
    assert_eq!(
        e["install"]["packages"],
        json!([
            "docker-cli_26.1.5+dfsg1-9_arm64.deb",
            "docker.io_26.1.5+dfsg1-9_arm64.deb"
        ])
    );
    // The manifest records each copied file with its digest; verify checks them.
    let o = clem(&["verify", img.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bundle_for_another_architecture_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let debs = bundle(tmp.path(), "armhf");
    let cfg = format!(
        "[cluster]\ndocker_debs = \"{}\"\n{TWO_NODES}",
        debs.display()
    );
    let (ok, err, out) = build(tmp.path(), STOCK_RASPIOS, &cfg, &[]);
    assert!(!ok);
    assert!(
        err.contains("_armhf.deb") && err.contains("armhf") && err.contains("arm64"),
        "{err}"
    );
    assert!(no_images(&out), "{out:?}");
}

#[test]
fn bundle_without_the_cli_or_with_a_missing_dependency_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("debs");
    std::fs::create_dir_all(&dir).unwrap();
    make_deb(
        &dir,
        "docker.io",
        "arm64",
        &["usr/sbin/dockerd"],
        "containerd (>= 1.7)",
    );
    let cfg = format!(
        "[cluster]\ndocker_debs = \"{}\"\n{TWO_NODES}",
        dir.display()
    );
    let (ok, err, out) = build(tmp.path(), STOCK_RASPIOS, &cfg, &[]);
    assert!(!ok);
    assert!(
        err.contains("docker_debs") && err.to_lowercase().contains("cli"),
        "{err}"
    );
    assert!(no_images(&out));
    make_deb(&dir, "docker-cli", "arm64", &["usr/bin/docker"], "");
    let (ok, err, out) = build(tmp.path(), STOCK_RASPIOS, &cfg, &[]);
    assert!(!ok);
    assert!(err.contains("containerd"), "{err}");
    assert!(no_images(&out));
}

#[test]
fn snappy_without_docker_is_refused_unless_docker_none() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, err, out) = build(tmp.path(), STOCK_SNAPPY, TWO_NODES, &[]);
    assert!(!ok);
    assert!(
        err.contains("no docker") && err.contains("store") && err.contains("docker_snap"),
        "{err}"
    );
    assert!(err.contains("--docker none"), "{err}");
    assert!(no_images(&out));
    let (ok, err, out) = build(tmp.path(), STOCK_SNAPPY, TWO_NODES, &["--docker", "none"]);
    assert!(ok, "{err}");
    let e = engine(&out.join("rpi1.img"), tmp.path());
    assert_eq!(e["status"], "missing");
    let v = explain_json(&out.join("rpi1.img"), tmp.path());
    assert_eq!(v["findings"], json!([]), "{v:#}");
}

#[test]
fn swarm_mode_on_docker_1_6_is_refused_and_the_default_is_the_legacy_swarm() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = format!("[swarm]\nmode = \"swarm-mode\"\n{TWO_NODES}");
    let (ok, err, out) = build(tmp.path(), SAMPLE_MBR, &cfg, &[]);
    assert!(!ok);
    assert!(
        err.contains("1.12") && err.contains("1.6.1.002") && err.contains("legacy"),
        "{err}"
    );
    assert!(no_images(&out));
    // Without a mode: the standalone swarm, static discovery, TLS, with a warning that
    // the image will be pulled by a 2015 docker.
    let (ok, err, out) = build(tmp.path(), SAMPLE_MBR, TWO_NODES, &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("no swarm mode") && err.contains("image_file"),
        "{err}"
    );
    let wr = part(&out.join("rpi1.img"), 3, tmp.path());
    let env = debugfs(&wr, "cat /clem-image/node.env");
    assert!(env.contains("SWARM_MODE='legacy'"), "{env}");
    assert!(
        env.contains("SWARM_DISCOVERY='nodes://10.0.5.11:2376,10.0.5.12:2376'"),
        "{env}"
    );
    assert!(env.contains("DOCKER_MODE='tls'"), "{env}");
    // The manager calls the agents' docker with its client certificate.
    assert!(!debugfs(&wr, "stat /clem-image/tls/manager-client-key.pem").is_empty());
}

#[test]
fn stock_snappy_with_a_docker_snap_and_the_swarm_image_as_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let snap = make_snap(tmp.path(), "1.6.1.002", "armhf");
    let tar = tmp.path().join("rpi-swarm.tar");
    let (ok, text) = tool(
        "tar",
        &[
            "-cf",
            tar.to_str().unwrap(),
            "-C",
            fixture("keys").to_str().unwrap(),
            ".",
        ],
    );
    assert!(ok, "{text}");
    let cfg = format!(
        "[cluster]\ndocker_snap = \"{}\"\n[swarm]\nmode = \"legacy\"\nimage_file = \"{}\"\n{TWO_NODES}",
        snap.display(),
        tar.display()
    );
    let (ok, err, out) = build(tmp.path(), STOCK_SNAPPY, &cfg, &[]);
    assert!(ok, "{err}");
    assert!(
        !err.contains("image_file ="),
        "no pull warning with a file: {err}"
    );
    let img = out.join("rpi2.img");
    let wr = part(&img, 3, tmp.path());
    e2fsck_clean(&wr);
    for (on_image, host) in [("docker.snap", &snap), ("swarm-image.tar", &tar)] {
        let dumped = tmp.path().join(on_image);
        debugfs(
            &wr,
            &format!("dump /clem-image/{on_image} {}", dumped.display()),
        );
        assert_eq!(sha256_file(&dumped), sha256_file(host), "{on_image}");
    }
    let env = debugfs(&wr, "cat /clem-image/node.env");
    for want in [
        "DOCKER_INSTALL='snap'",
        "DOCKER_SNAP='/writable/clem-image/docker.snap'",
        "SWARM_IMAGE_FILE='/writable/clem-image/swarm-image.tar'",
        "DOCKER_VERSION='1.6.1.002'",
    ] {
        assert!(env.contains(want), "{want}: {env}");
    }
    let e = engine(&img, tmp.path());
    assert_eq!(e["status"], "to-install");
    assert_eq!(e["install"]["from"], "snap");
    assert_eq!(
        e["install"]["source"],
        json!(["/writable/clem-image/docker.snap"])
    );
    assert_eq!(e["version"], "1.6.1.002");
    assert_eq!(e["swarm"], "legacy-only");
}

#[test]
fn a_swarm_image_file_that_is_not_a_tarball_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("rpi-swarm.tar.gz");
    std::fs::write(&bad, vec![0x1f_u8; 4096]).unwrap();
    let cfg = format!(
        "[swarm]\nmode = \"legacy\"\nimage_file = \"{}\"\n{TWO_NODES}",
        bad.display()
    );
    let (ok, err, out) = build(tmp.path(), SAMPLE_MBR, &cfg, &[]);
    assert!(!ok);
    assert!(
        err.contains("rpi-swarm.tar.gz") && err.contains("not a tar archive"),
        "{err}"
    );
    assert!(no_images(&out));
}
