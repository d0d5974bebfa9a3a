//! The output directory as a set: one build at a time, what a killed build leaves, stale
//! temporaries, directories a failed build made, and the modes of what is written.
//! Judges: exit codes and signals, `bmaptool copy` + `cmp` for every image `verify`
//! passes, `stat` modes, directory listings.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Case {
    dir: tempfile::TempDir,
    image: PathBuf,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        // A raw copy, so each build's decompression is short.
        let image = dir.path().join("in.img");
        unxz(&fixture(SAMPLE_MBR), &image);
        Case { dir, image }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// A `build` of rpi1 and rpi2 with the key of `who`, and `hook` as the test hook.
    fn command(&self, who: &str, hook: Option<&str>) -> Command {
        let key = self.path(&format!("{who}.pub"));
        if !key.exists() {
            keygen(self.dir.path(), who);
        }
        let mut cmd = Command::new(BIN);
        cmd.args(["build", "--node", "rpi1,rpi2", "--image"])
            .arg(&self.image)
            .arg("--ssh-key")
            .arg(&key)
            .arg("--out")
            .arg(self.out())
            .current_dir(self.path("home"))
            .env("HOME", self.path("home"))
            .env_remove("CLEM_IMAGE_TEST_HOOK")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(hook) = hook {
            cmd.env("CLEM_IMAGE_TEST_HOOK", hook);
        }
        cmd
    }

    fn build(&self, who: &str, hook: Option<&str>) -> Output {
        let o = self.command(who, hook).output().unwrap();
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        o
    }

    /// Names in the output directory.
    fn listing(&self) -> Vec<String> {
        let mut names = files_starting(&self.out(), "");
        names.sort();
        names
    }
}

/// `verify` on `image`; when it passes, an independent check must agree: `bmaptool copy`
/// checks every range's digest, and the copy must equal the image byte for byte.
fn verify_judged(c: &Case, image: &Path) -> bool {
    let o = clem(&["verify", image.to_str().unwrap()], &c.path("home"));
    if !o.status.success() {
        return false;
    }
    let copy = c.path("bmaptool-copy");
    let _ = std::fs::remove_file(&copy);
    let bmap = PathBuf::from(format!("{}.bmap", image.display()));
    let (ok, text) = tool(
        "bmaptool",
        &[
            "copy",
            "--bmap",
            bmap.to_str().unwrap(),
            image.to_str().unwrap(),
            copy.to_str().unwrap(),
        ],
    );
    assert!(
        ok,
        "verify passed {} but bmaptool copy failed: {text}",
        image.display()
    );
    let (same, text) = tool("cmp", &[image.to_str().unwrap(), copy.to_str().unwrap()]);
    assert!(
        same,
        "verify passed {} but the bmaptool copy differs: {text}",
        image.display()
    );
    true
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn finish(child: Child) -> Output {
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    o
}

#[test]
fn a_second_build_into_a_held_directory_is_refused_naming_the_first() {
    let c = Case::new();
    let go = c.path("go");
    let hook = format!("locked=wait:{}", go.display());
    let first = c.command("alice", Some(&hook)).spawn().unwrap();
    let pid = first.id();
    let lock = c.out().join(".clem-image.lock");
    wait_for("the first build's lock", Duration::from_secs(60), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&format!("pid {pid}")))
    });
    let second = c.build("bob", None);
    assert!(
        !second.status.success(),
        "the second build ran into a held directory"
    );
    let err = stderr(&second);
    assert!(
        err.contains("another build") && err.contains(&format!("pid {pid}")),
        "the refusal does not name the first build: {err}"
    );
    std::fs::write(&go, b"").unwrap();
    let first = finish(first);
    assert!(first.status.success(), "{}", stderr(&first));
    for n in ["rpi1", "rpi2"] {
        assert!(verify_judged(&c, &c.out().join(format!("{n}.img"))));
    }
    let stray: Vec<_> = c
        .listing()
        .into_iter()
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "left behind: {stray:?}");
}

#[test]
fn two_builds_started_together_never_mix_their_outputs() {
    let c = Case::new();
    let a = c.command("alice", None).spawn().unwrap();
    let b = c.command("bob", None).spawn().unwrap();
    let (a, b) = (finish(a), finish(b));
    assert!(
        a.status.success() || b.status.success(),
        "neither build succeeded"
    );
    for o in [&a, &b] {
        if !o.status.success() {
            assert!(stderr(o).contains("another build"), "{}", stderr(o));
        }
    }
    // The winner's set is complete: each image verifies against its own sidecars.
    for n in ["rpi1", "rpi2"] {
        assert!(verify_judged(&c, &c.out().join(format!("{n}.img"))), "{n}");
    }
}

/// Points the build passes with outputs in flight; `@n` is the n-th time (of two nodes).
const KILL_POINTS: &[&str] = &[
    "locked",
    "decompressed",
    "patched@1",
    "patched@2",
    "old-image-removed@1",
    "sidecar-renamed@1",
    "sidecar-renamed@2",
    "image-renamed@1",
    "old-image-removed@2",
    "sidecar-renamed@3",
    "image-renamed@2",
];

#[test]
fn a_build_killed_anywhere_leaves_only_images_that_match_their_sidecars() {
    let c = Case::new();
    let first = c.build("alice", None);
    assert!(first.status.success(), "{}", stderr(&first));
    for (i, point) in KILL_POINTS.iter().enumerate() {
        // Alternate keys, so the killed build's images differ from those it replaces.
        let who = if i % 2 == 0 { "bob" } else { "alice" };
        let killed = c.build(who, Some(&format!("{point}=kill")));
        assert_eq!(
            killed.status.signal(),
            Some(9),
            "{point}: the build was not killed there: {}",
            stderr(&killed)
        );
        for n in ["rpi1", "rpi2"] {
            let image = c.out().join(format!("{n}.img"));
            if image.exists() {
                for side in [format!("{n}.img.bmap"), format!("{n}.manifest.json")] {
                    assert!(
                        c.out().join(&side).exists(),
                        "{point}: {n}.img is there without {side}"
                    );
                }
                assert!(
                    verify_judged(&c, &image),
                    "{point}: {n}.img does not verify"
                );
            }
        }
        let next = c.build(who, None);
        assert!(
            next.status.success(),
            "{point}: next build: {}",
            stderr(&next)
        );
        let stray: Vec<_> = c
            .listing()
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{point}: the next build left {stray:?}");
        for n in ["rpi1", "rpi2"] {
            assert!(
                verify_judged(&c, &c.out().join(format!("{n}.img"))),
                "{point}: {n}"
            );
        }
    }
}

#[test]
fn the_next_build_removes_stale_temporaries_and_keeps_other_files() {
    let c = Case::new();
    std::fs::create_dir(c.out()).unwrap();
    for name in [
        ".clem-tmp-rpi1.img.Zx81Qa",
        ".base-Qw12Er",
        ".rpi2.img.bmap.tmp",
        "notes.txt",
    ] {
        std::fs::write(c.out().join(name), b"old").unwrap();
    }
    let o = c.build("alice", None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        c.listing(),
        [
            "notes.txt",
            "rpi1.img",
            "rpi1.img.bmap",
            "rpi1.manifest.json",
            "rpi2.img",
            "rpi2.img.bmap",
            "rpi2.manifest.json"
        ]
    );
}

#[test]
fn a_failed_build_leaves_no_directory_it_created() {
    let c = Case::new();
    // Valid to open, refused after the output directory is claimed: no partition table.
    let f = std::fs::File::create(&c.image).unwrap();
    f.set_len(4 << 20).unwrap();
    let out = c.path("new/deeper/out");
    let o = clem(
        &[
            "build",
            "--node",
            "rpi1",
            "--image",
            c.image.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &c.path("home"),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("partition table"), "{}", stderr(&o));
    assert!(
        !c.path("new").exists(),
        "a failed build left the directories it made"
    );
    // A directory that was there stays, and holds nothing of the failed build.
    std::fs::create_dir(c.out()).unwrap();
    let o = c.build("alice", None);
    assert!(!o.status.success());
    assert!(
        c.out().is_dir() && c.listing().is_empty(),
        "{:?}",
        c.listing()
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn every_output_gets_its_mode_whatever_the_umask() {
    for umask in ["000", "077"] {
        let c = Case::new();
        keygen(c.dir.path(), "alice");
        let script = format!(
            "umask {umask}; exec {BIN} build --sha256 --node rpi1 --image {} --ssh-key {} --out {}",
            c.image.display(),
            c.path("alice.pub").display(),
            c.out().display()
        );
        let o = Command::new("sh")
            .args(["-c", &script])
            .current_dir(c.path("home"))
            .env("HOME", c.path("home"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let out = c.out();
        assert_eq!(mode(&out), 0o755, "umask {umask}: out/");
        assert_eq!(mode(&out.join("rpi1.img")), 0o600, "umask {umask}: image");
        for side in ["rpi1.img.bmap", "rpi1.manifest.json", "rpi1.img.sha256"] {
            assert_eq!(mode(&out.join(side)), 0o644, "umask {umask}: {side}");
        }
    }
}
