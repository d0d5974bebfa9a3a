//! cloud-init's own cloud-config JSON schema, shipped in `schemas/cloud-init/` and compiled
//! in, so a config is checked offline against exactly the rules of a known cloud-init.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::yaml::escape_pointer;

const SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schemas/cloud-init/schema-cloud-config-v1.json"
));
const VERSION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schemas/cloud-init/VERSION"
));

/// The cloud-init release whose schema this is.
pub fn version() -> &'static str {
    VERSION.trim()
}

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the shipped schema is JSON");
        jsonschema::validator_for(&schema).expect("the shipped schema compiles")
    })
}

/// One thing the schema says about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON pointer of the value (`/write_files/0/contnet`), for line lookup.
    pub pointer: String,
    /// The same place as a key path (`write_files[0].contnet`).
    pub path: String,
    pub reason: String,
}

/// Errors (the document breaks the schema) and warnings (top-level keys this cloud-init
/// does not know: it ignores them, so they are worth a word, not a refusal).
/// Checks a document as PyYAML loaded it. (Until the Python-typed validator lands: through
/// its JSON view.)
pub fn check(doc: &super::py::Py) -> (Vec<Finding>, Vec<Finding>) {
    check_json(&doc.to_json())
}

pub fn check_json(doc: &Value) -> (Vec<Finding>, Vec<Finding>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for e in validator().iter_errors(doc) {
        let base = segments(e.instance_path().iter());
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for key in unexpected {
                    let mut segs = base.clone();
                    segs.push(Seg::Key(key.clone()));
                    let f = finding(&segs, String::new());
                    if base.is_empty() {
                        warnings.push(Finding {
                            reason: format!(
                                "unknown top-level key: cloud-init {} has no module that reads it, so it will be ignored",
                                version()
                            ),
                            ..f
                        });
                    } else {
                        errors.push(Finding {
                            reason: "unknown key here (misspelt, or not a key of this module)"
                                .into(),
                            ..f
                        });
                    }
                }
            }
            _ => {
                let (segs, reason) = explain(&e);
                errors.push(finding(&segs, reason));
            }
        }
    }
    (errors, warnings)
}

/// One step of a path into a document.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segments<'a>(it: impl Iterator<Item = LocationSegment<'a>>) -> Vec<Seg> {
    it.map(|s| match s {
        LocationSegment::Property(p) => Seg::Key(p.into_owned()),
        LocationSegment::Index(i) => Seg::Index(i),
    })
    .collect()
}

fn finding(segs: &[Seg], reason: String) -> Finding {
    let mut pointer = String::new();
    let mut path = String::new();
    for s in segs {
        match s {
            Seg::Key(p) => {
                pointer.push('/');
                pointer.push_str(&escape_pointer(p));
                let plain = !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if plain {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(p);
                } else {
                    path.push_str(&format!("[{}]", serde_json::Value::from(p.as_str())));
                }
            }
            Seg::Index(i) => {
                pointer.push_str(&format!("/{i}"));
                path.push_str(&format!("[{i}]"));
            }
        }
    }
    if path.is_empty() {
        path = "(top level)".into();
    }
    Finding {
        pointer,
        path,
        reason,
    }
}

/// Where and why, in a user's terms. For "none of these forms", the form that got
/// furthest says more than the list of forms: its own error, at its own (deeper) place.
/// When no form gets past this value, the types the forms accept say it.
fn explain(e: &ValidationError<'_>) -> (Vec<Seg>, String) {
    let here = || segments(e.instance_path().iter());
    let branches = match e.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            context
        }
        _ => return (here(), e.to_string()),
    };
    let depth = e.instance_path().iter().count();
    let closest = branches
        .iter()
        .filter_map(|errs| errs.first())
        .max_by_key(|err| err.instance_path().iter().count());
    if let Some(inner) = closest.filter(|i| i.instance_path().iter().count() > depth) {
        return explain(inner);
    }
    let mut types: Vec<String> = Vec::new();
    for err in branches.iter().flatten() {
        if let ValidationErrorKind::Type { kind } = err.kind() {
            let names: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            for n in names {
                if !types.contains(&n) {
                    types.push(n);
                }
            }
        }
    }
    let reason = if types.is_empty() {
        format!(
            "{} matches none of the forms cloud-init accepts here",
            short(e.instance())
        )
    } else {
        format!(
            "{} is not one of the accepted types: {}",
            short(e.instance()),
            types.join(", ")
        )
    };
    (here(), reason)
}

/// What a value is, never what it says: a cloud-config may hold passwords.
fn short(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(_) => "a boolean".to_string(),
        Value::Number(_) => "a number".to_string(),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::Array(a) => format!("a list of {}", a.len()),
        Value::Object(m) => format!("a mapping of {} keys", m.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_key_path_and_reason() {
        let (errors, warnings) = check_json(&json!({
            "write_files": [{"path": "/x", "contnet": "y"}],
            "runcmd": "not a list",
            "frobnicate": 1
        }));
        let paths: Vec<&str> = errors.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"write_files[0].contnet"), "{errors:?}");
        assert!(paths.contains(&"runcmd"), "{errors:?}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].path, "frobnicate");
        assert_eq!(warnings[0].pointer, "/frobnicate");
        let (ok, none) = check_json(&json!({"hostname": "rpi1", "runcmd": [["true"]]}));
        assert!(ok.is_empty() && none.is_empty(), "{ok:?} {none:?}");
        assert!(version().starts_with("25."), "{}", version());
    }
}
