//! deb822 control stanzas (`DEBIAN/control`, `/var/lib/dpkg/status`) and the relationship
//! fields in them (`Depends:`, `Pre-Depends:`, `Provides:`).
//!
//! Hand-written rather than a crate: `deb822-fast` (no dependencies) reports errors without
//! a line number and `deb822-lossless`/`debian-control` bring a lossless syntax tree
//! (`rowan`) and more for what is here about a hundred lines. The format (Debian Policy
//! §5.1): `Field: value` lines; a line starting with a space or tab continues the field
//! above; blank (or whitespace-only) lines separate stanzas; field names are
//! case-insensitive; a line starting with `#` at column 0 is a comment.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
    #[error("line {line}: field {field} appears twice in one stanza")]
    Duplicate { line: usize, field: String },
    #[error("bad relationship field `{value}`: {what}")]
    Relation { value: String, what: String },
}

/// One stanza: its fields in file order, values with continuation lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    fields: Vec<(String, String)>,
    line: usize,
}

impl Stanza {
    /// The value of `field` (case-insensitive), if the stanza has it.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(field))
            .map(|(_, value)| value.as_str())
    }

    /// Fields in file order, names as written.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// 1-based line of the stanza's first field, for messages about it.
    pub fn line(&self) -> usize {
        self.line
    }
}

/// Parses every stanza of `text`. Leading whitespace of continuation lines and trailing
/// whitespace of every line are dropped.
pub fn parse(text: &str) -> Result<Vec<Stanza>, ControlError> {
    let mut stanzas = Vec::new();
    let mut current: Option<Stanza> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim_end();
        if raw.starts_with('#') {
            continue;
        }
        if content.is_empty() {
            stanzas.extend(current.take());
            continue;
        }
        if content.starts_with([' ', '\t']) {
            let Some((_, value)) = current.as_mut().and_then(|s| s.fields.last_mut()) else {
                return Err(syntax(line, "continuation line outside a field"));
            };
            value.push('\n');
            value.push_str(content.trim_start());
            continue;
        }
        let (name, value) = split_field(content).map_err(|what| syntax(line, what))?;
        let stanza = current.get_or_insert_with(|| Stanza {
            fields: Vec::new(),
            line,
        });
        if stanza.get(name).is_some() {
            return Err(ControlError::Duplicate {
                line,
                field: name.to_string(),
            });
        }
        stanza.fields.push((name.to_string(), value.to_string()));
    }
    stanzas.extend(current);
    Ok(stanzas)
}

fn syntax(line: usize, what: impl Into<String>) -> ControlError {
    ControlError::Syntax {
        line,
        what: what.into(),
    }
}

/// `Name: value` → (name, trimmed value). Policy: a name is printable ASCII without
/// space or colon, not starting with `-` (or `#`, handled as a comment above).
fn split_field(line: &str) -> Result<(&str, &str), String> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(format!("expected `Field: value`, found `{}`", clip(line)));
    };
    let valid =
        !name.is_empty() && !name.starts_with('-') && name.bytes().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(format!("`{}` is not a field name", clip(name)));
    }
    Ok((name, value.trim()))
}

/// Hostile input can put a megabyte on one line: messages quote at most 60 characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// A version relation in a relationship field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// `<<`
    Lt,
    /// `<=` (and the obsolete `<`, which dpkg reads as `<=`)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

impl VersionOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }
}

/// One alternative of a relationship: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// The multiarch qualifier after `:` (`any`, `native` or an architecture).
    pub arch_qual: Option<String>,
    pub version: Option<(VersionOp, String)>,
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qual {
            write!(f, ":{q}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        Ok(())
    }
}

/// Parses a relationship field (`Depends`, `Pre-Depends`, `Provides`, …): the outer list
/// is AND (commas), each inner list OR (`|`). Architecture restrictions (`[amd64]`) and
/// build profiles (`<!nocheck>`), which only source packages use, are skipped. An empty
/// value is an empty list.
pub fn parse_depends(value: &str) -> Result<Vec<Vec<Dep>>, ControlError> {
    let err = |what: String| ControlError::Relation {
        value: clip(value),
        what,
    };
    let mut groups = Vec::new();
    for group in value.split(',') {
        if group.trim().is_empty() {
            // dpkg accepts a trailing comma; an empty group between two is still nothing.
            continue;
        }
        let mut alts = Vec::new();
        for alt in group.split('|') {
            alts.push(parse_dep(alt).map_err(&err)?);
        }
        groups.push(alts);
    }
    Ok(groups)
}

fn parse_dep(text: &str) -> Result<Dep, String> {
    let text = strip_restrictions(text)?;
    let text = text.trim();
    let (head, version) = match text.split_once('(') {
        None => (text, None),
        Some((head, rest)) => {
            let Some(inner) = rest.trim_end().strip_suffix(')') else {
                return Err(format!("`{}`: unclosed `(`", clip(text)));
            };
            (head.trim(), Some(parse_relation(inner.trim())?))
        }
    };
    let (name, arch_qual) = match head.split_once(':') {
        Some((n, q)) => (n, Some(q.to_string())),
        None => (head, None),
    };
    if name.is_empty() {
        return Err("an alternative without a package name".into());
    }
    let name_ok = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !name_ok {
        return Err(format!("`{}` is not a package name", clip(name)));
    }
    if arch_qual
        .as_deref()
        .is_some_and(|q| q.is_empty() || !q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(format!("`{}`: bad architecture qualifier", clip(head)));
    }
    Ok(Dep {
        name: name.to_string(),
        arch_qual,
        version,
    })
}

/// Drops `[…]` and `<…>` groups (they may only follow the version).
fn strip_restrictions(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut close = None;
    for c in text.chars() {
        match (close, c) {
            (None, '[') => close = Some(']'),
            (None, '<') if !out.contains('(') || out.contains(')') => close = Some('>'),
            (Some(end), c) if c == end => close = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    match close {
        Some(end) => Err(format!("`{}`: missing `{end}`", clip(text.trim()))),
        None => Ok(out),
    }
}

fn parse_relation(inner: &str) -> Result<(VersionOp, String), String> {
    let ops: [(&str, VersionOp); 7] = [
        ("<<", VersionOp::Lt),
        ("<=", VersionOp::Le),
        (">=", VersionOp::Ge),
        (">>", VersionOp::Gt),
        ("=", VersionOp::Eq),
        ("<", VersionOp::Le),
        (">", VersionOp::Ge),
    ];
    let Some((op, rest)) = ops
        .iter()
        .find_map(|(s, op)| inner.strip_prefix(s).map(|rest| (*op, rest)))
    else {
        return Err(format!(
            "`({})`: no relation (<<, <=, =, >=, >>)",
            clip(inner)
        ));
    };
    let version = rest.trim();
    if version.is_empty() || version.contains(char::is_whitespace) {
        return Err(format!("`({})`: bad version", clip(inner)));
    }
    Ok((op, version.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_fields_continuations_and_comments() {
        let text = "# a comment\nPackage: docker.io\nVersion: 26.1.5-0ubuntu1\n\
                    Description: Linux containers\n runtime\n .\n more\n\n\n\
                    package: containerd\n# inside\nDEPENDS: libc6 (>= 2.34),\n  runc\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("package"), Some("docker.io"));
        assert_eq!(s[0].get("VERSION"), Some("26.1.5-0ubuntu1"));
        assert_eq!(
            s[0].get("Description"),
            Some("Linux containers\nruntime\n.\nmore")
        );
        assert_eq!(s[0].line(), 2);
        assert_eq!(s[1].line(), 10);
        assert_eq!(s[1].get("Package"), Some("containerd"));
        assert_eq!(s[1].get("depends"), Some("libc6 (>= 2.34),\nrunc"));
        assert_eq!(s[1].get("Version"), None);
        let names: Vec<_> = s[1].fields().map(|(n, _)| n).collect();
        assert_eq!(names, ["package", "DEPENDS"]);
    }

    #[test]
    fn whitespace_only_line_separates_and_empty_text_is_no_stanza() {
        let s = parse("A: 1\n \t\nB: 2\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("\n\n# only comments\n").unwrap(), vec![]);
    }

    #[test]
    fn errors_carry_the_line() {
        let e = parse("Package: a\n\n continued\n").unwrap_err();
        assert_eq!(e, syntax(3, "continuation line outside a field"));
        let e = parse("Package: a\nno colon here\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 2: expected `Field: value`"),
            "{e}"
        );
        let e = parse("Package: a\npackage: b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: field package appears twice in one stanza"
        );
        let e = parse("A: 1\nbad name: x\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: `bad name` is not a field name");
        let long = format!("{}\n", "x".repeat(100_000));
        assert!(parse(&long).unwrap_err().to_string().len() < 200);
    }

    #[test]
    fn depends_and_or_qualifiers_versions() {
        let d = parse_depends(
            "libc6 (>= 2.34), iptables | nftables:any, python3:native (<< 3.13~), \
             containerd (>=1.7), adduser,",
        )
        .unwrap();
        assert_eq!(d.len(), 5);
        assert_eq!(
            d[0],
            vec![Dep {
                name: "libc6".into(),
                arch_qual: None,
                version: Some((VersionOp::Ge, "2.34".into())),
            }]
        );
        assert_eq!(d[1].len(), 2);
        assert_eq!(d[1][0].name, "iptables");
        assert_eq!(d[1][1].name, "nftables");
        assert_eq!(d[1][1].arch_qual.as_deref(), Some("any"));
        assert_eq!(d[2][0].arch_qual.as_deref(), Some("native"));
        assert_eq!(d[2][0].version, Some((VersionOp::Lt, "3.13~".into())));
        assert_eq!(d[3][0].to_string(), "containerd (>= 1.7)");
        assert_eq!(d[4][0].to_string(), "adduser");
        assert_eq!(parse_depends("").unwrap(), Vec::<Vec<Dep>>::new());
        // Obsolete `<`/`>` mean `<=`/`>=`, as in dpkg.
        assert_eq!(
            parse_depends("a (< 1)").unwrap()[0][0]
                .version
                .as_ref()
                .unwrap()
                .0,
            VersionOp::Le
        );
    }

    #[test]
    fn depends_skips_source_only_restrictions() {
        let d = parse_depends("foo [amd64 !armhf] <!nocheck>, bar (>= 1) [i386]").unwrap();
        assert_eq!(d[0][0].name, "foo");
        assert_eq!(d[1][0].version, Some((VersionOp::Ge, "1".into())));
    }

    #[test]
    fn bad_depends_are_errors() {
        for bad in [
            "Foo", "a (>= 1", "a (~ 1)", "a (>= )", "a | | b", "a:", "a [amd64",
        ] {
            assert!(parse_depends(bad).is_err(), "{bad} parsed");
        }
        let e = parse_depends("libc6 (>= 2.34), Bad_Name").unwrap_err();
        assert!(
            e.to_string().contains("`Bad_Name` is not a package name"),
            "{e}"
        );
    }
}
