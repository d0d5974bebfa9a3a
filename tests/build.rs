//! `build` end to end on the bundled samples, judged by independent tools.

mod common;

use common::*;
use std::path::Path;

/// The unpacked input image, its table and partitions, and the keys given to the build.
struct Input {
    raw: std::path::PathBuf,
    table: serde_json::Value,
    parts: Vec<Part>,
    keys: [String; 2],
}

fn build_and_check(sample: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let out = tmp.path().join("out");
    let (_, pub1) = keygen(tmp.path(), "alice");
    let (_, pub2) = keygen(tmp.path(), "bob");
    let input = fixture(sample);
    let input_sha = sha256_file(&input);

    let o = clem(
        &[
            "build",
            "--image",
            input.to_str().unwrap(),
            "--node",
            "rpi1..rpi4",
            "--ssh-key",
            pub1.to_str().unwrap(),
            "--ssh-key",
            pub2.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--sha256",
        ],
        &home,
    );
    assert!(o.status.success(), "build failed: {}", stderr(&o));
    assert_eq!(sha256_file(&input), input_sha, "the input was modified");

    let raw = tmp.path().join("input.img");
    unxz(&input, &raw);
    let given = Input {
        table: sfdisk_json(&raw),
        parts: sfdisk_parts(&raw),
        raw,
        keys: [
            std::fs::read_to_string(&pub1).unwrap(),
            std::fs::read_to_string(&pub2).unwrap(),
        ],
    };
    for n in 1..=4 {
        check_snappy_node(tmp.path(), &home, &out, &format!("rpi{n}"), &given);
    }

    // Different nodes got different seeds; the outputs are sparse.
    assert_ne!(
        sha256_file(&out.join("rpi1.img")),
        sha256_file(&out.join("rpi2.img"))
    );
    assert_sparse(&out.join("rpi1.img"));
}

/// One built Snappy node: its `.sha256` (checked by sha256sum), the partition table as the
/// input's, the partitions fsck-clean and byte-identical but `writable`, and our verify.
fn check_snappy_node(dir: &Path, home: &Path, out: &Path, node: &str, input: &Input) {
    let img = out.join(format!("{node}.img"));
    assert!(img.exists(), "{} missing", img.display());
    // sha256sum itself checks our .sha256 file.
    let (ok, text) = tool(
        "sh",
        &[
            "-c",
            &format!("cd {} && sha256sum -c {node}.img.sha256", out.display()),
        ],
    );
    assert!(ok, "sha256sum -c: {text}");

    assert_eq!(
        sfdisk_json(&img),
        input.table,
        "{node}: partition table changed"
    );
    let parts = sfdisk_parts(&img);

    // Snappy keeps per-node state on `writable` (p4): system-boot and the A/B system
    // partitions must come out byte-identical, and every partition must fsck clean.
    let p1 = dir.join(format!("{node}-p1"));
    extract(&img, &parts[0], &p1);
    let (ok, text) = tool("fsck.vfat", &["-n", p1.to_str().unwrap()]);
    assert!(ok, "{node}: fsck.vfat -n: {text}");
    std::fs::remove_file(&p1).unwrap();
    for (i, part) in parts[..3].iter().enumerate() {
        assert_eq!(
            sha256_range(&img, part),
            sha256_range(&input.raw, &input.parts[i]),
            "{node}: partition {} is not byte-identical to the input's",
            i + 1
        );
    }
    for (i, part) in parts.iter().enumerate().skip(1) {
        let px = dir.join(format!("{node}-p{}", i + 1));
        extract(&img, part, &px);
        let (ok, text) = tool("e2fsck", &["-fn", px.to_str().unwrap()]);
        assert!(ok, "{node} p{}: e2fsck -fn: {text}", i + 1);
        if i == 3 {
            check_writable(&px, node, &input.keys);
        }
        std::fs::remove_file(&px).unwrap();
    }

    // Our own verify agrees.
    let o = clem(&["verify", img.to_str().unwrap()], home);
    assert!(o.status.success(), "verify {node}: {}", stderr(&o));
}

/// What debugfs (not our reader) finds on a node's `writable` partition.
fn check_writable(part: &Path, node: &str, keys: &[String]) {
    let hostname = debugfs(part, "cat /system-data/etc/writable/hostname");
    assert_eq!(hostname, format!("{node}\n"));

    let ak = "/user-data/ubuntu/.ssh/authorized_keys";
    let text = debugfs(part, &format!("cat {ak}"));
    for k in keys {
        assert!(
            text.contains(k.trim()),
            "{node}: key missing from {ak}: {text}"
        );
    }
    // Owner from extrausers' passwd (ubuntu = 1000:1000), modes 0600 / 0700.
    assert_eq!(
        debugfs_stat(part, ak).map(|s| (s.0 & 0o7777, s.1, s.2)),
        Some((0o600, 1000, 1000))
    );
    let ssh = debugfs_stat(part, "/user-data/ubuntu/.ssh").unwrap();
    assert_eq!((ssh.0 & 0o7777, ssh.1, ssh.2), (0o700, 1000, 1000));

    // cloud-init's seed where Snappy reads it, with this node's name and keys.
    let seed = "/system-data/var/lib/cloud/seed/nocloud-net";
    let user_data = debugfs(part, &format!("cat {seed}/user-data"));
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(
        user_data.contains(&format!("hostname: \"{node}\"")),
        "{user_data}"
    );
    for k in keys {
        assert!(user_data.contains(k.trim()), "{user_data}");
    }
    let meta = debugfs(part, &format!("cat {seed}/meta-data"));
    assert!(
        meta.contains(&format!("instance-id: \"clem-{node}-")),
        "{meta}"
    );

    // The first-boot unit is enabled (absolute symlink, as snappy writes them), and the
    // transition copy kept the units the system partition enables.
    let wants = "/system-data/etc/systemd/system/multi-user.target.wants";
    let listing = debugfs(part, &format!("ls {wants}"));
    assert!(listing.contains("clem-firstboot.service"), "{listing}");
    assert!(
        listing.contains("ssh.service"),
        "transition copy lost units: {listing}"
    );
    let unit = debugfs(
        part,
        "cat /system-data/etc/systemd/system/clem-firstboot.service",
    );
    assert!(
        unit.contains("ExecStart=/bin/bash /writable/clem-image/firstboot"),
        "{unit}"
    );

    // Secrets: the TLS key and node.env are 0600 root; nothing under /clem-image is
    // readable by others except the public certificates and the script.
    for (path, mode) in [
        ("/clem-image/tls/server-key.pem", 0o600),
        ("/clem-image/node.env", 0o600),
        ("/clem-image/tls/server-cert.pem", 0o644),
        ("/clem-image/firstboot", 0o755),
        ("/clem-image", 0o700),
    ] {
        let st = debugfs_stat(part, path).unwrap_or_else(|| panic!("{node}: {path} missing"));
        assert_eq!((st.0 & 0o7777, st.1, st.2), (mode, 0, 0), "{node}: {path}");
    }
    let key = debugfs(part, "cat /clem-image/tls/server-key.pem");
    assert!(key.contains("PRIVATE KEY"), "{key}");
}

fn assert_sparse(img: &Path) {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(img).unwrap();
    assert!(
        md.blocks() * 512 < md.len() / 4,
        "{} uses {} bytes on disk for {} bytes",
        img.display(),
        md.blocks() * 512,
        md.len()
    );
}

#[test]
fn builds_four_nodes_from_the_mbr_sample() {
    build_and_check(SAMPLE_MBR);
}

#[test]
fn builds_four_nodes_from_the_gpt_sample() {
    build_and_check(SAMPLE_GPT);
}

#[test]
fn gpt_output_passes_sgdisk() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let input = fixture(SAMPLE_GPT);
    let o = clem(
        &[
            "build",
            "--image",
            input.to_str().unwrap(),
            "--node",
            "rpi1",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("made a new SSH key for this cluster"),
        "missing note: {}",
        stderr(&o)
    );
    let img = out.join("rpi1.img");
    let (ok, text) = tool("sgdisk", &["-v", img.to_str().unwrap()]);
    assert!(
        ok && text.contains("No problems found"),
        "sgdisk -v: {text}"
    );
    let (ok, text) = tool("sgdisk", &["-p", img.to_str().unwrap()]);
    assert!(ok, "{text}");
    for name in ["system-boot", "system-a", "system-b", "writable"] {
        assert!(text.contains(name), "sgdisk -p lacks {name}: {text}");
    }
}

#[test]
fn keys_default_to_home_ssh_pub_files() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let (_, public) = keygen(&home.join(".ssh"), "id_ed25519");
    let out = tmp.path().join("out");
    let o = clem(
        &["build", "--node", "rpi2", "--out", out.to_str().unwrap()],
        &home,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = out.join("rpi2.img");
    let parts = sfdisk_parts(&img);
    let p4 = tmp.path().join("p4");
    extract(&img, &parts[3], &p4);
    let text = debugfs(&p4, "cat /user-data/ubuntu/.ssh/authorized_keys");
    let key = std::fs::read_to_string(public).unwrap();
    assert!(text.contains(key.trim()), "{text}");
}

/// Raspberry Pi OS (trixie-shaped sample): seed on bootfs, node files on an ext4 root with
/// metadata_csum and an htree directory.
#[test]
fn builds_raspios_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (_, public) = keygen(tmp.path(), "carol");
    let key = std::fs::read_to_string(&public).unwrap();
    let input = fixture(SAMPLE_RASPIOS);
    let o = clem(
        &[
            "build",
            "--image",
            input.to_str().unwrap(),
            "--node",
            "pi1,pi2",
            "--ssh-key",
            public.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("raspberry-pi-os"), "{}", stderr(&o));
    let raw = tmp.path().join("input.img");
    unxz(&input, &raw);
    for node in ["pi1", "pi2"] {
        let img = out.join(format!("{node}.img"));
        assert_eq!(sfdisk_json(&img), sfdisk_json(&raw));
        let parts = sfdisk_parts(&img);
        check_raspios_bootfs(tmp.path(), &img, &parts[0], node, &key);
        check_raspios_rootfs(tmp.path(), &img, &parts[1], &raw, node);
    }
}

/// bootfs: fsck clean; mtype shows this node's seed.
fn check_raspios_bootfs(dir: &Path, img: &Path, part: &Part, node: &str, key: &str) {
    let p1 = dir.join("p1");
    extract(img, part, &p1);
    let (ok, text) = tool("fsck.vfat", &["-n", p1.to_str().unwrap()]);
    assert!(ok, "{node}: fsck.vfat -n: {text}");
    let at = format!("{}@@{}", img.display(), part.start);
    let (ok, user_data) = tool("mtype", &["-i", &at, "::/user-data"]);
    assert!(ok, "{user_data}");
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(
        user_data.contains(&format!("hostname: \"{node}\"")),
        "{user_data}"
    );
    assert!(user_data.contains(key.trim()), "{user_data}");
    // Trixie has no default user: the login user is named in user-data.
    assert!(user_data.contains("user:\n  name: \"pi\"\n"), "{user_data}");
    let (ok, meta) = tool("mtype", &["-i", &at, "::/meta-data"]);
    assert!(
        ok && meta.contains(&format!("instance-id: \"clem-{node}-")),
        "{meta}"
    );
}

/// rootfs: e2fsck clean (metadata_csum), node files in place, the machine id as shipped.
fn check_raspios_rootfs(dir: &Path, img: &Path, part: &Part, raw: &Path, node: &str) {
    let p2 = dir.join("p2");
    extract(img, part, &p2);
    let (ok, text) = tool("e2fsck", &["-fn", p2.to_str().unwrap()]);
    assert!(ok, "{node}: e2fsck -fn: {text}");
    assert_eq!(debugfs(&p2, "cat /etc/hostname"), format!("{node}\n"));
    let hosts = debugfs(&p2, "cat /etc/hosts");
    assert!(hosts.contains(&format!("127.0.1.1\t{node}")), "{hosts}");
    assert!(!hosts.contains("raspberrypi"), "{hosts}");
    let wants = debugfs(&p2, "ls /etc/systemd/system/multi-user.target.wants");
    assert!(wants.contains("clem-firstboot.service"), "{wants}");
    assert!(
        wants.contains("docker.service"),
        "existing units lost: {wants}"
    );
    for (path, mode) in [
        ("/etc/clem-image", 0o700),
        ("/etc/clem-image/node.env", 0o600),
        ("/etc/clem-image/tls/server-key.pem", 0o600),
        ("/usr/local/lib/clem-image/firstboot", 0o755),
    ] {
        let st = debugfs_stat(&p2, path).unwrap_or_else(|| panic!("{node}: {path} missing"));
        assert_eq!((st.0 & 0o7777, st.1, st.2), (mode, 0, 0), "{node}: {path}");
    }
    // The machine id stays as shipped: it must not be baked into per-node images.
    assert_eq!(debugfs(&p2, "cat /etc/machine-id"), {
        let rp2 = dir.join("rp2");
        extract(raw, &sfdisk_parts(raw)[1], &rp2);
        debugfs(&rp2, "cat /etc/machine-id")
    });
}

/// Each node's block map is derived from the base's (digests of untouched chunks reused):
/// bmaptool, copying through it with checksum verification, must reproduce every image
/// byte for byte; `verify` checks the same map; a byte flipped anywhere in data fails it;
/// and a `.sha256` left by an earlier `--sha256` build is removed, never left stale.
#[test]
fn block_maps_are_right_for_every_node_and_verify_checks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let key = fixture("keys/test_ed25519.pub");
    let input = fixture(SAMPLE_RASPIOS);
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            "--image",
            input.to_str().unwrap(),
            "--node",
            "pi1,pi2",
            "--ssh-key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = clem(&args, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    build(&["--sha256"]);
    assert!(out.join("pi1.img.sha256").exists());
    let o = build(&["--json"]);
    assert!(
        !out.join("pi1.img.sha256").exists(),
        "a stale .sha256 was left beside a new image"
    );
    check_summary(&o, &out);
    for node in ["pi1", "pi2"] {
        check_block_map(tmp.path(), &out, node);
    }
    a_byte_in_a_hole_fails_verify(tmp.path(), &out);
}

/// `build --json` names each node's image.
fn check_summary(o: &std::process::Output, out: &Path) {
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let images: Vec<&str> = summary["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        [
            out.join("pi1.img").to_str().unwrap(),
            out.join("pi2.img").to_str().unwrap()
        ]
    );
}

/// A node's block map has ranges, bmaptool copies through it to the same bytes, and our
/// verify checks the image against it.
fn check_block_map(dir: &Path, out: &Path, node: &str) {
    let img = out.join(format!("{node}.img"));
    let bmap = out.join(format!("{node}.img.bmap"));
    let text = std::fs::read_to_string(&bmap).unwrap();
    assert!(text.matches("<Range").count() > 1, "{text}");
    if std::process::Command::new("bmaptool")
        .arg("--version")
        .output()
        .is_ok()
    {
        let copy = dir.join(format!("{node}.copy"));
        let (ok, log) = tool(
            "bmaptool",
            &[
                "copy",
                "--bmap",
                bmap.to_str().unwrap(),
                img.to_str().unwrap(),
                copy.to_str().unwrap(),
            ],
        );
        assert!(ok, "bmaptool copy {node}: {log}");
        assert_eq!(
            sha256_file(&copy),
            sha256_file(&img),
            "{node}: copy differs"
        );
    } else {
        assert!(std::env::var_os("CI").is_none(), "bmaptool missing in CI");
    }
    let o = clem(&["verify", img.to_str().unwrap()], dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("match the SHA-256 digests"),
        "{}",
        stdout(&o)
    );
}

/// A byte written where the map says "hole": a flash through the map would lose it, so
/// verify fails and says where.
fn a_byte_in_a_hole_fails_verify(dir: &Path, out: &Path) {
    let img = out.join("pi2.img");
    let map = clem_image::bmap::Bmap::load(&out.join("pi2.img.bmap")).unwrap();
    let gap = map
        .ranges
        .windows(2)
        .map(|w| (map.byte_span(&w[0]).1, map.byte_span(&w[1]).0))
        .find(|(end, next)| next > end)
        .expect("the map has a hole")
        .0;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&[0x55], gap + 100).unwrap();
    }
    let o = clem(&["verify", img.to_str().unwrap()], dir);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "byte {} holds data outside every range",
            gap + 100
        )),
        "{}",
        stderr(&o)
    );
}
