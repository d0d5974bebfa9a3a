//! Hostile partition tables: GPT headers with absurd fields and MBRs whose entries leave
//! the image, overlap, are empty or chain their logical partitions in a loop. Every command
//! must end with a clear error naming the image and the problem.
//!
//! Judges: the exit status (1, or 2 for `diff`; never a signal), the absence of "panicked"
//! in stderr, the wall time under a watchdog with a memory limit (tests/hostile), and
//! sha256 of the input before and after. `sgdisk -v` confirms each GPT mutant is damaged.

mod common;
mod hostile;

use common::*;
use hostile::*;
use std::path::{Path, PathBuf};

const SECTOR: usize = 512;

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        Case { _tmp: tmp, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The raw sample `xz_name`, decompressed by xz itself.
    fn raw(&self, xz_name: &str, name: &str) -> PathBuf {
        let raw = self.path(name);
        unxz(&fixture(xz_name), &raw);
        raw
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(bytes);
    c.sum()
}

/// Sets the primary header's CRC over its 92 defined bytes, as a partitioner would.
fn fix_header_crc(img: &mut [u8]) {
    let h = &mut img[SECTOR..SECTOR + 92];
    h[16..20].fill(0);
    let crc = crc32(h);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

/// Sets the entry-array CRC (in the primary header) after an entry was changed.
fn fix_entries_crc(img: &mut [u8]) {
    let h = &img[SECTOR..SECTOR + 92];
    let lba = u64::from_le_bytes(h[72..80].try_into().unwrap()) as usize;
    let count = u32::from_le_bytes(h[80..84].try_into().unwrap()) as usize;
    let crc = crc32(&img[lba * SECTOR..lba * SECTOR + count * 128]);
    img[SECTOR + 88..SECTOR + 92].copy_from_slice(&crc.to_le_bytes());
    fix_header_crc(img);
}

fn put_u32(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(img: &mut [u8], at: usize, v: u64) {
    img[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Byte offset of GPT entry `n` (1-based) of the primary array.
fn gpt_entry(img: &[u8], n: usize) -> usize {
    let lba = u64::from_le_bytes(img[SECTOR + 72..SECTOR + 80].try_into().unwrap()) as usize;
    lba * SECTOR + (n - 1) * 128
}

fn mutant(src: &Path, dst: &Path, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut img = std::fs::read(src).unwrap();
    f(&mut img);
    std::fs::write(dst, img).unwrap();
    sha256_file(dst)
}

/// inspect, explain and diff on `img`: each a clean error naming the image and `needle`.
fn read_commands_refuse(c: &Case, img: &Path, good: &Path, needle: &str) {
    let name = img.file_name().unwrap().to_str().unwrap();
    let i = img.to_str().unwrap();
    for args in [
        vec!["inspect", i],
        vec!["explain", i],
        vec!["diff", good.to_str().unwrap(), i],
    ] {
        let o = run_limited(&args, &c.dir);
        o.assert_clean_error(&format!("{args:?}"), &[name, needle]);
    }
}

/// The "Why" case: a GPT whose entry-size field is bad (with valid CRCs, so only the value
/// is wrong) panicked in the gpt crate in every command. Now inspect, explain, diff,
/// verify and build each exit non-zero naming the image and the entry size, in time, and
/// the input is unchanged (sha256).
#[test]
fn gpt_bad_entry_size_every_command() {
    let c = Case::new();
    let good = c.raw(SAMPLE_GPT, "good.img");
    let bad = c.path("bad-entry-size.img");
    let sum = mutant(&good, &bad, |img| {
        put_u32(img, SECTOR + 84, 0);
        fix_header_crc(img);
    });
    let (ok, text) = tool("sgdisk", &["-v", bad.to_str().unwrap()]);
    assert!(
        !ok || text.contains("roblem"),
        "sgdisk finds the mutant fine: {text}"
    );
    read_commands_refuse(&c, &bad, &good, "entry size 0");

    let (_, key) = keygen(&c.dir, "k");
    let out = c.path("out");
    let o = run_limited(
        &build_args("rpi1", &key, &out, &["--image", bad.to_str().unwrap()]),
        &c.dir,
    );
    o.assert_clean_error("build", &["bad-entry-size.img", "entry size 0"]);
    assert!(!out.join("rpi1.img").exists(), "build left an image");

    // verify reads a built image: build a good one, then damage its header the same way.
    let o = run_limited(
        &build_args("rpi1", &key, &out, &["--image", good.to_str().unwrap()]),
        &c.dir,
    );
    assert_eq!(o.code, Some(0), "good build: {}", o.stderr);
    let built = out.join("rpi1.img");
    mutant(&built.clone(), &built, |img| {
        put_u32(img, SECTOR + 84, 256);
        fix_header_crc(img);
    });
    let o = run_limited(&["verify", built.to_str().unwrap()], &c.dir);
    o.assert_clean_error("verify", &["rpi1.img", "entry size 256"]);
    assert_eq!(sha256_file(&bad), sum, "input modified");
}

/// Other absurd GPT header fields and entries: each refused by inspect, explain and diff
/// with a message naming the field (exit status, no panic, time; sha256 of the input).
#[test]
fn gpt_absurd_fields() {
    let c = Case::new();
    let good = c.raw(SAMPLE_GPT, "good.img");
    let len = std::fs::metadata(&good).unwrap().len();
    let sectors = len / SECTOR as u64;
    type Patch = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, &str, Patch)> = vec![
        (
            "count",
            "entry count 4294967295",
            Box::new(|img| put_u32(img, SECTOR + 80, u32::MAX)),
        ),
        (
            "header-size",
            "header size 4096",
            Box::new(|img| put_u32(img, SECTOR + 12, 4096)),
        ),
        (
            "backup",
            "backup header LBA",
            Box::new(move |img| put_u64(img, SECTOR + 32, sectors + 7)),
        ),
        (
            "last-usable",
            "usable area",
            Box::new(|img| put_u64(img, SECTOR + 48, u64::MAX)),
        ),
        (
            "array",
            "partition entries at LBA",
            Box::new(|img| put_u64(img, SECTOR + 72, 1)),
        ),
    ];
    for (name, needle, patch) in cases {
        let img = c.path(&format!("gpt-{name}.img"));
        let sum = mutant(&good, &img, |b| {
            patch(b);
            fix_header_crc(b);
        });
        read_commands_refuse(&c, &img, &good, needle);
        assert_eq!(sha256_file(&img), sum, "{name}: input modified");
    }
}

/// GPT entries (with valid CRCs) that leave the usable area or overlap another.
#[test]
fn gpt_bad_entries() {
    let c = Case::new();
    let good = c.raw(SAMPLE_GPT, "good.img");
    let img = c.path("gpt-outside.img");
    mutant(&good, &img, |b| {
        let e = gpt_entry(b, 2);
        put_u64(b, e + 40, u64::MAX / 2);
        fix_entries_crc(b);
    });
    read_commands_refuse(&c, &img, &good, "partition 2");
    let img = c.path("gpt-overlap.img");
    mutant(&good, &img, |b| {
        // Partition 2 starts where partition 1 does.
        let first = u64::from_le_bytes(b[gpt_entry(b, 1) + 32..][..8].try_into().unwrap());
        let e = gpt_entry(b, 2);
        put_u64(b, e + 32, first);
        fix_entries_crc(b);
    });
    read_commands_refuse(&c, &img, &good, "overlap");
}

/// MBR entry `n` (0-based) of the first sector.
fn mbr_entry(n: usize) -> usize {
    446 + n * 16
}

/// MBR entries outside the image, overlapping, empty, and an extended partition whose EBR
/// links back to itself: each a clean error from inspect, explain and diff.
#[test]
fn mbr_bad_entries() {
    let c = Case::new();
    let good = c.raw(SAMPLE_MBR, "good.img");
    type Patch = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, &str, Patch)> = vec![
        (
            "outside",
            "outside",
            Box::new(|b| put_u32(b, mbr_entry(1) + 12, u32::MAX / 2)),
        ),
        (
            "overlap",
            "overlap",
            Box::new(|b| {
                let start = u32::from_le_bytes(b[mbr_entry(0) + 8..][..4].try_into().unwrap());
                put_u32(b, mbr_entry(1) + 8, start + 8);
            }),
        ),
        (
            "empty",
            "empty",
            Box::new(|b| put_u32(b, mbr_entry(1) + 12, 0)),
        ),
        (
            "ebr-loop",
            "loops",
            Box::new(|b| {
                // Partition 4 becomes an extended partition whose EBR links to itself
                // (after one hop), so a reader following links would never end.
                let start = u32::from_le_bytes(b[mbr_entry(3) + 8..][..4].try_into().unwrap());
                b[mbr_entry(3) + 4] = 0x05;
                let ebr = start as usize * SECTOR;
                b[ebr..ebr + SECTOR].fill(0);
                b[ebr + 510] = 0x55;
                b[ebr + 511] = 0xAA;
                put_u32(b, ebr + 462 + 8, 8); // next EBR at +8
                let next = ebr + 8 * SECTOR;
                b[next..next + SECTOR].fill(0);
                b[next + 510] = 0x55;
                b[next + 511] = 0xAA;
                put_u32(b, next + 462 + 8, 8); // links to itself: +8 again
                put_u32(b, next + 462 + 12, 8);
            }),
        ),
    ];
    for (name, needle, patch) in cases {
        let img = c.path(&format!("mbr-{name}.img"));
        let sum = mutant(&good, &img, |b| patch(b));
        read_commands_refuse(&c, &img, &good, needle);
        assert_eq!(sha256_file(&img), sum, "{name}: input modified");
    }
}
