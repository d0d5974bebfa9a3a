//! A reader that closes the pipe early (`| head`) ends the program quietly, as it ends
//! `cat` or `grep`: no panic message, and the shell's usual status for SIGPIPE (141).
//! Judges: the exit status and stderr. Both outputs are larger than a pipe's 64 KiB buffer,
//! so the program is still writing when `head` has gone.

mod common;

use common::*;
use std::process::Command;

fn head_of(cmd: &str, args: &str) -> (i32, String) {
    let script = format!(
        "'{BIN}' {cmd} {args} 2>err | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}; cat err"
    );
    let t = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .current_dir(t.path())
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = stdout(&o);
    let (code, err) = text.split_once('\n').unwrap_or((&text, ""));
    (code.trim().parse().unwrap(), err.to_string())
}

#[test]
fn inspect_into_head_ends_quietly() {
    let img = fixture(SAMPLE_RASPIOS);
    let (code, err) = head_of("inspect --json", img.to_str().unwrap());
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.trim().is_empty(), "unexpected stderr: {err}");
    assert_eq!(code, 141, "{err}");
}

#[test]
fn diff_into_head_ends_quietly() {
    let a = fixture(SAMPLE_MBR);
    let b = fixture(SAMPLE_RASPIOS);
    let args = format!("{} {}", a.display(), b.display());
    let (code, err) = head_of("diff", &args);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code, 141, "{err}");
}
