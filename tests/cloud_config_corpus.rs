//! cloud-init's own cloud-config corpus through `build --cloud-config`: the examples of
//! cloud-init 25.1.4's documentation and the literal schema cases of its module tests,
//! vendored under `tests/cloudinit/corpus/` (see SOURCE.md there), each with the verdict
//! cloud-init's loader and validator gave it, recorded once in
//! `tests/cloudinit/verdicts.json` by `tests/cloudinit/oracle.py` (README.md there).
//!
//! For every file: one build of node rpi1 from the Raspberry Pi OS sample under
//! tests/hostile's time and memory limits. Its exit status must be the verdict's. A
//! refusal must name the file and, for every recorded error, `FILE:LINE: key.path:` in
//! clem-image's path form (for the forms of a oneOf/anyOf value that all failed: one of
//! them, or any `FILE:LINE: path:` inside that value); nothing may be written. An acceptance must warn about every unknown top-level
//! key, and the seed's `user-data`, read off the image with `mtype`, must give cloud-init
//! (through its own user-data processor and mergers, `seed_check.py`) the file's keys and
//! values with PyYAML's types. Prints a summary; `CLEM_PARITY_JOBS` sets the threads and
//! `CLEM_PARITY_REPORT=FILE` writes every failure there (the first 40 are printed).

mod cloudinit;
mod common;
mod hostile;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use hostile::TIME_LIMIT;
use serde_json::Value;

fn corpus() -> PathBuf {
    cloudinit::dir().join("corpus")
}

fn verdicts() -> Value {
    let text = std::fs::read_to_string(cloudinit::dir().join("verdicts.json"))
        .expect("tests/cloudinit/verdicts.json");
    serde_json::from_str(&text).expect("verdicts.json is JSON")
}

/// Every file under the corpus but its licence and provenance note, relative to it.
fn corpus_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&corpus(), &corpus(), &mut out);
    out.retain(|f| f != "LICENSE-Apache2.0" && f != "SOURCE.md");
    out.sort();
    out
}

#[test]
fn verdicts_cover_the_corpus() {
    let v = verdicts();
    let recorded: Vec<String> = v["files"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        recorded,
        corpus_files(),
        "verdicts.json and tests/cloudinit/corpus/ disagree: re-record with oracle.py"
    );
    assert_eq!(v["recorded_with"]["cloud_init"], "25.1.4");
    assert_eq!(
        v["recorded_with"]["formats_checked"],
        serde_json::json!(["date"])
    );
    for (f, e) in v["files"].as_object().unwrap() {
        let verdict = e["verdict"].as_str().unwrap();
        assert!(verdict == "accept" || verdict == "refuse", "{f}: {verdict}");
        if e.get("deviation").is_some() {
            assert_eq!(verdict, "refuse", "{f}: a deviation is a refusal");
        }
    }
}

/// The judge itself, on hand-made MIME seeds: right ones pass, each kind of wrong one fails.
#[test]
fn seed_check_judges_hand_made_seeds() {
    if !cloudinit::have_cloud_init() {
        return;
    }
    let (ok, out) = tool(
        &cloudinit::python(),
        &[cloudinit::dir().join("selftest.py").to_str().unwrap()],
    );
    assert!(ok, "selftest.py:\n{out}");
}

#[derive(Debug)]
enum Judged {
    Pass,
    Fail(String),
}

/// What one recorded error must look like in the tool's stderr.
fn error_seen(err: &Value, file: &str, stderr: &str) -> bool {
    let lines: Vec<u64> = ["line", "problem_line"]
        .iter()
        .filter_map(|k| err.get(*k).and_then(Value::as_u64))
        .collect();
    match err.get("segments").and_then(Value::as_array) {
        Some(segs) => {
            let path = cloudinit::tool_path(segs);
            match lines.first() {
                Some(l) => stderr.contains(&format!("{file}:{l}: {path}:")),
                None => stderr.contains(&format!("{path}:")),
            }
        }
        None => {
            let at_line = lines.is_empty()
                || lines
                    .iter()
                    .any(|l| stderr.contains(&format!("{file}:{l}:")));
            let lower = stderr.to_lowercase();
            let dup_ok = err.get("first_line").is_none()
                || lower.contains("duplicate")
                || lower.contains("twice");
            at_line && dup_ok
        }
    }
}

/// Every `FILE:LINE: path:` the tool's stderr gives for `file`.
fn reported(stderr: &str, file: &str) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let needle = format!("{file}:");
    for line in stderr.lines() {
        let mut rest = line;
        while let Some(at) = rest.find(&needle) {
            rest = &rest[at + needle.len()..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let Ok(n) = digits.parse::<u64>() else {
                continue;
            };
            let after = &rest[digits.len()..];
            if let Some(tail) = after.strip_prefix(": ") {
                if let Some(end) = tail.find(": ") {
                    out.push((n, tail[..end].to_string()));
                }
            }
        }
    }
    out
}

/// For the forms of one oneOf/anyOf value that all failed: cloud-init reports the
/// deepest place any form reached; the tool may explain it with another form's error.
/// Either way it must point inside that value: a line of it, a path at or under it.
fn inside_anchor(anchor: &Value, file: &str, stderr: &str) -> bool {
    let Some(segs) = anchor["segments"].as_array() else {
        return false;
    };
    let Some(lines) = anchor["lines"].as_array() else {
        return false;
    };
    let (lo, hi) = (lines[0].as_u64().unwrap(), lines[1].as_u64().unwrap());
    let base = cloudinit::tool_path(segs);
    reported(stderr, file).iter().any(|(n, p)| {
        (lo..=hi).contains(n)
            && (p == &base
                || base == "(top level)"
                || p.strip_prefix(&base)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('[')))
    })
}

fn describe(err: &Value) -> String {
    match err.get("segments").and_then(Value::as_array) {
        Some(segs) => format!(
            "line {} {} ({})",
            err["line"],
            cloudinit::tool_path(segs),
            err["message"].as_str().unwrap_or("")
        ),
        None => format!(
            "line {}{}",
            err["line"],
            if err.get("first_line").is_some() {
                " (duplicate key)"
            } else {
                ""
            }
        ),
    }
}

fn judge_refusal(v: &Value, file: &str, o: &hostile::Outcome, home: &Path) -> Vec<String> {
    let mut why = Vec::new();
    if o.code != Some(1) {
        why.push(format!(
            "exit {:?}, cloud-init refuses it: {}",
            o.code, v["why"]
        ));
        return why;
    }
    if !o.stderr.contains(file) {
        why.push("stderr does not name the file".into());
    }
    let errors = v["errors"].as_array().unwrap();
    // Alternatives (the failed forms of one oneOf/anyOf value): one of each group.
    let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in errors {
        match e.get("alternatives").and_then(Value::as_str) {
            Some(g) => groups.entry(g.to_string()).or_default().push(e),
            None => {
                if !error_seen(e, file, &o.stderr) {
                    why.push(format!(
                        "error not reported as FILE:LINE: path: {}",
                        describe(e)
                    ));
                }
            }
        }
    }
    for (g, es) in &groups {
        let seen = es.iter().any(|e| error_seen(e, file, &o.stderr))
            || inside_anchor(&es[0]["anchor"], file, &o.stderr);
        if !seen {
            let all: Vec<String> = es.iter().map(|e| describe(e)).collect();
            why.push(format!(
                "none of the failed forms of {g} reported: {}",
                all.join("; ")
            ));
        }
    }
    let why_text = v["why"].as_str().unwrap_or("");
    let silent = why_text.starts_with("no header") || why_text.contains("byte-order mark");
    if silent
        && !o
            .stderr
            .replace(file, "FILE")
            .to_lowercase()
            .contains("ignore")
    {
        why.push("the refusal does not say cloud-init would ignore the file".into());
    }
    if home.join("out/rpi1.img").exists() {
        why.push("an image was written".into());
    }
    why
}

fn judge_acceptance(
    v: &Value,
    path: &Path,
    file: &str,
    o: &hostile::Outcome,
    home: &Path,
) -> Vec<String> {
    let mut why = Vec::new();
    if o.code != Some(0) {
        why.push(format!(
            "exit {:?}, cloud-init accepts it ({})",
            o.code, v["why"]
        ));
        return why;
    }
    for w in v["warnings"].as_array().unwrap() {
        let key = w.as_str().unwrap();
        let named = o
            .stderr
            .lines()
            .any(|l| l.contains(&format!("{file}:")) && l.contains(key));
        if !named {
            why.push(format!(
                "no warning names the unknown top-level key {key:?} with the file"
            ));
        }
    }
    if !cloudinit::have_cloud_init() {
        return why;
    }
    let img = home.join("out/rpi1.img");
    let ud = home.join("user-data");
    std::fs::write(&ud, cloudinit::user_data(&img)).unwrap();
    let (ok, out) = cloudinit::seed_check(&ud, &[path]);
    if !ok {
        why.push(format!("seed_check.py:\n{}", cloudinit::tail(&out, 4000)));
    }
    why
}

#[test]
fn cloud_inits_corpus_gets_cloud_inits_verdicts() {
    let v = verdicts();
    let files: Vec<(String, Value)> = v["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect();
    let image = fixture(SAMPLE_RASPIOS);
    let start = Instant::now();
    let jobs = cloudinit::jobs();
    let results = cloudinit::par_map(&files, jobs, |(rel, verdict)| {
        judge_file(&image, rel, verdict)
    });
    let elapsed = start.elapsed();

    let n = files.len();
    let failures: Vec<&String> = results
        .iter()
        .filter_map(|(r, _)| match r {
            Judged::Fail(m) => Some(m),
            Judged::Pass => None,
        })
        .collect();
    let slowest = results.iter().map(|(_, t)| *t).max().unwrap_or_default();
    summarise(&files, failures.len(), elapsed, jobs, slowest);
    print_failures(&failures);
    assert!(
        failures.is_empty(),
        "{} of {n} corpus files did not get cloud-init's verdict",
        failures.len()
    );
}

/// Builds with corpus file `rel` and judges the outcome against cloud-init's `verdict`;
/// returns the judgement and how long the build took.
fn judge_file(image: &Path, rel: &str, verdict: &Value) -> (Judged, Duration) {
    let path = corpus().join(rel);
    let file = path.display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let o = cloudinit::build(image, &path, tmp.path());
    let mut why = Vec::new();
    if o.code.is_none() {
        why.push(format!("killed by a signal after {:?}", o.elapsed));
    } else if o.elapsed >= TIME_LIMIT {
        why.push(format!("still running after {TIME_LIMIT:?}"));
    } else if o.stderr.contains("panicked") {
        why.push("panicked".into());
    } else if verdict["verdict"] == "accept" {
        why = judge_acceptance(verdict, &path, &file, &o, tmp.path());
    } else {
        why = judge_refusal(verdict, &file, &o, tmp.path());
    }
    let r = if why.is_empty() {
        Judged::Pass
    } else {
        Judged::Fail(format!(
            "{rel}: {}\n    stderr: {}",
            why.join("\n    "),
            cloudinit::tail(&o.stderr, 1500).replace('\n', "\n            ")
        ))
    };
    (r, o.elapsed)
}

/// One line of counts and times, then the deviations (refused by design).
fn summarise(
    files: &[(String, Value)],
    failed: usize,
    elapsed: Duration,
    jobs: usize,
    slowest: Duration,
) {
    let n = files.len();
    let accepted = files
        .iter()
        .filter(|(_, e)| e["verdict"] == "accept")
        .count();
    let deviations: Vec<String> = files
        .iter()
        .filter_map(|(f, e)| {
            e.get("deviation")
                .map(|d| format!("  {f}: {}", d.as_str().unwrap()))
        })
        .collect();
    eprintln!(
        "cloud-init corpus: {n} files, {accepted} accepted, {} refused ({} deviations), \
         {} failed; {:.1?} on {jobs} thread(s), slowest build {:.1?}",
        n - accepted,
        deviations.len(),
        failed,
        elapsed,
        slowest
    );
    eprintln!(
        "deviations (cloud-init reads them, clem-image refuses them by design):\n{}",
        deviations.join("\n")
    );
}

/// The first 40 failures on stderr, and every one to CLEM_PARITY_REPORT=FILE if set.
fn print_failures(failures: &[&String]) {
    // Every failure in full, for working through them: CLEM_PARITY_REPORT=FILE.
    if let Some(report) = std::env::var_os("CLEM_PARITY_REPORT") {
        let all: Vec<&str> = failures.iter().map(|f| f.as_str()).collect();
        std::fs::write(&report, all.join("\n\n")).unwrap();
        eprintln!("all failures written to {}", Path::new(&report).display());
    }
    for f in failures.iter().take(40) {
        eprintln!("FAIL {f}");
    }
    if failures.len() > 40 {
        eprintln!("... and {} more", failures.len() - 40);
    }
}
