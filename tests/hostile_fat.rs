//! Hostile FAT partitions, made from the Raspberry Pi OS sample by patching its bootfs
//! (FAT32): directories that loop back to an ancestor, a cluster chain that loops, a
//! duplicate cloud-init seed entry and two files sharing clusters.
//!
//! Judges: exit status (1, or 2 for `diff`; never a signal such as a stack overflow), the
//! absence of "panicked", wall time under a watchdog with a memory limit (tests/hostile),
//! sha256 of the input before and after, no image left in `--out`, and `fsck.vfat -n`
//! confirming that each mutant really is damaged.

mod common;
mod hostile;

use common::*;
use hostile::*;
use std::path::{Path, PathBuf};

/// A FAT32 file system inside an image held in memory, for patching.
struct Fat32 {
    img: Vec<u8>,
    part: usize,
    bps: usize,
    spc: usize,
    fat: usize,
    fats: usize,
    fat_len: usize,
    data: usize,
    root: u32,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

impl Fat32 {
    /// The FAT32 partition at byte `part` of `img`, geometry from its boot sector.
    fn new(img: Vec<u8>, part: usize) -> Fat32 {
        let b = &img[part..part + 512];
        let (bps, spc, res, fats) = (u16_at(b, 11), b[13] as usize, u16_at(b, 14), b[16] as usize);
        let fat_len = u32_at(b, 36) as usize * bps;
        assert_eq!(u16_at(b, 22), 0, "not FAT32");
        let fat = part + res * bps;
        Fat32 {
            root: u32_at(b, 44),
            data: fat + fats * fat_len,
            img,
            part,
            bps,
            spc,
            fat,
            fats,
            fat_len,
        }
    }

    fn link(&self, c: u32) -> u32 {
        u32_at(&self.img, self.fat + 4 * c as usize) & 0x0FFF_FFFF
    }

    /// Sets FAT entry `c` in every copy of the FAT.
    fn set_link(&mut self, c: u32, v: u32) {
        for i in 0..self.fats {
            let at = self.fat + i * self.fat_len + 4 * c as usize;
            self.img[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    }

    fn chain(&self, start: u32) -> Vec<u32> {
        let mut out = vec![start];
        while self.link(*out.last().unwrap()) < 0x0FFF_FFF8 {
            out.push(self.link(*out.last().unwrap()));
            assert!(out.len() < 1 << 20, "the sample's chains end");
        }
        out
    }

    /// Byte offsets of every 32-byte slot of the directory at `cluster`.
    fn slots(&self, cluster: u32) -> Vec<usize> {
        let size = self.bps * self.spc;
        self.chain(cluster)
            .into_iter()
            .flat_map(|c| {
                let o = self.data + (c as usize - 2) * size;
                (0..size / 32).map(move |i| o + i * 32)
            })
            .collect()
    }

    /// The slot of the short entry whose 8.3 name starts with `prefix`, in `dir`.
    fn find(&self, dir: u32, prefix: &[u8]) -> usize {
        self.slots(dir)
            .into_iter()
            .find(|&o| self.img[o + 11] != 0x0F && self.img[o..].starts_with(prefix))
            .unwrap_or_else(|| panic!("no {:?} in the sample", String::from_utf8_lossy(prefix)))
    }

    fn set_cluster(&mut self, slot: usize, c: u32) {
        self.img[slot + 20..slot + 22].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        self.img[slot + 26..slot + 28].copy_from_slice(&(c as u16).to_le_bytes());
    }

    fn cluster(&self, slot: usize) -> u32 {
        (u16_at(&self.img, slot + 20) as u32) << 16 | u16_at(&self.img, slot + 26) as u32
    }
}

struct Case {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    good: PathBuf,
    part: Part,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let good = dir.join("good.img");
        unxz(&fixture(SAMPLE_RASPIOS), &good);
        let part = sfdisk_parts(&good)[0].clone();
        Case {
            _tmp: tmp,
            dir,
            good,
            part,
        }
    }

    /// Writes a mutant of the sample named `name`; returns its path and sha256.
    fn mutant(&self, name: &str, f: impl FnOnce(&mut Fat32)) -> (PathBuf, String) {
        let mut fat = Fat32::new(std::fs::read(&self.good).unwrap(), self.part.start as usize);
        f(&mut fat);
        let path = self.dir.join(name);
        std::fs::write(&path, &fat.img).unwrap();
        let sum = sha256_file(&path);
        (path, sum)
    }

    /// `fsck.vfat -n` on the mutant's bootfs: it must find the damage we made.
    fn fsck_finds_damage(&self, img: &Path) {
        let p1 = self.dir.join("p1.fsck");
        extract(img, &self.part, &p1);
        let (ok, text) = tool("timeout", &["60", "fsck.vfat", "-n", p1.to_str().unwrap()]);
        assert!(!ok, "fsck.vfat -n finds the mutant clean: {text}");
    }

    /// build of `img` into a fresh `--out`: a clean error with `needles`, no image left.
    fn build_refuses(&self, img: &Path, needles: &[&str]) {
        let out = self.dir.join("out");
        let key = self.dir.join("k.pub");
        if !key.exists() {
            keygen(&self.dir, "k");
        }
        let o = run_limited(
            &[
                "build",
                "--image",
                img.to_str().unwrap(),
                "--node",
                "pi1",
                "--ssh-key",
                key.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &self.dir,
        );
        o.assert_clean_error("build", needles);
        let left: Vec<_> = std::fs::read_dir(&out)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            !left.iter().any(|n| n.to_string_lossy().contains(".img")),
            "build left {left:?}"
        );
    }

    /// inspect, explain and diff of `img`: each a clean error with `needles`, in time.
    fn readers_refuse(&self, img: &Path, needles: &[&str]) {
        let i = img.to_str().unwrap();
        for args in [
            vec!["inspect", i],
            vec!["explain", i],
            vec!["diff", self.good.to_str().unwrap(), i],
        ] {
            let o = run_limited(&args, &self.dir);
            o.assert_clean_error(&format!("{args:?}"), needles);
            assert!(!o.stdout.contains("checks OK"), "{args:?}: {}", o.stdout);
        }
    }
}

/// The "Why" case: a directory entry (/overlays) pointing back at the root made
/// inspect/explain/diff list /overlays/overlays/... without end and build overflow its
/// stack. Each now ends within the time limit with an error naming the image, partition 1
/// and the loop; the input is unchanged (sha256).
#[test]
fn looping_directory_every_command() {
    let c = Case::new();
    let (img, sum) = c.mutant("loop-dir.img", |f| {
        let slot = f.find(f.root, b"OVERLAYS");
        let root = f.root;
        f.set_cluster(slot, root);
    });
    let needles = ["loop-dir.img", "partition 1", "/overlays", "directory loop"];
    c.readers_refuse(&img, &needles);
    c.build_refuses(&img, &needles);
    assert_eq!(sha256_file(&img), sum, "input modified");
}

/// A subdirectory pointing back at its own parent through `..`-like aliasing (cluster 0,
/// which fatfs opens as the root), and a root directory whose cluster chain loops: both
/// refused by every reader and by build, in time.
#[test]
fn looping_chain_and_root_alias() {
    let c = Case::new();
    let (alias, _) = c.mutant("alias.img", |f| {
        let slot = f.find(f.root, b"OVERLAYS");
        f.set_cluster(slot, 0);
    });
    c.readers_refuse(
        &alias,
        &["alias.img", "/overlays", "without a first cluster"],
    );
    c.build_refuses(&alias, &["alias.img", "without a first cluster"]);

    let (chain, sum) = c.mutant("chain-loop.img", |f| {
        let root = f.root;
        let last = *f.chain(root).last().unwrap();
        f.set_link(last, root);
    });
    c.fsck_finds_damage(&chain);
    c.readers_refuse(&chain, &["chain-loop.img", "loops"]);
    c.build_refuses(&chain, &["chain-loop.img", "partition 1", "loops"]);
    assert_eq!(sha256_file(&chain), sum, "input modified");
}

/// The "Why" case: two root entries for the seed's `meta-data` (the explain then
/// listed it twice and said "seed checks OK"). Build refuses before writing, naming
/// partition 1 and meta-data; the input is byte-identical after (sha256); explain does not
/// say OK; fsck.vfat -n confirms the damage.
#[test]
fn duplicate_seed_entry_refused() {
    let c = Case::new();
    let (img, sum) = c.mutant("dup-seed.img", |f| {
        let short = f.find(f.root, b"META-D");
        // Copy the long-name slot(s) and the short entry into the first free slots.
        let mut first = short;
        while f.img[first - 32 + 11] == 0x0F {
            first -= 32;
        }
        let copy = f.img[first..short + 32].to_vec();
        let slots = f.slots(f.root);
        let free = slots.iter().position(|&o| f.img[o] == 0).unwrap();
        assert!(free + copy.len() / 32 < slots.len(), "room in the root");
        let at = slots[free];
        f.img[at..at + copy.len()].copy_from_slice(&copy);
        // The copy is an empty file, so only the name is duplicated.
        let dup = at + copy.len() - 32;
        f.set_cluster(dup, 0);
        f.img[dup + 28..dup + 32].fill(0);
    });
    let (ok, dir) = tool(
        "mdir",
        &["-i", &format!("{}@@{}", img.display(), c.part.start), "::/"],
    );
    assert!(
        ok && dir.matches("meta-data").count() == 2,
        "mutant lists meta-data twice: {dir}"
    );
    c.fsck_finds_damage(&img);
    c.readers_refuse(
        &img,
        &["dup-seed.img", "partition 1", "meta-data", "duplicate"],
    );
    c.build_refuses(
        &img,
        &["dup-seed.img", "partition 1", "/meta-data", "duplicate"],
    );
    assert_eq!(sha256_file(&img), sum, "input modified");
}

/// Crossed chains: cmdline.txt made to start in config.txt's first cluster, so a write to
/// either would change the other. Build refuses naming both files; input unchanged
/// (sha256); fsck.vfat -n confirms the damage.
#[test]
fn crossed_chains_refused() {
    let c = Case::new();
    let (img, sum) = c.mutant("crossed.img", |f| {
        let config = f.find(f.root, b"CONFIG  TXT");
        let cmdline = f.find(f.root, b"CMDLINE TXT");
        let shared = f.cluster(config);
        f.set_cluster(cmdline, shared);
    });
    c.fsck_finds_damage(&img);
    let needles = [
        "crossed.img",
        "partition 1",
        "/cmdline.txt",
        "/config.txt",
        "crossed",
    ];
    c.readers_refuse(&img, &needles);
    c.build_refuses(&img, &needles);
    assert_eq!(sha256_file(&img), sum, "input modified");
}

/// A boot sector that claims more sectors than the partition holds, and one whose FAT is
/// too small for its clusters: refused by name, no panic, in time.
#[test]
fn absurd_boot_sector_fields() {
    let c = Case::new();
    let (img, _) = c.mutant("big-fs.img", |f| {
        let at = f.part + 32;
        f.img[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    });
    c.readers_refuse(&img, &["big-fs.img", "partition 1", "boot sector claims"]);
    let (img, _) = c.mutant("small-fat.img", |f| {
        let at = f.part + 36;
        f.img[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
    });
    c.readers_refuse(&img, &["small-fat.img", "partition 1", "FAT of 512 bytes"]);
}
