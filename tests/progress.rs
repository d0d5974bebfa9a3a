//! The progress display, watched as a user sees it: `build` and `flash` run under a
//! pseudo-terminal (util-linux `script`), and the frames they draw are parsed. The
//! decompression bar must count decoded bytes (its total is the size `xz -l` reports, not
//! the file's), never go backwards, and reach 100 % exactly when the stream ends; every
//! node shows each phase it goes through. Without a terminal nothing may be drawn.
//! `flash --json` is parsed and its copy judged with `cmp`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{fixture, same_bytes, BIN, SAMPLE_MBR};
use regex::Regex;

/// Runs clem-image in `dir` under a pseudo-terminal 200 columns wide; returns the exit
/// status and everything the terminal received (stdout and stderr together).
fn in_pty(args: &[&str], dir: &Path) -> (bool, String) {
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let cmd = format!("stty cols 200 rows 60; exec {}", quoted.join(" "));
    let o = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(dir)
        .env("HOME", dir)
        .env("TERM", "xterm")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` runs (.ci/run installs it)");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!text.contains("panicked"), "{text}");
    (o.status.success(), text)
}

/// The same without a terminal: stdout and stderr are pipes.
fn piped(args: &[&str], dir: &Path) -> Output {
    let o = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("TERM", "xterm")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    o
}

/// The drawn text with cursor movements and carriage returns turned into line breaks.
fn frames(raw: &str) -> String {
    let csi = Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    csi.replace_all(raw, "\n").replace('\r', "\n")
}

/// indicatif's binary units back to bytes: ("149.00", "MiB") → 149 × 2^20.
fn unit_bytes(value: &str, unit: &str) -> f64 {
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    };
    value.parse::<f64>().unwrap() * scale
}

/// The uncompressed size, as the xz tool itself reads it from the index.
fn xz_size(path: &Path) -> u64 {
    let o = Command::new("xz")
        .args(["-l", "--robot"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let totals = text.lines().find(|l| l.starts_with("totals")).unwrap();
    totals.split('\t').nth(4).unwrap().parse().unwrap()
}

/// One frame of a byte bar: the word before it, percentage, position and total in bytes.
#[derive(Debug)]
struct BarFrame {
    word: String,
    percent: u64,
    pos: f64,
    total: f64,
}

fn bar_frames(text: &str, words: &str) -> Vec<BarFrame> {
    let re = Regex::new(&format!(
        r"({words})\s+\[[=> ]*\]\s+(\d+)% ([\d.]+) (B|KiB|MiB|GiB)/([\d.]+) (B|KiB|MiB|GiB)"
    ))
    .unwrap();
    re.captures_iter(text)
        .map(|c| BarFrame {
            word: c[1].to_string(),
            percent: c[2].parse().unwrap(),
            pos: unit_bytes(&c[3], &c[4]),
            total: unit_bytes(&c[5], &c[6]),
        })
        .collect()
}

/// A bar that never goes back, has one total (within display rounding of `size`) and
/// reaches 100 % exactly in its last frame, which is the only one saying `done`.
fn assert_bar(f: &[BarFrame], size: u64, running: &str, done: &str) {
    assert!(f.len() >= 2, "too few frames: {f:?}");
    let size = size as f64;
    // Two decimals of the unit: at most half a hundredth of a MiB off.
    let slack = |x: f64| (x - size).abs() <= 0.006 * (1 << 20) as f64;
    for w in f.windows(2) {
        assert!(w[1].percent >= w[0].percent, "{w:?}");
        assert!(w[1].pos >= w[0].pos, "{w:?}");
    }
    for x in f {
        assert!(slack(x.total), "total {} for {size} bytes: {x:?}", x.total);
        assert!(x.percent <= 100);
        if x.percent == 100 {
            assert!(slack(x.pos), "100 % before the end: {x:?}");
        }
    }
    let (last, before) = f.split_last().unwrap();
    assert_eq!((last.word.as_str(), last.percent), (done, 100), "{last:?}");
    assert!(before.iter().all(|x| x.word == running), "{before:?}");
}

#[test]
fn build_decompression_counts_decoded_bytes_and_ends_at_100_percent() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture(SAMPLE_MBR);
    let size = xz_size(&image);
    let compressed = std::fs::metadata(&image).unwrap().len();
    assert!(
        size > 100 * compressed,
        "the judge needs a compressible sample"
    );
    let (ok, raw) = in_pty(
        &[
            "build",
            "--node",
            "rpi1..rpi3",
            "--image",
            image.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(ok, "{raw}");
    let text = frames(&raw);
    let f = bar_frames(&text, "decompressing|decompressed");
    assert_bar(&f, size, "decompressing", "decompressed");
    // The exact count, in the line every build prints, is xz's own.
    let line = Regex::new(r"decompressed \S+: (\d+) bytes").unwrap();
    let n: u64 = line.captures(&text).expect("the decompressed line")[1]
        .parse()
        .unwrap();
    assert_eq!(n, size);
}

/// Every line of every node, in the order drawn: (node, what it said).
fn node_lines(text: &str) -> Vec<(String, String)> {
    let re = Regex::new(
        r"(rpi\d)\s+(?:[-\\|/]\s)?(queued|copying|patching|verifying|checking seed|hashing|mapping|publishing|written in [\d.]+ s \([^)]*\))",
    )
    .unwrap();
    re.captures_iter(text)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

#[test]
fn build_shows_each_node_in_each_phase() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, raw) = in_pty(&["build", "--node", "rpi1..rpi3", "--sha256"], dir.path());
    assert!(ok, "{raw}");
    let lines = node_lines(&frames(&raw));
    let order = [
        "queued",
        "copying",
        "patching",
        "verifying",
        "checking seed",
        "hashing",
        "mapping",
        "publishing",
        "written",
    ];
    let times = Regex::new(
        r"^written in [\d.]+ s \(copy [\d.]+, patch [\d.]+, verify [\d.]+, seed [\d.]+, hash [\d.]+, map [\d.]+, publish [\d.]+\)$",
    )
    .unwrap();
    for node in ["rpi1", "rpi2", "rpi3"] {
        let mut seen: Vec<&str> = Vec::new();
        for (_, what) in lines.iter().filter(|(n, _)| n == node) {
            let phase = order
                .iter()
                .find(|p| what.starts_with(**p))
                .expect("a known phase");
            if seen.last() != Some(phase) {
                seen.push(phase);
            }
        }
        // Each phase is drawn when it starts, in order, and once done the line stays.
        assert_eq!(seen, order, "{node}: {lines:?}");
        let done = &lines.iter().rev().find(|(n, _)| n == node).unwrap().1;
        assert!(times.is_match(done), "{node}: {done}");
    }
    for n in ["rpi1", "rpi2", "rpi3"] {
        assert!(dir.path().join(format!("out/{n}.img")).exists());
    }
}

#[test]
fn without_a_terminal_nothing_is_drawn_and_the_lines_remain() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture(SAMPLE_MBR);
    let o = piped(
        &[
            "build",
            "--node",
            "rpi1,rpi2",
            "--image",
            image.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (name, bytes) in [("stderr", &o.stderr), ("stdout", &o.stdout)] {
        assert!(!bytes.contains(&b'\r'), "{name} holds a carriage return");
        assert!(!bytes.contains(&0x1b), "{name} holds an escape sequence");
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "decompressed {}: {} bytes",
            image.display(),
            xz_size(&image)
        )),
        "{err}"
    );
    // Each node is named once, in the summary on stdout (not again on stderr).
    let out = String::from_utf8_lossy(&o.stdout);
    for n in ["rpi1", "rpi2"] {
        assert!(out.contains(&format!("  {n}  out/{n}.img ")), "{out}");
        assert!(!err.contains(&format!("out/{n}.img")), "{err}");
    }

    // flash too: its bars are not drawn into a pipe.
    let target = dir.path().join("card.img");
    let o = piped(&["flash", "--node", "rpi1", s(&target)], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!o.stderr.contains(&b'\r') && !o.stderr.contains(&0x1b));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_raw_image_is_copied_not_decompressed() {
    let dir = tempfile::tempdir().unwrap();
    let raw_img = dir.path().join("upstream.img");
    common::unxz(&fixture(SAMPLE_MBR), &raw_img);
    let len = std::fs::metadata(&raw_img).unwrap().len();
    let (ok, raw) = in_pty(
        &["build", "--node", "rpi1", "--image", s(&raw_img)],
        dir.path(),
    );
    assert!(ok, "{raw}");
    let text = frames(&raw);
    assert!(!text.contains("decompress"), "{text}");
    assert_bar(
        &bar_frames(&text, "copying|copied"),
        len,
        "copying",
        "copied",
    );
    assert!(
        text.contains(&format!("copied {}: {len} bytes", raw_img.display())),
        "{text}"
    );
}

#[test]
fn a_gzip_image_shows_bytes_and_rate_without_a_percentage() {
    let dir = tempfile::tempdir().unwrap();
    let raw_img = dir.path().join("upstream.img");
    common::unxz(&fixture(SAMPLE_MBR), &raw_img);
    let len = std::fs::metadata(&raw_img).unwrap().len();
    let st = Command::new("gzip")
        .arg("-1")
        .arg(&raw_img)
        .status()
        .unwrap();
    assert!(st.success());
    let gz = dir.path().join("upstream.img.gz");
    let (ok, raw) = in_pty(&["build", "--node", "rpi1", "--image", s(&gz)], dir.path());
    assert!(ok, "{raw}");
    let text = frames(&raw);
    let drawn = Regex::new(r"decompressing\s+([\d.]+) (B|KiB|MiB|GiB) ").unwrap();
    let counts: Vec<f64> = drawn
        .captures_iter(&text)
        .map(|c| unit_bytes(&c[1], &c[2]))
        .collect();
    assert!(!counts.is_empty(), "{text}");
    assert!(counts.windows(2).all(|w| w[1] >= w[0]), "{counts:?}");
    for l in text.lines().filter(|l| l.starts_with("decompressing")) {
        assert!(
            !l.contains('%') && !l.contains('['),
            "a percentage invented: {l}"
        );
    }
    assert!(
        text.contains(&format!("decompressed {}: {len} bytes", gz.display())),
        "{text}"
    );
}

fn build_nodes(dir: &Path, nodes: &str) {
    let o = piped(&["build", "--node", nodes], dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn flash_draws_its_bars_to_100_percent_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    build_nodes(dir.path(), "rpi1");
    let target = dir.path().join("card.img");
    let (ok, raw) = in_pty(
        &["flash", "--node", "rpi1", "--no-bmap", s(&target)],
        dir.path(),
    );
    assert!(ok, "{raw}");
    let text = frames(&raw);
    let image = dir.path().join("out/rpi1.img");
    let len = std::fs::metadata(&image).unwrap().len();
    for word in ["writing", "verifying"] {
        let f = bar_frames(&text, word);
        assert!(!f.is_empty(), "no {word} frames: {text}");
        for w in f.windows(2) {
            assert!(
                w[1].pos >= w[0].pos && w[1].percent >= w[0].percent,
                "{w:?}"
            );
        }
        let last = f.last().unwrap();
        assert_eq!(last.percent, 100, "{last:?}");
        assert!((last.total - len as f64).abs() <= 0.006 * (1 << 20) as f64);
    }
    assert!(same_bytes(&image, &target));
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&o.stdout));
    })
}

/// Writes a manifest beside `image` the way `build` names it, with only these fields.
fn manifest(image: &Path, body: &str) -> PathBuf {
    let name = image.file_name().unwrap().to_str().unwrap();
    let stem = &name[..name.find(".img").unwrap()];
    let p = image.with_file_name(format!("{stem}.manifest.json"));
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn flash_json_carries_its_facts_and_the_copy_is_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raw_img = d.join("rpi7.img");
    common::unxz(&fixture(SAMPLE_MBR), &raw_img);
    // A manifest from another release, with fields flash does not know and no `sample`.
    manifest(
        &raw_img,
        r#"{"node": "rpi7", "image": "rpi7.img", "extra": [1, 2]}"#,
    );
    let target = d.join("card.img");
    let o = piped(&["flash", "--json", s(&raw_img), s(&target)], d);
    let j = json(&o);
    let len = std::fs::metadata(&raw_img).unwrap().len();
    assert_eq!(j["image"], s(&raw_img));
    assert_eq!(j["target"], s(&target));
    assert_eq!(j["target_is_device"], false);
    assert_eq!(j["node"], "rpi7");
    assert_eq!(j["sample"], "no");
    assert_eq!(j["image_size"], len);
    assert_eq!(j["bytes_written"], len);
    assert_eq!(j["verified"], true);
    assert!(j["write_seconds"].as_f64().unwrap() >= 0.0);
    assert!(j["verify_seconds"].as_f64().unwrap() >= 0.0);
    // The digest is sha256sum's.
    let (_, sum) = common::tool("sha256sum", &[s(&raw_img)]);
    assert_eq!(j["image_sha256"], sum.split_whitespace().next().unwrap());
    assert!(j["next"].as_str().unwrap().starts_with("Next:"), "{j}");
    assert!(same_bytes(&raw_img, &target));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("test sample"), "{err}");

    // Text otherwise: the summary and the next step on stdout.
    let target2 = d.join("card2.img");
    let o = piped(&["flash", s(&raw_img), s(&target2)], d);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Wrote ") && out.contains("verified in"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("Next: ")), "{out}");
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_err());
    assert!(same_bytes(&raw_img, &target2));
}

#[test]
fn flashing_the_test_sample_warns_that_it_does_not_boot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The bundled sample itself, and a renamed copy of it.
    let copy = d.join("mine.img.xz");
    std::fs::copy(fixture(SAMPLE_MBR), &copy).unwrap();
    for (i, img) in [fixture(SAMPLE_MBR), copy].iter().enumerate() {
        let target = d.join(format!("t{i}.img"));
        let o = piped(&["flash", "--json", s(img), s(&target)], d);
        let j = json(&o);
        assert_eq!(j["sample"], "bundled");
        assert_eq!(j["bytes_written"], xz_size(img));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("test sample") && err.contains("NOT boot"),
            "{err}"
        );
        assert!(!j["next"].as_str().unwrap().contains("power it on"), "{j}");
    }
    // An image whose manifest says it was built from the sample.
    let raw_img = d.join("rpi2.img");
    std::fs::write(&raw_img, vec![7u8; 1 << 20]).unwrap();
    manifest(&raw_img, r#"{"node": "rpi2", "sample": true}"#);
    let o = piped(&["flash", "--json", s(&raw_img), s(&d.join("t9.img"))], d);
    let j = json(&o);
    assert_eq!(
        (j["sample"].as_str(), j["node"].as_str()),
        (Some("built-from"), Some("rpi2"))
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("built from clem-image's bundled test sample"),
        "{err}"
    );
}
