//! Files the user names (SSH keys, cloud-config, cluster config, TLS files) must be regular
//! files under a size limit; anything else is refused by name, quickly, and no error
//! repeats what the file holds. Judges: exit code, wall time and address space (the
//! watchdog of `tests/hostile`), the message's words, and the absence of a planted secret.

mod common;
mod hostile;

use common::*;
use hostile::run_limited;
use std::path::{Path, PathBuf};

const SECRET: &str = "Zq9-hunter2-SECRET";

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Case { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn fifo(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        p
    }
    /// A build of rpi1 with `extra` arguments; must fail naming `file` and saying `why`.
    fn build_refuses(&self, extra: &[&str], file: &Path, why: &str) {
        let out = self.path("out");
        let mut args = vec!["build", "--node", "rpi1", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = run_limited(&args, &self.path("home"));
        o.assert_clean_error(&format!("{extra:?}"), &[file.to_str().unwrap(), why]);
        let err = &o.stderr;
        assert!(
            !err.contains(SECRET) && !o.stdout.contains(SECRET),
            "echoed: {err}"
        );
        assert!(!out.join("rpi1.img").exists());
    }
}

#[test]
fn a_fifo_as_key_cloud_config_or_config_is_refused_without_blocking() {
    let c = Case::new();
    let key = c.fifo("key.pub");
    c.build_refuses(&["--ssh-key", key.to_str().unwrap()], &key, "FIFO");
    let cc = c.fifo("user-data");
    c.build_refuses(&["--cloud-config", cc.to_str().unwrap()], &cc, "FIFO");
    let cfg = c.fifo("cluster.toml");
    c.build_refuses(&["--config", cfg.to_str().unwrap()], &cfg, "FIFO");
}

#[test]
fn dev_zero_as_a_key_is_refused_as_a_device() {
    let c = Case::new();
    let zero = Path::new("/dev/zero");
    c.build_refuses(&["--ssh-key", "/dev/zero"], zero, "device");
}

#[test]
fn a_100_mb_key_or_cloud_config_is_refused_by_size_without_reading_it() {
    let c = Case::new();
    let big = c.path("big.pub");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(100 << 20).unwrap(); // sparse: costs nothing to make, 100 MB to read
    c.build_refuses(
        &["--ssh-key", big.to_str().unwrap()],
        &big,
        "limit for an SSH",
    );
    c.build_refuses(
        &["--cloud-config", big.to_str().unwrap()],
        &big,
        "limit for a cloud-config",
    );
}

#[test]
fn errors_never_repeat_what_a_mistaken_file_holds() {
    let c = Case::new();
    let wrong = c.path("passwords.txt");
    std::fs::write(&wrong, format!("{SECRET} and more\n")).unwrap();
    c.build_refuses(
        &["--ssh-key", wrong.to_str().unwrap()],
        &wrong,
        "known key type",
    );
    c.build_refuses(
        &["--config", wrong.to_str().unwrap()],
        &wrong,
        "passwords.txt:1: ",
    );
    let bytes = c.path("bytes.pub");
    std::fs::write(&bytes, b"\xff\xfe binary").unwrap();
    c.build_refuses(&["--config", bytes.to_str().unwrap()], &bytes, "not UTF-8");
}

#[test]
fn a_symlink_to_a_regular_key_is_followed() {
    let c = Case::new();
    let (_, public) = keygen(c.dir.path(), "alice");
    let link = c.path("link.pub");
    std::os::unix::fs::symlink(&public, &link).unwrap();
    let out = c.path("out");
    let o = run_limited(
        &[
            "build",
            "--node",
            "rpi1",
            "--ssh-key",
            link.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &c.path("home"),
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(out.join("rpi1.img").exists());
}
