//! Seeded mutation test: mutants of each sample (partition tables, FAT boot sector, FATs
//! and directories, ext4 superblock, descriptors, inodes and directory blocks, truncations)
//! run through `inspect`, `explain`, `diff`, `verify` and `build`, each call under the time
//! and address-space limits of `tests/hostile/mod.rs`.
//!
//! A mutant fails the test when a call panics, aborts or dies by a signal, runs out of
//! time or memory, changes its input, leaves a final-named image after a failed build, or
//! builds an image whose partitions `e2fsck -fn` / `fsck.vfat -n` find worse than the
//! input's. The seed and the count live in [`SEED`] and [`MUTANTS`]; `CLEM_MUTATE_SEED`
//! and `CLEM_MUTATE_COUNT` override them (the `#[ignore]`d soak runs many more).

mod common;
mod hostile;

use common::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

/// The one place the seed and the count are kept.
const SEED: u64 = 0x0c1e_3e15_2026_1202;
const MUTANTS: usize = 200;
const SOAK_MUTANTS: usize = 3000;

/// splitmix64: small, seedable, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A byte range of the image worth mutating, named for the report.
#[derive(Clone)]
struct Region {
    name: &'static str,
    start: u64,
    len: u64,
    /// Fields worth setting to extremes: (offset within a record, width in bytes).
    fields: &'static [(u64, u8)],
    /// Record size the fields repeat with (an inode, a directory entry); 0: one record.
    stride: u64,
}

impl Region {
    fn plain(name: &'static str, start: u64, len: u64) -> Region {
        Region {
            name,
            start,
            len,
            fields: &[],
            stride: 0,
        }
    }
}

/// GPT header: header size, CRC, first/last usable LBA, entries LBA, count, size.
const GPT_FIELDS: &[(u64, u8)] = &[(12, 4), (40, 8), (48, 8), (72, 8), (80, 4), (84, 4)];
/// FAT directory entry: attributes, cluster high/low, size.
const DIRENT_FIELDS: &[(u64, u8)] = &[(11, 1), (20, 2), (26, 2), (28, 4)];
/// FAT boot sector: bytes/sector, sectors/cluster, reserved, FATs, root entries, sizes,
/// root cluster.
const FAT_BPB_FIELDS: &[(u64, u8)] = &[
    (11, 2),
    (13, 1),
    (14, 2),
    (16, 1),
    (17, 2),
    (19, 2),
    (22, 2),
    (32, 4),
    (36, 4),
    (44, 4),
];
/// ext4 superblock: counts, first data block, block size, per-group counts, inode size,
/// first inode, descriptor size.
const SB_FIELDS: &[(u64, u8)] = &[
    (0, 4),
    (4, 4),
    (20, 4),
    (24, 4),
    (32, 4),
    (40, 4),
    (84, 4),
    (88, 2),
    (254, 2),
];
/// ext4 inode: mode, size, links, flags, extent header (entries, max, depth), size high.
const INODE_FIELDS: &[(u64, u8)] = &[
    (0, 2),
    (4, 4),
    (26, 2),
    (32, 4),
    (42, 2),
    (44, 2),
    (46, 2),
    (52, 4),
    (60, 4),
    (108, 4),
];
/// ext4 directory entry at the block's start: inode, record length, name length.
const EXT4_DIRENT_FIELDS: &[(u64, u8)] = &[(0, 4), (4, 2), (6, 1), (16, 2), (24, 2)];
/// ext4 group descriptor: bitmaps, inode table, free counts, flags, itable_unused.
const DESC_FIELDS: &[(u64, u8)] = &[(0, 4), (4, 4), (8, 4), (12, 2), (14, 2), (18, 2), (28, 2)];

struct Part {
    start: u64,
    len: u64,
}

fn le16(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}
fn le32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

fn read_at(f: &File, at: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    f.read_exact_at(&mut buf, at).unwrap();
    buf
}

/// The partitions as sfdisk (an independent reader) sees them; none if it cannot read the
/// table (sfdisk also mixes warnings into its output: only the JSON object is taken).
fn partitions(img: &Path) -> Vec<Part> {
    let (ok, text) = tool("sfdisk", &["-J", img.to_str().unwrap()]);
    let json = text.find('{').and_then(|at| {
        serde_json::Deserializer::from_str(&text[at..])
            .into_iter::<serde_json::Value>()
            .next()?
            .ok()
    });
    let Some(json) = json.filter(|_| ok) else {
        return Vec::new();
    };
    let table = &json["partitiontable"];
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    let parts = table["partitions"].as_array().cloned().unwrap_or_default();
    parts
        .iter()
        .filter_map(|p| {
            Some(Part {
                start: p["start"].as_u64()? * sector,
                len: p["size"].as_u64()? * sector,
            })
        })
        .collect()
}

/// FAT: boot sector, the FATs, and the root directory.
fn fat_regions(f: &File, p: &Part, out: &mut Vec<Region>) {
    let bs = read_at(f, p.start, 512);
    let bps = le16(&bs, 11).max(512);
    let spc = (bs[13] as u64).max(1);
    let reserved = le16(&bs, 14);
    let fats = bs[16] as u64;
    let root_entries = le16(&bs, 17);
    let fat_sectors = if le16(&bs, 22) != 0 {
        le16(&bs, 22)
    } else {
        le32(&bs, 36)
    };
    let fat_start = p.start + reserved * bps;
    let fat_len = (fats * fat_sectors * bps).min(1 << 20);
    let root_start = fat_start + fats * fat_sectors * bps;
    let (root_at, root_len) = if root_entries != 0 {
        (root_start, root_entries * 32)
    } else {
        let root_cluster = le32(&bs, 44);
        (
            root_start + root_cluster.saturating_sub(2) * spc * bps,
            spc * bps,
        )
    };
    out.push(Region {
        fields: FAT_BPB_FIELDS,
        ..Region::plain("fat-boot-sector", p.start, 512)
    });
    out.push(Region::plain("fat-tables", fat_start, fat_len));
    out.push(Region {
        fields: DIRENT_FIELDS,
        stride: 32,
        ..Region::plain("fat-root-dir", root_at, root_len)
    });
}

/// ext4: superblock, group descriptors, the first inodes, and the root directory's block.
fn ext4_regions(f: &File, p: &Part, out: &mut Vec<Region>) {
    let sb = read_at(f, p.start + 1024, 1024);
    let block = 1024u64 << le32(&sb, 24).min(6);
    let first_data = le32(&sb, 20);
    let desc_size = if le32(&sb, 96) & 0x80 != 0 {
        le16(&sb, 254).max(32)
    } else {
        32
    };
    let inode_size = le16(&sb, 88).max(128);
    let gdt = p.start + (first_data + 1) * block;
    let desc = read_at(f, gdt, 64);
    let itable = p.start + le32(&desc, 8) * block;
    out.push(Region {
        fields: SB_FIELDS,
        ..Region::plain("ext4-superblock", p.start + 1024, 1024)
    });
    out.push(Region {
        fields: DESC_FIELDS,
        stride: desc_size,
        ..Region::plain("ext4-descriptors", gdt, desc_size * 4)
    });
    out.push(Region {
        fields: INODE_FIELDS,
        stride: inode_size,
        ..Region::plain("ext4-inodes", itable, inode_size * 16)
    });
    // The root directory (inode 2): the first extent's first block.
    let root = read_at(f, itable + inode_size, inode_size as usize);
    if le16(&root, 40) == 0xf30a {
        let start = (le16(&root, 40 + 12 + 6) << 32) | le32(&root, 40 + 12 + 8);
        out.push(Region {
            fields: EXT4_DIRENT_FIELDS,
            ..Region::plain("ext4-root-dir", p.start + start * block, block)
        });
    }
}

fn regions(img: &Path) -> Vec<Region> {
    let f = File::open(img).unwrap();
    let mut out = vec![
        Region::plain("mbr", 0, 512),
        Region {
            fields: GPT_FIELDS,
            ..Region::plain("gpt-header", 512, 92)
        },
        Region::plain("gpt-entries", 1024, 128 * 16),
    ];
    for p in partitions(img) {
        let head = read_at(&f, p.start, 512);
        let sb = read_at(&f, p.start + 1024, 1024);
        if le16(&sb, 56) == 0xef53 {
            ext4_regions(&f, &p, &mut out);
        } else if head[510] == 0x55 && head[511] == 0xaa {
            fat_regions(&f, &p, &mut out);
        }
    }
    out
}

/// The data segments of a sparse file (SEEK_DATA/SEEK_HOLE).
fn data_segments(f: &File) -> Vec<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let len = f.metadata().unwrap().len() as i64;
    let mut segs = Vec::new();
    let mut at = 0i64;
    while at < len {
        let data = unsafe { libc::lseek(f.as_raw_fd(), at, libc::SEEK_DATA) };
        if data < 0 {
            break;
        }
        let hole = unsafe { libc::lseek(f.as_raw_fd(), data, libc::SEEK_HOLE) };
        let hole = if hole < 0 { len } else { hole };
        segs.push((data as u64, (hole - data) as u64));
        at = hole;
    }
    segs
}

/// A digest of a sparse file's length and data, cheap for mostly-empty images.
fn fingerprint(p: &Path) -> String {
    let f = File::open(p).unwrap();
    let mut h = Sha256::new();
    h.update(f.metadata().unwrap().len().to_le_bytes());
    let mut buf = vec![0u8; 1 << 20];
    for (start, len) in data_segments(&f) {
        let mut at = start;
        while at < start + len {
            let n = ((start + len - at) as usize).min(buf.len());
            f.read_exact_at(&mut buf[..n], at).unwrap();
            // Zero runs inside data segments hash as if they were holes.
            if buf[..n].iter().any(|&b| b != 0) {
                h.update(at.to_le_bytes());
                h.update(&buf[..n]);
            }
            at += n as u64;
        }
    }
    hex::encode(h.finalize())
}

/// One mutation of `img` (already a copy), described for the report.
fn mutate(img: &Path, regions: &[Region], full_len: u64, rng: &mut Rng) -> String {
    if rng.below(10) == 0 {
        let len = rng.below(full_len);
        let f = File::options().write(true).open(img).unwrap();
        f.set_len(len).unwrap();
        return format!("truncated to {len}");
    }
    let r = &regions[rng.below(regions.len() as u64) as usize];
    let f = File::options().read(true).write(true).open(img).unwrap();
    let how = if !r.fields.is_empty() && rng.below(2) == 0 {
        set_field(&f, r, rng)
    } else {
        scribble(&f, r, rng)
    };
    // GPT is checksummed: half the GPT mutants get valid CRCs, to reach the parser.
    if r.name.starts_with("gpt") && rng.below(2) == 0 {
        fix_gpt_crcs(&f);
        return format!("{how} (CRCs fixed)");
    }
    how
}

/// Sets one known field of a random record of `r` to an extreme or random value.
fn set_field(f: &File, r: &Region, rng: &mut Rng) -> String {
    let (off, width) = r.fields[rng.below(r.fields.len() as u64) as usize];
    let records = r.len.checked_div(r.stride).unwrap_or(1).max(1);
    let at = r.start + rng.below(records) * r.stride + off;
    let old = read_at(f, at, width as usize);
    let mut cur = [0u8; 8];
    cur[..width as usize].copy_from_slice(&old);
    let cur = u64::from_le_bytes(cur);
    let v = match rng.below(8) {
        0 => 0,
        1 => 1,
        2 => cur.wrapping_add(1),
        3 => cur.wrapping_sub(1),
        4 => u64::MAX,
        5 => 1 << (8 * width as u64 - 1),
        6 => rng.below(64),
        _ => rng.next(),
    };
    f.write_all_at(&v.to_le_bytes()[..width as usize], at)
        .unwrap();
    format!("{} field +{off} of record at {at}: set to {v:#x}", r.name)
}

/// Recomputes the primary GPT's entries and header CRC-32s.
fn fix_gpt_crcs(f: &File) {
    let hdr = read_at(f, 512, 92);
    if &hdr[..8] != b"EFI PART" {
        return;
    }
    let entries_len = (le32(&hdr, 80) * le32(&hdr, 84)).min(1 << 20) as usize;
    let entries = read_at(f, 1024, entries_len);
    let mut crc = flate2::Crc::new();
    crc.update(&entries);
    f.write_all_at(&crc.sum().to_le_bytes(), 512 + 88).unwrap();
    let size = (le32(&hdr, 12) as usize).clamp(92, 512);
    let mut hdr = read_at(f, 512, size);
    hdr[16..20].fill(0);
    let mut crc = flate2::Crc::new();
    crc.update(&hdr);
    f.write_all_at(&crc.sum().to_le_bytes(), 512 + 16).unwrap();
}

/// Unstructured damage somewhere in `r`.
fn scribble(f: &File, r: &Region, rng: &mut Rng) -> String {
    let at = r.start + rng.below(r.len.max(1));
    let how = match rng.below(5) {
        0 => {
            let bit = 1u8 << rng.below(8);
            let b = read_at(f, at, 1)[0] ^ bit;
            f.write_all_at(&[b], at).unwrap();
            format!("bit {bit:#x} flipped")
        }
        1 => {
            let b = rng.below(256) as u8;
            f.write_all_at(&[b], at).unwrap();
            format!("byte set to {b:#x}")
        }
        2 => {
            let at = at & !3;
            let v = [
                0u32,
                1,
                2,
                0x7fff_ffff,
                0xffff_ffff,
                0x8000_0000,
                rng.next() as u32,
            ][rng.below(7) as usize];
            f.write_all_at(&v.to_le_bytes(), at).unwrap();
            return format!("{} at {at}: u32 set to {v:#x}", r.name);
        }
        3 => {
            let n = 1 + rng.below(64) as usize;
            f.write_all_at(&vec![0u8; n], at).unwrap();
            format!("{n} bytes zeroed")
        }
        _ => {
            let at = at & !1;
            let v = [0u16, 1, 0xffff, 0x8000, rng.next() as u16][rng.below(5) as usize];
            f.write_all_at(&v.to_le_bytes(), at).unwrap();
            return format!("{} at {at}: u16 set to {v:#x}", r.name);
        }
    };
    format!("{} at {at}: {how}", r.name)
}

/// How one call ended, or why it is a failure of the tool.
enum Ended {
    Ok,
    Refused,
}

/// Runs clem-image under the limits of `tests/hostile`; Err says what went wrong.
fn run(args: &[&str], home: &Path) -> Result<Ended, String> {
    let o = hostile::run_limited(args, home);
    if o.elapsed >= hostile::TIME_LIMIT {
        return Err(format!("still running after {:?}", hostile::TIME_LIMIT));
    }
    let stderr = &o.stderr;
    if stderr.contains("panicked") || stderr.contains("memory allocation") {
        return Err(format!("panicked or out of memory: {}", tail(stderr)));
    }
    match o.code {
        None => Err(format!("killed by a signal: {}", tail(stderr))),
        Some(0) => Ok(Ended::Ok),
        Some(1) | Some(2) => Ok(Ended::Refused),
        Some(code) => Err(format!("exit status {code}: {}", tail(stderr))),
    }
}

/// The line that says what went wrong, else the end of stderr.
fn tail(s: &str) -> String {
    if let Some(line) = s
        .lines()
        .find(|l| l.contains("panicked") || l.contains("memory allocation"))
    {
        return line.chars().take(300).collect();
    }
    let t: String = s.chars().rev().take(300).collect();
    t.chars().rev().collect()
}

/// Copies partition `p` of `img` to a new sparse file `dst`.
fn extract_part(img: &Path, p: &Part, dst: &Path) {
    let s = File::open(img).unwrap();
    let d = File::create(dst).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for (start, len) in data_segments(&s) {
        let (a, b) = (start.max(p.start), (start + len).min(p.start + p.len));
        let mut at = a;
        while at < b {
            let n = ((b - at) as usize).min(buf.len());
            s.read_exact_at(&mut buf[..n], at).unwrap();
            d.write_all_at(&buf[..n], at - p.start).unwrap();
            at += n as u64;
        }
    }
    d.set_len(p.len).unwrap();
}

/// fsck's verdict on a partition file (None: not a file system we check).
fn fsck(part: &Path) -> Option<bool> {
    let f = File::open(part).unwrap();
    let sb = read_at(&f, 1024, 1024);
    let head = read_at(&f, 0, 512);
    if le16(&sb, 56) == 0xef53 {
        Some(tool("e2fsck", &["-fn", part.to_str().unwrap()]).0)
    } else if head[510] == 0x55 && head[511] == 0xaa {
        Some(tool("fsck.vfat", &["-n", part.to_str().unwrap()]).0)
    } else {
        None
    }
}

/// The partitions a build changed that fsck finds damaged now but clean in its input.
fn made_worse(input: &Path, built: &Path, work: &Path) -> Vec<String> {
    let mut worse = Vec::new();
    let (was, now) = (work.join("was"), work.join("now"));
    for (i, p) in partitions(input).iter().enumerate() {
        if p.len < 2048 {
            continue;
        }
        extract_part(input, p, &was);
        extract_part(built, p, &now);
        if fingerprint(&was) != fingerprint(&now)
            && fsck(&was) == Some(true)
            && fsck(&now) == Some(false)
        {
            worse.push(format!(
                "build: partition {} was clean and is not now",
                i + 1
            ));
        }
    }
    let _ = (std::fs::remove_file(was), std::fs::remove_file(now));
    worse
}

/// Runs every command on one mutant; returns the failures found.
fn check_mutant(m: &Path, original: &Path, work: &Path, home: &Path, key: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let before = fingerprint(m);
    let (ms, os) = (m.to_str().unwrap(), original.to_str().unwrap());
    let out = work.join("out");
    let calls: Vec<(&str, Vec<&str>)> = vec![
        ("inspect", vec!["inspect", ms]),
        ("explain", vec!["explain", ms]),
        ("diff", vec!["diff", os, ms]),
        ("verify", vec!["verify", ms]),
    ];
    for (name, args) in &calls {
        if let Err(e) = run(args, home) {
            bad.push(format!("{name}: {e}"));
        }
    }
    let build = [
        "build",
        "--node",
        "rpi1",
        "--image",
        ms,
        "--ssh-key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let built = out.join("rpi1.img");
    match run(&build, home) {
        Err(e) => bad.push(format!("build: {e}")),
        Ok(Ended::Refused) if built.exists() => {
            bad.push("build failed but left out/rpi1.img".into());
        }
        Ok(Ended::Refused) => {}
        Ok(Ended::Ok) => bad.extend(made_worse(m, &built, work)),
    }
    if fingerprint(m) != before {
        bad.push("the input was changed".into());
    }
    let _ = std::fs::remove_dir_all(&out);
    bad
}

fn seed_and_count(default_count: usize) -> (u64, usize) {
    let seed = std::env::var("CLEM_MUTATE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let count = std::env::var("CLEM_MUTATE_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_count);
    (seed, count)
}

fn mutation_run(count: usize) {
    let (seed, count) = seed_and_count(count);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let (_, key) = keygen(tmp.path(), "op");
    let failures = Mutex::new(Vec::new());
    let tally = Mutex::new(BTreeMap::<String, [usize; 2]>::new());
    for (si, sample) in [SAMPLE_MBR, SAMPLE_GPT, SAMPLE_RASPIOS].iter().enumerate() {
        let original = tmp.path().join(format!("{si}.img"));
        unxz(&fixture(sample), &original);
        let regions = regions(&original);
        let full_len = std::fs::metadata(&original).unwrap().len();
        let workers = 2;
        std::thread::scope(|s| {
            for w in 0..workers {
                let (regions, original, home, key) = (&regions, &original, &home, &key);
                let (failures, tally) = (&failures, &tally);
                let work = tmp.path().join(format!("w{si}-{w}"));
                std::fs::create_dir(&work).unwrap();
                s.spawn(move || {
                    for i in (w..count).step_by(workers) {
                        // Each mutant has its own stream: the same seed gives the same mutants.
                        let mut rng = Rng(seed ^ ((si as u64) << 48) ^ (i as u64));
                        let m = work.join("mutant.img");
                        extract_part(
                            original,
                            &Part {
                                start: 0,
                                len: full_len,
                            },
                            &m,
                        );
                        let what = mutate(&m, regions, full_len, &mut rng);
                        let bad = check_mutant(&m, original, &work, home, key);
                        let kind = what.split(' ').next().unwrap_or("").to_string();
                        tally.lock().unwrap().entry(kind).or_default()
                            [usize::from(!bad.is_empty())] += 1;
                        for b in bad {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{sample} mutant {i} ({what}): {b}"));
                        }
                    }
                });
            }
        });
    }
    eprintln!("mutation test: seed {seed:#x}, {count} mutants per sample");
    for (kind, [ok, bad]) in tally.lock().unwrap().iter() {
        eprintln!("  {kind:28} {ok:5} held, {bad:3} failed");
    }
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn mutants_of_every_sample_never_crash_hang_or_damage() {
    mutation_run(MUTANTS);
}

#[test]
#[ignore = "soak: many more mutants; run with --ignored"]
fn mutation_soak() {
    mutation_run(SOAK_MUTANTS);
}
