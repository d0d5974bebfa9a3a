//! The small subset of YAML that cloud-init configs and seeds use, read line by line:
//! block mappings, block lists (also at their key's indent), flow lists of scalars,
//! quoted scalars, comments; block scalars (`|`, `>`) are skipped. Each scalar is stored
//! under its dotted path, list items under their index (`users.0.name`).

use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Doc {
    values: BTreeMap<String, String>,
    /// Paths in the order their scalars appeared.
    order: Vec<String>,
}

struct Frame {
    indent: usize,
    seg: String,
    /// A key with no inline value: its block list may sit at its own indent.
    open: bool,
}

/// Drops a `#` comment that is not inside quotes (a `#` must follow a space or start).
fn strip_comment(s: &str) -> &str {
    let (mut sq, mut dq) = (false, false);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            '#' if !sq && !dq && prev.is_whitespace() => return s[..i].trim_end(),
            _ => {}
        }
        prev = c;
    }
    s.trim_end()
}

/// `key: value` or `key:`; keys are plain or quoted, never flow collections.
fn split_key(s: &str) -> Option<(String, &str)> {
    if s.starts_with('[') || s.starts_with('{') {
        return None;
    }
    let (key, rest) = if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = s[1..].find(q)? + 1;
        let rest = s[end + 1..].strip_prefix(':')?;
        (s[1..end].to_string(), rest)
    } else {
        let i = s
            .find(": ")
            .or_else(|| s.strip_suffix(':').map(|k| k.len()))?;
        (s[..i].trim().to_string(), &s[i + 1..])
    };
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest.trim()))
}

/// A scalar without its quotes.
pub fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 {
        if let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
            return inner.replace("\\\"", "\"").replace("\\\\", "\\");
        }
        if let Some(inner) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            return inner.replace("''", "'");
        }
    }
    s.to_string()
}

/// The items of a flow list `[a, "b", 'c']` (no nesting).
pub fn flow_list(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut out = Vec::new();
    let (mut cur, mut sq, mut dq) = (String::new(), false, false);
    for c in inner.chars() {
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            ',' if !sq && !dq => {
                out.push(unquote(&cur));
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(unquote(&cur));
    }
    Some(out.into_iter().filter(|s| !s.is_empty()).collect())
}

impl Doc {
    pub fn parse(text: &str) -> Doc {
        let mut doc = Doc::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut counters: BTreeMap<String, usize> = BTreeMap::new();
        let mut block_scalar: Option<usize> = None;
        for raw in text.lines() {
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let line = raw.trim();
            if let Some(bi) = block_scalar {
                if line.is_empty() || indent > bi {
                    continue;
                }
                block_scalar = None;
            }
            if line.is_empty() || line.starts_with('#') || line == "---" || line == "..." {
                continue;
            }
            let mut rest = strip_comment(line);
            let mut indent = indent;
            let is_item = rest == "-" || rest.starts_with("- ");
            while let Some(top) = stack.last() {
                if top.indent > indent || (top.indent == indent && !(is_item && top.open)) {
                    stack.pop();
                } else {
                    break;
                }
            }
            let path_of = |stack: &[Frame]| {
                stack
                    .iter()
                    .map(|f| f.seg.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            };
            if is_item {
                let parent = path_of(&stack);
                let n = counters.entry(parent).or_insert(0);
                stack.push(Frame {
                    indent,
                    seg: n.to_string(),
                    open: false,
                });
                *n += 1;
                rest = rest.strip_prefix('-').unwrap_or("").trim_start();
                indent += 2;
                if rest.is_empty() {
                    continue;
                }
            }
            match split_key(rest) {
                Some((key, value)) => {
                    let base = path_of(&stack);
                    let path = if base.is_empty() {
                        key.clone()
                    } else {
                        format!("{base}.{key}")
                    };
                    if value.is_empty() {
                        stack.push(Frame {
                            indent,
                            seg: key,
                            open: true,
                        });
                    } else if value.starts_with('|') || value.starts_with('>') {
                        block_scalar = Some(indent);
                        doc.set(path, String::new());
                    } else {
                        doc.set(path, value.to_string());
                    }
                }
                None => {
                    let path = path_of(&stack);
                    doc.set(path, rest.to_string());
                }
            }
        }
        doc
    }

    fn set(&mut self, path: String, raw: String) {
        if self.values.insert(path.clone(), raw).is_none() {
            self.order.push(path);
        }
    }

    /// The scalar at `path`, unquoted.
    pub fn get(&self, path: &str) -> Option<String> {
        self.values.get(path).map(|v| unquote(v))
    }

    /// The raw text at `path` (quotes kept).
    pub fn raw(&self, path: &str) -> Option<&str> {
        self.values.get(path).map(String::as_str)
    }

    /// A list at `path`: a flow list, a block list of scalars, or one scalar.
    pub fn list(&self, path: &str) -> Option<Vec<String>> {
        if let Some(v) = self.values.get(path) {
            return Some(flow_list(v).unwrap_or_else(|| vec![unquote(v)]));
        }
        let mut out = Vec::new();
        for i in 0.. {
            match self.values.get(&format!("{path}.{i}")) {
                Some(v) => out.push(unquote(v)),
                None if self.has_prefix(&format!("{path}.{i}.")) => continue,
                None => break,
            }
        }
        (!out.is_empty() || self.has_prefix(&format!("{path}."))).then_some(out)
    }

    /// Whether any value lives at or below `prefix` (`"a."` for below `a`).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.values.keys().any(|k| k.starts_with(prefix))
    }

    /// Whether a key exists at `path` (a scalar or anything below it).
    pub fn has(&self, path: &str) -> bool {
        self.values.contains_key(path) || self.has_prefix(&format!("{path}."))
    }

    /// Every (path, raw value), in document order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.order
            .iter()
            .map(|k| (k.as_str(), self.values[k].as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset() {
        let d = Doc::parse(
            "#cloud-config\nhostname: \"rpi1\" # c\nusers:\n- default\n- name: bob\n  ssh_authorized_keys:\n    - 'ssh-ed25519 AAA b#c'\nds: [ NoCloud, None ]\ndatasource:\n  NoCloud:\n    seedfrom: file:///boot/firmware\nwrite_files:\n  - content: |\n      a: b\n    path: /x\nnetwork:\n  version: 2\n",
        );
        assert_eq!(d.get("hostname").as_deref(), Some("rpi1"));
        assert_eq!(d.get("users.0").as_deref(), Some("default"));
        assert_eq!(d.get("users.1.name").as_deref(), Some("bob"));
        assert_eq!(
            d.list("users.1.ssh_authorized_keys").unwrap(),
            vec!["ssh-ed25519 AAA b#c"]
        );
        assert_eq!(d.list("ds").unwrap(), vec!["NoCloud", "None"]);
        assert_eq!(
            d.get("datasource.NoCloud.seedfrom").as_deref(),
            Some("file:///boot/firmware")
        );
        assert_eq!(d.get("write_files.0.path").as_deref(), Some("/x"));
        assert!(d.get("a").is_none());
        assert_eq!(d.get("network.version").as_deref(), Some("2"));
        assert_eq!(d.list("users").unwrap().len(), 1);
    }
}
