//! The cache of decompressed bases: a rebuild reads none of the input and gives the same
//! images as an uncached build; damaged entries are found and made anew; old ones go.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_clem-image");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A test's own tree: HOME, the cluster directory and the cache live inside it.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let c = Case {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(c.path("home")).unwrap();
        c
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    /// `clem-image build ARGS --json` in the case's tree, without XDG_CACHE_HOME.
    fn build(&self, args: &[&str]) -> Output {
        self.build_env(args, &[])
    }

    fn build_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("build")
            .args(args)
            .arg("--json")
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env_remove("XDG_CACHE_HOME")
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        o
    }

    /// A build of `nodes` from `image` into `out`, with this case's cache.
    fn cached(&self, image: &Path, nodes: &str, out: &str, extra: &[&str]) -> Output {
        let cache = self.cache();
        let mut args = vec![
            "--image",
            image.to_str().unwrap(),
            "--node",
            nodes,
            "--out",
            out,
            "--cache",
            cache.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.build(&args)
    }

    fn entries(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.cache())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    /// The one entry in the cache.
    fn entry(&self) -> PathBuf {
        let e = self.entries();
        assert_eq!(e.len(), 1, "{e:?}");
        e[0].clone()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The messages of the build's JSON summary.
fn messages(o: &Output) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["messages"]
        .as_array()
        .expect("messages in the summary")
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

fn said(o: &Output, what: &str) -> bool {
    messages(o).iter().any(|m| m.contains(what))
}

/// Whether the build decompressed its input (the line every uncached build prints).
fn decompressed(o: &Output) -> bool {
    messages(o).iter().any(|m| m.starts_with("decompressed "))
}

fn same_images(a: &Path, b: &Path, nodes: &[&str]) {
    for n in nodes {
        for f in [format!("{n}.img"), format!("{n}.img.bmap")] {
            let st = Command::new("cmp").arg(a.join(&f)).arg(b.join(&f)).status();
            assert!(st.unwrap().success(), "{f} differs");
        }
    }
}

const FOUR: [&str; 4] = ["rpi1", "rpi2", "rpi3", "rpi4"];

#[test]
fn a_rebuild_after_a_config_change_reads_no_input_byte_and_equals_an_uncached_build() {
    let c = Case::new();
    let image = fixture("snappy-rpi2-sample.img.xz");
    let o = Command::new(BIN)
        .args(["init", "--dir", "cl"])
        .current_dir(c.dir.path())
        .env("HOME", c.path("home"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let config = c.path("cl/cluster.toml");
    let cfg = config.to_str().unwrap();
    let first = c.cached(&image, "rpi1..rpi4", "out1", &["--config", cfg]);
    assert!(decompressed(&first), "{:?}", messages(&first));
    assert!(
        said(&first, "cache: the base is kept in"),
        "{:?}",
        messages(&first)
    );

    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("interface = \"eth0\""), "{text}");
    std::fs::write(
        &config,
        text.replace("interface = \"eth0\"", "interface = \"eth1\""),
    )
    .unwrap();
    let second = c.cached(&image, "rpi1..rpi4", "out2", &["--config", cfg]);
    assert!(
        said(&second, "from the cache") && said(&second, "read 0 bytes of the input"),
        "{:?}",
        messages(&second)
    );
    assert!(!decompressed(&second), "{:?}", messages(&second));

    let plain = c.build(&[
        "--image",
        image.to_str().unwrap(),
        "--node",
        "rpi1..rpi4",
        "--out",
        "out3",
        "--config",
        cfg,
        "--no-cache",
    ]);
    assert!(decompressed(&plain), "{:?}", messages(&plain));
    same_images(&c.path("out2"), &c.path("out3"), &FOUR);
    // The config change did reach the images.
    let st = Command::new("cmp")
        .arg(c.path("out1/rpi1.img"))
        .arg(c.path("out2/rpi1.img"))
        .output()
        .unwrap();
    assert!(!st.status.success(), "the changed config changed nothing");
}

/// Damages the one entry as `how` says, rebuilds, and checks the damage was found, the
/// images are those of the first build, and the entry is whole again.
fn damaged_entry_is_rebuilt(how: &str, damage: impl FnOnce(&Path)) {
    let c = Case::new();
    let image = fixture("snappy-rpi2-sample.img.xz");
    c.cached(&image, "rpi1,rpi2", "out1", &[]);
    damage(&c.entry());
    let second = c.cached(&image, "rpi1,rpi2", "out2", &[]);
    assert!(
        said(&second, "is damaged"),
        "{how}: {:?}",
        messages(&second)
    );
    assert!(decompressed(&second), "{how}: {:?}", messages(&second));
    same_images(&c.path("out1"), &c.path("out2"), &["rpi1", "rpi2"]);
    let third = c.cached(&image, "rpi1,rpi2", "out3", &[]);
    assert!(
        said(&third, "read 0 bytes"),
        "{how}: {:?}",
        messages(&third)
    );
    assert!(!said(&third, "is damaged"), "{how}: {:?}", messages(&third));
    same_images(&c.path("out1"), &c.path("out3"), &["rpi1", "rpi2"]);
}

fn flip_byte(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], at).unwrap();
}

#[test]
fn a_flipped_byte_in_the_base_is_found() {
    damaged_entry_is_rebuilt("flipped data byte", |e| flip_byte(&e.join("base.img"), 446));
}

/// The seal is the change time, which no user can set back: restoring the modification
/// time after the damage does not hide it.
#[test]
fn a_flipped_byte_with_its_mtime_put_back_is_found() {
    damaged_entry_is_rebuilt("flipped byte, mtime restored", |e| {
        let base = e.join("base.img");
        let mtime = std::fs::metadata(&base).unwrap().modified().unwrap();
        flip_byte(&base, 446);
        let f = std::fs::File::options().write(true).open(&base).unwrap();
        f.set_modified(mtime).unwrap();
        assert_eq!(std::fs::metadata(&base).unwrap().modified().unwrap(), mtime);
    });
}

/// A hit on a sealed base reads none of it; a base touched but not changed (as a copy of
/// the cache would be) is checked whole once, then sealed again.
#[test]
fn a_sealed_base_is_not_read_and_a_touched_one_is_checked_once() {
    let c = Case::new();
    let image = fixture("snappy-rpi2-sample.img.xz");
    c.cached(&image, "rpi1", "out1", &[]);
    let second = c.cached(&image, "rpi1", "out2", &[]);
    assert!(said(&second, "not read again"), "{:?}", messages(&second));
    let base = c.entry().join("base.img");
    let f = std::fs::File::options().write(true).open(&base).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    let third = c.cached(&image, "rpi1", "out3", &[]);
    assert!(
        said(&third, "every range checked"),
        "{:?}",
        messages(&third)
    );
    assert!(said(&third, "read 0 bytes"), "{:?}", messages(&third));
    assert!(!decompressed(&third) && !said(&third, "is damaged"));
    let fourth = c.cached(&image, "rpi1", "out4", &[]);
    assert!(said(&fourth, "not read again"), "{:?}", messages(&fourth));
    same_images(&c.path("out1"), &c.path("out3"), &["rpi1"]);
    same_images(&c.path("out1"), &c.path("out4"), &["rpi1"]);
}

#[test]
fn a_byte_written_into_a_hole_of_the_base_is_found() {
    damaged_entry_is_rebuilt("byte in a hole", |e| {
        let base = e.join("base.img");
        let len = std::fs::metadata(&base).unwrap().len();
        // The sample's last MiB is an empty part of `writable`: a hole in the base.
        flip_byte(&base, len - (512 << 10));
    });
}

#[test]
fn a_truncated_base_is_found() {
    damaged_entry_is_rebuilt("truncated", |e| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(e.join("base.img"))
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len / 2).unwrap();
    });
}

#[test]
fn an_entry_without_metadata_is_found() {
    damaged_entry_is_rebuilt("no metadata", |e| {
        std::fs::remove_file(e.join("meta.json")).unwrap()
    });
}

#[test]
fn a_changed_block_map_is_found() {
    damaged_entry_is_rebuilt("block map", |e| {
        let p = e.join("base.bmap");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, text.replacen("<Range", "<Range ", 1)).unwrap();
    });
}

#[test]
fn only_the_three_most_recently_used_bases_are_kept_and_the_removed_one_is_named() {
    let c = Case::new();
    let raw = c.path("up.img");
    let o = Command::new("xz")
        .arg("-dc")
        .arg(fixture("snappy-rpi2-sample.img.xz"))
        .output()
        .unwrap();
    std::fs::write(&raw, o.stdout).unwrap();
    // The same image compressed four ways: four inputs, four keys.
    let mut inputs = Vec::new();
    for level in ["-0", "-1", "-2", "-3"] {
        let dst = c.path(&format!("up{level}.img.xz"));
        let o = Command::new("xz")
            .args(["-c", level])
            .arg(&raw)
            .output()
            .unwrap();
        std::fs::write(&dst, o.stdout).unwrap();
        inputs.push(dst);
    }
    let mut builds = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        builds.push(c.cached(input, "rpi1", &format!("out{i}"), &[]));
    }
    assert_eq!(c.entries().len(), 3, "{:?}", c.entries());
    let last = &builds[3];
    let removed: Vec<String> = messages(last)
        .into_iter()
        .filter(|m| m.starts_with("cache: removed"))
        .collect();
    assert_eq!(removed.len(), 1, "{:?}", messages(last));
    let first_input = inputs[0].display().to_string();
    assert!(removed[0].contains(&first_input), "{removed:?}");
    // A raw input is not cached (it is not decompressed).
    c.cached(&raw, "rpi1", "out-raw", &[]);
    assert_eq!(c.entries().len(), 3, "{:?}", c.entries());
}

#[test]
fn concurrent_builds_of_one_input_share_one_whole_entry() {
    let c = Case::new();
    let image = fixture("snappy-rpi2-sample.img.xz");
    let cache = c.cache();
    // The cluster's keys first (made once, then shared), as a real user would have them.
    c.build(&[
        "--image",
        image.to_str().unwrap(),
        "--node",
        "rpi1",
        "--out",
        "o",
        "--no-cache",
    ]);
    let children: Vec<_> = (0..3)
        .map(|i| {
            Command::new(BIN)
                .args(["build", "--node", "rpi1", "--image"])
                .arg(&image)
                .arg("--out")
                .arg(format!("out{i}"))
                .arg("--cache")
                .arg(&cache)
                .current_dir(c.dir.path())
                .env("HOME", c.path("home"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    same_images(&c.path("out0"), &c.path("out1"), &["rpi1"]);
    same_images(&c.path("out0"), &c.path("out2"), &["rpi1"]);
    // One entry, no temporary left behind, and it is sound.
    c.entry();
    let next = c.cached(&image, "rpi1", "out3", &[]);
    assert!(said(&next, "read 0 bytes"), "{:?}", messages(&next));
}

#[test]
fn the_default_cache_is_under_xdg_cache_home_else_home() {
    let c = Case::new();
    let image = fixture("snappy-rpi2-sample.img.xz");
    let img = image.to_str().unwrap();
    let xdg = c.path("xdg");
    c.build_env(
        &["--image", img, "--node", "rpi1", "--out", "o1"],
        &[("XDG_CACHE_HOME", &xdg)],
    );
    assert_eq!(
        std::fs::read_dir(xdg.join("clem-image")).unwrap().count(),
        1
    );
    c.build(&["--image", img, "--node", "rpi1", "--out", "o2"]);
    let home_cache = c.path("home/.cache/clem-image");
    assert_eq!(std::fs::read_dir(&home_cache).unwrap().count(), 1);
    let o = c.build(&[
        "--image",
        img,
        "--node",
        "rpi1",
        "--out",
        "o3",
        "--no-cache",
    ]);
    assert!(decompressed(&o), "{:?}", messages(&o));
    assert!(!said(&o, "from the cache"), "{:?}", messages(&o));
    assert!(!said(&o, "cache:"), "{:?}", messages(&o));
}

#[test]
fn a_killed_build_leaves_no_entry_and_the_next_one_clears_its_temporary() {
    let c = Case::new();
    let image = fixture("snappy-rpi2-sample.img.xz");
    let cache = c.cache();
    let o = Command::new(BIN)
        .args(["build", "--node", "rpi1", "--image"])
        .arg(&image)
        .arg("--cache")
        .arg(&cache)
        .current_dir(c.dir.path())
        .env("HOME", c.path("home"))
        .env("CLEM_IMAGE_TEST_HOOK", "patched=kill")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let left = c.entries();
    assert!(
        left.iter().all(|p| p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".tmp-")),
        "{left:?}"
    );
    let next = c.cached(&image, "rpi1", "out2", &[]);
    assert!(decompressed(&next), "{:?}", messages(&next));
    c.entry();
}
