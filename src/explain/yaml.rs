//! Reading cloud-init's YAML files for `explain`: each document is loaded by the same
//! YAML 1.1 reader that checks users' cloud-config ([`crate::cloudinit::yaml`]), leniently
//! (duplicate keys keep the last value, as PyYAML does), and flattened so every scalar sits
//! under its dotted path, list items under their index (`users.0.name`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::cloudinit::yaml::{self, YamlError};
use crate::secret::redact_keys;

#[derive(Debug, Default, Clone)]
pub struct Doc {
    values: BTreeMap<String, String>,
    /// Paths in document order.
    order: Vec<String>,
}

/// A scalar without its quotes (for values written by hand in other files, such as
/// `KEY="value"` lines).
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

impl Doc {
    /// The document in `text`; an empty text is an empty document.
    pub fn parse(text: &str) -> Result<Doc, YamlError> {
        let value = yaml::load_lenient(text)?.value;
        let mut doc = Doc::default();
        doc.flatten(String::new(), &value.to_json());
        Ok(doc)
    }

    /// A document already loaded (a merged user-data).
    pub fn from_py(value: &crate::cloudinit::py::Py) -> Doc {
        let mut doc = Doc::default();
        doc.flatten(String::new(), &value.to_json());
        doc
    }

    fn flatten(&mut self, path: String, v: &Value) {
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    self.flatten(join(k), v);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, v) in items.iter().enumerate() {
                    self.flatten(join(&i.to_string()), v);
                }
            }
            _ if path.is_empty() => {}
            Value::Object(_) => self.set(path, "{}".into()),
            Value::Array(_) => self.set(path, "[]".into()),
            Value::Null => self.set(path, String::new()),
            Value::String(s) => self.set(path, s.clone()),
            other => self.set(path, other.to_string()),
        }
    }

    /// Stores a scalar with any private key block cut out: a key decoded from a base64
    /// part of user-data never reaches explain's output.
    fn set(&mut self, path: String, value: String) {
        let value = match redact_keys(value.as_bytes()) {
            Cow::Borrowed(_) => value,
            Cow::Owned(cut) => String::from_utf8_lossy(&cut).into_owned(),
        };
        if self.values.insert(path.clone(), value).is_none() {
            self.order.push(path);
        }
    }

    /// The scalar at `path`.
    pub fn get(&self, path: &str) -> Option<String> {
        self.values.get(path).cloned()
    }

    /// The scalars of the list at `path` (items that are mappings are skipped), or the
    /// scalar there as a list of one.
    pub fn list(&self, path: &str) -> Option<Vec<String>> {
        match self.values.get(path).map(String::as_str) {
            Some("[]") => return Some(Vec::new()),
            Some(v) => return Some(vec![v.to_string()]),
            None => {}
        }
        let mut out = Vec::new();
        for i in 0.. {
            match self.values.get(&format!("{path}.{i}")) {
                Some(v) => out.push(v.clone()),
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

    /// Every (path, value), in document order.
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
    fn flattens_what_cloud_init_reads() {
        let d = Doc::parse(
            "#cloud-config\nhostname: \"rpi1\" # c\nusers:\n- default\n- name: bob\n  ssh_authorized_keys:\n    - 'ssh-ed25519 AAA b#c'\nds: [ NoCloud, None ]\ndatasource:\n  NoCloud:\n    seedfrom: file:///boot/firmware\nwrite_files:\n  - content: |\n      a: b\n    path: /x\nnetwork:\n  version: 2\nssh_pwauth: yes\nempty: []\nhostname: rpi2\n",
        )
        .unwrap();
        // A repeated key: the last wins, as in PyYAML.
        assert_eq!(d.get("hostname").as_deref(), Some("rpi2"));
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
        assert_eq!(d.get("write_files.0.content").as_deref(), Some("a: b\n"));
        assert_eq!(d.get("write_files.0.path").as_deref(), Some("/x"));
        assert!(d.get("a").is_none());
        assert_eq!(d.get("network.version").as_deref(), Some("2"));
        assert_eq!(d.get("ssh_pwauth").as_deref(), Some("true"));
        assert_eq!(d.list("users").unwrap().len(), 1);
        assert_eq!(d.list("empty").unwrap(), Vec::<String>::new());
        assert!(Doc::parse("").unwrap().is_empty());
        assert_eq!(Doc::parse("a: [1\n").unwrap_err().line, 2);
    }
}
