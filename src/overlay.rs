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

    /// Every file under overlays/, as compiled in.
    const ALL: [Template; 13] = [
        SEED_META_DATA,
        SEED_USER_DATA,
        SNAPPY_USER_DATA,
        FIRSTBOOT_UNIT,
        FIRSTBOOT_SCRIPT,
        FIRSTBOOT_LIB,
        FIRSTBOOT_ENV,
        CLUSTER_TOML,
        NETWORK_CONFIG,
        SNAPPY_INTERFACES,
        SWARM_WATCH_SCRIPT,
        SWARM_WATCH_UNIT,
        SWARM_WATCH_TIMER,
    ];

    #[test]
    fn every_file_under_overlays_is_compiled_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("overlays");
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let name = p.strip_prefix(&root).unwrap().to_str().unwrap().to_string();
                if p.is_dir() {
                    dirs.push(p);
                } else if !name.ends_with(".shellcheckrc") {
                    assert!(
                        ALL.iter().any(|t| t.name == name),
                        "{name} is not compiled in"
                    );
                }
            }
        }
    }

    fn plan(image: &str, cluster_toml: &str) -> crate::plan::NodePlan {
        use crate::cluster::{config, tls::ClusterCa};
        use crate::docker::{EnginePlan, Provision};
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let raw = crate::source::RawImage::open(&fixtures.join(image)).unwrap();
        let info = crate::probe::probe(raw.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("cluster.toml");
        std::fs::write(&toml, cluster_toml).unwrap();
        let cluster = config::Cluster::load(Some(&toml), config::Overrides::default()).unwrap();
        let ca = ClusterCa::open_or_create(dir.path(), &mut |_| {}).unwrap();
        let key = std::fs::read_to_string(fixtures.join("keys/test_ed25519.pub")).unwrap();
        let keys = [crate::sshkey::parse_line(key.trim()).unwrap()];
        let engine = EnginePlan {
            installed: None,
            provision: Provision::Present,
            version: None,
            swarm: None,
            notes: Vec::new(),
        };
        let inputs = crate::flavour::NodeInputs {
            cluster: &cluster,
            node: &cluster.nodes[0],
            keys: &keys,
            ca: Some(&ca),
            epoch: 0,
            engine: &engine,
            swarm_image: None,
        };
        crate::flavour::plan_node(&info, raw.path(), &inputs).unwrap()
    }

    /// Whether `text` is `t` filled in: its literal parts, in order, from start to end.
    fn produced_by(t: Template, text: &str) -> bool {
        let mut literals = vec![];
        let mut rest = t.text;
        while let Some(open) = rest.find("{{") {
            literals.push(&rest[..open]);
            let close = rest[open..].find("}}").unwrap() + open;
            rest = &rest[close + 2..];
        }
        let (first, last) = (literals[0], rest);
        let Some(mut left) = text.strip_prefix(first) else {
            return false;
        };
        for lit in &literals[1..] {
            let Some(at) = left.find(lit) else {
                return false;
            };
            left = &left[at + lit.len()..];
        }
        left.ends_with(last)
    }

    /// The templates build renders, through the code that renders them, for a zero-touch
    /// manager with a static address (so every optional template is used): each one's
    /// output is in the plan, with none of its placeholders left.
    #[test]
    fn build_renders_every_template_it_ships() {
        const CLUSTER: &str = "[cluster]\ngateway = \"10.0.5.1\"\ndns = [\"10.0.5.1\"]\n\
            [[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\n\
            [[node]]\nname = \"rpi2\"\naddress = \"10.0.5.12/24\"\n";
        let pi = plan("raspios-sample.img.xz", CLUSTER);
        let snappy = plan("snappy-rpi2-sample.img.xz", CLUSTER);
        let rendered = [
            (SEED_META_DATA, &pi),
            (SEED_USER_DATA, &pi),
            (NETWORK_CONFIG, &pi),
            (FIRSTBOOT_ENV, &pi),
            (FIRSTBOOT_UNIT, &pi),
            (SWARM_WATCH_UNIT, &pi),
            (SEED_META_DATA, &snappy),
            (SNAPPY_USER_DATA, &snappy),
            (SNAPPY_INTERFACES, &snappy),
            (FIRSTBOOT_ENV, &snappy),
            (FIRSTBOOT_UNIT, &snappy),
            (SWARM_WATCH_UNIT, &snappy),
        ];
        for (t, plan) in rendered {
            let outputs: Vec<String> = plan
                .ops
                .iter()
                .map(|op| String::from_utf8_lossy(op.data()).into_owned())
                .filter(|text| produced_by(t, text))
                .collect();
            assert!(!outputs.is_empty(), "{} is not in the plan", t.name);
            for text in outputs {
                for name in t.placeholders() {
                    assert!(!text.contains(&format!("{{{{{name}")), "{}: {text}", t.name);
                }
            }
        }
        // cluster.toml is rendered by `init` (the binary): its one value is the config path.
        assert_eq!(CLUSTER_TOML.placeholders(), BTreeSet::from(["config"]));
    }
}
