//! `clem-image flash` with several targets in one run, through the real binary: four nodes'
//! images to four targets, each judged with `cmp`; one target made to fail while the others
//! are written; one confirmation for all in a pseudo-terminal; nothing written when any
//! target fails its checks.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::card::Loop;
use common::{same_bytes, BIN};

const MIB: u64 = 1 << 20;
const NODES: [&str; 4] = ["rpi1", "rpi2", "rpi3", "rpi4"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A build output directory with a different sparse image per node (odd sizes, so the tail
/// is not a whole block).
fn build_output(dir: &Path) -> PathBuf {
    let out = dir.join("out");
    fs::create_dir(&out).unwrap();
    for (i, node) in NODES.iter().enumerate() {
        let f = File::create(out.join(format!("{node}.img"))).unwrap();
        f.set_len(6 * MIB + 777).unwrap();
        let data: Vec<u8> = (0..300_000u32)
            .map(|x| (x.wrapping_mul(2_654_435_761) >> 13) as u8 ^ i as u8)
            .collect();
        f.write_all_at(&data, 0).unwrap();
        f.write_all_at(&data, 4 * MIB + 99).unwrap();
    }
    out
}

fn flash(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("flash").args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn image(out: &Path, node: &str) -> PathBuf {
    out.join(format!("{node}.img"))
}

#[test]
fn four_nodes_go_to_four_targets_in_one_run() {
    let t = tempfile::tempdir().unwrap();
    let out = build_output(t.path());
    let targets: Vec<PathBuf> = (1..=4).map(|i| t.path().join(format!("card{i}"))).collect();
    let mut args = vec!["--out", s(&out), "--node", "rpi1..rpi4"];
    args.extend(targets.iter().map(|p| s(p)));
    let o = flash(&args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for (node, target) in NODES.iter().zip(&targets) {
        assert!(same_bytes(&image(&out, node), target), "{node}");
    }
    let stdout = text(&o.stdout);
    for (node, target) in NODES.iter().zip(&targets) {
        assert!(
            stdout.contains(&format!("{} holds {node}: wrote", target.display())),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("All 4 targets written and verified"),
        "{stdout}"
    );
    // New files need no confirmation, but the list is shown all the same.
    assert!(
        text(&o.stderr).contains("Targets (4):"),
        "{}",
        text(&o.stderr)
    );

    // NODE=TARGET pairs, in any order, onto the existing files (so --yes is needed).
    for f in &targets {
        fs::write(f, b"old").unwrap();
    }
    let pairs: Vec<String> = [3, 0, 2, 1]
        .iter()
        .map(|&i| format!("{}={}", NODES[i], targets[i].display()))
        .collect();
    let mut args = vec!["--yes", "--out", s(&out)];
    args.extend(pairs.iter().map(String::as_str));
    let o = flash(&args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for (node, target) in NODES.iter().zip(&targets) {
        assert!(same_bytes(&image(&out, node), target), "{node} by pair");
    }
}

#[test]
fn one_failing_target_stops_no_other_and_the_run_says_so() {
    let t = tempfile::tempdir().unwrap();
    let out = build_output(t.path());
    let targets: Vec<PathBuf> = (1..=4).map(|i| t.path().join(format!("card{i}"))).collect();
    let mut args = vec!["--out", s(&out), "--node", "rpi1..rpi4"];
    args.extend(targets.iter().map(|p| s(p)));
    // The test seam flips a byte of the third target only, between write and verify.
    let o = flash(
        &args,
        &[
            ("CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE", "4194400"),
            ("CLEM_IMAGE_TEST_CORRUPT_TARGET", s(&targets[2])),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    for i in [0, 1, 3] {
        assert!(
            same_bytes(&image(&out, NODES[i]), &targets[i]),
            "{}",
            NODES[i]
        );
    }
    assert!(!same_bytes(&image(&out, "rpi3"), &targets[2]));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "{} FAILED (rpi3): verification failed",
            targets[2].display()
        )) && stdout.contains("offset 4194400"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 of 4 targets written and verified; 1 failed: rpi3"),
        "{stdout}"
    );
    assert!(
        text(&o.stderr).contains("1 of 4 targets failed: rpi3"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn ctrl_c_stops_every_target_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let out = build_output(t.path());
    let targets: Vec<PathBuf> = (1..=4).map(|i| t.path().join(format!("card{i}"))).collect();
    let mut args = vec!["flash", "--out", s(&out), "--node", "rpi1..rpi4"];
    args.extend(targets.iter().map(|p| s(p)));
    // Held to 1 MB/s, each target takes seconds: time to interrupt them all part way.
    let child = Command::new(BIN)
        .args(&args)
        .env("CLEM_IMAGE_TEST_THROTTLE_BPS", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !targets.iter().all(|p| p.exists()) {
        assert!(start.elapsed().as_secs() < 20, "writing never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert_eq!(stdout.matches("is incomplete").count(), 4, "{stdout}");
    assert!(stdout.contains("0 of 4 targets written"), "{stdout}");
}

/// A card too small for its image (sysfs, faked here, says it is large; the open device's
/// size decides) fails; the three files beside it are written.
#[test]
fn a_card_too_small_fails_alone() {
    let t = tempfile::tempdir().unwrap();
    let out = build_output(t.path());
    let backing = t.path().join("backing");
    File::create(&backing).unwrap().set_len(4 * MIB).unwrap();
    let Some(dev) = Loop::attach(&backing) else {
        eprintln!("skipped: no loop devices here");
        return;
    };
    let sys = dev.fake_card_sysfs(t.path(), 64 * MIB);
    let mi = t.path().join("mountinfo");
    fs::write(&mi, common::card::ROOT_ON_VDA).unwrap();
    let files: Vec<PathBuf> = (1..=3).map(|i| t.path().join(format!("card{i}"))).collect();
    let args = [
        "--yes",
        "--out",
        s(&out),
        "--node",
        "rpi1..rpi4",
        s(&files[0]),
        s(&dev.0),
        s(&files[1]),
        s(&files[2]),
    ];
    let env = [
        ("CLEM_IMAGE_SYSFS_ROOT", s(&sys)),
        ("CLEM_IMAGE_MOUNTINFO", s(&mi)),
    ];
    let o = flash(&args, &env);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    for (node, f) in [
        ("rpi1", &files[0]),
        ("rpi3", &files[1]),
        ("rpi4", &files[2]),
    ] {
        assert!(same_bytes(&image(&out, node), f), "{node}");
    }
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains(&format!("{} FAILED (rpi2)", dev.0.display()))
            && stdout.contains("too small: 4194304 bytes"),
        "{stdout}"
    );
    assert!(stdout.contains("3 of 4 targets written"), "{stdout}");
}

#[test]
fn a_target_failing_its_checks_means_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let out = build_output(t.path());
    let a = t.path().join("a");
    let b = t.path().join("b");
    let missing = "/dev/clem-nonexistent-sdy";
    let o = flash(
        &[
            "--yes",
            "--out",
            s(&out),
            "--node",
            "rpi1..rpi3",
            s(&a),
            missing,
            s(&b),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(e.contains("rpi2 → /dev/clem-nonexistent-sdy"), "{e}");
    assert!(
        e.contains("1 of 3 targets did not pass the checks; nothing was written"),
        "{e}"
    );
    assert!(!a.exists() && !b.exists(), "a target was written");

    // The same target twice, and a target that is another node's image.
    let same = format!("./{}", a.file_name().unwrap().to_str().unwrap());
    let pairs = [format!("rpi1={}", s(&a)), format!("rpi2={same}")];
    let o = Command::new(BIN)
        .args(["flash", "--yes", "--out", s(&out), &pairs[0], &pairs[1]])
        .current_dir(t.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        text(&o.stderr).contains("name the same target"),
        "{}",
        text(&o.stderr)
    );
    let img2 = image(&out, "rpi2");
    let o = flash(
        &[
            "--yes",
            "--out",
            s(&out),
            &format!("rpi1={}", s(&img2)),
            &pairs[1],
        ],
        &[],
    );
    assert!(
        text(&o.stderr).contains("the target is the image itself"),
        "{}",
        text(&o.stderr)
    );
    assert!(!a.exists());

    // Nodes and targets must pair up.
    let o = flash(&["--out", s(&out), "--node", "rpi1..rpi3", s(&a)], &[]);
    assert!(
        text(&o.stderr).contains("names 3 node(s) but 1 target(s)"),
        "{}",
        text(&o.stderr)
    );
}

/// Runs the command in a pseudo-terminal (util-linux `script`) with `input` typed into it;
/// returns the exit status and what the terminal showed.
fn in_pty(args: &[&str], input: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let cmd = format!("stty cols 200 rows 60; exec {}", quoted.join(" "));
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs (.ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    (o.status.code(), text(&o.stdout))
}

#[test]
fn one_confirmation_in_a_terminal_lists_every_target() {
    let t = tempfile::tempdir().unwrap();
    let out = build_output(t.path());
    let targets: Vec<PathBuf> = (1..=4).map(|i| t.path().join(format!("card{i}"))).collect();
    for f in &targets {
        fs::write(f, b"precious").unwrap();
    }
    let mut args = vec!["flash", "--out", s(&out), "--node", "rpi1..rpi4"];
    args.extend(targets.iter().map(|p| s(p)));

    // "no": nothing is written.
    let (code, screen) = in_pty(&args, "no\n");
    assert_ne!(code, Some(0), "{screen}");
    assert!(
        screen.contains("not confirmed; nothing was written"),
        "{screen}"
    );
    for f in &targets {
        assert_eq!(fs::read(f).unwrap(), b"precious");
    }

    let (code, screen) = in_pty(&args, "yes\n");
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(
        screen.matches("Type 'yes' to continue").count(),
        1,
        "one prompt for all: {screen}"
    );
    assert!(screen.contains("the 4 targets above"), "{screen}");
    for (node, f) in NODES.iter().zip(&targets) {
        assert!(
            screen.contains(&format!("{node}  {} (an existing file)", f.display())),
            "{node} listed: {screen}"
        );
        assert!(same_bytes(&image(&out, node), f), "{node}");
        // Each target has its own progress line, which ends saying how it went.
        assert!(
            screen.contains(&format!("{node} verified ")),
            "{node}: {screen}"
        );
    }
}
