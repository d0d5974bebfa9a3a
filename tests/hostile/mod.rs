//! Running clem-image on hostile inputs under a watchdog: a wall-time limit (the child is
//! killed when it passes) and an address-space limit (`ulimit -v`), so a hang or an
//! unbounded allocation fails the test instead of stalling or swapping the machine.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Per call: ample for a 150 MB sample, far below an endless walk.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);
/// KiB of address space.
pub const MEMORY_LIMIT_KB: u64 = 4 << 20;

pub struct Outcome {
    /// `None`: killed by a signal (stack overflow, abort, our watchdog).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// The judges for bad input: exit status 1 or 2 (diff), no signal, no panic, in time,
    /// and every `needles` in stderr.
    pub fn assert_clean_error(&self, what: &str, needles: &[&str]) {
        assert!(
            self.elapsed < TIME_LIMIT,
            "{what}: still running after {TIME_LIMIT:?}"
        );
        assert!(
            matches!(self.code, Some(1) | Some(2)),
            "{what}: exit {:?} (signal or success)\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{what}: {}", self.stderr);
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "{what}: stderr lacks {n:?}: {}",
                self.stderr
            );
        }
    }
}

/// Runs the binary with `args` in `home` (also HOME), limited in time and memory.
pub fn run_limited(args: &[&str], home: &Path) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KB} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_clem-image"))
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run clem-image");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || read_all(&mut out));
    let err_t = std::thread::spawn(move || read_all(&mut err));
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > TIME_LIMIT {
            child.kill().ok();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code(),
        stdout: out_t.join().expect("stdout thread"),
        stderr: err_t.join().expect("stderr thread"),
        elapsed: start.elapsed(),
    }
}

/// Keeps the first 16 MiB (an endless listing must not fill the test's memory).
fn read_all(r: &mut impl std::io::Read) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    r.by_ref().take(16 << 20).read_to_end(&mut buf).ok();
    std::io::copy(r, &mut std::io::sink()).ok();
    String::from_utf8_lossy(&buf).into_owned()
}
