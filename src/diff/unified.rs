//! The unified-format rendering of a line diff, for the short text files `diff` shows
//! inline. The edit script comes from `similar` (Myers' algorithm, with its bounded search
//! on hard inputs); the rendering is ours, so the output is exactly `diff -u`'s layout.

use std::fmt::Write;

use similar::{capture_diff_slices, Algorithm, DiffTag};

/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Line `a[i]` equals `b[j]`.
    Equal(usize, usize),
    Delete(usize),
    Insert(usize),
}

/// Splits after each `\n`, keeping it, so a missing final newline stays visible.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The edit script turning `a` into `b`, in order, one op per line; a replaced block's
/// deletions come before its insertions, as `diff -u` prints them.
fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let mut ops = Vec::with_capacity(a.len().max(b.len()));
    for op in capture_diff_slices(Algorithm::Myers, a, b) {
        let (tag, old, new) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => ops.extend(old.zip(new).map(|(i, j)| Op::Equal(i, j))),
            DiffTag::Delete | DiffTag::Insert | DiffTag::Replace => {
                ops.extend(old.map(Op::Delete));
                ops.extend(new.map(Op::Insert));
            }
        }
    }
    ops
}

/// A unified diff of `old` and `new` with the given header names; empty when they are equal.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let (a, b) = (lines(old), lines(new));
    let ops = script(&a, &b);
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| !matches!(op, Op::Equal(..)))
        .map(|(i, _)| i)
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    // Group changes whose context would touch or overlap into one hunk.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        match groups.last_mut() {
            Some((_, end)) if i <= *end + 2 * CONTEXT + 1 => *end = i,
            _ => groups.push((i, i)),
        }
    }
    for (first, last) in groups {
        let start = first.saturating_sub(CONTEXT);
        let end = (last + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        // Where the hunk starts in each file: the first line of that side it covers.
        let a_start = hunk
            .iter()
            .find_map(|op| match op {
                Op::Equal(i, _) | Op::Delete(i) => Some(*i),
                Op::Insert(_) => None,
            })
            .unwrap_or_else(|| lines_before(&ops[..start], true));
        let b_start = hunk
            .iter()
            .find_map(|op| match op {
                Op::Equal(_, j) | Op::Insert(j) => Some(*j),
                Op::Delete(_) => None,
            })
            .unwrap_or_else(|| lines_before(&ops[..start], false));
        let a_len = hunk
            .iter()
            .filter(|op| !matches!(op, Op::Insert(_)))
            .count();
        let b_len = hunk
            .iter()
            .filter(|op| !matches!(op, Op::Delete(_)))
            .count();
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(a_start, a_len),
            range(b_start, b_len)
        );
        for op in hunk {
            let (mark, line) = match *op {
                Op::Equal(i, _) => (' ', a[i]),
                Op::Delete(i) => ('-', a[i]),
                Op::Insert(j) => ('+', b[j]),
            };
            out.push(mark);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// Lines of one side consumed by `ops` (for a hunk that has no line of that side).
fn lines_before(ops: &[Op], old_side: bool) -> usize {
    ops.iter()
        .filter(|op| match op {
            Op::Equal(..) => true,
            Op::Delete(_) => old_side,
            Op::Insert(_) => !old_side,
        })
        .count()
}

/// `start,len` as diff -u prints it: 1-based, `,1` left out, an empty range named by the
/// line before it.
fn range(start0: usize, len: usize) -> String {
    match len {
        0 => format!("{start0},0"),
        1 => format!("{}", start0 + 1),
        _ => format!("{},{len}", start0 + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `ops` to rebuild `b` from `a` and `b`'s inserted lines.
    fn check(a: &str, b: &str) {
        let (la, lb) = (lines(a), lines(b));
        let ops = script(&la, &lb);
        let mut rebuilt = Vec::new();
        let (mut i, mut j) = (0, 0);
        for op in &ops {
            match *op {
                Op::Equal(x, y) => {
                    assert_eq!((x, y), (i, j));
                    assert_eq!(la[x], lb[y]);
                    rebuilt.push(la[x]);
                    i += 1;
                    j += 1;
                }
                Op::Delete(x) => {
                    assert_eq!(x, i);
                    i += 1;
                }
                Op::Insert(y) => {
                    assert_eq!(y, j);
                    rebuilt.push(lb[y]);
                    j += 1;
                }
            }
        }
        assert_eq!((i, j), (la.len(), lb.len()));
        assert_eq!(rebuilt.concat(), b);
    }

    #[test]
    fn scripts_rebuild_the_new_side() {
        let cases = [
            ("", ""),
            ("a\n", ""),
            ("", "a\n"),
            ("a\nb\nc\n", "a\nc\n"),
            ("a\nb\nc\n", "x\nb\ny\n"),
            ("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n"),
            ("one\ntwo", "one\ntwo\n"),
        ];
        for (a, b) in cases {
            check(a, b);
            check(b, a);
        }
    }

    #[test]
    fn minimal_for_the_classic_example() {
        let (a, b) = ("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n");
        let ops = script(&lines(a), &lines(b));
        let edits = ops.iter().filter(|o| !matches!(o, Op::Equal(..))).count();
        assert_eq!(edits, 5);
    }

    #[test]
    fn renders_like_diff_u() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        let new = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n";
        let want = "--- a\n+++ b\n@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n\
                    @@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n";
        assert_eq!(unified(old, new, "a", "b"), want);
        assert_eq!(unified(old, old, "a", "b"), "");
        assert_eq!(
            unified("", "x\n", "a", "b"),
            "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n"
        );
        assert_eq!(
            unified("x", "y", "a", "b"),
            "--- a\n+++ b\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+y\n\\ No newline at end of file\n"
        );
    }

    /// Same number of removed and added lines as GNU `diff --minimal -u`, and `patch`
    /// turns the old text into the new with our output.
    #[test]
    fn agrees_with_gnu_diff_and_patch() {
        let dir = tempfile::tempdir().unwrap();
        let mut seed = 7u64;
        let mut rnd = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..40 {
            let mut text =
                || -> String { (0..rnd(30)).map(|_| format!("l{}\n", rnd(6))).collect() };
            let (a, b) = (text(), text());
            let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
            std::fs::write(&pa, &a).unwrap();
            std::fs::write(&pb, &b).unwrap();
            let gnu = std::process::Command::new("diff")
                .args(["--minimal", "-u"])
                .args([&pa, &pb])
                .output()
                .unwrap();
            let ours = unified(&a, &b, "a", "b");
            let count = |t: &str, c: char| {
                t.lines()
                    .skip(2)
                    .filter(|l| l.starts_with(c) && !l.starts_with("@@"))
                    .count()
            };
            let gnu = String::from_utf8(gnu.stdout).unwrap();
            assert_eq!(
                count(&ours, '-'),
                count(&gnu, '-'),
                "{a:?} {b:?}\n{ours}\n{gnu}"
            );
            assert_eq!(count(&ours, '+'), count(&gnu, '+'), "{a:?} {b:?}");
            if ours.is_empty() {
                continue;
            }
            let st = std::process::Command::new("patch")
                .args(["-s", "-o"])
                .arg(dir.path().join("out"))
                .arg(&pa)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(ours.as_bytes())?;
                    c.wait()
                })
                .unwrap();
            assert!(st.success(), "patch refused:\n{ours}");
            assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), b);
        }
    }

    #[test]
    fn large_rewrites_stay_correct() {
        // The worst the 64 KiB cap allows: every line differs; bounded, not quadratic.
        let a: String = (0..16000).map(|i| format!("{i:03x}\n")).collect();
        let b: String = (0..16000).map(|i| format!("{:03X}.\n", i)).collect();
        let t = std::time::Instant::now();
        check(&a, &b);
        assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
        let a: String = (0..3000).map(|i| format!("a{i}\n")).collect();
        let b: String = (0..3000).map(|i| format!("b{i}\n")).collect();
        check(&a, &b);
    }
}
