//! Scalars as PyYAML's `SafeLoader` constructs them: its implicit resolvers (YAML 1.1:
//! `yes` is true, `0644` is octal, `1:30` is 90, `1e5` is a string, `2032-09-01` is a
//! date) and the constructors of the standard tags (`!!int`, `!!float`, `!!binary`, …).

use std::sync::OnceLock;

use regex::Regex;

use super::py::{Py, PyInt};

/// The standard tags SafeLoader constructs (`tag:yaml.org,2002:` + name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreTag {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Binary,
    Timestamp,
    Seq,
    Map,
    Set,
    Omap,
    Pairs,
}

impl CoreTag {
    pub fn from_suffix(name: &str) -> Option<CoreTag> {
        Some(match name {
            "null" => CoreTag::Null,
            "bool" => CoreTag::Bool,
            "int" => CoreTag::Int,
            "float" => CoreTag::Float,
            "str" => CoreTag::Str,
            "binary" => CoreTag::Binary,
            "timestamp" => CoreTag::Timestamp,
            "seq" => CoreTag::Seq,
            "map" => CoreTag::Map,
            "set" => CoreTag::Set,
            "omap" => CoreTag::Omap,
            "pairs" => CoreTag::Pairs,
            _ => return None,
        })
    }

    pub fn is_scalar(self) -> bool {
        !matches!(
            self,
            CoreTag::Seq | CoreTag::Map | CoreTag::Set | CoreTag::Omap | CoreTag::Pairs
        )
    }
}

struct Resolvers {
    boolean: Regex,
    int: Regex,
    float: Regex,
    timestamp: Regex,
    date: Regex,
}

fn resolvers() -> &'static Resolvers {
    static R: OnceLock<Resolvers> = OnceLock::new();
    R.get_or_init(|| Resolvers {
        boolean: Regex::new(
            "^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        )
        .expect("static regex"),
        int: Regex::new(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        )
        .expect("static regex"),
        float: Regex::new(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        )
        .expect("static regex"),
        timestamp: Regex::new(
            r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$",
        )
        .expect("static regex"),
        date: Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$").expect("static regex"),
    })
}

/// The tag PyYAML's implicit resolvers give a plain scalar; `None` for `=` (its `value`
/// tag, which SafeLoader cannot construct) — a plain `=` breaks the whole document.
pub fn implicit_tag(text: &str) -> Option<CoreTag> {
    let r = resolvers();
    Some(if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        CoreTag::Null
    } else if r.boolean.is_match(text) {
        CoreTag::Bool
    } else if r.int.is_match(text) {
        CoreTag::Int
    } else if r.float.is_match(text) {
        CoreTag::Float
    } else if r.timestamp.is_match(text) {
        CoreTag::Timestamp
    } else if text == "=" {
        return None;
    } else {
        CoreTag::Str
    })
}

/// A plain scalar's value (the implicit resolvers, then the constructor).
pub fn plain(text: &str) -> Result<Py, String> {
    match implicit_tag(text) {
        Some(tag) => construct(tag, text),
        None => Err(
            "a plain `=` is YAML's `value` tag, which cloud-init's loader cannot read: quote it"
                .into(),
        ),
    }
}

/// A scalar's value under a standard scalar tag, or why PyYAML's constructor fails.
pub fn construct(tag: CoreTag, text: &str) -> Result<Py, String> {
    match tag {
        CoreTag::Null => Ok(Py::None),
        CoreTag::Str => Ok(Py::Str(text.to_string())),
        CoreTag::Bool => construct_bool(text),
        CoreTag::Int => construct_int(text).ok_or_else(|| "not a valid !!int".to_string()),
        CoreTag::Float => construct_float(text)
            .map(Py::Float)
            .ok_or_else(|| "not a valid !!float".to_string()),
        CoreTag::Binary => decode_base64(text).map(Py::Bytes),
        CoreTag::Timestamp => construct_timestamp(text),
        _ => Err("a collection tag on a scalar".into()),
    }
}

fn construct_bool(text: &str) -> Result<Py, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(Py::Bool(true)),
        "no" | "false" | "off" => Ok(Py::Bool(false)),
        _ => Err("not a valid !!bool".into()),
    }
}

fn split_sign(text: &str) -> (bool, String) {
    let digits = text.replace('_', "");
    match digits.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (
            false,
            digits.strip_prefix('+').unwrap_or(&digits).to_string(),
        ),
    }
}

fn construct_int(text: &str) -> Option<Py> {
    let (negative, d) = split_sign(text);
    if d.is_empty() {
        return None;
    }
    let small = |m: i128| Py::Int(PyInt::Small(if negative { -m } else { m }));
    if d == "0" {
        return Some(small(0));
    }
    if let Some(b) = d.strip_prefix("0b") {
        return radix(b, 2).map(small);
    }
    if let Some(h) = d.strip_prefix("0x") {
        return radix(h, 16).map(small);
    }
    if let Some(o) = d.strip_prefix('0') {
        return radix(o, 8).map(small);
    }
    if d.contains(':') {
        let v = d.split(':').try_fold(0i128, |acc, part| {
            acc.checked_mul(60)?.checked_add(part.parse::<i128>().ok()?)
        })?;
        return Some(small(v));
    }
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = d.trim_start_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    Some(match digits.parse::<i128>() {
        Ok(v) => small(v),
        Err(_) => Py::Int(PyInt::Big {
            negative,
            digits: digits.to_string(),
        }),
    })
}

/// Digits in `base`; values past `i128` in these bases are not worth supporting.
fn radix(digits: &str, base: u32) -> Option<i128> {
    if digits.is_empty() {
        return None;
    }
    i128::from_str_radix(digits, base).ok()
}

fn construct_float(text: &str) -> Option<f64> {
    let (negative, d) = split_sign(text);
    let lower = d.to_ascii_lowercase();
    let magnitude = if lower == ".inf" {
        f64::INFINITY
    } else if lower == ".nan" {
        f64::NAN
    } else if d.contains(':') {
        let mut value = 0f64;
        for part in d.split(':') {
            value = value * 60.0 + part.parse::<f64>().ok()?;
        }
        value
    } else {
        // Python's float(): `1e5`, `inf`, `nan` are fine; `1e` is not.
        let ok = lower
            .trim_start_matches(['+', '-'])
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
            || matches!(lower.as_str(), "inf" | "infinity" | "nan");
        if !ok {
            return None;
        }
        lower.parse::<f64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn construct_timestamp(text: &str) -> Result<Py, String> {
    let r = resolvers();
    if !r.timestamp.is_match(text) {
        return Err("not a valid !!timestamp".into());
    }
    let has_time = !r.date.is_match(text);
    let date: Vec<u32> = text[..10.min(text.len())]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect();
    if let [year, month, day, ..] = date[..] {
        if !valid_date(year, month, day) {
            return Err("not a real date (cloud-init's loader fails on it): quote it".into());
        }
    }
    Ok(Py::Timestamp {
        text: text.to_string(),
        has_time,
    })
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days).contains(&day)
}

/// Python's `base64.decodebytes`: characters outside the alphabet are skipped, the
/// padding must be right.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut quantum = 0usize;
    let mut padding = 0usize;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => continue,
        };
        if padding > 0 {
            return Err("!!binary: data after the padding".into());
        }
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        quantum += 1;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    if quantum % 4 == 1 || (!quantum.is_multiple_of(4) && quantum % 4 + padding < 4) {
        return Err("!!binary: incorrect base64 padding".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i128) -> Py {
        Py::Int(PyInt::Small(v))
    }

    #[test]
    fn plain_scalars_resolve_as_pyyaml_does() {
        for (text, want) in [
            ("yes", Py::Bool(true)),
            ("Off", Py::Bool(false)),
            ("y", Py::str("y")),
            ("0644", int(420)),
            ("0x1F", int(31)),
            ("0b101", int(5)),
            ("1_000", int(1000)),
            ("1:30", int(90)),
            ("-7", int(-7)),
            ("1.5", Py::Float(1.5)),
            ("1e5", Py::str("1e5")),
            ("1.0e+3", Py::Float(1000.0)),
            ("~", Py::None),
            ("", Py::None),
            ("08", Py::str("08")),
        ] {
            assert_eq!(plain(text).unwrap(), want, "{text}");
            assert_eq!(plain(text).unwrap().type_name(), want.type_name(), "{text}");
        }
        assert!(matches!(plain(".inf").unwrap(), Py::Float(f) if f.is_infinite()));
        assert!(matches!(plain(".NaN").unwrap(), Py::Float(f) if f.is_nan()));
        assert!(matches!(
            plain("2032-09-01").unwrap(),
            Py::Timestamp {
                has_time: false,
                ..
            }
        ));
        assert!(matches!(
            plain("2001-12-14t21:59:43.10-05:00").unwrap(),
            Py::Timestamp { has_time: true, .. }
        ));
        assert!(plain("2032-13-45").is_err());
        assert!(plain("=").is_err());
        let big = plain("123456789012345678901234567890123456789012").unwrap();
        assert_eq!(big.key_text(), "123456789012345678901234567890123456789012");
        assert_eq!(big.type_name(), "int");
    }

    #[test]
    fn tags_construct_as_pyyaml_does() {
        assert!(matches!(construct(CoreTag::Float, "3").unwrap(), Py::Float(f) if f == 3.0));
        assert!(matches!(construct(CoreTag::Float, "1e5").unwrap(), Py::Float(f) if f == 1e5));
        assert!(construct(CoreTag::Bool, "maybe").is_err());
        assert!(construct(CoreTag::Int, "1.5").is_err());
        assert_eq!(
            construct(CoreTag::Binary, "aGVs\nbG8=").unwrap(),
            Py::Bytes(b"hello".to_vec())
        );
        assert!(construct(CoreTag::Binary, "aGVsbG8").is_err());
        assert_eq!(construct(CoreTag::Null, "whatever").unwrap(), Py::None);
    }
}
