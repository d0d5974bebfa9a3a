//! Node names: RFC 1123 host names, given one by one, as lists, or as ranges (`rpi1..rpi4`).

use std::fmt;

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum NodeError {
    #[error("node name {0:?} is not a valid host name: {1}")]
    BadName(String, &'static str),
    #[error("node range {0:?} must count upwards (write {1}..{2})")]
    Downwards(String, String, String),
    #[error("node range {0:?}: {1}")]
    BadRange(String, &'static str),
    #[error("node {0:?} is given more than once")]
    Duplicate(String),
    #[error("no node given: use --node, e.g. --node rpi1..rpi4")]
    None,
}

/// A validated host name, used for the node's hostname and its output file names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    pub fn new(s: &str) -> Result<Self, NodeError> {
        let bad = |why| Err(NodeError::BadName(s.to_string(), why));
        if s.is_empty() {
            return bad("it is empty");
        }
        if s.len() > 253 {
            return bad("it is longer than 253 characters");
        }
        for label in s.split('.') {
            if label.is_empty() {
                return bad("it has an empty label (two dots, or a dot at an end)");
            }
            if label.len() > 63 {
                return bad("a label is longer than 63 characters");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return bad("only lowercase letters a-z, digits 0-9, '-' and '.' are allowed");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("a label cannot start or end with '-'");
            }
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return bad("it is all digits (it would read as an address)");
        }
        Ok(NodeName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Expands `--node` values (each `a`, `a,b`, or `rpi1..rpi4`) into an ordered, duplicate-free list.
pub fn parse_nodes<S: AsRef<str>>(specs: &[S]) -> Result<Vec<NodeName>, NodeError> {
    let mut out: Vec<NodeName> = Vec::new();
    for spec in specs {
        for part in spec.as_ref().split(',').map(str::trim) {
            let names = match part.split_once("..") {
                Some((a, b)) => expand_range(part, a, b)?,
                None => vec![NodeName::new(part)?],
            };
            for n in names {
                if out.contains(&n) {
                    return Err(NodeError::Duplicate(n.0));
                }
                out.push(n);
            }
        }
    }
    if out.is_empty() {
        return Err(NodeError::None);
    }
    Ok(out)
}

/// As [`parse_nodes`], but no `--node` at all is an empty list (the config then names the
/// nodes) rather than an error.
pub fn parse_optional_nodes<S: AsRef<str>>(specs: &[S]) -> Result<Vec<NodeName>, NodeError> {
    if specs.is_empty() {
        Ok(Vec::new())
    } else {
        parse_nodes(specs)
    }
}

/// Splits `rpi12` into (`rpi`, `12`).
fn split_number(s: &str) -> Option<(&str, &str)> {
    let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    Some(s.split_at(s.len() - digits))
}

fn expand_range(spec: &str, a: &str, b: &str) -> Result<Vec<NodeName>, NodeError> {
    NodeName::new(a)?;
    NodeName::new(b)?;
    let range_err = |why| NodeError::BadRange(spec.to_string(), why);
    let (pa, na) = split_number(a).ok_or(range_err("the first name does not end in a number"))?;
    let (pb, nb) = split_number(b).ok_or(range_err("the last name does not end in a number"))?;
    if pa != pb {
        return Err(range_err("both ends must share the same prefix"));
    }
    let start: u64 = na.parse().map_err(|_| range_err("number too large"))?;
    let end: u64 = nb.parse().map_err(|_| range_err("number too large"))?;
    if start > end {
        return Err(NodeError::Downwards(
            spec.to_string(),
            b.to_string(),
            a.to_string(),
        ));
    }
    if end - start >= 1000 {
        return Err(range_err("more than 1000 nodes"));
    }
    // Keep zero padding when the first number has it: rpi01..rpi10.
    let width = if na.starts_with('0') && na.len() > 1 {
        na.len()
    } else {
        0
    };
    (start..=end)
        .map(|i| NodeName::new(&format!("{pa}{i:0width$}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(specs: &[&str]) -> Vec<String> {
        parse_nodes(specs)
            .unwrap()
            .into_iter()
            .map(|n| n.0)
            .collect()
    }

    #[test]
    fn ranges_lists_and_repeats() {
        assert_eq!(names(&["rpi1..rpi4"]), ["rpi1", "rpi2", "rpi3", "rpi4"]);
        assert_eq!(names(&["rpi1,rpi3"]), ["rpi1", "rpi3"]);
        assert_eq!(names(&["rpi2", "rpi9"]), ["rpi2", "rpi9"]);
        assert_eq!(names(&["n08..n10"]), ["n08", "n09", "n10"]);
    }

    #[test]
    fn bad_names_and_ranges_are_refused() {
        assert!(matches!(
            parse_nodes(&["rpi_1"]),
            Err(NodeError::BadName(..))
        ));
        assert!(matches!(
            parse_nodes(&["-rpi"]),
            Err(NodeError::BadName(..))
        ));
        assert!(matches!(
            parse_nodes(&["RPI1"]),
            Err(NodeError::BadName(..))
        ));
        assert!(matches!(
            parse_nodes(&["rpi4..rpi1"]),
            Err(NodeError::Downwards(..))
        ));
        assert!(matches!(
            parse_nodes(&["rpi1..pi4"]),
            Err(NodeError::BadRange(..))
        ));
        assert!(matches!(
            parse_nodes(&["rpi1,rpi1"]),
            Err(NodeError::Duplicate(..))
        ));
        assert!(matches!(parse_nodes::<&str>(&[]), Err(NodeError::None)));
        let msg = parse_nodes(&["rpi4..rpi1"]).unwrap_err().to_string();
        assert!(msg.contains("count upwards"), "{msg}");
    }
}
