//! Users' own cloud-config, per cluster and per node: read as cloud-init will read it,
//! checked offline against cloud-init's published schema, and merged under the user-data
//! clem-image generates.

mod compose;
pub mod header;
pub mod merge;
pub mod mime;
pub mod py;
pub mod resolve;
pub mod schema;
pub mod userdata;
pub mod users;
mod validate;
pub mod yaml;

use std::fmt;
use std::path::Path;

use thiserror::Error;

use py::Py;

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
    /// Refused before parsing (not a regular file, too large, not UTF-8).
    #[error(transparent)]
    Read(#[from] crate::io::regular::UserFileError),
    #[error("{at}: not cloud-config: {reason}")]
    NotCloudConfig { at: String, reason: String },
    #[error("{at}: YAML: {message}")]
    Yaml { at: String, message: String },
    #[error("{origin}: refused, it does not match cloud-init {}'s schema:\n{}", schema::version(), .problems.join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
    #[error("{at}: {message}")]
    Merge { at: String, message: String },
}

/// A user's cloud-config, read and checked: its own text, which reaches the node
/// unchanged as a part of its own, and that text as PyYAML loads it.
#[derive(Debug, Clone)]
pub struct Fragment {
    pub origin: Origin,
    /// Cloud-config, or a `#!` script that travels as a part of its own.
    pub kind: header::Kind,
    pub text: String,
    /// The document as cloud-init loads it (`merge_how` still in it).
    pub doc: Py,
    lines: std::collections::BTreeMap<String, usize>,
    /// An empty document, which cloud-init skips (and so does the user-data).
    blank: bool,
    /// Things worth a word that do not make the config wrong (unknown top-level keys).
    pub warnings: Vec<String>,
}

impl Fragment {
    /// Reads `text` as cloud-init would, and checks it against the schema. Refuses what
    /// cloud-init would not read as cloud-config, broken YAML and schema errors, each
    /// with its line and key path.
    pub fn parse(text: &str, origin: Origin) -> Result<Fragment, CloudConfigError> {
        let kind = header::classify(text);
        // cloud-init looks for MIME before any header.
        let multipart = mime::is_mime(text);
        if kind == header::Kind::Script && !multipart {
            return Ok(Fragment {
                origin,
                kind,
                text: text.to_string(),
                doc: Py::Dict(Vec::new()),
                lines: Default::default(),
                blank: false,
                warnings: Vec::new(),
            });
        }
        if kind != header::Kind::CloudConfig || multipart {
            let reason = if multipart {
                "it is a MIME multipart; give each cloud-config part as its own file".into()
            } else {
                kind.refusal(text)
            };
            return Err(CloudConfigError::NotCloudConfig {
                at: origin.at(1),
                reason,
            });
        }
        let loaded = yaml::load(text).map_err(|e| CloudConfigError::Yaml {
            at: origin.at(e.line),
            message: e.message,
        })?;
        let mut f = Fragment {
            origin,
            kind,
            text: text.to_string(),
            doc: Py::Dict(Vec::new()),
            lines: loaded.lines,
            blank: false,
            warnings: Vec::new(),
        };
        match loaded.value {
            Py::Dict(d) => f.doc = Py::Dict(d),
            Py::None => {
                f.blank = true;
                f.warnings.push(format!(
                    "{}: holds no keys (cloud-init skips an empty part; so does clem-image)",
                    f.origin
                ))
            }
            other => {
                return Err(CloudConfigError::NotCloudConfig {
                    at: f.origin.at(f.line_of("")),
                    reason: format!(
                        "the document is {}, not a mapping of keys: cloud-init would skip it",
                        other.describe()
                    ),
                })
            }
        }
        f.check()?;
        Ok(f)
    }

    /// The schema check of the document as it merges (without `merge_how`).
    fn check(&mut self) -> Result<(), CloudConfigError> {
        let (doc, how) =
            userdata::take_merge_how(self.doc.clone()).map_err(|m| self.merge_err("", m))?;
        if let Some(how) = &how {
            merge::Mergers::for_part(Some(how), None)
                .map_err(|m| self.merge_err("/merge_how", m))?;
        }
        let (errors, unknown) = schema::check(&doc);
        if !errors.is_empty() {
            return Err(CloudConfigError::Invalid {
                origin: self.origin.to_string(),
                problems: errors
                    .iter()
                    .map(|e| format!("  {}", self.finding(e)))
                    .collect(),
            });
        }
        let warnings: Vec<String> = unknown.iter().map(|w| self.finding(w)).collect();
        self.warnings.extend(warnings);
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Fragment, CloudConfigError> {
        let origin = Origin::file(path);
        let text = crate::io::regular::read_user_text(path, crate::io::regular::CLOUD_CONFIG)?;
        Fragment::parse(&text, origin)
    }

    /// The line of the value at `pointer`; a missing key's line is its parent's.
    fn line_of(&self, pointer: &str) -> usize {
        let mut p = pointer;
        loop {
            if let Some(l) = self.lines.get(p) {
                return *l;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return 0,
            }
        }
    }

    /// Whether this fragment has a value at `pointer` (to blame a merged finding on it).
    fn has(&self, pointer: &str) -> bool {
        !pointer.is_empty() && self.lines.contains_key(pointer)
    }

    fn finding(&self, f: &schema::Finding) -> String {
        format!(
            "{}: {}: {}",
            self.origin.at(self.line_of(&f.pointer)),
            f.path,
            f.reason
        )
    }

    fn merge_err(&self, pointer: &str, message: String) -> CloudConfigError {
        CloudConfigError::Merge {
            at: self.origin.at(self.line_of(pointer)),
            message,
        }
    }

    fn is_empty(&self) -> bool {
        self.blank
    }
}

/// A node's user-data: `generated` (clem-image's own, from `overlays/`) first, then the
/// user's `extra` layers (cluster, then node) as parts of their own, byte for byte, each
/// merged under the parts before it (clem-image's values win, lists join). The merged
/// result, computed as cloud-init will compute it, is checked against the schema and
/// must keep every value clem-image set. Returns the text and what the merge decided.
pub fn compose(
    node: &str,
    generated: &str,
    extra: &[(&str, &Fragment)],
) -> Result<(String, Vec<String>), CloudConfigError> {
    let tool = yaml::load(generated)
        .map_err(|e| CloudConfigError::Yaml {
            at: format!("node {node}: clem-image's user-data:{}", e.line),
            message: e.message,
        })?
        .value;
    let layers: Vec<(&str, &Fragment)> = extra
        .iter()
        .copied()
        .filter(|(_, f)| !f.is_empty())
        .collect();
    let mut parts = vec![mime::Part {
        content_type: "text/cloud-config".into(),
        filename: "clem-image.cfg".into(),
        merge_type: None,
        payload: generated.to_string(),
        exact: false,
    }];
    compose::check_default_user(&tool, &layers)?;
    let mut acc = tool.clone();
    let mut notes = Vec::new();
    for (name, f) in &layers {
        let layer = if name.contains("cluster") {
            "cluster"
        } else {
            "node"
        };
        if f.kind == header::Kind::Script {
            // cloud-init runs it once, at the end of the first boot (scripts-user).
            parts.push(mime::Part {
                content_type: "text/x-shellscript".into(),
                filename: format!("{layer}-{node}.sh"),
                merge_type: None,
                payload: f.text.clone(),
                exact: true,
            });
            notes.push(format!(
                "{name} is a script: a part of its own, run once at the end of the first boot"
            ));
            continue;
        }
        let part = mime::Part {
            content_type: "text/cloud-config".into(),
            filename: format!(
                "{}-{node}.cfg",
                if name.contains("cluster") {
                    "cluster"
                } else {
                    "node"
                }
            ),
            merge_type: Some(merge::USER_PART_MERGE_TYPE.into()),
            payload: f.text.clone(),
            exact: true,
        };
        let next = compose::merge_into(&acc, &part, f)?;
        notes.extend(compose::describe(&acc, f, name));
        acc = next;
        parts.push(part);
    }
    compose::check_merged(node, &tool, &acc, &layers)?;
    Ok((mime::write(&parts), notes))
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
        let ok = Fragment::parse(
            "#cloud-config\nfrobnicate: 1\nmerge_how: 'dict(replace)+list()'\n",
            origin(),
        )
        .unwrap();
        assert_eq!(ok.warnings.len(), 1, "{:?}", ok.warnings);
        assert!(ok.warnings[0].contains("cluster.toml:11: frobnicate: unknown top-level key"));
        let bad = Fragment::parse("#cloud-config\nmerge_how: x\n", origin()).unwrap_err();
        assert!(bad.to_string().starts_with("cluster.toml:11:"), "{bad}");
        for h in ["#Cloud-Config\n", "\n#cloud-config  # mine\n"] {
            assert!(
                Fragment::parse(&format!("{h}a: 1\n"), origin()).is_ok(),
                "{h:?}"
            );
        }
    }
}
