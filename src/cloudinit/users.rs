//! `users:` as cloud-init reads it. It takes a list (names and mappings), a string of
//! comma-separated names, or a mapping of name to settings (or to a truth value), and
//! normalises them to one entry per name, the first entry's settings winning. A `user:`
//! (what clem-image's own part sets) is the default user, added whatever form `users`
//! takes, its settings before any entry of the same name.

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
    let mut names: Vec<String> = split_names(s).collect();
    names.sort();
    names.dedup();
    names
}

/// The non-empty names of a comma-separated string, in order.
fn split_names(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',')
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

/// The names a list entry (a string, or a list of strings) holds (`util.uniq_merge`).
fn entry_names(e: &Py) -> Vec<String> {
    let items: Vec<&Py> = match e {
        Py::List(l) => l.iter().collect(),
        other => vec![other],
    };
    let mut out: Vec<String> = Vec::new();
    for n in items
        .into_iter()
        .filter_map(Py::as_str)
        .flat_map(split_names)
    {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Settings of a later entry for the same user: added where the earlier entry has no
/// such key (`mergemanydict`: the earlier entry's settings win).
fn fill_missing(settings: &mut Vec<(Py, Py)>, later: Vec<(Py, Py)>) {
    for (k, v) in later {
        if !settings.iter().any(|(k2, _)| *k2 == k) {
            settings.push((k, v));
        }
    }
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
            Py::Str(_) | Py::List(_) => {
                for name in entry_names(&e) {
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
                    Some(u) => fill_missing(&mut u.settings, settings),
                    None => out.push(User { name, settings }),
                }
            }
            other => return Err(format!("users: an entry is {}", other.describe())),
        }
    }
    Ok(out)
}

/// `config` with its `users` as cloud-init normalises them (`user:` folded in as the
/// default user): one mapping per name, so a description lists each user once.
pub fn normalized(config: &Py) -> Py {
    let Some(d) = config.as_dict() else {
        return config.clone();
    };
    if config.get("users").is_none() && config.get("user").is_none() {
        return config.clone();
    }
    let default = match config.get("user") {
        Some(Py::Str(n)) => Some(vec![(Py::str("name"), Py::str(n))]),
        Some(Py::Dict(u)) => Some(u.clone()),
        _ => None,
    };
    let base = config.get("users").cloned().unwrap_or(Py::List(Vec::new()));
    let Ok(mut list) = normalize(&base) else {
        return config.clone();
    };
    if let Some(u) = default {
        let first = normalize(&Py::List(vec![Py::Dict(u)])).unwrap_or_default();
        if let Some(mut def) = first.into_iter().next() {
            list.retain(|x| x.name != "default");
            if let Some(i) = list.iter().position(|x| x.name == def.name) {
                let later = list.remove(i);
                fill_missing(&mut def.settings, later.settings);
            }
            list.insert(0, def);
        }
    }
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
    let mut out: Vec<(Py, Py)> = d
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), Some("users") | Some("user")))
        .cloned()
        .collect();
    out.push((Py::str("users"), Py::List(users)));
    Py::Dict(out)
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
    fn user_is_the_default_user_first_whatever_the_form_of_users() {
        for users in [
            "'oldstyle,default'",
            "{al: {shell: /bin/sh}, pi: {shell: /bin/zsh, uid: 7}}",
            "[pi, {name: al}]",
        ] {
            let c = doc(&format!(
                "user: {{name: pi, shell: /bin/bash}}\nusers: {users}\n"
            ));
            let n = normalized(&c);
            let list = n.get("users").unwrap().as_list().unwrap();
            assert_eq!(list[0].get("name"), Some(&Py::str("pi")), "{users}");
            assert_eq!(list[0].get("shell"), Some(&Py::str("/bin/bash")), "{users}");
            let pis = list
                .iter()
                .filter(|u| u.get("name") == Some(&Py::str("pi")))
                .count();
            assert_eq!(pis, 1, "{users}");
        }
    }
}
