//! The steps of [`super::compose`]: merging a part as cloud-init will,
//! saying what each merge decided, and checking the merged result.

use super::mime::Part;
use super::py::Py;
use super::{schema, userdata, users, CloudConfigError, Fragment};

/// `acc` with `part` (which holds the user's fragment `f`) merged in. `f` is a mapping
/// already checked, so only its `merge_how` can fail here.
pub(super) fn merge_into(acc: &Py, part: &Part, f: &Fragment) -> Result<Py, CloudConfigError> {
    userdata::merge_doc(acc, f.doc.clone(), part.merge_type.as_deref())
        .map_err(|m| f.merge_err("/merge_how", m))
}

/// The name a `user:` value gives cloud-init's default user.
fn default_user_name(u: &Py) -> Option<String> {
    match u {
        Py::Str(s) => Some(s.clone()),
        Py::Dict(_) => u.get("name").map(Py::key_text),
        _ => None,
    }
}

/// clem-image's login user is cloud-init's default user (`user:`); a layer that names
/// another default user would take that place from it (cloud-init has one), so it is
/// refused with the way to get what it asks for.
pub(super) fn check_default_user(
    tool: &Py,
    layers: &[(&str, &Fragment)],
) -> Result<(), CloudConfigError> {
    let Some(login) = tool.get("user").and_then(default_user_name) else {
        return Ok(());
    };
    for (_, f) in layers {
        let Some(name) = f.doc.get("user").and_then(default_user_name) else {
            continue;
        };
        if name != login {
            return Err(f.merge_err("/user", format!(
                "`user:` makes `{name}` cloud-init's default user, but clem-image's login user `{login}` is the default user (cloud-init has one): set `user = \"{name}\"` in cluster.toml to log in as {name}, or list the user under `users:`"
            )));
        }
    }
    Ok(())
}

/// What merging `f` (called `name`) under `acc` decided, key by key.
pub(super) fn describe(acc: &Py, f: &Fragment, name: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut added = Vec::new();
    for (k, v) in f.doc.as_dict().unwrap_or(&[]) {
        let key = k.key_text();
        if key == "merge_how" || key == "merge_type" {
            continue;
        }
        let Some(old) = acc.get_key(k) else {
            added.push(key);
            continue;
        };
        match (old, v) {
            (Py::List(a), Py::List(b)) => notes.push(format!(
                "{key}: lists joined, {} item(s) from before then {} from {name}",
                a.len(),
                b.len()
            )),
            (Py::Dict(_), Py::Dict(_)) => notes.push(format!("{key}: merged key by key")),
            (a, b) if a != b => notes.push(format!(
                "{key}: clem-image's value wins over the one from {name} (or the earlier part's)"
            )),
            _ => {}
        }
    }
    if !added.is_empty() {
        notes.push(format!("added from {name}: {}", added.join(", ")));
    }
    notes
}

/// Whether every value `tool` sets is still in `merged`: scalars equal, lists starting
/// with the tool's items, mappings key by key.
fn survives(tool: &Py, merged: &Py) -> bool {
    match (tool, merged) {
        (Py::Dict(t), Py::Dict(_)) => t
            .iter()
            .all(|(k, v)| merged.get_key(k).is_some_and(|mv| survives(v, mv))),
        (Py::List(t), Py::List(m)) => m.len() >= t.len() && t.iter().zip(m).all(|(a, b)| a == b),
        (a, b) => a == b,
    }
}

/// The merged user-data keeps clem-image's values, defines every user once, and passes
/// the schema; a finding is blamed on the layer that holds the value.
pub(super) fn check_merged(
    node: &str,
    tool: &Py,
    merged: &Py,
    layers: &[(&str, &Fragment)],
) -> Result<(), CloudConfigError> {
    for (k, v) in tool.as_dict().unwrap_or(&[]) {
        if !merged.get_key(k).is_some_and(|mv| survives(v, mv)) {
            let key = k.key_text();
            let culprit = layers
                .iter()
                .find(|(_, f)| f.doc.get("merge_how").or(f.doc.get("merge_type")).is_some())
                .or(layers.first());
            let message = format!(
                "merged as cloud-init merges parts, this changes clem-image's `{key}` (its own merge_how or a value of another type): clem-image's host name, keys, users and first-boot commands must stay"
            );
            return Err(match culprit {
                Some((_, f)) => f.merge_err("/merge_how", message),
                None => CloudConfigError::Merge {
                    at: format!("node {node}"),
                    message,
                },
            });
        }
    }
    if let Some(u) = merged.get("users") {
        users::normalize(u).map_err(|message| CloudConfigError::Merge {
            at: format!("node {node}: the merged user-data"),
            message,
        })?;
    }
    let (errors, _) = schema::check(merged);
    if errors.is_empty() {
        return Ok(());
    }
    let problems = errors
        .iter()
        .map(
            |e| match layers.iter().rev().find(|(_, f)| f.has(&e.pointer)) {
                Some((_, f)) => format!("  {} (in the merged user-data)", f.finding(e)),
                None => format!("  {}: {}", e.path, e.reason),
            },
        )
        .collect();
    Err(CloudConfigError::Invalid {
        origin: format!("node {node}: the merged user-data"),
        problems,
    })
}
