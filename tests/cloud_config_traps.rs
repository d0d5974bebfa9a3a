//! YAML 1.1's traps, cloud-init's header rules and hostile YAML, each a named case of one
//! table, through `build --cloud-config` under tests/hostile's time and memory limits.
//!
//! Every case is judged twice. First its premise, by PyYAML (cloud-init's loader) and, for
//! headers, `cloudinit.handlers.type_from_starts_with`: that `0:`…`11:` really are ints,
//! that `00:` and `0:` really collide, that PyYAML really cannot load a 1025-character
//! implicit key or 500 nested sequences, and so on. Then the build: an accepted case must
//! exit 0 and its seed (read with `mtype`) must pass `seed_check.py` (cloud-init's own
//! user-data processor and mergers: the file's keys and values with PyYAML's types, in
//! order); a refused case must exit 1 (never a signal: no stack overflow, no memory
//! blow-up, within the time limit), name `FILE:LINE` (and the key path) and give the
//! reason. Schema verdicts (the unquoted `expiredate`) were checked with
//! `tests/cloudinit/oracle.py` against cloud-init 25.1.4.

mod cloudinit;
mod common;
mod hostile;

use std::path::Path;

use common::*;
use hostile::TIME_LIMIT;

enum Text {
    Static(&'static str),
    Gen(fn() -> String),
    /// A file of the vendored corpus (cloud-init's own example), by its path there.
    Corpus(&'static str),
}

enum Expect {
    /// Built; the seed passes seed_check.py; the build warns naming each key.
    Accept { warns: &'static [&'static str] },
    /// Exit 1 naming `FILE:LINE` (when known) and `FILE:LINE: PATH:` (when a key path
    /// says where), with one of `reasons` (any, case-insensitive; none: no requirement).
    Refuse {
        line: Option<usize>,
        path: Option<&'static str>,
        reasons: &'static [&'static str],
    },
}

struct Trap {
    name: &'static str,
    text: Text,
    expect: Expect,
    /// Python run after the prelude below: asserts what PyYAML (cloud-init) makes of it.
    premise: &'static str,
}

/// Helpers for the premises: the file as PyYAML and cloud-init see it.
const PRELUDE: &str = r#"
import datetime, math, sys, yaml
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")
def doc():
    return yaml.safe_load(text)
def yaml_error_line():
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as e:
        m = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        return m.line + 1
    raise AssertionError("PyYAML loads it")
def too_deep():
    try:
        yaml.safe_load(text)
    except RecursionError:
        return True
    raise AssertionError("PyYAML loads it")
class DupLoader(yaml.SafeLoader):
    found = None
    def construct_mapping(self, node, deep=False):
        seen = {}
        for k, _ in node.value:
            key = self.construct_object(k, deep=True)
            if key in seen and DupLoader.found is None:
                DupLoader.found = k.start_mark.line + 1
            seen[key] = k
        return super().construct_mapping(node, deep=deep)
def duplicate_line():
    yaml.load(text, Loader=DupLoader)
    return DupLoader.found
def kind():
    from cloudinit import handlers
    return handlers.type_from_starts_with(data)
def expanded_size():
    memo = {}
    def size(n):
        if id(n) not in memo:
            if isinstance(n, yaml.ScalarNode):
                memo[id(n)] = 1
            elif isinstance(n, yaml.SequenceNode):
                memo[id(n)] = 1 + sum(size(c) for c in n.value)
            else:
                memo[id(n)] = 1 + sum(size(k) + size(v) for k, v in n.value)
        return memo[id(n)]
    return size(yaml.compose(text, Loader=yaml.SafeLoader))
exec(sys.argv[2])
"#;

fn snap_commands_0_to_11() -> String {
    let mut t = String::from("#cloud-config\nsnap:\n  commands:\n");
    for i in 0..12 {
        t.push_str(&format!("    {i}: [echo, \"command {i}\"]\n"));
    }
    t
}

fn billion_laughs() -> String {
    // Keys x1..x9, anchors lol1..lol9: a message naming the anchor says "lol".
    let mut t = String::from("#cloud-config\nx1: &lol1 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]\n");
    for i in 2..=9 {
        let prev = format!("*lol{}", i - 1);
        t.push_str(&format!("x{i}: &lol{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    t
}

fn nested(depth: usize) -> String {
    format!("#cloud-config\nx_deep:\n  {}leaf\n", "- ".repeat(depth))
}

fn nested_500() -> String {
    nested(500)
}

fn nested_5000() -> String {
    nested(5000)
}

fn key_of(len: usize) -> String {
    format!("#cloud-config\n{}: 1\n", "k".repeat(len))
}

fn key_1024() -> String {
    key_of(1024)
}

fn key_1025() -> String {
    key_of(1025)
}

fn bom() -> String {
    "\u{feff}#cloud-config\nruncmd:\n  - [echo, hi]\n".into()
}

const TRAPS: &[Trap] = &[
    Trap {
        name: "snap_commands_keyed_0_to_11_stay_ints_in_order",
        text: Text::Gen(snap_commands_0_to_11),
        expect: Expect::Accept { warns: &[] },
        premise: "c = doc()['snap']['commands']; assert list(c) == list(range(12)) and all(type(k) is int for k in c), c",
    },
    Trap {
        name: "00_and_0_are_one_key",
        text: Text::Static("#cloud-config\nsnap:\n  commands:\n    00: [echo, a]\n    0: [echo, b]\n"),
        expect: Expect::Refuse { line: Some(5), path: None, reasons: &["duplicate", "twice"] },
        premise: "assert duplicate_line() == 5; assert doc()['snap']['commands'] == {0: ['echo', 'b']}",
    },
    Trap {
        name: "1_and_quoted_1_are_two_keys",
        text: Text::Static("#cloud-config\nsnap:\n  commands:\n    1: [echo, int]\n    \"1\": [echo, str]\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "c = doc()['snap']['commands']; assert list(c) == [1, '1'] and duplicate_line() is None, c",
    },
    Trap {
        name: "unquoted_expiredate_is_a_date_and_the_schema_wants_a_string",
        text: Text::Static("#cloud-config\nusers:\n  - name: bob\n    expiredate: 2032-09-01\n"),
        expect: Expect::Refuse { line: Some(4), path: Some("users[0].expiredate"), reasons: &[] },
        premise: "assert type(doc()['users'][0]['expiredate']) is datetime.date",
    },
    Trap {
        name: "quoted_expiredate_is_a_string",
        text: Text::Static("#cloud-config\nusers:\n  - name: bob\n    expiredate: '2032-09-01'\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert doc()['users'][0]['expiredate'] == '2032-09-01'",
    },
    Trap {
        name: "quoted_impossible_date_fails_the_date_format",
        text: Text::Static("#cloud-config\nusers:\n  - name: bob\n    expiredate: '2032-13-01'\n"),
        expect: Expect::Refuse { line: Some(4), path: Some("users[0].expiredate"), reasons: &[] },
        premise: "assert doc()['users'][0]['expiredate'] == '2032-13-01'",
    },
    Trap {
        name: "inf_and_nan",
        text: Text::Static("#cloud-config\nx_floats:\n  inf: .inf\n  ninf: -.Inf\n  nan: .nan\n  NaN: .NaN\n"),
        expect: Expect::Accept { warns: &["x_floats"] },
        premise: "d = doc()['x_floats']; assert d['inf'] == math.inf and d['ninf'] == -math.inf and math.isnan(d['nan']) and math.isnan(d['NaN'])",
    },
    Trap {
        name: "integers_beyond_64_bits",
        text: Text::Static("#cloud-config\nx_ints:\n  u64_max_plus_1: 18446744073709551616\n  big: 123456789012345678901234567890\n  negative: -18446744073709551617\n  octal: 0777777777777777777777777\n  hex: 0x1_0000_0000_0000_0000\n"),
        expect: Expect::Accept { warns: &["x_ints"] },
        premise: "d = doc()['x_ints']; assert all(type(v) is int and abs(v) >= 2**64 for v in d.values()), d",
    },
    Trap {
        name: "float_tag_on_3",
        text: Text::Static("#cloud-config\nx_float: !!float 3\n"),
        expect: Expect::Accept { warns: &["x_float"] },
        premise: "v = doc()['x_float']; assert type(v) is float and v == 3.0",
    },
    Trap {
        name: "binary_content_of_cloud_inits_write_files_example",
        text: Text::Corpus("module-docs/cc_write_files/example3.yaml"),
        expect: Expect::Accept { warns: &[] },
        premise: "c = doc()['write_files'][0]['content']; assert type(c) is bytes and c.startswith(b'\\x1f\\x8b')",
    },
    Trap {
        name: "timestamp_tag_and_plain_timestamp",
        text: Text::Static("#cloud-config\nx_when:\n  tagged: !!timestamp 2001-12-14t21:59:43.10-05:00\n  plain: 2001-12-14 21:59:43.10 -5\n  day: 2002-12-14\n"),
        expect: Expect::Accept { warns: &["x_when"] },
        premise: "d = doc()['x_when']; assert type(d['tagged']) is datetime.datetime and type(d['plain']) is datetime.datetime and type(d['day']) is datetime.date, d",
    },
    Trap {
        name: "set_tag",
        text: Text::Static("#cloud-config\nx_set: !!set {a, b, c}\n"),
        expect: Expect::Accept { warns: &["x_set"] },
        premise: "assert doc()['x_set'] == {'a', 'b', 'c'}",
    },
    Trap {
        name: "omap_tag",
        text: Text::Static("#cloud-config\nx_omap: !!omap [b: 1, a: 2]\n"),
        expect: Expect::Accept { warns: &["x_omap"] },
        premise: "assert doc()['x_omap'] == [('b', 1), ('a', 2)]",
    },
    Trap {
        name: "aliases_as_keys",
        text: Text::Static("#cloud-config\nx_alias_keys:\n  names: [&first alpha, &second beta]\n  *first : 1\n  *second : 2\n"),
        expect: Expect::Accept { warns: &["x_alias_keys"] },
        premise: "d = doc()['x_alias_keys']; assert d == {'names': ['alpha', 'beta'], 'alpha': 1, 'beta': 2}, d",
    },
    Trap {
        name: "float_tag_on_1e5_and_plain_1e5",
        text: Text::Static("#cloud-config\nx_exp:\n  tagged: !!float 1e5\n  plain: 1e5\n  dotted: 1.0e+5\n"),
        expect: Expect::Accept { warns: &["x_exp"] },
        premise: "d = doc()['x_exp']; assert d == {'tagged': 100000.0, 'plain': '1e5', 'dotted': 100000.0} and type(d['tagged']) is float, d",
    },
    Trap {
        name: "users_as_a_string",
        text: Text::Static("#cloud-config\nusers: 'oldstyle,default'\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert doc()['users'] == 'oldstyle,default'",
    },
    Trap {
        name: "users_as_a_mapping",
        text: Text::Static("#cloud-config\nusers:\n  bob:\n    shell: /bin/sh\n  pi:\n    gecos: The Pi\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert doc()['users'] == {'bob': {'shell': '/bin/sh'}, 'pi': {'gecos': 'The Pi'}}",
    },
    Trap {
        name: "users_as_a_list_of_names",
        text: Text::Static("#cloud-config\nusers: [default, alice, pi]\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert doc()['users'] == ['default', 'alice', 'pi']",
    },
    Trap {
        name: "billion_laughs",
        text: Text::Gen(billion_laughs),
        expect: Expect::Refuse { line: None, path: None, reasons: &["lol"] },
        premise: "assert expanded_size() > 10**9; doc()",
    },
    Trap {
        name: "block_sequences_nested_500_deep",
        text: Text::Gen(nested_500),
        expect: Expect::Refuse { line: None, path: None, reasons: &["nest", "deep", "depth"] },
        premise: "assert too_deep()",
    },
    Trap {
        name: "block_sequences_nested_5000_deep",
        text: Text::Gen(nested_5000),
        expect: Expect::Refuse { line: None, path: None, reasons: &["nest", "deep", "depth"] },
        premise: "assert too_deep()",
    },
    Trap {
        name: "implicit_key_of_1024_characters",
        text: Text::Gen(key_1024),
        expect: Expect::Accept { warns: &[] },
        premise: "assert list(doc()) == ['k' * 1024]",
    },
    Trap {
        name: "implicit_key_of_1025_characters",
        text: Text::Gen(key_1025),
        expect: Expect::Refuse { line: Some(2), path: None, reasons: &["1024", "too long", "simple key", "implicit key", "mapping values"] },
        premise: "assert yaml_error_line() == 2",
    },
    Trap {
        name: "header_capitalised",
        text: Text::Static("#Cloud-Config\nruncmd:\n  - [echo, capitals]\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert kind() == 'text/cloud-config'",
    },
    Trap {
        name: "header_after_a_blank_line",
        text: Text::Static("\n#cloud-config\nruncmd:\n  - [echo, blank line first]\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert kind() == 'text/cloud-config'",
    },
    Trap {
        name: "header_with_a_comment",
        text: Text::Static("#cloud-config  # mine\nruncmd:\n  - [echo, commented header]\n"),
        expect: Expect::Accept { warns: &[] },
        premise: "assert kind() == 'text/cloud-config'",
    },
    Trap {
        name: "header_after_a_byte_order_mark",
        text: Text::Gen(bom),
        expect: Expect::Refuse { line: Some(1), path: None, reasons: &["ignore"] },
        premise: "assert text.startswith('\\ufeff') and kind() is None and doc()['runcmd']",
    },
    Trap {
        name: "no_header",
        text: Text::Static("runcmd:\n  - [echo, no header]\n"),
        expect: Expect::Refuse { line: Some(1), path: None, reasons: &["ignore"] },
        premise: "assert kind() is None and doc()['runcmd']",
    },
];

fn text_of(t: &Text) -> String {
    match t {
        Text::Static(s) => s.to_string(),
        Text::Gen(f) => f(),
        Text::Corpus(p) => {
            std::fs::read_to_string(cloudinit::dir().join("corpus").join(p)).unwrap()
        }
    }
}

/// The premise, judged by PyYAML / cloud-init; an error message when it does not hold.
fn premise_holds(trap: &Trap, file: &Path) -> Option<String> {
    let (ok, out) = tool(
        &cloudinit::python(),
        &["-c", PRELUDE, file.to_str().unwrap(), trap.premise],
    );
    (!ok).then(|| {
        format!(
            "premise does not hold for PyYAML: {}\n{}",
            trap.premise,
            cloudinit::tail(&out, 1500)
        )
    })
}

fn judge(trap: &Trap, file: &Path, home: &Path, o: &hostile::Outcome) -> Vec<String> {
    let mut why = Vec::new();
    let f = file.display().to_string();
    if o.code.is_none() {
        why.push(format!(
            "killed by a signal after {:?} (stack overflow? memory limit?)",
            o.elapsed
        ));
        return why;
    }
    if o.elapsed >= TIME_LIMIT {
        why.push(format!("still running after {TIME_LIMIT:?}"));
        return why;
    }
    if o.stderr.contains("panicked") {
        why.push("panicked".into());
    }
    match &trap.expect {
        Expect::Accept { warns } => {
            if o.code != Some(0) {
                why.push(format!("exit {:?}, PyYAML and cloud-init take it", o.code));
                return why;
            }
            for w in *warns {
                if !o
                    .stderr
                    .lines()
                    .any(|l| l.contains(&format!("{f}:")) && l.contains(w))
                {
                    why.push(format!(
                        "no warning names the unknown top-level key {w:?} with the file"
                    ));
                }
            }
            if cloudinit::have_cloud_init() {
                let ud = home.join("user-data");
                std::fs::write(&ud, cloudinit::user_data(&home.join("out/rpi1.img"))).unwrap();
                let (ok, out) = cloudinit::seed_check(&ud, &[file]);
                if !ok {
                    why.push(format!("seed_check.py:\n{}", cloudinit::tail(&out, 4000)));
                }
            }
        }
        Expect::Refuse {
            line,
            path,
            reasons,
        } => {
            if o.code != Some(1) {
                why.push(format!("exit {:?}, want 1 (a clean refusal)", o.code));
                return why;
            }
            if !o.stderr.contains(&f) {
                why.push("stderr does not name the file".into());
            }
            if let Some(l) = line {
                let at = format!("{f}:{l}:");
                if !o.stderr.contains(&at) {
                    why.push(format!("stderr does not say {at}"));
                }
                if let Some(p) = path {
                    let want = format!("{f}:{l}: {p}:");
                    if !o.stderr.contains(&want) {
                        why.push(format!("stderr does not say {want}"));
                    }
                }
            }
            // The reason, not the file's name (which may hold the same words).
            let lower = o.stderr.replace(&f, "FILE").to_lowercase();
            if !reasons.is_empty() && !reasons.iter().any(|r| lower.contains(&r.to_lowercase())) {
                why.push(format!("the reason is not given (one of {reasons:?})"));
            }
            if home.join("out/rpi1.img").exists() {
                why.push("an image was written".into());
            }
        }
    }
    why
}

#[test]
fn yaml_traps_headers_and_hostile_yaml_as_cloud_init_reads_them() {
    let image = fixture(SAMPLE_RASPIOS);
    let judged = cloudinit::have_cloud_init();
    let results = cloudinit::par_map(TRAPS, cloudinit::jobs(), |trap| {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join(format!("{}.yaml", trap.name));
        std::fs::write(&file, text_of(&trap.text)).unwrap();
        let mut why = Vec::new();
        if judged {
            why.extend(premise_holds(trap, &file));
        }
        let o = cloudinit::build(&image, &file, tmp.path());
        why.extend(judge(trap, &file, tmp.path(), &o));
        let verdict = if why.is_empty() { "ok" } else { "FAIL" };
        eprintln!(
            "{verdict:4} {} ({:.1?}, exit {:?})",
            trap.name, o.elapsed, o.code
        );
        (trap.name, why, o.stderr)
    });
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, why, _)| !why.is_empty())
        .map(|(name, why, stderr)| {
            format!(
                "{name}: {}\n    stderr: {}",
                why.join("\n    "),
                cloudinit::tail(stderr, 1500).replace('\n', "\n            ")
            )
        })
        .collect();
    for f in &failed {
        eprintln!("FAIL {f}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} traps failed",
        failed.len(),
        TRAPS.len()
    );
}
