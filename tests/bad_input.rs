//! Bad input: a clear error naming the file and the problem, non-zero exit, no panic,
//! no output image left behind, and the input untouched.

mod common;

use common::*;
use std::path::{Path, PathBuf};

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        std::fs::create_dir(dir.join("home")).unwrap();
        Case { _tmp: tmp, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Runs build with `extra` args; asserts failure with every `needles` in stderr and
    /// that nothing (final or temporary) is left in the output directory.
    fn build_fails(&self, extra: &[&str], needles: &[&str]) {
        let out = self.path("out");
        let mut args = vec!["build", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = clem(&args, &self.path("home"));
        let err = stderr(&o);
        assert!(
            !o.status.success(),
            "build succeeded but should fail: {err}"
        );
        assert_eq!(o.status.code(), Some(1), "{err}");
        for n in needles {
            assert!(err.contains(n), "stderr lacks {n:?}: {err}");
        }
        let left: Vec<String> = files_starting(&out, "")
            .into_iter()
            .filter(|n| n.contains(".img"))
            .collect();
        assert!(left.is_empty(), "left behind in out/: {left:?}");
    }
}

fn write_modified(src: &Path, dst: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(src).unwrap();
    f(&mut bytes);
    std::fs::write(dst, bytes).unwrap();
}

#[test]
fn truncated_xz() {
    let c = Case::new();
    let bad = c.path("truncated.img.xz");
    write_modified(&fixture(SAMPLE_MBR), &bad, |b| b.truncate(b.len() / 2));
    let before = sha256_file(&bad);
    c.build_fails(
        &["--image", bad.to_str().unwrap(), "--node", "rpi1"],
        &["truncated.img.xz", "truncated"],
    );
    assert_eq!(sha256_file(&bad), before, "input modified");
}

#[test]
fn corrupt_xz() {
    let c = Case::new();
    let bad = c.path("corrupt.img.xz");
    write_modified(&fixture(SAMPLE_MBR), &bad, |b| {
        let mid = b.len() / 2;
        for x in &mut b[mid..mid + 64] {
            *x ^= 0x5A;
        }
    });
    c.build_fails(
        &["--image", bad.to_str().unwrap(), "--node", "rpi1"],
        &["corrupt.img.xz", "corrupt"],
    );
}

#[test]
fn no_partition_table() {
    let c = Case::new();
    let bad = c.path("blank.img");
    std::fs::write(&bad, vec![0u8; 4 << 20]).unwrap();
    c.build_fails(
        &["--image", bad.to_str().unwrap(), "--node", "rpi1"],
        &["blank.img", "no partition table"],
    );
}

#[test]
fn partition_beyond_the_end_of_the_image() {
    let c = Case::new();
    let raw = c.path("sample.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    // Cut the image short: partition 4 now runs past the end.
    let f = std::fs::OpenOptions::new().write(true).open(&raw).unwrap();
    f.set_len(100 << 20).unwrap();
    c.build_fails(
        &["--image", raw.to_str().unwrap(), "--node", "rpi1"],
        &["sample.img", "outside"],
    );
}

#[test]
fn damaged_fat() {
    let c = Case::new();
    let raw = c.path("sample.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    let p1 = sfdisk_parts(&raw)[0].clone();
    let before_len = std::fs::metadata(&raw).unwrap().len();
    // Zero bytes-per-sector and sectors-per-cluster in the FAT boot sector.
    write_modified(&raw.clone(), &raw, |b| {
        let s = p1.start as usize;
        b[s + 11..s + 14].fill(0);
    });
    let before = sha256_file(&raw);
    c.build_fails(
        &["--image", raw.to_str().unwrap(), "--node", "rpi1"],
        &["sample.img", "partition 1"],
    );
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), before_len);
    assert_eq!(sha256_file(&raw), before, "input modified");
}

#[test]
fn damaged_ext4() {
    let c = Case::new();
    let raw = c.path("sample.img");
    unxz(&fixture(SAMPLE_MBR), &raw);
    let p2 = sfdisk_parts(&raw)[1].clone();
    // Keep the magic but break the superblock: an absurd block size (log 40).
    write_modified(&raw.clone(), &raw, |b| {
        let sb = p2.start as usize + 1024;
        b[sb + 24..sb + 28].copy_from_slice(&40u32.to_le_bytes());
    });
    c.build_fails(
        &["--image", raw.to_str().unwrap(), "--node", "rpi1"],
        &["sample.img", "partition 2", "ext4"],
    );
}

#[test]
fn private_key_as_ssh_key() {
    let c = Case::new();
    let (private, _) = keygen(&c.dir, "id_ed25519");
    c.build_fails(
        &["--node", "rpi1", "--ssh-key", private.to_str().unwrap()],
        &["id_ed25519", "PRIVATE key"],
    );
}

#[test]
fn garbage_ssh_key() {
    let c = Case::new();
    let bad = c.path("junk.pub");
    std::fs::write(&bad, "ssh-ed25519 not-base64!!\n").unwrap();
    c.build_fails(
        &["--node", "rpi1", "--ssh-key", bad.to_str().unwrap()],
        &["junk.pub:1", "base64"],
    );
}

#[test]
fn bad_node_names() {
    let c = Case::new();
    c.build_fails(&["--node", "rpi_1"], &["rpi_1", "not a valid host name"]);
    c.build_fails(&["--node", "rpi4..rpi1"], &["rpi4..rpi1", "count upwards"]);
}

#[test]
fn missing_image() {
    let c = Case::new();
    c.build_fails(
        &["--image", "/nonexistent/x.img.xz", "--node", "rpi1"],
        &["/nonexistent/x.img.xz", "cannot open"],
    );
}

#[test]
fn full_output_disk() {
    // /dev/full fails every write with ENOSPC: point a symlinked out dir is not possible,
    // so use a tiny RLIMIT_FSIZE instead, which fails writes with EFBIG.
    let c = Case::new();
    let out = c.path("out");
    let script = format!(
        "trap '' XFSZ; ulimit -f 2048; exec {} build --node rpi1 --out {}",
        BIN,
        out.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("HOME", c.path("home"))
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("File too large") || err.contains("too large"),
        "{err}"
    );
    let left: Vec<String> = files_starting(&out, "")
        .into_iter()
        .filter(|n| n.contains(".img"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
