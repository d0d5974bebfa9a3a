//! How cloud-init merges the cloud-config parts of a multipart user-data, part by part
//! into what came before: its `dict`, `list` and `str` mergers, chosen per part by the
//! part's own `merge_how` (or `merge_type`) key, then its `Merge-Type` header, else
//! cloud-init's default for parts, `dict(replace)+list()+str()`. clem-image writes the
//! parts and then computes, with this, exactly what the node will end up with.

use super::py::Py;

/// The `Merge-Type` clem-image gives the user's parts: keys the part adds are added; on a
/// key both have, the earlier value (clem-image's) stays, lists are joined (earlier items
/// first) and mappings merged the same way, key by key.
pub const USER_PART_MERGE_TYPE: &str = "dict(no_replace,recurse_list)+list(append)+str()";

/// cloud-init's default for a cloud-config part that names no mergers.
const PART_DEFAULT: &str = "dict(replace)+list()+str()";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dict,
    List,
    Str,
}

/// One merger with its options, as `name(opt,opt)` names it.
#[derive(Debug, Clone)]
struct Merger {
    kind: Option<Kind>,
    opts: Vec<String>,
}

/// The mergers one part is merged with, in lookup order (the first that handles a type
/// handles it).
#[derive(Debug, Clone)]
pub struct Mergers(Vec<Merger>);

impl Mergers {
    /// Parses `name(opts)+name(opts)`, as cloud-init's `string_extract_mergers` does.
    pub fn parse(text: &str) -> Result<Mergers, String> {
        let mut out = Vec::new();
        for spec in text.split('+') {
            let spec = spec.trim().to_lowercase().replace('-', "_");
            if spec.is_empty() {
                continue;
            }
            let (name, rest) = spec
                .split_once('(')
                .filter(|(n, r)| r.ends_with(')') && valid_name(n))
                .ok_or_else(|| format!("merger `{spec}` is not in the form name(options)"))?;
            let opts = rest[..rest.len() - 1]
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect();
            out.push(merger(name, opts)?);
        }
        Ok(Mergers(out))
    }

    /// The mergers a part gets: its `merge_how`/`merge_type` value first, then its
    /// header's, else cloud-init's default.
    pub fn for_part(doc_value: Option<&Py>, header: Option<&str>) -> Result<Mergers, String> {
        let mut all = match doc_value {
            Some(v) => from_value(v)?.0,
            None => Vec::new(),
        };
        if let Some(h) = header {
            all.extend(Mergers::parse(h)?.0);
        }
        if all.is_empty() {
            return Mergers::parse(PART_DEFAULT);
        }
        Ok(Mergers(all))
    }

    fn find(&self, kind: Kind) -> Option<&Merger> {
        self.0.iter().find(|m| m.kind.as_ref() == Some(&kind))
    }

    /// `merge_with` merged into `value`, as cloud-init's `LookupMerger.merge` does: the
    /// earlier value's type picks the merger; a type no merger handles keeps `value`.
    pub fn merge(&self, value: &Py, merge_with: &Py) -> Py {
        match value {
            Py::Dict(_) => match self.find(Kind::Dict) {
                Some(m) => self.on_dict(m, value, merge_with),
                None => value.clone(),
            },
            Py::List(_) | Py::Tuple(_) => match self.find(Kind::List) {
                Some(m) => self.on_list(m, value, merge_with),
                None => value.clone(),
            },
            Py::Str(_) => match self.find(Kind::Str) {
                Some(m) => on_str(m, value, merge_with),
                None => value.clone(),
            },
            _ => value.clone(),
        }
    }

    fn on_dict(&self, m: &Merger, value: &Py, merge_with: &Py) -> Py {
        let (Py::Dict(old), Py::Dict(new)) = (value, merge_with) else {
            return value.clone();
        };
        let replace = method(&m.opts, &["replace", "no_replace"], "no_replace") == "replace";
        let recurse_str = m.has("recurse_str");
        let recurse_array = m.has("recurse_array") || m.has("recurse_list");
        let allow_delete = m.has("allow_delete");
        let mut out = old.clone();
        for (k, v) in new {
            let Some(i) = out.iter().position(|(k2, _)| k2 == k) else {
                out.push((k.clone(), v.clone()));
                continue;
            };
            if matches!(v, Py::None) && allow_delete {
                out.remove(i);
                continue;
            }
            let old_v = &out[i].1;
            let merged = if replace {
                v.clone()
            } else {
                match v {
                    Py::List(_) | Py::Tuple(_) if recurse_array => self.merge(old_v, v),
                    Py::Str(_) if recurse_str => self.merge(old_v, v),
                    Py::Dict(_) => self.merge(old_v, v),
                    _ => old_v.clone(),
                }
            };
            out[i].1 = merged;
        }
        Py::Dict(out)
    }

    fn on_list(&self, m: &Merger, value: &Py, merge_with: &Py) -> Py {
        let method = method(
            &m.opts,
            &["append", "prepend", "replace", "no_replace"],
            "replace",
        );
        let old = items(value);
        let tuple = matches!(value, Py::Tuple(_));
        let wrap = |v: Vec<Py>| if tuple { Py::Tuple(v) } else { Py::List(v) };
        let new = match merge_with {
            Py::List(l) | Py::Tuple(l) => l.clone(),
            // Python's list.extend on a str, dict or set takes its characters or keys.
            Py::Str(s) => s.chars().map(|c| Py::Str(c.to_string())).collect(),
            Py::Dict(d) => d.iter().map(|(k, _)| k.clone()).collect(),
            Py::Set(s) => s.clone(),
            _ if method == "replace" => return merge_with.clone(),
            _ => return wrap(old),
        };
        if method == "replace" && !matches!(merge_with, Py::List(_) | Py::Tuple(_)) {
            return merge_with.clone();
        }
        match method {
            "prepend" => return wrap(new.into_iter().chain(old).collect()),
            "append" => return wrap(old.into_iter().chain(new).collect()),
            _ => {}
        }
        let mut out = old;
        for (i, nv) in new.iter().enumerate().take(out.len()) {
            if method == "no_replace" {
                continue;
            }
            out[i] = match nv {
                Py::List(_) | Py::Tuple(_) if m.has("recurse_array") || m.has("recurse_list") => {
                    self.merge(&out[i], nv)
                }
                Py::Str(_) if m.has("recurse_str") => self.merge(&out[i], nv),
                Py::Dict(_) if m.has("recurse_dict") => self.merge(&out[i], nv),
                _ => nv.clone(),
            };
        }
        wrap(out)
    }
}

impl Merger {
    fn has(&self, opt: &str) -> bool {
        self.opts.iter().any(|o| o == opt)
    }
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A merger by name; cloud-init fails the part on a name it has no module for.
fn merger(name: &str, opts: Vec<String>) -> Result<Merger, String> {
    let kind = match name.strip_prefix("m_").unwrap_or(name) {
        "dict" => Kind::Dict,
        "list" => Kind::List,
        "str" => Kind::Str,
        other => return Err(format!("cloud-init has no merger named `{other}`")),
    };
    Ok(Merger {
        kind: Some(kind),
        opts,
    })
}

/// The first of `choices` (in this order) among `opts`, else `default`, as the mergers'
/// constructors pick their method.
fn method<'a>(opts: &[String], choices: &[&'a str], default: &'a str) -> &'a str {
    choices
        .iter()
        .find(|c| opts.iter().any(|o| o == *c))
        .copied()
        .unwrap_or(default)
}

fn items(v: &Py) -> Vec<Py> {
    match v {
        Py::List(l) | Py::Tuple(l) => l.clone(),
        _ => Vec::new(),
    }
}

fn on_str(m: &Merger, value: &Py, merge_with: &Py) -> Py {
    match (value, merge_with) {
        (Py::Str(a), Py::Str(b)) if m.has("append") => Py::Str(format!("{a}{b}")),
        // Only str values reach here; cloud-init returns the new value of any type.
        _ => merge_with.clone(),
    }
}

/// `merge_how` as a part's document gives it: a string, or a list of
/// `{name, settings}` mappings or `[name, opt, …]` lists.
fn from_value(v: &Py) -> Result<Mergers, String> {
    let list = match v {
        Py::Str(s) => return Mergers::parse(s),
        Py::List(l) => l,
        other => {
            return Err(format!(
                "merge_how is {}: give a string or a list",
                other.describe()
            ))
        }
    };
    let mut out = Vec::new();
    for m in list {
        let (name, opts) = match m {
            Py::Dict(_) => (
                m.get("name")
                    .and_then(Py::as_str)
                    .map(|n| n.replace('-', "_").trim().to_string()),
                m.get("settings").and_then(Py::as_list).map(<[Py]>::to_vec),
            ),
            Py::List(parts) => (
                parts.first().and_then(Py::as_str).map(str::to_string),
                Some(parts.iter().skip(1).cloned().collect()),
            ),
            _ => (None, None),
        };
        let (Some(name), Some(opts)) = (name, opts) else {
            return Err("merge_how: each entry needs a name and settings".into());
        };
        if name.is_empty() {
            continue;
        }
        let opts = opts
            .iter()
            .map(|o| {
                o.as_str()
                    .map(str::to_string)
                    .ok_or("merge_how: settings are names")
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(merger(&name, opts)?);
    }
    Ok(Mergers(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudinit::yaml::load;

    fn doc(text: &str) -> Py {
        load(text).unwrap().value
    }

    #[test]
    fn user_parts_keep_the_tools_values_and_join_lists() {
        let tool = doc("hostname: rpi1\nssh_pwauth: false\nruncmd: [a]\nusers: [{name: pi}]\n");
        let user = doc("hostname: mine\nssh_pwauth: true\nruncmd: [b]\napt: {conf: x}\n");
        let m = Mergers::for_part(None, Some(USER_PART_MERGE_TYPE)).unwrap();
        let out = m.merge(&tool, &user);
        assert_eq!(out.get("hostname"), Some(&Py::str("rpi1")));
        assert_eq!(out.get("ssh_pwauth"), Some(&Py::Bool(false)));
        assert_eq!(out.get("runcmd"), Some(&doc("[a, b]")));
        assert_eq!(out.get("apt"), Some(&doc("{conf: x}")));
    }

    #[test]
    fn a_parts_own_merge_how_comes_first() {
        let tool = doc("hostname: rpi1\nruncmd: [a]\n");
        let user = doc("hostname: mine\nruncmd: [b]\n");
        let m = Mergers::for_part(
            Some(&Py::str("dict(replace)+list()+str()")),
            Some(USER_PART_MERGE_TYPE),
        )
        .unwrap();
        let out = m.merge(&tool, &user);
        assert_eq!(out.get("hostname"), Some(&Py::str("mine")));
        assert_eq!(out.get("runcmd"), Some(&doc("[b]")));
        let default = Mergers::for_part(None, None).unwrap().merge(&tool, &user);
        assert_eq!(default.get("hostname"), Some(&Py::str("mine")));
        assert!(Mergers::parse("dict(replace").is_err());
        assert!(Mergers::parse("frob()").is_err());
    }

    #[test]
    fn type_mismatches_merge_as_python_does() {
        let tool = doc("users: [{name: pi}]\n");
        let m = Mergers::for_part(None, Some(USER_PART_MERGE_TYPE)).unwrap();
        let s = m.merge(&tool, &doc("users: 'oldstyle,default'\n"));
        assert_eq!(
            s.get("users"),
            tool.get("users"),
            "a str under no_replace is dropped"
        );
        let d = m.merge(&tool, &doc("users: {alice: {shell: /bin/sh}}\n"));
        assert_eq!(d.get("users"), Some(&doc("[{name: pi}, alice]")));
    }
}
