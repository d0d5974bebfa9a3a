//! Templates for files that land in images. They live in `overlays/` as real files and are
//! compiled in, so the binary works from any directory. `{{name}}` placeholders only: no
//! logic in templates, and every value is quoted by the caller for the target syntax.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template {template}: no value for {{{{{name}}}}}")]
    Missing {
        template: &'static str,
        name: String,
    },
    #[error("template {template}: unclosed {{{{ at byte {at}")]
    Unclosed { template: &'static str, at: usize },
}

/// A template compiled into the binary, named by its path under `overlays/`.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! overlay {
    ($path:literal) => {
        Template {
            name: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/overlays/", $path)),
        }
    };
}

pub const SEED_META_DATA: Template = overlay!("cloud-init/meta-data");
pub const SEED_USER_DATA: Template = overlay!("cloud-init/user-data");
pub const SNAPPY_USER_DATA: Template = overlay!("snappy/user-data");
pub const FIRSTBOOT_UNIT: Template = overlay!("firstboot/clem-firstboot.service");
pub const FIRSTBOOT_SCRIPT: Template = overlay!("firstboot/firstboot.sh");
pub const FIRSTBOOT_LIB: Template = overlay!("firstboot/lib.sh");
pub const FIRSTBOOT_ENV: Template = overlay!("firstboot/node.env");
pub const CLUSTER_TOML: Template = overlay!("cluster.toml");
pub const NETWORK_CONFIG: Template = overlay!("cloud-init/network-config");
pub const SNAPPY_INTERFACES: Template = overlay!("snappy/interfaces");
pub const SWARM_WATCH_SCRIPT: Template = overlay!("firstboot/swarm-watch.sh");
pub const SWARM_WATCH_UNIT: Template = overlay!("firstboot/clem-swarm-watch.service");
pub const SWARM_WATCH_TIMER: Template = overlay!("firstboot/clem-swarm-watch.timer");

impl Template {
    /// The names of the template's `{{name}}` placeholders (an unclosed one is left out:
    /// `render` reports it).
    pub fn placeholders(&self) -> BTreeSet<&'static str> {
        let mut names = BTreeSet::new();
        let mut rest = self.text;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            names.insert(after[..close].trim());
            rest = &after[close + 2..];
        }
        names
    }

    pub fn render(&self, vars: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed {
                template: self.name,
                at: self.text.len() - rest.len() + open,
            })?;
            let name = after[..close].trim();
            let value = vars.get(name).ok_or_else(|| TemplateError::Missing {
                template: self.name,
                name: name.to_string(),
            })?;
            out.push_str(value);
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A YAML scalar that means exactly `s`: a JSON string is a valid YAML double-quoted scalar.
pub fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

/// A YAML flow sequence of strings.
pub fn yaml_list<S: AsRef<str>>(items: &[S]) -> String {
    let v: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&v).expect("strings always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reports_missing_values() {
        let t = Template {
            name: "t",
            text: "a: {{x}}\nb: {{ y }}\n",
        };
        let mut vars = BTreeMap::new();
        vars.insert("x", yaml_str("he said \"hi\"\n"));
        assert_eq!(
            t.render(&vars).unwrap_err(),
            TemplateError::Missing {
                template: "t",
                name: "y".into()
            }
        );
        vars.insert("y", yaml_list(&["k1", "k2"]));
        assert_eq!(
            t.render(&vars).unwrap(),
            "a: \"he said \\\"hi\\\"\\n\"\nb: [\"k1\",\"k2\"]\n"
        );
    }

    #[test]
    fn shipped_templates_have_no_stray_braces() {
        for t in [
            SEED_META_DATA,
            SEED_USER_DATA,
            SNAPPY_USER_DATA,
            FIRSTBOOT_UNIT,
            FIRSTBOOT_ENV,
        ] {
            let names: Vec<&str> = t.text.split("{{").skip(1).collect();
            assert!(!names.is_empty(), "{} has no placeholders", t.name);
            assert!(names.iter().all(|s| s.contains("}}")), "{}", t.name);
        }
    }
}
