//! Errors as findings: where (a pointer for the line, a key path for people) and why, in a
//! user's terms and never with the user's value (a cloud-config may hold passwords).
//!
//! The errors one `oneOf`/`anyOf` reports together at one place are said once: "not one of
//! the accepted types: a, b" when each form only refused the type, else what the forms
//! whose type fitted said (their type errors say less).
//!
//! For an `anyOf`, cloud-init reports jsonschema's `best_match` (the error highest in the
//! document) and a "valid under none" error. Highest is often the least telling
//! (`'type' is a required property` for a `password` of the wrong type), so the report
//! says instead what a `oneOf` would: the deepest errors of all the forms, those at one
//! place together. The verdict and what an enclosing `oneOf` sees are cloud-init's.

use std::collections::{HashMap, HashSet};

use super::compile::{NodeId, Ty};
use super::walk::{Error, Kind, Step};
use crate::cloudinit::py::Py;
use crate::cloudinit::schema::{version, Finding};
use crate::cloudinit::yaml::escape_pointer;

/// A finding and its place in document order.
struct Item {
    order: Vec<usize>,
    finding: Finding,
}

/// (errors, warnings): unknown keys at the top level (the root schema's
/// `additionalProperties`) are warnings, as cloud-init only warns about them.
pub(crate) fn findings(
    root: NodeId,
    errors: &[Error<'_>],
    crashes: &[Error<'_>],
) -> (Vec<Finding>, Vec<Finding>) {
    let mut items = Vec::new();
    let mut warnings = Vec::new();
    let mut groups: Vec<Vec<&Error<'_>>> = Vec::new();
    let mut group_at: HashMap<u32, usize> = HashMap::new();
    for e in errors {
        match &e.kind {
            Kind::Unknown(key) | Kind::NoPattern(key, _) if e.node == root && e.path.is_empty() => {
                let reason = format!(
                    "unknown top-level key: cloud-init {} has no module that reads it, so it will be ignored",
                    version()
                );
                warnings.push(item(&e.path, Some(*key), reason));
            }
            Kind::NoneOf => {}
            _ if e.group == 0 => items.push(plain(e)),
            _ => {
                let at = *group_at.entry(e.group).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[at].push(e);
            }
        }
    }
    for g in &groups {
        items.extend(together(g));
    }
    // An `anyOf`'s "valid under none" only when nothing else of its group is said.
    let none_of = errors.iter().filter(|e| matches!(e.kind, Kind::NoneOf));
    items.extend(
        none_of
            .filter(|e| !group_at.contains_key(&e.group))
            .map(plain),
    );
    items.extend(crashes.iter().map(plain));
    (finish(items), finish(warnings))
}

/// Document order, each (place, reason) once.
fn finish(mut items: Vec<Item>) -> Vec<Finding> {
    items.sort_by(|a, b| a.order.cmp(&b.order));
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert((i.finding.pointer.clone(), i.finding.reason.clone())))
        .map(|i| i.finding)
        .collect()
}

/// One group's errors, place by place; an `anyOf` best match stands for the deepest of
/// all its forms' errors.
fn together(group: &[&Error<'_>]) -> Vec<Item> {
    let mut places: Vec<Vec<&Error<'_>>> = Vec::new();
    let mut place_at: HashMap<Vec<usize>, usize> = HashMap::new();
    for e in group {
        let expanded = match e.also.is_empty() {
            true => vec![*e],
            false => deepest(std::iter::once(*e).chain(e.also.iter()).collect()),
        };
        for x in expanded {
            let key: Vec<usize> = x.path.iter().map(Step::position).collect();
            let at = *place_at.entry(key).or_insert_with(|| {
                places.push(Vec::new());
                places.len() - 1
            });
            places[at].push(x);
        }
    }
    places.iter().flat_map(|p| at_one_place(p)).collect()
}

fn deepest<'e, 'a>(errors: Vec<&'e Error<'a>>) -> Vec<&'e Error<'a>> {
    let depth = errors.iter().map(|e| e.path.len()).max().unwrap_or(0);
    errors
        .into_iter()
        .filter(|e| e.path.len() == depth)
        .collect()
}

/// Errors at one place, from one `oneOf`/`anyOf`.
fn at_one_place(all: &[&Error<'_>]) -> Vec<Item> {
    let others: Vec<&Error<'_>> = all
        .iter()
        .copied()
        .filter(|e| !matches!(e.kind, Kind::Type(_)))
        .collect();
    if others.is_empty() {
        let mut types: Vec<Ty> = Vec::new();
        for e in all {
            if let Kind::Type(ts) = &e.kind {
                for t in ts {
                    if !types.contains(t) {
                        types.push(*t);
                    }
                }
            }
        }
        return vec![item(
            &all[0].path,
            None,
            type_reason(all[0].instance, &types),
        )];
    }
    let mut items: Vec<Item> = Vec::new();
    for e in others {
        let new = plain(e);
        match items
            .iter_mut()
            .find(|i| i.finding.pointer == new.finding.pointer)
        {
            Some(i) if i.finding.reason.contains(&new.finding.reason) => {}
            Some(i) => {
                let first = i.finding.reason.trim_start_matches(NONE_FITS);
                i.finding.reason = format!("{NONE_FITS}{first}; or {}", new.finding.reason);
            }
            None => items.push(new),
        }
    }
    items
}

const NONE_FITS: &str = "none of the forms cloud-init accepts here fits: ";

fn plain(e: &Error<'_>) -> Item {
    let key = match &e.kind {
        Kind::Unknown(k) | Kind::NoPattern(k, _) | Kind::KeyNotString(k) | Kind::PathKey(k) => {
            Some(*k)
        }
        _ => None,
    };
    item(&e.path, key, reason(e))
}

fn item(path: &[Step<'_>], key: Option<Step<'_>>, reason: String) -> Item {
    let steps: Vec<Step<'_>> = path.iter().copied().chain(key).collect();
    let (pointer, path) = locate(&steps);
    Item {
        order: steps.iter().map(Step::position).collect(),
        finding: Finding {
            pointer,
            path,
            reason,
        },
    }
}

/// The pointer (`/write_files/0/contnet`, dict keys by Python's `str()`) and the key path
/// (`write_files[0].contnet`; a key that is not a string in brackets by its `str()`, so an
/// int key `0` is `[0]` and the string key `"0"` is `.0`).
fn locate(steps: &[Step<'_>]) -> (String, String) {
    let mut pointer = String::new();
    let mut path = String::new();
    for s in steps {
        match s {
            Step::Key { key, .. } => {
                pointer.push('/');
                pointer.push_str(&escape_pointer(&key.key_text()));
                match key {
                    Py::Str(k) if is_plain(k) => {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(k);
                    }
                    Py::Str(k) => {
                        path.push_str(&format!("[{}]", serde_json::Value::from(k.as_str())))
                    }
                    other => path.push_str(&format!("[{}]", other.key_text())),
                }
            }
            Step::Index(i) => {
                pointer.push_str(&format!("/{i}"));
                path.push_str(&format!("[{i}]"));
            }
        }
    }
    if path.is_empty() {
        path = "(top level)".into();
    }
    (pointer, path)
}

fn is_plain(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::String => "string",
        Ty::Integer => "integer",
        Ty::Number => "number",
        Ty::Object => "object",
        Ty::Array => "array",
        Ty::Boolean => "boolean",
        Ty::Null => "null",
    }
}

fn type_reason(v: &Py, types: &[Ty]) -> String {
    let names: Vec<&str> = types.iter().map(|t| ty_name(*t)).collect();
    let mut r = match names.as_slice() {
        [one] => format!("{} is not of type \"{one}\"", v.describe()),
        _ => format!(
            "{} is not one of the accepted types: {}",
            v.describe(),
            names.join(", ")
        ),
    };
    let scalar = matches!(
        v,
        Py::Int(_) | Py::Float(_) | Py::Bool(_) | Py::Timestamp { .. }
    );
    if scalar && types.contains(&Ty::String) {
        r.push_str(" (quote it to make it a string)");
    }
    r
}

/// A schema's value (an `enum` option, a limit) as the schema writes it.
fn show(v: &Py) -> String {
    match v {
        Py::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
        Py::Bool(b) => b.to_string(),
        Py::None => "null".into(),
        other => other.key_text(),
    }
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

const CRASH: &str = "cloud-init's schema check would stop with a TypeError";

fn reason(e: &Error<'_>) -> String {
    let d = e.instance.describe();
    match &e.kind {
        Kind::Type(types) => type_reason(e.instance, types),
        Kind::Unknown(_) => "unknown key here (misspelt, or not a key of this module)".into(),
        Kind::NoPattern(_, pats) => format!(
            "unknown key here: it matches none of the accepted patterns {}",
            pats.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        ),
        Kind::ExtraItems(n) => format!("{d}: at most {} allowed here", plural(*n, "item")),
        Kind::Enum(options) => format!(
            "{d} is not one of the accepted values: {}",
            options.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        Kind::MinItems(n) => format!("{d}: at least {} needed", plural(*n, "item")),
        Kind::MaxItems(n) => format!("{d}: at most {} allowed", plural(*n, "item")),
        Kind::Unique => format!("{d} holds an item twice: items must be unique here"),
        Kind::Required(name) => format!("required key {} is missing", show(&Py::str(name))),
        Kind::MinProperties(n) => format!("{d}: at least {} needed", plural(*n, "key")),
        Kind::MaxProperties(n) => format!("{d}: at most {} allowed", plural(*n, "key")),
        Kind::MinLength(n) => format!("{d}: at least {n} long needed"),
        Kind::MaxLength(n) => format!("{d}: at most {n} long allowed"),
        Kind::Minimum(limit, false) => format!("{d} is below the minimum of {}", show(limit)),
        Kind::Minimum(limit, true) => format!("{d} must be greater than {}", show(limit)),
        Kind::Maximum(limit, false) => format!("{d} is above the maximum of {}", show(limit)),
        Kind::Maximum(limit, true) => format!("{d} must be less than {}", show(limit)),
        Kind::Pattern(p) => format!("{d} does not match the pattern `{p}`"),
        Kind::Date => format!("{d} is not a date as cloud-init reads one (YYYY-MM-DD)"),
        Kind::Ambiguous => format!(
            "{d} fits more than one of the forms cloud-init accepts here, and must fit exactly one"
        ),
        Kind::NoneOf => format!("{d} matches none of the forms cloud-init accepts here"),
        Kind::False => format!("{d}: no value is allowed here"),
        Kind::KeyNotString(k) => format!(
            "key is not a string ({}): {CRASH} on it; quote the key",
            key_of(k)
        ),
        Kind::BytesPattern => format!("{d} where a string is checked against a pattern: {CRASH}"),
        Kind::Unsortable if matches!(e.instance, Py::List(_)) => {
            format!("extra items of types Python cannot order: {CRASH} listing them")
        }
        Kind::Unsortable => {
            format!("unknown keys of types Python cannot order (a string and a number, say): {CRASH} listing them")
        }
        Kind::PathKey(k) => format!(
            "a key that is neither a string nor a number ({}) under a mapping with a `type` key: {CRASH}; quote the key",
            key_of(k)
        ),
    }
}

fn key_of(step: &Step<'_>) -> String {
    match step {
        Step::Key { key, .. } => key.describe(),
        Step::Index(_) => "an index".into(),
    }
}
