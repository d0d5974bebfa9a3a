//! The validator against cloud-init's verdicts (each expectation below was checked with
//! cloud-init 25.1.4's `validate_cloudconfig_schema(..., strict=True)` on the same Python
//! values): the shipped schema for the Python-type traps, small schemas for each keyword.

use super::compile::Schema;
use crate::cloudinit::py::{Py, PyInt};
use crate::cloudinit::schema::{check, Finding};

fn s(x: &str) -> Py {
    Py::str(x)
}

fn i(x: i128) -> Py {
    Py::Int(PyInt::Small(x))
}

fn l(items: Vec<Py>) -> Py {
    Py::List(items)
}

/// A dict with string keys.
fn m(pairs: Vec<(&str, Py)>) -> Py {
    Py::Dict(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

fn date(text: &str) -> Py {
    Py::Timestamp {
        text: text.into(),
        has_time: false,
    }
}

fn big() -> Py {
    Py::Int(PyInt::Big {
        negative: false,
        digits: "1".repeat(60),
    })
}

/// Findings of `doc` under a small schema of the test's own.
fn under(schema: &str, doc: &Py) -> (Vec<Finding>, Vec<Finding>) {
    let schema: &'static Schema = Box::leak(Box::new(Schema::parse(schema).unwrap()));
    super::check(schema, doc)
}

fn valid_under(schema: &str, doc: &Py) -> bool {
    under(schema, doc).0.is_empty()
}

fn pointers(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.pointer.as_str()).collect()
}

fn errors(doc: &Py) -> Vec<Finding> {
    let (errors, _) = check(doc);
    errors
}

// ---- The shipped schema: Python's types ----

#[test]
fn shipped_schema_compiles() {
    let schema = Schema::parse(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/cloud-init/schema-cloud-config-v1.json"
    )))
    .unwrap();
    assert!(schema.nodes.len() > 500, "{}", schema.nodes.len());
}

#[test]
fn a_date_where_a_string_is_required_is_an_error() {
    let doc = m(vec![(
        "users",
        l(vec![m(vec![
            ("name", s("x")),
            ("expiredate", date("2032-09-01")),
        ])]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/users/0/expiredate"], "{e:?}");
    assert_eq!(e[0].path, "users[0].expiredate");
    assert!(e[0].reason.contains("a date"), "{}", e[0].reason);
    assert!(e[0].reason.contains("quote it"), "{}", e[0].reason);
}

#[test]
fn date_format_is_pythons_fromisoformat() {
    let user = |d: &str| {
        m(vec![(
            "users",
            l(vec![m(vec![("name", s("x")), ("expiredate", s(d))])]),
        )])
    };
    let e = errors(&user("2032-9-1"));
    assert_eq!(pointers(&e), ["/users/0/expiredate"], "{e:?}");
    assert!(e[0].reason.contains("not a date"), "{}", e[0].reason);
    assert!(errors(&user("2032-09-01")).is_empty());
    // CPython 3.11 reads the first 8 characters of a 10-character undashed date.
    assert!(errors(&user("20320901xy")).is_empty());
}

#[test]
fn bytes_where_a_string_is_required_is_fine() {
    let doc = m(vec![(
        "write_files",
        l(vec![m(vec![
            ("path", s("/x")),
            ("content", Py::Bytes(b"abc".to_vec())),
        ])]),
    )]);
    assert!(errors(&doc).is_empty(), "{:?}", errors(&doc));
}

#[test]
fn bytes_under_a_pattern_is_an_error() {
    // cloud-init: TypeError: cannot use a string pattern on a bytes-like object.
    let doc = m(vec![(
        "swap",
        m(vec![("size", Py::Bytes(b"abc".to_vec()))]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/swap/size"], "{e:?}");
    assert!(e[0].reason.contains("TypeError"), "{}", e[0].reason);
}

#[test]
fn int_key_under_an_additional_properties_schema_passes() {
    // snap.commands: additionalProperties is a schema and there are no patterns, so an int
    // key is just another command.
    let commands = Py::Dict(vec![
        (i(0), s("snap install x")),
        (s("b"), l(vec![s("true")])),
    ]);
    let doc = m(vec![("snap", m(vec![("commands", commands)]))]);
    assert!(errors(&doc).is_empty(), "{:?}", errors(&doc));
    let bad = Py::Dict(vec![(i(0), i(5))]);
    let e = errors(&m(vec![("snap", m(vec![("commands", bad)]))]));
    assert_eq!(pointers(&e), ["/snap/commands/0"], "{e:?}");
    assert_eq!(e[0].path, "snap.commands[0]");
    assert!(
        e[0].reason.contains("accepted types: string, array"),
        "{}",
        e[0].reason
    );
}

#[test]
fn int_key_where_only_properties_are_allowed_is_unknown() {
    let item = Py::Dict(vec![(s("path"), s("/x")), (i(0), s("y"))]);
    let e = errors(&m(vec![("write_files", l(vec![item]))]));
    assert_eq!(pointers(&e), ["/write_files/0/0"], "{e:?}");
    assert_eq!(e[0].path, "write_files[0][0]");
    assert!(e[0].reason.starts_with("unknown key"), "{}", e[0].reason);
}

#[test]
fn int_key_under_pattern_properties_is_an_error() {
    // cloud-init: TypeError: expected string or bytes-like object, got 'int'.
    let doc = m(vec![("groups", Py::Dict(vec![(i(0), s("x"))]))]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/groups/0"], "{e:?}");
    assert!(
        e[0].reason.starts_with("key is not a string"),
        "{}",
        e[0].reason
    );
}

#[test]
fn unknown_top_level_key_is_a_warning() {
    let (e, w) = check(&m(vec![("frobnicate", i(1)), ("hostname", s("a"))]));
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(pointers(&w), ["/frobnicate"]);
    assert_eq!(w[0].path, "frobnicate");
    assert!(
        w[0].reason.starts_with("unknown top-level key"),
        "{}",
        w[0].reason
    );
    // An int key alone is only unknown too.
    let (e, w) = check(&Py::Dict(vec![(i(0), s("x"))]));
    assert!(e.is_empty() && pointers(&w) == ["/0"], "{e:?} {w:?}");
}

#[test]
fn unknown_keys_of_mixed_types_are_an_error() {
    // cloud-init: TypeError: '<' not supported between instances of 'str' and 'int'.
    let (e, w) = check(&Py::Dict(vec![(i(0), s("x")), (s("frob"), i(1))]));
    assert_eq!(pointers(&e), [""], "{e:?}");
    assert!(e[0].reason.contains("TypeError"), "{}", e[0].reason);
    assert_eq!(w.len(), 2, "{w:?}");
}

#[test]
fn misspelt_key_is_an_error_at_its_own_place() {
    let doc = m(vec![(
        "write_files",
        l(vec![m(vec![("path", s("/x")), ("contnet", s("y"))])]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/write_files/0/contnet"], "{e:?}");
    assert_eq!(e[0].path, "write_files[0].contnet");
}

#[test]
fn runcmd_as_a_string_is_an_error() {
    let e = errors(&m(vec![("runcmd", s("echo hi"))]));
    assert_eq!(pointers(&e), ["/runcmd"], "{e:?}");
    assert_eq!(
        e[0].reason,
        "a string of 7 characters is not of type \"array\""
    );
}

#[test]
fn runcmd_item_of_no_accepted_type_lists_the_types() {
    // cloud-init: three errors at runcmd.0, one per form.
    let e = errors(&m(vec![("runcmd", l(vec![i(1)]))]));
    assert_eq!(pointers(&e), ["/runcmd/0"], "{e:?}");
    assert_eq!(
        e[0].reason,
        "an integer is not one of the accepted types: array, string, null (quote it to make it a string)"
    );
}

#[test]
fn a_realistic_config_is_valid() {
    let doc = m(vec![
        ("hostname", s("rpi1")),
        ("manage_etc_hosts", Py::Bool(true)),
        (
            "users",
            l(vec![
                s("default"),
                m(vec![
                    ("name", s("ops")),
                    ("groups", l(vec![s("sudo"), s("adm")])),
                    ("sudo", s("ALL=(ALL) NOPASSWD:ALL")),
                    ("shell", s("/bin/bash")),
                    ("lock_passwd", Py::Bool(true)),
                    ("ssh_authorized_keys", l(vec![s("ssh-ed25519 AAAA ops")])),
                    ("uid", i(1001)),
                ]),
            ]),
        ),
        (
            "runcmd",
            l(vec![
                l(vec![s("systemctl"), s("restart"), s("ssh")]),
                s("echo done"),
            ]),
        ),
        (
            "write_files",
            l(vec![m(vec![
                ("path", s("/etc/motd")),
                ("content", s("aGk=")),
                ("encoding", s("b64")),
                ("permissions", s("0644")),
                ("owner", s("root:root")),
            ])]),
        ),
        (
            "snap",
            m(vec![(
                "commands",
                Py::Dict(vec![
                    (i(0), s("snap install core")),
                    (i(1), l(vec![s("snap"), s("refresh")])),
                ]),
            )]),
        ),
        (
            "packages",
            l(vec![s("htop"), l(vec![s("vim"), s("2:9.0")])]),
        ),
        (
            "ntp",
            m(vec![("servers", l(vec![s("a.pool"), s("b.pool")]))]),
        ),
    ]);
    let (e, w) = check(&doc);
    assert!(e.is_empty() && w.is_empty(), "{e:?} {w:?}");
}

#[test]
fn unquoted_octal_permissions_are_an_error() {
    // YAML 1.1 reads 0644 as the int 420.
    let doc = m(vec![(
        "write_files",
        l(vec![m(vec![("path", s("/x")), ("permissions", i(420))])]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/write_files/0/permissions"], "{e:?}");
}

#[test]
fn a_user_with_a_type_key_passes_as_in_cloud_init() {
    // The users item is a dict with a `type` key: cloud_init_deepest_matches keeps only
    // errors about `type`, there are none, so cloud-init reports nothing.
    let doc = m(vec![(
        "users",
        l(vec![m(vec![("name", s("bob")), ("type", s("x"))])]),
    )]);
    assert!(errors(&doc).is_empty(), "{:?}", errors(&doc));
    // Without the `type` key the same mistake is reported.
    let doc = m(vec![(
        "users",
        l(vec![m(vec![("name", s("bob")), ("typo", s("x"))])]),
    )]);
    assert_eq!(pointers(&errors(&doc)), ["/users/0/typo"]);
}

#[test]
fn a_user_with_name_and_snapuser_is_ambiguous() {
    let doc = m(vec![(
        "users",
        l(vec![m(vec![("name", s("bob")), ("snapuser", s("x"))])]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/users/0"], "{e:?}");
    assert!(
        e[0].reason.contains("more than one of the forms"),
        "{}",
        e[0].reason
    );
}

#[test]
fn one_of_reports_the_deepest_errors() {
    // packages item: the object form goes deepest (its unknown key), the others refuse
    // the type at the same depth; the unknown key is what is said.
    let doc = m(vec![(
        "packages",
        l(vec![m(vec![("apt", l(vec![s("a")])), ("foo", i(1))])]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/packages/0/foo"], "{e:?}");
    let groups = m(vec![(
        "users",
        l(vec![m(vec![("name", s("ops")), ("groups", i(7))])]),
    )]);
    let e = errors(&groups);
    assert_eq!(pointers(&e), ["/users/0/groups"], "{e:?}");
    assert_eq!(e[0].reason, "an integer is not one of the accepted types: string, array, object (quote it to make it a string)");
}

#[test]
fn any_of_reports_the_deepest_errors() {
    let doc = m(vec![(
        "chpasswd",
        m(vec![("users", l(vec![m(vec![("name", s("x"))])]))]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/chpasswd/users/0"], "{e:?}");
    assert!(
        e[0].reason.contains("\"type\" is missing"),
        "{}",
        e[0].reason
    );
    assert!(
        e[0].reason.contains("\"password\" is missing"),
        "{}",
        e[0].reason
    );
    // cloud-init's best match is "'type' is a required property"; the deepest error says
    // more.
    let doc = m(vec![(
        "chpasswd",
        m(vec![(
            "users",
            l(vec![m(vec![("name", s("x")), ("password", i(1))])]),
        )]),
    )]);
    let e = errors(&doc);
    assert_eq!(pointers(&e), ["/chpasswd/users/0/password"], "{e:?}");
    let layout = m(vec![(
        "disk_setup",
        m(vec![(
            "sda",
            m(vec![("layout", l(vec![l(vec![Py::Float(1.5)])]))]),
        )]),
    )]);
    let e = errors(&layout);
    assert_eq!(pointers(&e), ["/disk_setup/sda/layout/0/0"], "{e:?}");
    assert_eq!(
        e[0].reason,
        "a float is not one of the accepted types: integer, string (quote it to make it a string)"
    );
}

#[test]
fn unique_items_in_the_shipped_schema() {
    let ntp = |servers: Vec<Py>| m(vec![("ntp", m(vec![("servers", l(servers))]))]);
    assert_eq!(
        pointers(&errors(&ntp(vec![s("a"), s("a")]))),
        ["/ntp/servers"]
    );
    assert!(errors(&ntp(vec![Py::Bytes(b"a".to_vec()), s("a")])).is_empty());
}

#[test]
fn reasons_never_hold_the_value() {
    let secret = "hunter2-s3cret";
    let doc = m(vec![
        (
            "chpasswd",
            m(vec![(
                "users",
                l(vec![m(vec![("name", s(secret)), ("password", i(1))])]),
            )]),
        ),
        ("runcmd", s(secret)),
        (
            "users",
            l(vec![m(vec![("name", s("x")), ("expiredate", s(secret))])]),
        ),
        ("swap", m(vec![("size", s(secret))])),
        (
            "write_files",
            l(vec![m(vec![("path", s("/x")), ("encoding", s(secret))])]),
        ),
    ]);
    let e = errors(&doc);
    assert!(e.len() >= 5, "{e:?}");
    for f in &e {
        assert!(!f.reason.contains(secret), "{f:?}");
    }
}

#[test]
fn large_and_deep_documents_are_cheap() {
    let many = l((0..100_000).map(|n| s(&format!("echo {n}"))).collect());
    assert!(errors(&m(vec![("runcmd", many)])).is_empty());
    // As many errors, each from a oneOf of three forms.
    let wrong = l((0..100_000).map(i).collect());
    assert_eq!(errors(&m(vec![("runcmd", wrong)])).len(), 100_000);
    let wrong = l((0..50_000).map(|_| l(vec![Py::Float(0.5)])).collect());
    let layout = m(vec![(
        "disk_setup",
        m(vec![("sda", m(vec![("layout", wrong)]))]),
    )]);
    assert_eq!(errors(&layout).len(), 50_000);
    let mut deep = s("x");
    for _ in 0..200 {
        deep = l(vec![deep]);
    }
    let e = errors(&m(vec![("runcmd", l(vec![deep.clone()]))]));
    assert_eq!(pointers(&e), ["/runcmd/0/0"], "{e:?}");
    // uniqueItems compares items to their full depth.
    let servers = l(vec![deep.clone(), deep]);
    let e = errors(&m(vec![("ntp", m(vec![("servers", servers)]))]));
    assert_eq!(
        pointers(&e),
        ["/ntp/servers", "/ntp/servers/0", "/ntp/servers/1"]
    );
}

// ---- Small schemas: one keyword at a time ----

#[test]
fn bool_is_not_an_integer_nor_a_number() {
    assert!(!valid_under(r#"{"type": "integer"}"#, &Py::Bool(true)));
    assert!(!valid_under(r#"{"type": "number"}"#, &Py::Bool(false)));
    assert!(valid_under(r#"{"type": "boolean"}"#, &Py::Bool(false)));
}

#[test]
fn a_float_is_not_an_integer() {
    assert!(!valid_under(r#"{"type": "integer"}"#, &Py::Float(1.0)));
    assert!(valid_under(r#"{"type": "number"}"#, &Py::Float(1.0)));
}

#[test]
fn big_int_is_an_integer() {
    assert!(valid_under(r#"{"type": "integer", "minimum": 0}"#, &big()));
    let negative = Py::Int(PyInt::Big {
        negative: true,
        digits: "9".repeat(50),
    });
    assert!(!valid_under(
        r#"{"type": "integer", "minimum": -1}"#,
        &negative
    ));
}

#[test]
fn inf_and_nan_are_numbers() {
    for f in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        assert!(valid_under(r#"{"type": "number"}"#, &Py::Float(f)), "{f}");
    }
    // NaN compares false both ways, so no limit refuses it.
    assert!(valid_under(
        r#"{"minimum": 0, "maximum": 1}"#,
        &Py::Float(f64::NAN)
    ));
    assert!(!valid_under(
        r#"{"minimum": 0}"#,
        &Py::Float(f64::NEG_INFINITY)
    ));
}

#[test]
fn tuple_and_set_are_not_arrays() {
    let pair = Py::Tuple(vec![s("a"), i(1)]);
    let set = Py::Set(vec![s("a")]);
    for v in [&pair, &set] {
        assert!(!valid_under(r#"{"type": "array"}"#, v));
        // Array keywords pass them by.
        assert!(valid_under(
            r#"{"minItems": 5, "items": {"type": "null"}}"#,
            v
        ));
    }
    assert!(!valid_under(r#"{"type": ["string", "object"]}"#, &set));
}

#[test]
fn a_date_is_no_type_at_all() {
    for t in [
        "string", "integer", "number", "object", "array", "boolean", "null",
    ] {
        let schema = format!(r#"{{"type": "{t}"}}"#);
        assert!(!valid_under(&schema, &date("2032-09-01")), "{t}");
    }
    // Formats only read strings.
    assert!(valid_under(r#"{"format": "date"}"#, &date("2032-09-01")));
}

#[test]
fn formats_other_than_date_are_not_checked() {
    assert!(valid_under(r#"{"format": "hostname"}"#, &s("not a host!")));
    assert!(valid_under(r#"{"format": "uri"}"#, &s("::")));
    assert!(!valid_under(r#"{"format": "date"}"#, &s("2032-13-01")));
}

#[test]
fn enum_keeps_one_and_true_apart() {
    let e = r#"{"enum": [1]}"#;
    assert!(!valid_under(e, &Py::Bool(true)));
    assert!(valid_under(e, &i(1)));
    assert!(valid_under(e, &Py::Float(1.0)));
    assert!(!valid_under(r#"{"enum": [true]}"#, &i(1)));
    assert!(valid_under(r#"{"enum": [true]}"#, &Py::Bool(true)));
    assert!(!valid_under(r#"{"enum": [false, "x"]}"#, &i(0)));
    assert!(!valid_under(r#"{"enum": [0]}"#, &Py::Bool(false)));
    assert!(valid_under(r#"{"enum": [2]}"#, &Py::Float(2.0)));
    // Beyond 0 and 1, Python's `in`: a list equals a list item by item.
    assert!(valid_under(r#"{"enum": [[1]]}"#, &l(vec![Py::Bool(true)])));
    let (errors, _) = under(r#"{"enum": ["a", true]}"#, &s("secret"));
    assert_eq!(
        errors[0].reason,
        "a string of 6 characters is not one of the accepted values: \"a\", true"
    );
}

#[test]
fn unique_items_follow_jsonschema_equal() {
    let u = r#"{"uniqueItems": true}"#;
    assert!(valid_under(u, &l(vec![i(1), Py::Bool(true)])));
    assert!(valid_under(
        u,
        &l(vec![l(vec![i(1)]), l(vec![Py::Bool(true)])])
    ));
    assert!(!valid_under(u, &l(vec![i(1), Py::Float(1.0)])));
    assert!(!valid_under(
        u,
        &l(vec![l(vec![i(1)]), Py::Tuple(vec![i(1)])])
    ));
    assert!(valid_under(u, &l(vec![s("a"), Py::Bytes(b"a".to_vec())])));
    assert!(!valid_under(
        u,
        &l(vec![Py::Bytes(b"a".to_vec()), l(vec![i(97)])])
    ));
    assert!(valid_under(
        u,
        &l(vec![m(vec![("a", i(1))]), m(vec![("a", Py::Bool(true))])])
    ));
    assert!(!valid_under(
        u,
        &l(vec![
            m(vec![("a", i(1)), ("b", i(2))]),
            m(vec![("b", i(2)), ("a", i(1))])
        ])
    ));
    // Set members and dict keys compare by Python `==`, where True is 1.
    assert!(!valid_under(
        u,
        &l(vec![Py::Set(vec![i(1)]), Py::Set(vec![Py::Bool(true)])])
    ));
    assert!(valid_under(
        u,
        &l(vec![Py::Float(f64::NAN), Py::Float(f64::NAN)])
    ));
    assert!(!valid_under(u, &l(vec![Py::None, Py::None])));
}

#[test]
fn properties_match_only_string_keys() {
    // At the root, unknown keys are warnings; one level down, errors.
    let schema = r#"{"properties": {"x": {
        "properties": {"0": {"type": "string"}}, "additionalProperties": false}}}"#;
    let x = |k: Py| m(vec![("x", Py::Dict(vec![(k, i(5))]))]);
    let (e, _) = under(schema, &x(i(0)));
    assert_eq!(pointers(&e), ["/x/0"]);
    assert!(e[0].reason.starts_with("unknown key"), "{e:?}");
    assert_eq!(e[0].path, "x[0]");
    let (e, _) = under(schema, &x(s("0")));
    assert_eq!(pointers(&e), ["/x/0"]);
    assert_eq!(e[0].path, "x.0");
    assert!(e[0].reason.contains("not of type"), "{e:?}");
}

#[test]
fn additional_properties_schema_and_patterns() {
    let schema = r#"{"patternProperties": {"^a": {"type": "integer"}},
                     "additionalProperties": {"type": "string"}}"#;
    assert!(valid_under(schema, &m(vec![("ab", i(1)), ("b", s("x"))])));
    let (e, _) = under(schema, &m(vec![("ab", s("x")), ("b", i(1))]));
    assert_eq!(pointers(&e), ["/ab", "/b"]);
    let deny = r#"{"items": {"patternProperties": {"^a": {}}, "additionalProperties": false}}"#;
    let (e, _) = under(deny, &l(vec![m(vec![("b", i(1))])]));
    assert_eq!(pointers(&e), ["/0/b"]);
    assert!(e[0].reason.contains("`^a`"), "{e:?}");
}

#[test]
fn additional_properties_true_still_searches_the_patterns() {
    // find_additional_properties runs before the rule is looked at.
    let schema = r#"{"patternProperties": {"^a": {}}, "additionalProperties": true}"#;
    let (e, _) = under(schema, &Py::Dict(vec![(i(1), i(1))]));
    assert!(
        e.iter()
            .all(|f| f.reason.starts_with("key is not a string")),
        "{e:?}"
    );
    assert!(!e.is_empty());
    assert!(valid_under(
        r#"{"additionalProperties": true}"#,
        &Py::Dict(vec![(i(1), i(1))])
    ));
}

#[test]
fn pattern_is_a_python_search() {
    let p = r#"{"pattern": "^[a-z]+$"}"#;
    assert!(valid_under(p, &s("abc\n")));
    assert!(!valid_under(p, &s("abc\nd")));
    assert!(valid_under(r#"{"pattern": "b"}"#, &s("abc")));
    assert!(valid_under(p, &i(1)));
}

#[test]
fn items_in_both_forms_and_additional_items() {
    let tuple = r#"{"items": [{"type": "string"}, {"type": "integer"}], "additionalItems": false}"#;
    assert!(valid_under(tuple, &l(vec![s("a"), i(1)])));
    assert!(valid_under(tuple, &l(vec![s("a")])));
    let (e, _) = under(tuple, &l(vec![s("a"), i(1), i(2)]));
    assert_eq!(pointers(&e), [""]);
    let (e, _) = under(tuple, &l(vec![i(1), s("a")]));
    assert_eq!(pointers(&e), ["/0", "/1"]);
    // With `items` a schema, additionalItems does nothing.
    let one = r#"{"items": {"type": "string"}, "additionalItems": false}"#;
    assert!(valid_under(one, &l(vec![s("a"), s("b"), s("c")])));
    let (e, _) = under(one, &l(vec![s("a"), i(1)]));
    assert_eq!(pointers(&e), ["/1"]);
}

#[test]
fn counts_and_limits() {
    assert!(!valid_under(r#"{"minItems": 1}"#, &l(vec![])));
    assert!(!valid_under(r#"{"maxItems": 1}"#, &l(vec![i(1), i(2)])));
    assert!(!valid_under(r#"{"minProperties": 1}"#, &m(vec![])));
    assert!(valid_under(r#"{"minProperties": 1}"#, &l(vec![])));
    assert!(!valid_under(r#"{"minimum": 0}"#, &i(-1)));
    assert!(valid_under(r#"{"minimum": 0}"#, &i(0)));
    assert!(!valid_under(
        r#"{"minimum": 0, "exclusiveMinimum": true}"#,
        &i(0)
    ));
    assert!(!valid_under(r#"{"minimum": 0}"#, &Py::Float(-0.5)));
    assert!(valid_under(r#"{"minimum": 0}"#, &Py::Bool(false)));
    assert!(!valid_under(r#"{"maximum": 1}"#, &Py::Float(1.5)));
    assert!(!valid_under(r#"{"minLength": 2}"#, &s("é")));
    assert!(valid_under(
        r#"{"minLength": 2}"#,
        &Py::Bytes("é".as_bytes().to_vec())
    ));
    assert!(!valid_under(r#"{"maxLength": 1}"#, &s("ab")));
}

#[test]
fn required_looks_for_string_keys() {
    let r = r#"{"required": ["a", "b"]}"#;
    let (e, _) = under(
        r,
        &Py::Dict(vec![(s("a"), i(1)), (Py::Bytes(b"b".to_vec()), i(1))]),
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].reason, "required key \"b\" is missing");
    assert!(valid_under(r, &s("not a dict")));
}

#[test]
fn ref_and_its_siblings_are_all_checked() {
    let schema = r##"{"$defs": {"obj": {"type": "object"}},
                      "properties": {"x": {"$ref": "#/$defs/obj", "required": ["a"]}}}"##;
    assert!(valid_under(schema, &m(vec![("x", m(vec![("a", i(1))]))])));
    let (e, _) = under(schema, &m(vec![("x", m(vec![]))]));
    assert_eq!(pointers(&e), ["/x"]);
    let (e, _) = under(schema, &m(vec![("x", i(1))]));
    assert_eq!(pointers(&e), ["/x"]);
}

#[test]
fn all_of_checks_every_form() {
    let schema = r#"{"allOf": [{"type": "string"}, {"pattern": "^a"}]}"#;
    assert!(valid_under(schema, &s("ab")));
    assert!(!valid_under(schema, &s("b")));
    assert!(!valid_under(schema, &i(1)));
}

#[test]
fn one_of_with_two_fits_is_an_error() {
    let schema = r#"{"oneOf": [{"type": "string"}, {"pattern": "^a"}]}"#;
    assert!(valid_under(schema, &s("b")));
    let (e, _) = under(schema, &s("a"));
    assert!(e[0].reason.contains("more than one"), "{e:?}");
}

#[test]
fn one_of_on_a_dict_with_a_type_key_reports_its_form() {
    let schema = r#"{"oneOf": [
        {"properties": {"type": {"enum": ["a"]}, "x": {"type": "string"}}, "required": ["type"]},
        {"properties": {"type": {"enum": ["b"]}, "y": {"type": "string"}}, "required": ["type", "y"]}
    ]}"#;
    // Form b's schema lists type b: its error is the one reported.
    let (e, _) = under(schema, &m(vec![("type", s("b"))]));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].reason, "required key \"y\" is missing");
    // No form lists type c: only errors about `type` itself are kept.
    let (e, _) = under(schema, &m(vec![("type", s("c"))]));
    assert_eq!(pointers(&e), ["/type"], "{e:?}");
}

#[test]
fn the_false_schema_refuses_everything() {
    assert!(!valid_under(
        r#"{"properties": {"a": false}}"#,
        &m(vec![("a", Py::None)])
    ));
    assert!(valid_under(
        r#"{"properties": {"a": true}}"#,
        &m(vec![("a", Py::None)])
    ));
}

#[test]
fn is_valid_stops_at_its_first_error_before_a_later_crash() {
    // The second form is only tried with is_valid: `required` fails first, so the pattern
    // search that would raise on the int key is never reached.
    let lazy = r#"{"oneOf": [{}, {"required": ["x"], "patternProperties": {"a": {}}}]}"#;
    assert!(valid_under(lazy, &Py::Dict(vec![(i(0), i(1))])));
    let eager = r#"{"oneOf": [{}, {"patternProperties": {"a": {}}, "required": ["x"]}]}"#;
    assert!(!valid_under(eager, &Py::Dict(vec![(i(0), i(1))])));
}

#[test]
fn unsupported_keywords_are_refused() {
    for kw in [
        r#"{"not": {}}"#,
        r#"{"multipleOf": 2}"#,
        r#"{"dependencies": {}}"#,
    ] {
        assert!(Schema::parse(kw).is_err(), "{kw}");
    }
    assert!(Schema::parse(r##"{"$ref": "#/nowhere"}"##).is_err());
}
