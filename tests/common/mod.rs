//! Shared helpers for the integration tests: run the binary, and judge images with
//! independent tools (sfdisk, fsck.vfat, e2fsck, debugfs, mtools, sha256sum).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_clem-image");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub const SAMPLE_MBR: &str = "snappy-rpi2-sample.img.xz";
pub const SAMPLE_GPT: &str = "snappy-rpi2-sample-gpt.img.xz";
pub const SAMPLE_RASPIOS: &str = "raspios-sample.img.xz";

/// Runs clem-image with a fixed environment: an empty HOME (no stray ~/.ssh keys) and a
/// fixed SOURCE_DATE_EPOCH unless the caller sets one.
pub fn clem(args: &[&str], home: &Path) -> Output {
    let out = Command::new(BIN)
        .args(args)
        // The default cluster directory is ./clem-cluster: keep it inside the test's tree.
        .current_dir(home)
        .env("HOME", home)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run clem-image");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "clem-image panicked: {stderr}"
    );
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a tool and returns (exit ok, stdout+stderr).
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(cmd)
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}); .ci/run installs it"));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Decompresses an .xz with the xz tool itself (independent of our decoder).
pub fn unxz(src: &Path, dst: &Path) {
    let out = Command::new("xz")
        .args(["-dc"])
        .arg(src)
        .output()
        .expect("run xz");
    assert!(out.status.success());
    std::fs::write(dst, out.stdout).unwrap();
}

/// A partition as sfdisk reports it, in bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub start: u64,
    pub size: u64,
}

/// `sfdisk -J` of an image, with the device paths taken out so two images compare.
pub fn sfdisk_json(img: &Path) -> serde_json::Value {
    let (ok, text) = tool("sfdisk", &["-J", img.to_str().unwrap()]);
    assert!(ok, "sfdisk -J {}: {text}", img.display());
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pt = v["partitiontable"].as_object_mut().unwrap();
    pt.remove("device");
    for p in pt["partitions"].as_array_mut().unwrap() {
        p.as_object_mut().unwrap().remove("node");
    }
    v
}

pub fn sfdisk_parts(img: &Path) -> Vec<Part> {
    let v = sfdisk_json(img);
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Part {
            start: p["start"].as_u64().unwrap() * 512,
            size: p["size"].as_u64().unwrap() * 512,
        })
        .collect()
}

/// Copies one partition out of an image into its own file, for fsck tools.
pub fn extract(img: &Path, part: &Part, dst: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(part.start)).unwrap();
    let mut buf = vec![0u8; part.size as usize];
    f.read_exact(&mut buf).unwrap();
    std::fs::write(dst, buf).unwrap();
}

pub fn sha256_range(img: &Path, part: &Part) -> String {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(part.start)).unwrap();
    let mut h = Sha256::new();
    let mut left = part.size;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let k = left.min(buf.len() as u64) as usize;
        f.read_exact(&mut buf[..k]).unwrap();
        h.update(&buf[..k]);
        left -= k as u64;
    }
    hex::encode(h.finalize())
}

pub fn sha256_file(p: &Path) -> String {
    let (ok, text) = tool("sha256sum", &[p.to_str().unwrap()]);
    assert!(ok);
    text.split_whitespace().next().unwrap().to_string()
}

/// A fresh ed25519 key pair made by ssh-keygen; returns (private, public) paths.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(name);
    let (ok, text) = tool(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            name,
            "-f",
            key.to_str().unwrap(),
        ],
    );
    assert!(ok, "ssh-keygen: {text}");
    let mut public = key.clone().into_os_string();
    public.push(".pub");
    (key, PathBuf::from(public))
}

/// Files in `dir` whose names start with `prefix` (to prove nothing was left behind).
pub fn files_starting(dir: &Path, prefix: &str) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs `debugfs -R REQUEST` on a partition file; returns its stdout.
pub fn debugfs(part: &Path, request: &str) -> String {
    let o = Command::new("debugfs")
        .args(["-R", request])
        .arg(part)
        .output()
        .expect("run debugfs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (mode, uid, gid, links) of `path` from `debugfs stat`.
pub fn debugfs_stat(part: &Path, path: &str) -> Option<(u32, u32, u32, u32)> {
    let text = debugfs(part, &format!("stat {path}"));
    let field = |name: &str| -> Option<u32> {
        let at = text.find(name)? + name.len();
        let rest = text[at..].trim_start();
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let v = &rest[..end];
        if name == "Mode:" {
            u32::from_str_radix(v, 8).ok()
        } else {
            v.parse().ok()
        }
    };
    Some((
        field("Mode:")?,
        field("User:")?,
        field("Group:")?,
        field("Links:")?,
    ))
}

/// Runs debugfs -w `cmds` on partition `index` (0-based) of `img`, splicing it back.
pub fn debugfs_w(img: &Path, index: usize, cmds: &str) {
    use std::io::{Seek, SeekFrom, Write};
    let part = sfdisk_parts(img)[index].clone();
    let file = img.with_extension(format!("p{index}"));
    extract(img, &part, &file);
    let script = img.with_extension("debugfs");
    std::fs::write(&script, cmds).unwrap();
    let (ok, text) = tool(
        "debugfs",
        &["-w", "-f", script.to_str().unwrap(), file.to_str().unwrap()],
    );
    assert!(ok, "debugfs: {text}");
    let data = std::fs::read(&file).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    f.seek(SeekFrom::Start(part.start)).unwrap();
    f.write_all(&data).unwrap();
    std::fs::remove_file(&file).unwrap();
}

/// Writes cloud-init's `version.py` (as Debian packages it) into the ext4 root at
/// partition `index` of `img`, so the image reports cloud-init `version`.
pub fn plant_cloud_init_version(img: &Path, index: usize, version: &str) {
    let vpy = img.with_extension("version.py");
    std::fs::write(
        &vpy,
        format!("__VERSION__ = \"{version}\"\n_PACKAGED_VERSION = \"@@PACKAGED_VERSION@@\"\n"),
    )
    .unwrap();
    debugfs_w(
        img,
        index,
        &format!(
            "mkdir /usr/lib/python3\nmkdir /usr/lib/python3/dist-packages\n\
             mkdir /usr/lib/python3/dist-packages/cloudinit\n\
             write {} /usr/lib/python3/dist-packages/cloudinit/version.py\n",
            vpy.display()
        ),
    );
    std::fs::remove_file(&vpy).unwrap();
}

/// `build --node NODES --ssh-key <the fixture key> --out DIR/out EXTRA…` run in `dir` (the
/// bundled MBR sample unless EXTRA gives `--image`); it must succeed. Returns `dir/out`.
pub fn build_nodes(dir: &Path, nodes: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join("out");
    build_nodes_with(dir, &fixture("keys/test_ed25519.pub"), &out, nodes, extra);
    out
}

/// `build --node NODES --ssh-key KEY --out OUT EXTRA…` run in `dir`; it must succeed.
pub fn build_nodes_with(dir: &Path, key: &Path, out: &Path, nodes: &str, extra: &[&str]) {
    let o = clem(&build_args(nodes, key, out, extra), dir);
    assert!(o.status.success(), "build: {}", stderr(&o));
}

/// The arguments `build --node NODES --ssh-key KEY --out OUT EXTRA…` (EXTRA names the
/// `--image`, a `--cloud-config`, …), for tests that run the binary their own way (under
/// the hostile watchdog, say).
pub fn build_args<'a>(
    nodes: &'a str,
    key: &'a Path,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "build",
        "--node",
        nodes,
        "--ssh-key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

/// Whether `tool` is on PATH. In CI (`CI` set) a missing tool is a failure, since `.ci/run`
/// installs it; elsewhere the check that needs it is skipped, with a note.
pub fn need_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing; .ci/run installs it"
        );
        eprintln!("note: {tool} not installed, its check skipped");
    }
    found
}

/// Whether `cmp` (not our code) finds the two files byte for byte identical.
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    Command::new("cmp")
        .arg(a)
        .arg(b)
        .status()
        .expect("run cmp")
        .success()
}
pub mod card;
