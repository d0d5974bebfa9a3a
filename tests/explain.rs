//! `explain --json` on stock samples, on node images the tool built, and on variants made
//! here with debugfs/mtools (cloud-init disabled, no NoCloud, a seed on the wrong
//! partition, an instance-id cloud-init already ran with, a misnamed seed file); `verify`
//! and `verify --strict` on the broken ones. Every image explained here is also seed-checked
//! through the library, which must find the same.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

const KEY: &str = "ssh-ed25519 clem-test@fixture";

fn explain(img: &Path, home: &Path) -> Value {
    let o = clem(&["explain", img.to_str().unwrap(), "--json"], home);
    assert!(o.status.success(), "explain: {}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    // The seed check that build and verify run takes only the stages it needs: it must
    // still find exactly what the whole explanation finds, in the same order.
    let checked = clem_image::explain::check_built_image(img).expect("seed check");
    assert_eq!(
        serde_json::to_value(&checked).unwrap(),
        v["findings"],
        "seed check and explain disagree on {}",
        img.display()
    );
    v
}

fn reasons(v: &Value, level: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == level)
        .map(|f| f["reason"].as_str().unwrap().to_string())
        .collect()
}

fn has(v: &Value, level: &str, needle: &str) -> bool {
    reasons(v, level).iter().any(|r| r.contains(needle))
}

fn unit<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["first_boot"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("unit {name} not enabled: {v:#}"))
}

/// Builds `node` from `sample` with a two-node cluster config; returns the image.
fn build(dir: &Path, sample: &str, node: &str) -> PathBuf {
    let key = fixture("keys/test_ed25519.pub");
    let cfg = dir.join("cluster.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cluster]\nssh_keys = [\"{}\"]\ninterface = \"eth0\"\n\
             gateway = \"10.0.5.1\"\ndns = [\"10.0.5.1\", \"1.1.1.1\"]\n\
             [[node]]\nname = \"rpi1\"\naddress = \"10.0.5.25/24\"\nrole = \"manager\"\n\
             [[node]]\nname = \"rpi2\"\naddress = \"10.0.5.26/24\"\nrole = \"worker\"\n",
            key.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let o = clem(
        &[
            "build",
            "--config",
            cfg.to_str().unwrap(),
            "--image",
            fixture(sample).to_str().unwrap(),
            "--node",
            node,
            "--out",
            out.to_str().unwrap(),
        ],
        dir,
    );
    assert!(o.status.success(), "build: {}", stderr(&o));
    out.join(format!("{node}.img"))
}

/// A copy without the manifest and checksum beside it, to modify.
fn variant(img: &Path, name: &str) -> PathBuf {
    let v = img.parent().unwrap().parent().unwrap().join(name);
    std::fs::copy(img, &v).unwrap();
    v
}

/// `img@@offset` of partition `index`, for mtools.
fn mtools_img(img: &Path, index: usize) -> String {
    format!("{}@@{}", img.display(), sfdisk_parts(img)[index].start)
}

fn verify(img: &Path, home: &Path, strict: bool) -> (i32, String) {
    let mut args = vec!["verify", img.to_str().unwrap()];
    if strict {
        args.push("--strict");
    }
    let o = clem(&args, home);
    (o.status.code().unwrap(), stderr(&o))
}

#[test]
fn stock_snappy() {
    let dir = tempfile::tempdir().unwrap();
    let v = explain(&fixture(SAMPLE_MBR), dir.path());
    assert_eq!(v["flavour"], "snappy-core-15");
    assert_eq!(v["os"]["version"], "15.04");
    assert_eq!(v["cloud_init"]["installed"], true);
    assert_eq!(v["cloud_init"]["enabled"], true);
    assert_eq!(v["cloud_init"]["disabled_by"], json!([]));
    assert_eq!(v["datasource"]["list"], json!(["NoCloud", "None"]));
    assert_eq!(v["datasource"]["list_from"], "/etc/cloud/cloud.cfg");
    assert_eq!(v["datasource"]["nocloud_enabled"], true);
    assert_eq!(v["datasource"]["seedfrom"], Value::Null);
    let loc = &v["seed"]["location"];
    assert_eq!(loc["partition"], 4);
    assert_eq!(loc["partition_label"], "writable");
    assert_eq!(loc["dir"], "/system-data/var/lib/cloud/seed/nocloud-net");
    assert_eq!(loc["via"], "seed-dir");
    assert_eq!(loc["node_path"], "/var/lib/cloud/seed/nocloud-net");
    assert_eq!(v["seed"]["files"], json!(["meta-data", "user-data"]));
    assert_eq!(v["seed"]["instance_id"], "nocloud-static");
    assert_eq!(v["seed"]["user_data_header"], "#cloud-config");
    assert_eq!(v["previous_run"]["instance_id"], Value::Null);
    assert_eq!(v["previous_run"]["same_as_seed"], false);
    let fb = &v["first_boot"];
    assert_eq!(fb["hostname_from"], "/etc/writable/hostname");
    assert_eq!(fb["password_login"], true);
    assert_eq!(fb["users"][0]["name"], "ubuntu");
    assert_eq!(fb["users"][0]["ssh_keys"], json!([]));
    assert_eq!(fb["network"], json!([]));
    assert_eq!(
        unit(&v, "ssh.service")["conditions"],
        json!(["!/etc/ssh/sshd_not_to_be_run"])
    );
    assert_eq!(
        unit(&v, "cloud-init.service")["wanted_by"],
        "multi-user.target"
    );
    assert_eq!(
        fb["docker"]["listen"],
        json!(["unix:///var/run/docker.sock"])
    );
    assert_eq!(fb["docker"]["tls"], false);
    assert_eq!(fb["swarm"], Value::Null);
    assert_eq!(v["findings"], json!([]));
    // The text form is one screen.
    let o = clem(
        &["explain", fixture(SAMPLE_MBR).to_str().unwrap()],
        dir.path(),
    );
    let text = stdout(&o);
    assert!(text.contains("instance-id nocloud-static"), "{text}");
    assert!(text.lines().count() < 25, "{text}");
}

#[test]
fn stock_raspios() {
    let dir = tempfile::tempdir().unwrap();
    let v = explain(&fixture(SAMPLE_RASPIOS), dir.path());
    assert_eq!(v["flavour"], "raspberry-pi-os");
    assert_eq!(v["os"]["version"], "13");
    assert_eq!(v["cloud_init"]["enabled"], true);
    assert_eq!(
        v["cloud_init"]["config_files"],
        json!([
            "/etc/cloud/cloud.cfg",
            "/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg"
        ])
    );
    assert_eq!(v["datasource"]["list"], json!(["NoCloud", "None"]));
    assert_eq!(
        v["datasource"]["list_from"],
        "/etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg"
    );
    assert_eq!(v["datasource"]["seedfrom"], "file:///boot/firmware");
    let loc = &v["seed"]["location"];
    assert_eq!(loc["partition"], 1);
    assert_eq!(loc["partition_label"], "bootfs");
    assert_eq!(loc["dir"], "/");
    assert_eq!(loc["node_path"], "/boot/firmware");
    assert_eq!(
        v["seed"]["files"],
        json!(["meta-data", "network-config", "user-data"])
    );
    // The stock meta-data spells instance_id with an underscore: ignored by cloud-init.
    assert_eq!(v["seed"]["instance_id"], Value::Null);
    assert!(has(&v, "error", "instance_id"), "{v:#}");
    assert_eq!(v["seed"]["network_config_version"], Value::Null);
    let fb = &v["first_boot"];
    assert_eq!(fb["hostname"], "raspberrypi");
    assert_eq!(fb["hostname_from"], "/etc/hostname");
    assert_eq!(fb["users"], json!([]));
    assert_eq!(
        unit(&v, "cloud-init-local.service")["conditions"],
        json!(["!/etc/cloud/cloud-init.disabled"])
    );
    assert_eq!(unit(&v, "docker.socket")["wanted_by"], "sockets.target");
    assert!(fb["docker"]["listen"][0]
        .as_str()
        .unwrap()
        .starts_with("fd://"));
    assert_eq!(fb["swarm"], Value::Null);
    // verify gates on it (verify reads raw images).
    let raw = dir.path().join("raspios-sample.img");
    unxz(&fixture(SAMPLE_RASPIOS), &raw);
    let (code, err) = verify(&raw, dir.path(), false);
    assert_ne!(code, 0);
    assert!(err.contains("instance_id"), "{err}");
}

fn assert_clean_node(v: &Value, node: &str) {
    assert_eq!(v["findings"], json!([]), "{v:#}");
    assert!(v["seed"]["instance_id"]
        .as_str()
        .unwrap()
        .starts_with(&format!("clem-{node}-")));
    assert_eq!(v["seed"]["local_hostname"], node);
    assert_eq!(v["seed"]["user_data_header"], "#cloud-config");
    assert_eq!(v["previous_run"]["same_as_seed"], false);
    let fb = &v["first_boot"];
    assert_eq!(fb["hostname"], node);
    assert_eq!(fb["hostname_from"], "user-data");
    assert_eq!(fb["users"][0]["ssh_keys"], json!([KEY]));
    assert_eq!(fb["password_login"], false);
    assert_eq!(fb["docker"]["tls"], true);
    assert_eq!(
        fb["docker"]["listen"],
        json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"])
    );
    // Swarm mode where the node's docker has it (the Snappy sample's 1.6 has not).
    let want = match v["docker_engine"]["swarm"].as_str() {
        Some("legacy-only") => "legacy",
        _ => "zero-touch",
    };
    assert_eq!(fb["swarm"]["mode"], want);
}

#[test]
fn built_snappy() {
    let dir = tempfile::tempdir().unwrap();
    let img = build(dir.path(), SAMPLE_MBR, "rpi1");
    let v = explain(&img, dir.path());
    assert_clean_node(&v, "rpi1");
    assert_eq!(v["seed"]["location"]["partition_label"], "writable");
    let fb = &v["first_boot"];
    assert_eq!(fb["users"][0]["name"], "ubuntu");
    assert!(
        fb["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["from"] == "/home/ubuntu/.ssh/authorized_keys"
                && u["ssh_keys"] == json!([KEY]))
    );
    assert_eq!(
        fb["network"],
        json!([{"interface": "eth0", "address": "10.0.5.25/24",
                "from": "/etc/network/interfaces.d/eth0"}])
    );
    let u = unit(&v, "clem-firstboot.service");
    assert_eq!(u["wanted_by"], "multi-user.target");
    assert_eq!(
        u["conditions"],
        json!(["!/writable/clem-image/state/firstboot.done"])
    );
    // The sample's docker snap is 1.6: no swarm mode, so the default is the standalone
    // swarm (no zero-touch watch).
    assert_eq!(fb["swarm"]["mode"], "legacy");
    assert_eq!(v["docker_engine"]["swarm"], "legacy-only");
    assert!(fb["units"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["name"] != "clem-swarm-watch.timer"));
    assert_eq!(
        fb["docker"]["from"],
        "/writable/clem-image/node.env (applied by clem-firstboot.service)"
    );
    assert_eq!(fb["swarm"]["role"], "manager");
    // A node name resolves under --out.
    let o = clem(
        &[
            "explain",
            "rpi1",
            "--out",
            img.parent().unwrap().to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Host name: rpi1 (from user-data)"));
    let (code, err) = verify(&img, dir.path(), true);
    assert_eq!(code, 0, "{err}");

    seed_on_the_wrong_partition(&img, dir.path());
    seed_in_both_places(&img, dir.path());
}

/// Seed on system-boot instead of writable: not read on Snappy.
fn seed_on_the_wrong_partition(img: &Path, dir: &Path) {
    let bad = variant(img, "wrong-partition.img");
    let seed = "/system-data/var/lib/cloud/seed/nocloud-net";
    let wpart = dir.join("writable.part");
    extract(&bad, &sfdisk_parts(&bad)[3], &wpart);
    for f in ["meta-data", "user-data"] {
        let p = dir.join(f);
        let dump = format!("dump {seed}/{f} {}", p.display());
        let (ok, text) = tool("debugfs", &["-R", &dump, wpart.to_str().unwrap()]);
        assert!(ok && p.exists(), "{text}");
        let (ok, text) = tool(
            "mcopy",
            &[
                "-o",
                "-i",
                &mtools_img(&bad, 0),
                p.to_str().unwrap(),
                &format!("::{f}"),
            ],
        );
        assert!(ok, "{text}");
    }
    debugfs_w(
        &bad,
        3,
        &format!("rm {seed}/meta-data\nrm {seed}/user-data\n"),
    );
    let v = explain(&bad, dir);
    assert_eq!(v["seed"]["files"], json!([]));
    assert_eq!(v["seed"]["location"]["partition_label"], "writable");
    assert!(
        has(&v, "error", "partition 1 (system-boot) / is not read"),
        "{v:#}"
    );
    assert!(has(&v, "error", "no seed"), "{v:#}");
    let (code, err) = verify(&bad, dir, false);
    assert_ne!(code, 0);
    assert!(err.contains("is not read"), "{err}");
}

/// Seed in both places: the stray one is a warning, an error only with --strict.
fn seed_in_both_places(img: &Path, dir: &Path) {
    let both = variant(img, "stray.img");
    let md = dir.join("meta-data");
    let (ok, text) = tool(
        "mcopy",
        &[
            "-o",
            "-i",
            &mtools_img(&both, 0),
            md.to_str().unwrap(),
            "::meta-data",
        ],
    );
    assert!(ok, "{text}");
    let v = explain(&both, dir);
    assert!(has(&v, "warning", "is not read"), "{v:#}");
    assert!(reasons(&v, "error").is_empty(), "{v:#}");
    assert_eq!(verify(&both, dir, false).0, 0);
    let (code, err) = verify(&both, dir, true);
    assert_ne!(code, 0);
    assert!(err.contains("is not read"), "{err}");
}

#[test]
fn built_raspios_and_variants() {
    let dir = tempfile::tempdir().unwrap();
    let img = build(dir.path(), SAMPLE_RASPIOS, "rpi2");
    let v = explain(&img, dir.path());
    assert_clean_node(&v, "rpi2");
    assert_eq!(v["seed"]["location"]["partition_label"], "bootfs");
    assert_eq!(v["seed"]["network_config_version"], "2");
    let fb = &v["first_boot"];
    assert_eq!(fb["users"][0]["name"], "pi");
    assert_eq!(
        fb["network"],
        json!([{"interface": "eth0", "address": "10.0.5.26/24", "from": "network-config"}])
    );
    assert_eq!(
        unit(&v, "clem-firstboot.service")["conditions"],
        json!(["!/var/lib/clem-image/firstboot.done"])
    );
    assert_eq!(fb["swarm"]["role"], "worker");
    assert_eq!(verify(&img, dir.path(), true).0, 0);
    let id = v["seed"]["instance_id"].as_str().unwrap().to_string();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();

    cloud_init_version_is_read(&v, &img, dir.path());
    disabled_by_the_marker_file(&img, dir.path(), &empty);
    datasource_list_without_nocloud(&img, dir.path());
    already_ran_with_the_seeds_instance_id(&img, dir.path(), &id);
    misnamed_headerless_and_versionless(&img, dir.path());
    user_data_that_is_not_yaml(&img, dir.path());
}

/// The installed cloud-init's version, from its version.py.
fn cloud_init_version_is_read(v: &Value, img: &Path, dir: &Path) {
    assert_eq!(
        v["cloud_init"]["version"],
        Value::Null,
        "the sample has no version.py"
    );
    let versioned = variant(img, "versioned.img");
    plant_cloud_init_version(&versioned, 1, "25.1.4");
    assert_eq!(explain(&versioned, dir)["cloud_init"]["version"], "25.1.4");
}

/// cloud-init disabled by the marker file.
fn disabled_by_the_marker_file(img: &Path, dir: &Path, empty: &Path) {
    let off = variant(img, "disabled.img");
    debugfs_w(
        &off,
        1,
        &format!("write {} /etc/cloud/cloud-init.disabled\n", empty.display()),
    );
    let v = explain(&off, dir);
    assert_eq!(v["cloud_init"]["enabled"], false);
    assert_eq!(
        v["cloud_init"]["disabled_by"],
        json!(["/etc/cloud/cloud-init.disabled"])
    );
    assert!(has(&v, "error", "cloud-init is disabled"), "{v:#}");
    let (code, err) = verify(&off, dir, false);
    assert_ne!(code, 0);
    assert!(err.contains("cloud-init is disabled"), "{err}");
}

/// A datasource list without NoCloud.
fn datasource_list_without_nocloud(img: &Path, dir: &Path) {
    let ec2 = variant(img, "no-nocloud.img");
    let cfg = dir.join("99.cfg");
    std::fs::write(
        &cfg,
        "datasource_list: [ Ec2, None ]\ndatasource:\n  NoCloud:\n    seedfrom: file:///boot/firmware\n",
    )
    .unwrap();
    debugfs_w(
        &ec2,
        1,
        &format!(
            "rm /etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg\nwrite {} /etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg\n",
            cfg.display()
        ),
    );
    let v = explain(&ec2, dir);
    assert_eq!(v["datasource"]["list"], json!(["Ec2", "None"]));
    assert_eq!(v["datasource"]["nocloud_enabled"], false);
    assert!(has(&v, "error", "has no NoCloud"), "{v:#}");
    let (code, err) = verify(&ec2, dir, true);
    assert_ne!(code, 0);
    assert!(err.contains("has no NoCloud"), "{err}");
}

/// cloud-init already ran with the seed's instance-id.
fn already_ran_with_the_seeds_instance_id(img: &Path, dir: &Path, id: &str) {
    let ran = variant(img, "ran.img");
    let idf = dir.join("instance-id");
    std::fs::write(&idf, format!("{id}\n")).unwrap();
    debugfs_w(
        &ran,
        1,
        &format!(
            "mkdir /var/lib/cloud/data\nwrite {} /var/lib/cloud/data/instance-id\nmkdir /var/lib/cloud/instances\nmkdir /var/lib/cloud/instances/{id}\nsymlink /var/lib/cloud/instance /var/lib/cloud/instances/{id}\n",
            idf.display()
        ),
    );
    let v = explain(&ran, dir);
    assert_eq!(v["previous_run"]["instance_id"], id);
    assert_eq!(v["previous_run"]["instance_link"], id);
    assert_eq!(v["previous_run"]["same_as_seed"], true);
    assert!(has(&v, "error", "already ran"), "{v:#}");
    let (code, err) = verify(&ran, dir, false);
    assert_ne!(code, 0);
    assert!(err.contains("already ran"), "{err}");
}

/// Misnamed seed file, no #cloud-config header, network-config without a version.
fn misnamed_headerless_and_versionless(img: &Path, dir: &Path) {
    let names = variant(img, "names.img");
    let ud = dir.join("ud");
    std::fs::write(&ud, "hostname: x\n").unwrap();
    let nc = dir.join("nc");
    std::fs::write(&nc, "ethernets:\n  eth0:\n    dhcp4: true\n").unwrap();
    let m = mtools_img(&names, 0);
    for (src, dst) in [
        (&ud, "::user-data.yaml"),
        (&ud, "::user-data"),
        (&nc, "::network-config"),
    ] {
        let (ok, text) = tool("mcopy", &["-o", "-i", &m, src.to_str().unwrap(), dst]);
        assert!(ok, "{text}");
    }
    let v = explain(&names, dir);
    assert!(has(&v, "error", "user-data.yaml"), "{v:#}");
    assert!(has(&v, "error", "#cloud-config"), "{v:#}");
    assert!(has(&v, "error", "no version 1 or 2"), "{v:#}");
    assert_ne!(verify(&names, dir, false).0, 0);
}

/// user-data that says #cloud-config but is not YAML: cloud-init cannot read it.
fn user_data_that_is_not_yaml(img: &Path, dir: &Path) {
    let ud = dir.join("ud");
    let broken = variant(img, "broken-yaml.img");
    std::fs::write(&ud, "#cloud-config\nhostname: rpi2\nruncmd: [echo\n").unwrap();
    let m = mtools_img(&broken, 0);
    let (ok, text) = tool(
        "mcopy",
        &["-o", "-i", &m, ud.to_str().unwrap(), "::user-data"],
    );
    assert!(ok, "{text}");
    let v = explain(&broken, dir);
    assert!(
        has(
            &v,
            "error",
            "user-data on partition 1 (bootfs) / is not valid YAML (line"
        ),
        "{v:#}"
    );
    assert_ne!(verify(&broken, dir, false).0, 0);
}

/// `build` refuses to write a seed the image would ignore, naming the reason, and leaves
/// no image behind.
#[test]
fn build_refuses_images_that_would_ignore_the_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raspios.img");
    unxz(&fixture(SAMPLE_RASPIOS), &raw);
    let cases: [(&str, &str, &str); 2] = [
        ("disabled", "write /dev/null /etc/cloud/cloud-init.disabled\n", "disabled"),
        (
            "no-nocloud",
            "rm /etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg\nwrite {cfg} /etc/cloud/cloud.cfg.d/99_raspberry-pi.cfg\n",
            "NoCloud",
        ),
    ];
    let cfg = tmp.path().join("99.cfg");
    std::fs::write(&cfg, "datasource_list: [Ec2, None]\n").unwrap();
    for (name, cmds, needle) in cases {
        let img = tmp.path().join(format!("{name}.img"));
        std::fs::copy(&raw, &img).unwrap();
        debugfs_w(&img, 1, &cmds.replace("{cfg}", cfg.to_str().unwrap()));
        let out = tmp.path().join(format!("out-{name}"));
        let o = clem(
            &[
                "build",
                "--image",
                img.to_str().unwrap(),
                "--node",
                "rpi1",
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{name}: build accepted it: {err}");
        assert!(
            err.contains("would not use") && err.contains(needle),
            "{name}: {err}"
        );
        let left: Vec<String> = files_starting(&out, "")
            .into_iter()
            .filter(|n| n.contains(".img"))
            .collect();
        assert!(left.is_empty(), "{name}: left {left:?}");
    }
}

/// `(interface, address, from)` of each entry of a first_boot list (gateways, dns).
fn net_list(v: &Value, key: &str) -> Vec<(String, String, String)> {
    v["first_boot"][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap().to_string();
            (s("interface"), s("address"), s("from"))
        })
        .collect()
}

fn explain_text(img: &Path, home: &Path) -> String {
    let o = clem(&["explain", img.to_str().unwrap()], home);
    assert!(o.status.success(), "explain: {}", stderr(&o));
    stdout(&o)
}

/// Gateway and DNS as the seed (raspios: network-config, read here with mtype) or the
/// interfaces file (Snappy: read here with debugfs) says them.
#[test]
fn gateway_and_dns_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let t = |s: &str| s.to_string();

    let img = build(dir.path(), SAMPLE_MBR, "rpi1");
    let part = dir.path().join("writable.ext4");
    extract(&img, &sfdisk_parts(&img)[3], &part);
    let file = debugfs(&part, "cat /system-data/etc/network/interfaces.d/eth0");
    assert!(file.contains("gateway 10.0.5.1"), "{file}");
    assert!(file.contains("dns-nameservers 10.0.5.1 1.1.1.1"), "{file}");
    let v = explain(&img, dir.path());
    let from = t("/etc/network/interfaces.d/eth0");
    assert_eq!(
        net_list(&v, "gateways"),
        [(t("eth0"), t("10.0.5.1"), from.clone())]
    );
    assert_eq!(
        net_list(&v, "dns"),
        [
            (t("eth0"), t("10.0.5.1"), from.clone()),
            (t("eth0"), t("1.1.1.1"), from)
        ]
    );
    let text = explain_text(&img, dir.path());
    assert!(
        text.contains("Gateway: eth0 via 10.0.5.1 (from /etc/network/interfaces.d/eth0)."),
        "{text}"
    );
    assert!(
        text.contains("DNS: eth0 10.0.5.1, 1.1.1.1 (from /etc/network/interfaces.d/eth0)."),
        "{text}"
    );

    let sub = tempfile::tempdir().unwrap();
    let img = build(sub.path(), SAMPLE_RASPIOS, "rpi2");
    let (ok, nc) = tool("mtype", &["-i", &mtools_img(&img, 0), "::network-config"]);
    assert!(
        ok && nc.contains("10.0.5.1") && nc.contains("1.1.1.1"),
        "{nc}"
    );
    let v = explain(&img, sub.path());
    assert_eq!(
        net_list(&v, "gateways"),
        [(t("eth0"), t("10.0.5.1"), t("network-config"))]
    );
    let dns: Vec<String> = net_list(&v, "dns").into_iter().map(|d| d.1).collect();
    assert_eq!(dns, ["10.0.5.1", "1.1.1.1"]);
    let text = explain_text(&img, sub.path());
    assert!(
        text.contains("Gateway: eth0 via 10.0.5.1 (from network-config)."),
        "{text}"
    );
    assert!(
        text.contains("DNS: eth0 10.0.5.1, 1.1.1.1 (from network-config)."),
        "{text}"
    );
}

#[test]
fn password_login_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    // Stock Snappy: its seed sets a password and ssh_pwauth.
    let v = explain(&fixture(SAMPLE_MBR), dir.path());
    let fb = &v["first_boot"];
    assert_eq!(fb["password_login"], true);
    assert_eq!(fb["ssh_password_auth"], true);
    assert_eq!(fb["ssh_password_auth_from"], "ssh_pwauth in user-data");
    assert_eq!(
        fb["passwords"],
        json!([{"user": "ubuntu", "from": "user-data password"}])
    );
    let text = explain_text(&fixture(SAMPLE_MBR), dir.path());
    assert!(
        text.contains("SSH password login: on (ssh_pwauth in user-data); passwords for ubuntu"),
        "{text}"
    );

    // A built Snappy node: the seed sets no password; the image's sshd_config says no.
    let img = build(dir.path(), SAMPLE_MBR, "rpi1");
    let part = dir.path().join("system-a.ext4");
    extract(&img, &sfdisk_parts(&img)[1], &part);
    let sshd = debugfs(&part, "cat /etc/ssh/sshd_config");
    assert!(sshd.contains("\nPasswordAuthentication no\n"), "{sshd}");
    let v = explain(&img, dir.path());
    let fb = &v["first_boot"];
    assert_eq!(fb["password_login"], false);
    assert_eq!(fb["ssh_password_auth"], false);
    assert_eq!(
        fb["ssh_password_auth_from"],
        "PasswordAuthentication no in /etc/ssh/sshd_config"
    );
    assert_eq!(fb["passwords"], json!([]));
    let text = explain_text(&img, dir.path());
    assert!(
        text.contains(
            "SSH password login: off (PasswordAuthentication no in /etc/ssh/sshd_config)."
        ),
        "{text}"
    );
}

/// The seed of a built Raspberry Pi OS node replaced (mcopy) by `user_data`, and
/// `debugfs` commands run on its root.
fn reseeded(img: &Path, name: &str, user_data: &str, root_cmds: &str) -> PathBuf {
    let v = variant(img, name);
    let ud = img.with_extension(format!("{name}.user-data"));
    std::fs::write(&ud, user_data).unwrap();
    let (ok, text) = tool(
        "mcopy",
        &[
            "-o",
            "-i",
            &mtools_img(&v, 0),
            ud.to_str().unwrap(),
            "::user-data",
        ],
    );
    assert!(ok, "{text}");
    if !root_cmds.is_empty() {
        debugfs_w(&v, 1, root_cmds);
    }
    v
}

const NOBODY: &str = "nobody can log in to this node: no SSH key and password login is off";

#[test]
fn a_node_nobody_can_log_in_to_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let img = build(home, SAMPLE_RASPIOS, "rpi2");
    let v = explain(&img, home);
    assert!(!has(&v, "error", NOBODY), "{v:#}");
    assert_eq!(v["first_boot"]["password_login"], false);
    // The sample's sshd_config sets nothing (its drop-in directory is empty).
    assert_eq!(
        v["first_boot"]["ssh_password_auth_from"],
        "OpenSSH's default (not set in /etc/ssh/sshd_config)"
    );

    // No key and no password anywhere.
    let none = reseeded(&img, "nokey.img", "#cloud-config\nhostname: rpi2\n", "");
    let v = explain(&none, home);
    let keys: Vec<&Value> = v["first_boot"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["ssh_keys"].as_array().unwrap())
        .collect();
    assert!(keys.is_empty(), "{v:#}");
    assert!(has(&v, "error", NOBODY), "{v:#}");
    let text = explain_text(&none, home);
    assert!(text.contains(&format!("error: {NOBODY}")), "{text}");
    let (code, err) = verify(&none, home, false);
    assert_ne!(code, 0);
    assert!(err.contains(NOBODY), "{err}");

    // A password that sshd takes: not an error.
    let pw = reseeded(
        &img,
        "password.img",
        "#cloud-config\nhostname: rpi2\npassword: changeme\nssh_pwauth: true\n",
        "",
    );
    let v = explain(&pw, home);
    assert_eq!(v["first_boot"]["password_login"], true, "{v:#}");
    assert!(!has(&v, "error", NOBODY), "{v:#}");
    assert!(!explain_text(&pw, home).contains("changeme"));

    // A password, but SSH refuses passwords (a drop-in, read first through Include).
    let conf = home.join("50-no-passwords.conf");
    std::fs::write(&conf, "PasswordAuthentication no\n").unwrap();
    let off = reseeded(
        &img,
        "console.img",
        "#cloud-config\nhostname: rpi2\npassword: changeme\n",
        &format!(
            "write {} /etc/ssh/sshd_config.d/50-no-passwords.conf\n",
            conf.display()
        ),
    );
    let v = explain(&off, home);
    let fb = &v["first_boot"];
    assert_eq!(fb["ssh_password_auth"], false);
    assert_eq!(
        fb["ssh_password_auth_from"],
        "PasswordAuthentication no in /etc/ssh/sshd_config.d/50-no-passwords.conf"
    );
    assert!(has(&v, "error", NOBODY), "{v:#}");
    assert!(has(&v, "error", "only a console login"), "{v:#}");
}
