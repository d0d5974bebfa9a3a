//! Images compressed by content: gzip, zstd, bzip2 and zip files made by the real tools are
//! read by every command (flash, inspect, explain, build, verify) as the raw image they
//! hold; 7z and lz4 are refused by name; truncated streams name the file and the format.
//! Judges: `cmp` against the raw image (or against the output made from it), exit codes,
//! and the absence of any file a refused `flash` could have created.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sh(script: &str) {
    let o = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(o.status.success(), "{script}: {}", stderr(&o));
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

/// The MBR sample, decompressed by xz itself.
fn raw_sample(dir: &Path) -> PathBuf {
    let raw = dir.join("disk.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    raw
}

/// `tool` turns `raw` (in `dir`) into the compressed file it returns.
fn compress(tool: &str, dir: &Path, raw: &Path) -> PathBuf {
    let (script, out) = match tool {
        "gzip" => ("gzip -k -1 disk.img", "disk.img.gz"),
        "zstd" => ("zstd -q -k -1 disk.img", "disk.img.zst"),
        "bzip2" => ("bzip2 -k -1 disk.img", "disk.img.bz2"),
        "zip" => ("zip -q disk.zip disk.img", "disk.zip"),
        "7z" => ("7z a -bd disk.7z disk.img >/dev/null", "disk.7z"),
        "lz4" => ("lz4 -q disk.img disk.img.lz4", "disk.img.lz4"),
        _ => unreachable!(),
    };
    assert_eq!(raw, dir.join("disk.img"));
    sh(&format!("cd '{}' && {script}", dir.display()));
    dir.join(out)
}

/// One node built from `image` with a fixed clock and a shared cluster directory, so two
/// builds of the same disk give the same bytes.
fn build_one(image: &Path, out: &Path, cluster: &Path, home: &Path) {
    let key = fixture("keys/test_ed25519.pub");
    let o = Command::new(BIN)
        .current_dir(home)
        .env("HOME", home)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "build",
            "--node",
            "rpi1",
            "--image",
            p(image),
            "--out",
            p(out),
        ])
        .args(["--ssh-key", p(&key), "--cluster-dir", p(cluster)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "build of {}: {}",
        image.display(),
        stderr(&o)
    );
}

/// Every command reads the file that `tool` made as the raw disk it holds.
fn read_by_every_command(tool: &str) {
    if !need_tool(tool) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let raw = raw_sample(home);
    let packed = compress(tool, home, &raw);
    let packed_before = sha256_file(&packed);

    // flash: the raw bytes, not the compressed ones (cmp).
    let card = home.join("card");
    let o = clem(&["flash", p(&packed), p(&card)], home);
    assert!(o.status.success(), "flash: {}", stderr(&o));
    assert!(
        same_bytes(&raw, &card),
        "flash of {} differs from the raw image",
        tool
    );

    // inspect and explain: the same report as for the raw image.
    for cmd in ["inspect", "explain"] {
        let a = clem(&[cmd, p(&raw)], home);
        let b = clem(&[cmd, p(&packed)], home);
        assert!(
            a.status.success() && b.status.success(),
            "{cmd}: {}",
            stderr(&b)
        );
        let unnamed = |o: &std::process::Output, name: &Path| stdout(o).replace(p(name), "IMG");
        assert_eq!(
            unnamed(&a, &raw),
            unnamed(&b, &packed),
            "{cmd} of the {tool} file"
        );
    }

    // build: byte for byte the image built from the raw disk (cmp); verify accepts it.
    let cluster = home.join("cluster");
    let (from_raw, from_packed) = (home.join("out-raw"), home.join("out-packed"));
    build_one(&raw, &from_raw, &cluster, home);
    build_one(&packed, &from_packed, &cluster, home);
    assert!(
        same_bytes(&from_raw.join("rpi1.img"), &from_packed.join("rpi1.img")),
        "the build from the {tool} file differs"
    );
    let img = from_packed.join("rpi1.img");
    let o = clem(&["verify", p(&img)], home);
    assert!(o.status.success(), "verify: {}", stderr(&o));

    // verify on the compressed form of a built image reads the disk inside.
    assert_eq!(
        sha256_file(&packed),
        packed_before,
        "the input was modified"
    );
    std::fs::rename(&img, home.join("disk.img")).unwrap();
    std::fs::remove_file(&packed).unwrap();
    let built_packed = compress(tool, home, &home.join("disk.img"));
    let o = clem(&["verify", p(&built_packed)], home);
    assert!(
        o.status.success(),
        "verify of a {tool} image: {}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("partitions readable"), "{}", stdout(&o));
}

#[test]
fn gzip_image_is_read_by_every_command() {
    read_by_every_command("gzip");
}

#[test]
fn zstd_image_is_read_by_every_command() {
    read_by_every_command("zstd");
}

#[test]
fn bzip2_image_is_read_by_every_command() {
    read_by_every_command("bzip2");
}

#[test]
fn zip_with_one_image_is_read_by_every_command() {
    read_by_every_command("zip");
}

/// A refused file makes every command fail with the format's name, and `flash` creates
/// nothing.
fn refused_by_name(tool: &str, want: &str) {
    if !need_tool(tool) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let raw = raw_sample(home);
    let packed = compress(tool, home, &raw);
    let card = home.join("card");
    let o = clem(&["flash", p(&packed), p(&card)], home);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(want) && stderr(&o).contains(p(&packed)),
        "{}",
        stderr(&o)
    );
    assert!(!card.exists(), "flash created {}", card.display());
    for cmd in ["inspect", "explain", "verify"] {
        let o = clem(&[cmd, p(&packed)], home);
        assert!(!o.status.success(), "{cmd} accepted a {tool} file");
        assert!(stderr(&o).contains(want), "{cmd}: {}", stderr(&o));
    }
    let o = clem(&["build", "--node", "rpi1", "--image", p(&packed)], home);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(want), "build: {}", stderr(&o));
}

#[test]
fn seven_zip_is_refused_by_name() {
    refused_by_name("7z", "7z-compressed");
}

#[test]
fn lz4_is_refused_by_name() {
    refused_by_name("lz4", "lz4-compressed");
}

/// A stream cut short names the file and its format, in `inspect` and in `flash` (which
/// checks the whole stream before it writes anything).
fn truncated(tool: &str, format: &str) {
    if !need_tool(tool) {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let raw = raw_sample(home);
    let packed = compress(tool, home, &raw);
    let bytes = std::fs::read(&packed).unwrap();
    let cut = home.join("cut");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let want = format!("the {format} stream is truncated");
    let o = clem(&["inspect", p(&cut)], home);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(p(&cut)) && stderr(&o).contains(&want),
        "{}",
        stderr(&o)
    );
    let card = home.join("card");
    let o = clem(&["flash", p(&cut), p(&card)], home);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(p(&cut)) && stderr(&o).contains(&want),
        "{}",
        stderr(&o)
    );
    assert!(!card.exists(), "flash created {}", card.display());
}

#[test]
fn truncated_gzip_names_the_file_and_format() {
    truncated("gzip", "gzip");
}

#[test]
fn truncated_zstd_names_the_file_and_format() {
    truncated("zstd", "zstd");
}

#[test]
fn zip_with_two_files_or_a_password_is_refused() {
    if !need_tool("zip") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    raw_sample(home);
    std::fs::write(home.join("README"), "x").unwrap();
    sh(&format!(
        "cd '{}' && zip -q two.zip disk.img README && zip -q -P secret locked.zip disk.img",
        home.display()
    ));
    let o = clem(&["inspect", p(&home.join("two.zip"))], home);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds 2 files"), "{}", stderr(&o));
    let o = clem(&["inspect", p(&home.join("locked.zip"))], home);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("encrypted"), "{}", stderr(&o));
}
