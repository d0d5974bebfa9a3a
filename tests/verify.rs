//! `verify IMAGE --manifest FILE --bmap FILE` on a copy without sidecars (as a flashed card
//! is), and `verify --json`. Damage is done with dd at the block debugfs names, and the
//! table is judged with sfdisk as well.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

struct Built {
    tmp: tempfile::TempDir,
    out: PathBuf,
}

impl Built {
    fn new() -> Built {
        let tmp = tempfile::tempdir().unwrap();
        let (_, public) = keygen(tmp.path(), "key");
        let out = tmp.path().join("out");
        build_nodes_with(tmp.path(), &public, &out, "rpi1", &[]);
        Built { tmp, out }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A copy of the image under another name (sparse, no sidecars), grown by `extra` bytes
    /// of non-zero data as a larger card holds.
    fn copy(&self, name: &str, extra: u64) -> PathBuf {
        let dst = self.path(name);
        let (ok, text) = tool(
            "cp",
            &[
                "--sparse=always",
                self.out.join("rpi1.img").to_str().unwrap(),
                dst.to_str().unwrap(),
            ],
        );
        assert!(ok, "{text}");
        if extra > 0 {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&dst).unwrap();
            f.write_all(&vec![0xa5; extra as usize]).unwrap();
        }
        dst
    }

    /// `verify COPY --manifest … --bmap …` plus `extra` flags.
    fn verify(&self, img: &Path, extra: &[&str]) -> std::process::Output {
        let manifest = self.out.join("rpi1.manifest.json");
        let bmap = self.out.join("rpi1.img.bmap");
        let mut args = vec![
            "verify",
            img.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--bmap",
            bmap.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        clem(&args, self.tmp.path())
    }

    fn manifest(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.out.join("rpi1.manifest.json")).unwrap())
            .unwrap()
    }
}

fn verdicts(json: &Value) -> Vec<(String, String)> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn verdict<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {json}"))
}

#[test]
fn a_copy_without_sidecars_passes_with_manifest_and_bmap() {
    let b = Built::new();
    for (name, extra) in [("copy.img", 0), ("card.img", 3 << 20)] {
        let img = b.copy(name, extra);
        assert!(!b.path(&format!("{name}.bmap")).exists());
        let o = b.verify(&img, &[]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("injected files read back"), "{text}");
        assert!(text.contains("match the SHA-256 digests"), "{text}");

        let o = b.verify(&img, &["--json"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(json["ok"], true);
        for (check, v) in verdicts(&json) {
            let want = if check == "sha256" { "skipped" } else { "pass" };
            assert_eq!(v, want, "{name}: {check}: {json}");
        }
        // The node's summary is the manifest's; its partition count is sfdisk's.
        let m = b.manifest();
        assert_eq!(json["node"]["node"], "rpi1");
        assert_eq!(json["node"]["ca_sha256"], m["ca_sha256"]);
        assert_eq!(
            json["node"]["injected"],
            m["injected"].as_array().unwrap().len()
        );
        let sf = sfdisk_json(&img);
        assert_eq!(
            json["node"]["partitions"],
            sf["partitiontable"]["partitions"].as_array().unwrap().len()
        );
    }
    // Without --manifest and --bmap the copy has nothing to be compared with: said so.
    let img = b.path("copy.img");
    let o = clem(&["verify", img.to_str().unwrap(), "--json"], b.tmp.path());
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(verdict(&json, "injected files")["verdict"], "skipped");
    assert_eq!(verdict(&json, "block map")["verdict"], "skipped");
    assert!(json["node"].is_null());
}

/// The image byte offset of `path`'s first data block on partition `index` (from debugfs).
fn data_offset(img: &Path, index: usize, path: &str) -> Option<u64> {
    let part = sfdisk_parts(img)[index].clone();
    let file = img.with_extension("part");
    extract(img, &part, &file);
    let blocks = debugfs(&file, &format!("blocks {path}"));
    let stats = debugfs(&file, "stats");
    std::fs::remove_file(&file).unwrap();
    let block: u64 = blocks.split_whitespace().next()?.parse().ok()?;
    let bs: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))?
        .trim()
        .parse()
        .ok()?;
    Some(part.start + block * bs)
}

#[test]
fn a_corrupt_injected_file_fails_naming_it() {
    let b = Built::new();
    let img = b.copy("copy.img", 0);
    // The first injected ext4 file that has a data block of its own (not inline).
    let m = b.manifest();
    let (path, offset) = m["injected"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fs"] == "ext4" && f["type"] == "file" && f["size"].as_u64() > Some(0))
        .find_map(|f| {
            let p = f["path"].as_str().unwrap().to_string();
            let index = f["partition"].as_u64().unwrap() as usize - 1;
            data_offset(&img, index, &p).map(|o| (p, o))
        })
        .expect("an injected file with a data block");
    let (ok, text) = tool(
        "sh",
        &[
            "-c",
            &format!(
                "printf '\\377' | dd of='{}' bs=1 seek={offset} conv=notrunc status=none",
                img.display()
            ),
        ],
    );
    assert!(ok, "dd: {text}");

    let o = b.verify(&img, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&path) && err.contains("copy.img"), "{err}");
    assert!(!err.contains("panicked"));

    let o = b.verify(&img, &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json["ok"], false);
    let injected = verdict(&json, "injected files");
    assert_eq!(injected["verdict"], "fail");
    assert!(
        injected["reason"].as_str().unwrap().contains(&path),
        "{injected}"
    );
    // The byte is inside a mapped range, so the block map fails as well; the table and the
    // file systems are intact.
    assert_eq!(verdict(&json, "block map")["verdict"], "fail");
    assert_eq!(verdict(&json, "partition table")["verdict"], "pass");
    assert_eq!(verdict(&json, "file systems")["verdict"], "pass");
    // Every failed check was reported in the text too.
    for (name, v) in verdicts(&json) {
        if v == "fail" && name != "seed" {
            let reason = verdict(&json, &name)["reason"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(err.contains(&reason), "{name}: {reason} not in {err}");
        }
    }
}

#[test]
fn a_short_copy_and_a_bad_manifest_are_named() {
    let b = Built::new();
    let img = b.copy("short.img", 0);
    let len = std::fs::metadata(&img).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.set_len(len - 4096).unwrap();
    let o = b.verify(&img, &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let bmap = verdict(&json, "block map");
    assert_eq!(bmap["verdict"], "fail");
    assert!(
        bmap["reason"].as_str().unwrap().contains("shorter"),
        "{bmap}"
    );

    let bad = b.path("bad.json");
    std::fs::write(&bad, "{\"node\": 1}").unwrap();
    let o = clem(
        &[
            "verify",
            img.to_str().unwrap(),
            "--manifest",
            bad.to_str().unwrap(),
        ],
        b.tmp.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("bad.json: not a clem-image manifest"),
        "{}",
        stderr(&o)
    );
}

/// A real block device (a loop device, where this machine allows one) holding the image
/// and then 4 MiB of old data, as a card does: it passes with the manifest and block map.
#[test]
fn a_block_device_passes_with_manifest_and_bmap() {
    let b = Built::new();
    let backing = b.copy("backing.img", 4 << 20);
    let Some(dev) = common::card::Loop::attach(&backing) else {
        eprintln!("skipped: no loop devices here");
        return;
    };
    let o = b.verify(&dev.0, &["--json"]);
    let json: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(o.status.success(), "{json:#}\n{}", stderr(&o));
    for (check, v) in verdicts(&json) {
        let want = if check == "sha256" { "skipped" } else { "pass" };
        assert_eq!(v, want, "{check}: {json:#}");
    }
    let bmap = verdict(&json, "block map")["reason"].as_str().unwrap();
    assert!(bmap.contains("a card"), "{bmap}");
}
