//! Users' own cloud-config, per cluster and per node: read as cloud-init will read it,
//! checked offline against cloud-init's published schema, and merged under the user-data
//! clem-image generates.

pub mod emit;
pub mod merge;
pub mod py;
pub mod schema;
mod validate;
pub mod yaml;

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};
use thiserror::Error;

use merge::Layer;

/// Where a piece of cloud-config came from, so a finding points into the user's own file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// A file, or the config file that holds the text inline.
    pub file: String,
    /// The file line of the text's first line.
    pub first_line: usize,
}

impl Origin {
    pub fn file(path: &Path) -> Origin {
        Origin {
            file: path.display().to_string(),
            first_line: 1,
        }
    }

    /// The file line of line `line` (1-based) of the text; 0 stays "no line".
    fn at(&self, line: usize) -> String {
        if line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}", self.file, self.first_line + line - 1)
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first_line == 1 {
            f.write_str(&self.file)
        } else {
            write!(f, "{} (inline, from line {})", self.file, self.first_line)
        }
    }
}

#[derive(Debug, Error)]
pub enum CloudConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{at}: not cloud-config: {reason}")]
    NotCloudConfig { at: String, reason: String },
    #[error("{at}: YAML: {message}")]
    Yaml { at: String, message: String },
    #[error("{origin}: refused, it does not match cloud-init {}'s schema:\n{}", schema::version(), .problems.join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
}

/// A user's cloud-config, read and checked.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub origin: Origin,
    pub doc: Map<String, Value>,
    /// Things worth a word that do not make the config wrong (unknown top-level keys).
    pub warnings: Vec<String>,
}

/// The first line cloud-init needs to treat user-data as cloud-config, and what other
/// first lines would make it do instead.
fn check_header(text: &str, origin: &Origin) -> Result<(), CloudConfigError> {
    let first = text.lines().next().unwrap_or("").trim_end();
    let reason = if first == "#cloud-config" {
        return Ok(());
    } else if first.starts_with("#!") {
        "it is a script (`#!`); clem-image merges cloud-config only: put commands under runcmd"
    } else if first.starts_with("#include") || first.starts_with("Content-Type:") {
        "it is an include list or MIME multipart; clem-image merges cloud-config only"
    } else if first.starts_with("## template:") {
        "jinja templates are not supported: write the values out"
    } else if text.starts_with('\u{feff}') {
        "it starts with a byte-order mark, so its first line is not `#cloud-config`"
    } else {
        "its first line is not `#cloud-config`, so cloud-init would not read it as cloud-config (it would ignore it)"
    };
    Err(CloudConfigError::NotCloudConfig {
        at: origin.at(1),
        reason: reason.into(),
    })
}

impl Fragment {
    /// Reads `text` as cloud-init would, and checks it against the schema. Refuses a
    /// missing header, broken YAML and schema errors, each with its line and key path.
    pub fn parse(text: &str, origin: Origin) -> Result<Fragment, CloudConfigError> {
        check_header(text, &origin)?;
        let loaded = yaml::load(text).map_err(|e| CloudConfigError::Yaml {
            at: origin.at(e.line),
            message: e.message,
        })?;
        let mut doc = match loaded.value {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(CloudConfigError::NotCloudConfig {
                    at: origin.at(loaded.lines.get("").copied().unwrap_or(0)),
                    reason: format!(
                        "the document is a {}, not a mapping of keys",
                        kind_of(&other)
                    ),
                })
            }
        };
        let line_of = |pointer: &str| {
            // A missing key's line is its parent's.
            let mut p = pointer;
            loop {
                if let Some(l) = loaded.lines.get(p) {
                    return *l;
                }
                match p.rfind('/') {
                    Some(i) => p = &p[..i],
                    None => return 0,
                }
            }
        };
        let mut warnings = Vec::new();
        if doc.is_empty() {
            warnings.push(format!("{origin}: holds no keys"));
        }
        for k in ["merge_how", "merge_type"] {
            if doc.remove(k).is_some() {
                warnings.push(format!(
                    "{}: {k} is ignored: clem-image merges your keys itself (its own values win, lists join)",
                    origin.at(line_of(&format!("/{k}")))
                ));
            }
        }
        let (errors, unknown) = schema::check_json(&Value::Object(doc.clone()));
        if !errors.is_empty() {
            return Err(CloudConfigError::Invalid {
                origin: origin.to_string(),
                problems: errors
                    .iter()
                    .map(|f| {
                        format!(
                            "  {}: {}: {}",
                            origin.at(line_of(&f.pointer)),
                            f.path,
                            f.reason
                        )
                    })
                    .collect(),
            });
        }
        warnings.extend(unknown.iter().map(|f| {
            format!(
                "{}: {}: {}",
                origin.at(line_of(&f.pointer)),
                f.path,
                f.reason
            )
        }));
        Ok(Fragment {
            origin,
            doc,
            warnings,
        })
    }

    pub fn read(path: &Path) -> Result<Fragment, CloudConfigError> {
        let origin = Origin::file(path);
        let text = crate::io::regular::read_user_text(path, crate::io::regular::CLOUD_CONFIG)
            .map_err(|e| CloudConfigError::Read {
                path: origin.to_string(),
                source: std::io::Error::other(e.problem),
            })?;
        Fragment::parse(&text, origin)
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// A node's user-data: `generated` (clem-image's own, from `overlays/`) with the user's
/// `extra` layers (cluster first, then node) merged under it, checked again as a whole.
/// Returns the text and what the merge decided.
pub fn compose(
    node: &str,
    generated: &str,
    extra: &[(&str, &Fragment)],
) -> Result<(String, Vec<String>), CloudConfigError> {
    let origin = Origin {
        file: format!("node {node}: clem-image's user-data"),
        first_line: 1,
    };
    let tool = match yaml::load(generated).map(|l| l.value) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => {
            return Err(CloudConfigError::Yaml {
                at: origin.at(e.line),
                message: e.message,
            })
        }
    };
    let layers: Vec<Layer<'_>> = extra
        .iter()
        .map(|(name, f)| Layer { name, doc: &f.doc })
        .collect();
    let (doc, notes) = merge::merge(&layers, &tool);
    let (errors, _) = schema::check_json(&Value::Object(doc.clone()));
    if !errors.is_empty() {
        return Err(CloudConfigError::Invalid {
            origin: format!("node {node}: the merged user-data"),
            problems: errors
                .iter()
                .map(|f| format!("  {}: {}", f.path, f.reason))
                .collect(),
        });
    }
    let sources: Vec<String> = extra
        .iter()
        .map(|(name, f)| format!("{name} ({})", f.origin))
        .collect();
    let comments = vec![
        format!("Written by clem-image for node {node}."),
        format!(
            "Its own keys, merged with {}; clem-image's values win where they conflict, lists join.",
            sources.join(" and ")
        ),
        format!("Checked against cloud-init {}'s schema.", schema::version()),
    ];
    Ok((emit::cloud_config(&comments, &doc), notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "cluster.toml".into(),
            first_line: 10,
        }
    }

    #[test]
    fn refuses_with_file_line_and_key_path() {
        let e = Fragment::parse("packages: [htop]\n", origin()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cluster.toml:10: not cloud-config"),
            "{e}"
        );
        let e = Fragment::parse(
            "#cloud-config\nwrite_files:\n  - path: /x\n    contnet: y\n",
            origin(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cluster.toml:13: write_files[0].contnet: unknown key"),
            "{e}"
        );
        let e = Fragment::parse("#cloud-config\nruncmd: [a\n", origin()).unwrap_err();
        assert!(e.to_string().starts_with("cluster.toml:"), "{e}");
        let ok = Fragment::parse("#cloud-config\nfrobnicate: 1\nmerge_how: x\n", origin()).unwrap();
        assert_eq!(ok.warnings.len(), 2, "{:?}", ok.warnings);
        assert!(ok.warnings[1].contains("cluster.toml:11: frobnicate: unknown top-level key"));
    }
}
