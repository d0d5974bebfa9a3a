//! Hostile ext4 partitions: sizes, counts and links read from an image are never
//! trusted, damaged groups are refused before writing, and a failed write leaves
//! the file system byte-identical. Images are the bundled samples patched at offsets
//! found with sfdisk, debugfs and dumpe2fs, or small file systems made by mke2fs.
//! Judges: exit status and signal, wall time, an address-space limit (ulimit -v),
//! cmp of the input and of the file system, e2fsck -fn, dumpe2fs.

mod common;

use common::*;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use clem_image::fs::ext4::write::{Ext4Error, Ext4Writer, Meta};

/// Address space each call may use (KiB): far below the sizes the image claims.
const MEM_KIB: u64 = 1 << 20;
/// Wall time each call may take.
const TIME: Duration = Duration::from_secs(30);

/// Partition numbers of the snappy sample.
const SYSTEM_A: usize = 2;
const WRITABLE: usize = 4;

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    img: PathBuf,
}

impl Case {
    /// The snappy sample, decompressed with xz.
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        fs::create_dir(dir.join("home")).unwrap();
        let img = dir.join("in.img");
        unxz(&fixture(SAMPLE_MBR), &img);
        Case {
            _tmp: tmp,
            dir,
            img,
        }
    }

    fn part(&self, n: usize) -> Part {
        sfdisk_parts(&self.img)[n - 1].clone()
    }

    /// Partition `n` copied out, for debugfs and dumpe2fs.
    fn extract(&self, n: usize) -> PathBuf {
        let p = self.dir.join(format!("p{n}.img"));
        extract(&self.img, &self.part(n), &p);
        p
    }

    /// Byte offset in the image of byte `off` of partition `n`.
    fn at(&self, n: usize, off: u64) -> u64 {
        self.part(n).start + off
    }

    /// Runs clem-image under the time and memory limits; checks it ended by itself.
    fn run(&self, args: &[&str]) -> Output {
        let t = Instant::now();
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v {MEM_KIB}; exec timeout -s KILL {} \"$@\"",
                TIME.as_secs()
            ))
            .arg("sh")
            .arg(BIN)
            .args(args)
            .current_dir(self.dir.join("home"))
            .env("HOME", self.dir.join("home"))
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(t.elapsed() < TIME, "{args:?} took {:?}", t.elapsed());
        assert!(
            o.status.code().is_some(),
            "{args:?} killed by a signal: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            !err.contains("memory allocation"),
            "{args:?} ran out of memory: {err}"
        );
        o
    }

    /// `build` of one node from the (patched) image into `out`.
    fn build(&self) -> Output {
        let (_, key) = keygen(&self.dir, "k");
        let out = self.dir.join("out");
        self.run(&[
            "build",
            "--image",
            self.img.to_str().unwrap(),
            "--node",
            "rpi1",
            "--ssh-key",
            key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    }

    /// A build that must fail with every one of `needles`, leave no image and not
    /// change its input.
    fn build_refused(&self, needles: &[&str]) {
        let before = sha256_file(&self.img);
        let o = self.build();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "build should fail: {err}");
        for n in needles {
            assert!(err.contains(n), "stderr lacks {n:?}: {err}");
        }
        assert_eq!(sha256_file(&self.img), before, "the input was modified");
        let left: Vec<String> = files_starting(&self.dir.join("out"), "")
            .into_iter()
            .filter(|n| n.ends_with(".img"))
            .collect();
        assert!(left.is_empty(), "final image left: {left:?}");
    }
}

fn patch(img: &Path, off: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = fs::OpenOptions::new().write(true).open(img).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    f.write_all(bytes).unwrap();
}

fn read_at(img: &Path, off: u64, n: usize) -> Vec<u8> {
    use std::io::{Seek, SeekFrom};
    let mut f = fs::File::open(img).unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut b = vec![0u8; n];
    f.read_exact(&mut b).unwrap();
    b
}

/// Byte offset (in the partition) of `path`'s inode, from `debugfs imap`.
fn inode_offset(part: &Path, path: &str) -> u64 {
    let text = debugfs(part, &format!("imap {path}"));
    let block: u64 = text
        .split("located at block ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|b| b.trim().parse().ok())
        .unwrap_or_else(|| panic!("imap {path}: {text}"));
    let off = text.split("offset 0x").nth(1).unwrap().trim();
    block * 4096 + u64::from_str_radix(off, 16).unwrap()
}

/// Sets the inode size (i_size_lo at 0x4, i_size_high at 0x6C) of `path` on partition `n`.
fn set_size(c: &Case, n: usize, path: &str, size: u64) {
    let ino = c.at(n, inode_offset(&c.extract(n), path));
    patch(&c.img, ino + 0x4, &(size as u32).to_le_bytes());
    patch(&c.img, ino + 0x6C, &((size >> 32) as u32).to_le_bytes());
}

/// "Block bitmap at N" / "Inode bitmap at N" of group 0, from dumpe2fs.
fn bitmap_block(part: &Path, which: &str) -> u64 {
    let o = Command::new("dumpe2fs").arg(part).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let key = format!("{which} bitmap at ");
    let rest = text.split(key.as_str()).nth(1).unwrap();
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Flips bit `i` of the bitmap in block `blk` of partition `n` (4 KiB blocks).
fn flip_bit(c: &Case, n: usize, blk: u64, i: u64) {
    let off = c.at(n, blk * 4096 + i / 8);
    let b = read_at(&c.img, off, 1)[0] ^ (1 << (i % 8));
    patch(&c.img, off, &[b]);
}

/// An inode whose size claims 16 GiB (the partition holds 24 MiB): inspect and diff
/// name the file and the problem; explain finishes; nothing allocates the size.
#[test]
fn huge_inode_size_is_not_trusted() {
    let c = Case::new();
    let orig = c.dir.join("orig.img");
    fs::copy(&c.img, &orig).unwrap();
    set_size(&c, SYSTEM_A, "/etc/passwd", 16 << 30);
    let img = c.img.to_str().unwrap();
    let needles = ["/etc/passwd", "exceeds the partition"];
    // inspect fails with 1; diff keeps 1 for "differ" and fails with 2.
    let diff = vec!["diff", orig.to_str().unwrap(), img];
    for (args, code) in [(vec!["inspect", img], 1), (diff, 2)] {
        let o = c.run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: stderr lacks {n:?}: {err}");
        }
    }
    // explain reports what it can read; it must end normally within the limits.
    let o = c.run(&["explain", img]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
}

/// A symlink whose size claims 3 GiB, in a directory `build` copies: build names
/// the link and fails within the limits instead of allocating its "target".
#[test]
fn huge_symlink_size_fails_build() {
    let c = Case::new();
    set_size(&c, SYSTEM_A, "/etc/systemd/system/sshd.service", 3 << 30);
    c.build_refused(&["sshd.service", "symlink target of 3221225472 bytes"]);
    let o = c.run(&["inspect", c.img.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("sshd.service"), "{}", stderr(&o));
}

/// A directory entry that links /etc/cloud/loop back to /etc (debugfs ln): inspect
/// reports the loop instead of growing without bound; explain ends normally.
#[test]
fn directory_loop_is_reported() {
    let c = Case::new();
    let p = c.extract(SYSTEM_A);
    let (ok, text) = tool(
        "debugfs",
        &["-w", "-R", "ln /etc /etc/cloud/loop", p.to_str().unwrap()],
    );
    assert!(ok, "debugfs ln: {text}");
    assert!(debugfs(&p, "ls /etc/cloud").contains("loop"));
    patch(&c.img, c.part(SYSTEM_A).start, &fs::read(&p).unwrap());
    let o = c.run(&["inspect", c.img.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/etc/cloud/loop/cloud/loop"), "{err}");
    assert!(err.contains("the tree loops"), "{err}");
    assert!(err.len() < 1000, "error of {} bytes", err.len());
    let o = c.run(&["explain", c.img.to_str().unwrap()]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
}

/// s_first_data_block far from 0 on a 4 KiB file system (superblock offset 0x14):
/// build stops at once with an error naming the field.
#[test]
fn absurd_first_data_block_fails_build() {
    for v in [1u32, 4096, 8191] {
        let c = Case::new();
        patch(&c.img, c.at(WRITABLE, 1024 + 0x14), &v.to_le_bytes());
        c.build_refused(&["partition 4", &format!("first data block {v}")]);
    }
}

/// A used data block marked free in the block bitmap (its descriptor still counts it
/// used): build refuses before writing instead of handing the block out twice.
#[test]
fn block_bitmap_disagreeing_with_descriptor_is_refused() {
    let c = Case::new();
    let p = c.extract(WRITABLE);
    // dumpe2fs: group 0 of writable uses blocks 0-1216; 1200 is file data.
    let bb = bitmap_block(&p, "Block");
    flip_bit(&c, WRITABLE, bb, 1200);
    c.build_refused(&[
        "partition 4",
        "block bitmap has 6976 free blocks, its descriptor says 6975",
    ]);
}

/// An inode marked in use inside the part of the inode table the descriptor calls
/// unused (itable_unused), with the free count kept consistent by freeing another:
/// build refuses rather than allocate into either.
#[test]
fn inode_in_unused_area_is_refused() {
    let c = Case::new();
    let p = c.extract(WRITABLE);
    let ib = bitmap_block(&p, "Inode");
    // dumpe2fs: inodes 1-55 used, 56-2048 unused. Mark 100 used and 30 free.
    flip_bit(&c, WRITABLE, ib, 99);
    flip_bit(&c, WRITABLE, ib, 29);
    c.build_refused(&[
        "partition 4",
        "inode 100 is in use inside the area its descriptor calls unused",
    ]);
}

/// A directory the build changes (/system-data/etc/writable, where it replaces
/// hostname) has an entry with an empty name (name_len 0, offset 6 of the third
/// entry, after "." and ".."): build refuses it instead of adding a second
/// "hostname" beside the one it cannot read.
#[test]
fn damaged_directory_block_is_refused() {
    let c = Case::new();
    let p = c.extract(WRITABLE);
    let blk: u64 = debugfs(&p, "blocks /system-data/etc/writable")
        .trim()
        .parse()
        .unwrap();
    let third = blk * 4096 + 24;
    let name = read_at(&c.img, c.at(WRITABLE, third + 8), 8);
    assert_eq!(name, b"hostname", "layout changed: fix the offsets");
    patch(&c.img, c.at(WRITABLE, third + 6), &[0]);
    c.build_refused(&["partition 4", "bad name in directory entry at offset 24"]);
}

// ---- the writer's failures leave the file system byte-identical ----

fn meta() -> Meta {
    Meta {
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
    }
}

fn open_rw(img: &Path) -> Ext4Writer<fs::File> {
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    Ext4Writer::open(f).unwrap()
}

/// A source of `len` bytes that fails (or ends) after `good` of them.
struct Failing {
    left: u64,
    good: u64,
    eof: bool,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            if self.eof {
                return Ok(0);
            }
            return Err(std::io::Error::other("source went away"));
        }
        let n = (buf.len() as u64).min(self.good).min(self.left) as usize;
        buf[..n].fill(0xA5);
        self.good -= n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// dumpe2fs's free-block ranges, as a list of block numbers.
fn free_blocks(img: &Path) -> Vec<u64> {
    let o = Command::new("dumpe2fs").arg(img).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut out = Vec::new();
    for line in text.lines() {
        // Per-group lines are indented; the header's "Free blocks:" is a count.
        let Some(r) = line.strip_prefix("  Free blocks: ") else {
            continue;
        };
        for part in r.split(", ").filter(|s| !s.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            out.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap());
        }
    }
    out
}

fn fsck_clean(img: &Path) {
    let (ok, text) = tool("e2fsck", &["-fn", img.to_str().unwrap()]);
    assert!(ok, "e2fsck -fn: {text}");
}

/// A small file system (mke2fs, 1 KiB blocks, metadata_csum) filled by the writer
/// until it fails with "no space"; every failing call (no space, a source that
/// errors or ends early mid-file, replacing a file with such a source) leaves the
/// whole file system byte-identical (cmp); the next write succeeds, e2fsck -fn is
/// clean, it used exactly its own blocks, and every block still free holds the
/// bytes it held before (no stray data).
#[test]
fn failed_writes_leave_the_file_system_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fs.img");
    mke2fs_small(&img);
    fill_until_no_space(&img);
    let (before, free_before) = failed_mid_stream_writes_change_nothing(&img);
    next_write_uses_only_its_own_blocks(&img, &before, &free_before);
}

/// 2 MiB, 1 KiB blocks, metadata_csum, no journal.
fn mke2fs_small(img: &Path) {
    let (ok, text) = tool(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "1024",
            "-O",
            "metadata_csum,64bit,^has_journal",
            "-E",
            "root_owner=0:0",
            img.to_str().unwrap(),
            "2M",
        ],
    );
    assert!(ok, "mke2fs: {text}");
}

/// Fill with 40 KiB files until the writer says no space: that call changes nothing.
fn fill_until_no_space(img: &Path) {
    let mut n = 0;
    let err = loop {
        let before = fs::read(img).unwrap();
        let mut w = open_rw(img);
        let len = 40 * 1024;
        let src = &mut &vec![0x5Au8; len][..];
        match w.write_file(&format!("/f{n}"), src, len as u64, meta()) {
            Ok(()) => {
                w.finish().unwrap();
                n += 1;
            }
            Err(e) => {
                w.finish().unwrap();
                assert!(
                    fs::read(img).unwrap() == before,
                    "no-space call changed the fs"
                );
                break e;
            }
        }
        assert!(n < 1000, "never ran out of space");
    };
    assert!(matches!(err, Ext4Error::NoSpace(_)), "{err}");
    assert!(n > 10, "only {n} files fit");
    fsck_clean(img);
}

/// Delete two files to make room, then fail mid-stream in three ways: each failed call
/// leaves the file system byte-identical. Returns its bytes and free blocks then.
fn failed_mid_stream_writes_change_nothing(img: &Path) -> (Vec<u8>, Vec<u64>) {
    let mut w = open_rw(img);
    w.remove("/f0").unwrap();
    w.remove("/f1").unwrap();
    w.finish().unwrap();
    let before = fs::read(img).unwrap();
    let free_before = free_blocks(img);
    for (path, eof) in [
        ("/new", false),
        ("/new", true),
        ("/f2", false),
        ("/f3", true),
    ] {
        let mut w = open_rw(img);
        let len = 60 * 1024;
        let mut src = Failing {
            left: len,
            good: 50 * 1024,
            eof,
        };
        let e = w.write_file(path, &mut src, len, meta()).unwrap_err();
        assert!(
            matches!(e, Ext4Error::ShortData { .. } | Ext4Error::Io(_)),
            "{path}: {e}"
        );
        w.finish().unwrap();
        assert!(
            fs::read(img).unwrap() == before,
            "failed write of {path} (eof {eof}) changed the fs"
        );
    }
    (before, free_before)
}

/// The next write works, is clean, and leaves the other free blocks untouched.
fn next_write_uses_only_its_own_blocks(img: &Path, before: &[u8], free_before: &[u64]) {
    let mut w = open_rw(img);
    let len = 30 * 1024u64;
    w.write_file("/next", &mut &vec![7u8; len as usize][..], len, meta())
        .unwrap();
    w.finish().unwrap();
    fsck_clean(img);
    let after = fs::read(img).unwrap();
    let free_after = free_blocks(img);
    let used: Vec<u64> = free_before
        .iter()
        .filter(|b| !free_after.contains(b))
        .copied()
        .collect();
    assert!(
        used.len() as u64 >= len / 1024 && used.len() as u64 <= len / 1024 + 2,
        "30 KiB took {} blocks",
        used.len()
    );
    for b in &free_after {
        let r = (*b as usize * 1024)..(*b as usize + 1) * 1024;
        assert!(after[r.clone()] == before[r], "free block {b} changed");
    }
}
