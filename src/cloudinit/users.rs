//! `users:` as cloud-init reads it. It takes a list (names and mappings), a string of
//! comma-separated names, or a mapping of name to settings (or to a truth value), and
//! normalises them to one entry per name, the first entry's settings winning. Merged as
//! parts, a string or a mapping does not join clem-image's list (a string is dropped, a
//! mapping contributes only its names), so clem-image's own part takes those entries in.

use super::py::Py;

/// One user after cloud-init's normalisation: its name and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub settings: Vec<(Py, Py)>,
}

/// cloud-init's `util.is_true`.
fn is_true(v: &Py) -> bool {
    match v {
        Py::Bool(b) => *b,
        other => matches!(
            other.key_text().to_lowercase().trim(),
            "true" | "1" | "on" | "yes"
        ),
    }
}

/// The names of a comma-separated string, sorted and unique (`uniq_merge_sorted`).
fn names_of(s: &str) -> Vec<String> {
    let mut names: Vec<String> = s
        .split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The mapping form as the list cloud-init makes of it.
fn mapping_entries(d: &[(Py, Py)]) -> Result<Vec<Py>, String> {
    let mut out = Vec::new();
    for (k, v) in d {
        match v {
            Py::Dict(settings) => {
                let mut s = settings.clone();
                s.retain(|(key, _)| key.as_str() != Some("name"));
                s.push((Py::str("name"), Py::Str(k.key_text())));
                out.push(Py::Dict(s));
            }
            Py::Bool(_) | Py::Int(_) | Py::Float(_) | Py::Str(_) => {
                if is_true(v) {
                    out.push(Py::Str(k.key_text()));
                }
            }
            other => {
                return Err(format!(
                    "users: the entry {} is {}: cloud-init takes settings or true",
                    k.key_text(),
                    other.describe()
                ))
            }
        }
    }
    Ok(out)
}

/// Every user `users` defines, as cloud-init normalises them (`default` stays a name).
pub fn normalize(users: &Py) -> Result<Vec<User>, String> {
    let entries: Vec<Py> = match users {
        Py::Dict(d) => mapping_entries(d)?,
        Py::Str(s) => names_of(s).into_iter().map(Py::Str).collect(),
        Py::List(l) => l.clone(),
        other => return Err(format!("users is {}", other.describe())),
    };
    let mut out: Vec<User> = Vec::new();
    for e in entries {
        match &e {
            Py::Str(s) => {
                for name in names_of(s) {
                    if !out.iter().any(|u| u.name == name) {
                        out.push(User {
                            name,
                            settings: Vec::new(),
                        });
                    }
                }
            }
            Py::Dict(d) => {
                let name = e
                    .get("name")
                    .map(Py::key_text)
                    .unwrap_or_else(|| "default".into());
                let settings: Vec<(Py, Py)> = d
                    .iter()
                    .filter(|(k, _)| k.as_str() != Some("name"))
                    .cloned()
                    .collect();
                match out.iter_mut().find(|u| u.name == name) {
                    // mergemanydict: the earlier entry's settings win.
                    Some(u) => {
                        for (k, v) in settings {
                            if !u.settings.iter().any(|(k2, _)| *k2 == k) {
                                u.settings.push((k, v));
                            }
                        }
                    }
                    None => out.push(User { name, settings }),
                }
            }
            other => return Err(format!("users: an entry is {}", other.describe())),
        }
    }
    Ok(out)
}

/// clem-image's own `users` list, with the entries of the layers whose `users` the part
/// merge would drop or flatten (a string, a mapping) taken in, so that the merged
/// user-data defines every user once. Refuses what no form of the tool's part can keep.
pub fn absorb(tool: &[Py], layers: &[(&str, &Py)]) -> Result<Vec<Py>, String> {
    let mut out = tool.to_vec();
    for (name, users) in layers {
        match users {
            Py::Str(s) => out.extend(names_of(s).into_iter().map(Py::Str)),
            Py::Dict(d) => {
                if let Some((k, _)) = d.iter().find(|(_, v)| !is_true_or_map(v)) {
                    return Err(format!(
                        "{name}: users: `{}` is not enabled in the mapping form, but merged into clem-image's list cloud-init would create it: remove the entry",
                        k.key_text()
                    ));
                }
                out.extend(mapping_entries(d)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn is_true_or_map(v: &Py) -> bool {
    matches!(v, Py::Dict(_)) || is_true(v)
}

/// `config` with its `users` as cloud-init normalises them: one mapping per name (the
/// default user stays the name `default`), so a description lists each user once.
pub fn normalized(config: &Py) -> Py {
    let (Some(d), Some(u)) = (config.as_dict(), config.get("users")) else {
        return config.clone();
    };
    let Ok(list) = normalize(u) else {
        return config.clone();
    };
    let users: Vec<Py> = list
        .into_iter()
        .map(|u| {
            if u.name == "default" {
                return Py::str("default");
            }
            let mut s = vec![(Py::str("name"), Py::Str(u.name))];
            s.extend(u.settings);
            Py::Dict(s)
        })
        .collect();
    Py::Dict(
        d.iter()
            .map(|(k, v)| match k.as_str() {
                Some("users") => (k.clone(), Py::List(users.clone())),
                _ => (k.clone(), v.clone()),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudinit::yaml::load;

    fn doc(text: &str) -> Py {
        load(text).unwrap().value
    }

    fn names(v: &Py) -> Vec<String> {
        normalize(v).unwrap().into_iter().map(|u| u.name).collect()
    }

    #[test]
    fn every_form_normalises_as_cloud_init_does() {
        assert_eq!(names(&doc("'oldstyle,default'")), ["default", "oldstyle"]);
        assert_eq!(
            names(&doc("{bob: true, eve: false, al: {shell: /bin/sh}}")),
            ["bob", "al"]
        );
        let l = normalize(&doc(
            "[{name: pi, shell: a}, pi, {name: pi, shell: b, uid: 7}]",
        ))
        .unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].settings.len(), 2, "{l:?}");
        assert_eq!(l[0].settings[0].1, Py::str("a"), "the first entry wins");
    }

    #[test]
    fn the_tools_part_takes_in_what_a_merge_would_drop() {
        let tool = vec![doc("{name: pi, shell: /bin/bash}")];
        let s = doc("'oldstyle,default'");
        let m = doc("{al: {shell: /bin/sh}}");
        let out = absorb(&tool, &[("cluster", &s), ("node", &m)]).unwrap();
        assert_eq!(names(&Py::List(out)), ["pi", "default", "oldstyle", "al"]);
        let off = doc("{eve: false}");
        assert!(absorb(&tool, &[("node", &off)])
            .unwrap_err()
            .contains("eve"));
    }
}
