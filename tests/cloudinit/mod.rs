//! Shared by the cloud-init parity tests (`tests/cloud_config_corpus.rs`,
//! `tests/cloud_config_traps.rs`): building with a user's cloud-config under the hostile
//! watchdog, reading the seed back with mtools, and the Python judges beside this file
//! (`seed_check.py`, run with the cloud-init the machine has; see README.md here).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;
use crate::hostile::{run_limited, Outcome};

/// The image's default user (`default` in `users`), which is also the user clem-image
/// configures on Raspberry Pi OS.
pub const DEFAULT_USER: &str = "pi";

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cloudinit")
}

/// The python3 with cloud-init: `CLEM_PYTHON`, else Debian's (`.ci/run` installs
/// cloud-init with apt), else whatever `python3` is.
pub fn python() -> String {
    if let Some(p) = std::env::var_os("CLEM_PYTHON") {
        return p.to_string_lossy().into_owned();
    }
    if Path::new("/usr/bin/python3").exists() {
        return "/usr/bin/python3".into();
    }
    "python3".into()
}

/// True when that python can import cloud-init and PyYAML; in CI their absence fails.
pub fn have_cloud_init() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        let ok = Command::new(python())
            .args(["-c", "import cloudinit.user_data, cloudinit.handlers, yaml"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok || std::env::var_os("CI").is_none(),
            "{} cannot import cloud-init: it is required in CI (.ci/run installs it)",
            python()
        );
        if !ok {
            eprintln!("skipped: {} cannot import cloud-init", python());
        }
        ok
    })
}

/// `build` of node rpi1 from the Raspberry Pi OS sample with `cloud_config` as the
/// cluster's extra cloud-config, under tests/hostile's time and memory limits.
pub fn build(image: &Path, cloud_config: &Path, home: &Path) -> Outcome {
    let key = fixture("keys/test_ed25519.pub");
    let out = home.join("out");
    let extra = [
        "--image",
        image.to_str().unwrap(),
        "--cloud-config",
        cloud_config.to_str().unwrap(),
    ];
    run_limited(&build_args("rpi1", &key, &out, &extra), home)
}

/// The seed's `user-data` off the built image's FAT partition, byte for byte (`mtype`
/// without `-t` does not touch line ends).
pub fn user_data(img: &Path) -> Vec<u8> {
    let at = format!("{}@@{}", img.display(), sfdisk_parts(img)[0].start);
    let o = Command::new("mtype")
        .args(["-i", &at, "::/user-data"])
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("run mtype");
    assert!(
        o.status.success(),
        "mtype user-data: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Runs seed_check.py on a seed's user-data and the user's files (in layer order).
pub fn seed_check(user_data: &Path, originals: &[&Path]) -> (bool, String) {
    let mut cmd = Command::new(python());
    cmd.arg(dir().join("seed_check.py"))
        .args(["--default-user", DEFAULT_USER])
        .arg(user_data)
        .args(originals);
    let o = cmd.output().expect("run seed_check.py");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// A key path in clem-image's words (`src/cloudinit/schema.rs`, `finding()`): plain keys
/// joined with dots, list indices and other keys in brackets (`write_files[0].contnet`,
/// `a["b c"]`). `segments` are JSON: numbers are list indices, strings mapping keys.
pub fn tool_path(segments: &[serde_json::Value]) -> String {
    let mut path = String::new();
    for s in segments {
        match s {
            serde_json::Value::Number(n) => path.push_str(&format!("[{n}]")),
            serde_json::Value::String(k) => {
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                } else {
                    path.push_str(&format!("[{}]", serde_json::Value::from(k.as_str())));
                }
            }
            other => panic!("segment {other} is neither an index nor a key"),
        }
    }
    if path.is_empty() {
        "(top level)".into()
    } else {
        path
    }
}

/// Runs `f` over `items` on `jobs` threads; results in the order of `items`.
pub fn par_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                out.lock().unwrap()[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Threads for the builds: `CLEM_PARITY_JOBS`, else the machine's cores (at most 4).
pub fn jobs() -> usize {
    std::env::var("CLEM_PARITY_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(4)
        })
}

/// The last `n` bytes of a long text (stderr of a refusal), for failure messages.
pub fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut at = s.len() - n;
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}
