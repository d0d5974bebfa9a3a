//! `completions SHELL` and `man`: generated from the clap definitions, judged by the shells'
//! own parsers (`bash -n`, `zsh -n`, `fish -n`) and by man(1) rendering the page.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

/// Runs `cmd args` with `input` on stdin; returns (success, stdout, stderr).
fn pipe(cmd: &str, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(cmd)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        plain(&String::from_utf8_lossy(&o.stdout)),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// man's text without nroff's overstrikes (`N\x08N` for bold, `_\x08x` for underline).
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        out.push(c);
    }
    out.into_iter().collect()
}

fn subcommands() -> Vec<&'static str> {
    vec![
        "init",
        "build",
        "inspect",
        "cat",
        "verify",
        "flash",
        "diff",
        "status",
        "explain",
        "env",
        "completions",
        "man",
    ]
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let tmp = tempfile::tempdir().unwrap();
    for (shell, check) in [
        ("bash", vec!["-n"]),
        ("zsh", vec!["-n"]),
        ("fish", vec!["-n"]),
    ] {
        let o = clem(&["completions", shell], tmp.path());
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        // Every subcommand is offered.
        for sub in subcommands() {
            assert!(script.contains(sub), "{shell}: no {sub} in the script");
        }
        if !need_tool(shell) {
            continue;
        }
        let file = tmp.path().join(format!("clem-image.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let mut args = check.clone();
        args.push(file.to_str().unwrap());
        let (ok, text) = tool(shell, &args);
        assert!(ok, "{shell} -n refuses the script: {text}");
    }
    // bash: sourcing it registers a completion for the program.
    if need_tool("bash") {
        let file = tmp.path().join("clem-image.bash");
        let (ok, text) = tool(
            "bash",
            &[
                "-c",
                &format!("source {} && complete -p clem-image", file.display()),
            ],
        );
        assert!(ok && text.contains("clem-image"), "{text}");
    }
    let o = clem(&["completions", "tcsh"], tmp.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("tcsh"), "{}", stderr(&o));
}

#[test]
fn elvish_and_powershell_scripts_are_printed() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["elvish", "powershell"] {
        let o = clem(&["completions", shell], tmp.path());
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        assert!(stdout(&o).contains("clem-image"), "{shell}");
    }
}

#[test]
fn man_page_renders_and_names_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let o = clem(&["man"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(".ie") || stdout(&o).contains(".TH"));
    if !need_tool("man") {
        return;
    }
    let env = [("MANWIDTH", "80"), ("MAN_KEEP_FORMATTING", "0")];
    let (ok, text, err) = pipe("man", &["-l", "-"], &env, &o.stdout);
    assert!(ok, "man -l: {err}");
    assert!(!err.contains("warning"), "man -l warns: {err}");
    assert!(text.contains("SUBCOMMANDS"), "{text}");
    for sub in subcommands() {
        assert!(
            text.contains(&format!("clem-image-{sub}(1)")),
            "the page does not list {sub}: {text}"
        );
    }
    // Each subcommand's own page renders with its options.
    let o = clem(&["man", "build"], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let (ok, text, err) = pipe("man", &["-l", "-"], &env, &o.stdout);
    assert!(ok, "man -l: {err}");
    assert!(
        text.contains("--ssh-key") && text.contains("--node"),
        "{text}"
    );
    let o = clem(&["man", "nosuch"], tmp.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("\"nosuch\""), "{}", stderr(&o));
}
