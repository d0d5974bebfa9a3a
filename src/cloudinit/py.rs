//! Values as PyYAML's safe loader gives them to cloud-init: Python's types, not JSON's.
//! The schema check, the merge and `explain` work on these, so an `int` key stays an int,
//! a date is not a string and `!!binary` is bytes, exactly as on the node.

use std::fmt;

/// One value of a loaded document, typed as PyYAML's `SafeLoader` constructs it.
#[derive(Debug, Clone)]
pub enum Py {
    None,
    Bool(bool),
    /// Python ints are unbounded; beyond `i128` only the sign and digits are kept.
    Int(PyInt),
    Float(f64),
    Str(String),
    /// `!!binary`.
    Bytes(Vec<u8>),
    /// `!!timestamp` (or a plain scalar that resolves to one): `datetime.date` or
    /// `datetime.datetime`; the text as written, which is all anything here needs.
    Timestamp {
        text: String,
        has_time: bool,
    },
    List(Vec<Py>),
    /// A Python tuple: the items of `!!pairs` and `!!omap`.
    Tuple(Vec<Py>),
    /// `!!set`: a Python set, its members in document order.
    Set(Vec<Py>),
    /// A Python dict, in insertion order (PyYAML keeps document order).
    Dict(Vec<(Py, Py)>),
}

/// An integer of any size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyInt {
    Small(i128),
    /// Sign and decimal digits, no leading zeros.
    Big {
        negative: bool,
        digits: String,
    },
}

impl PyInt {
    pub fn as_f64(&self) -> f64 {
        match self {
            PyInt::Small(v) => *v as f64,
            PyInt::Big { negative, .. } => {
                if *negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
        }
    }
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyInt::Small(v) => write!(f, "{v}"),
            PyInt::Big { negative, digits } => {
                write!(f, "{}{digits}", if *negative { "-" } else { "" })
            }
        }
    }
}

impl Py {
    pub fn str(s: &str) -> Py {
        Py::Str(s.to_string())
    }

    /// Python's type name, as cloud-init's messages and ours use it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Py::None => "NoneType",
            Py::Bool(_) => "bool",
            Py::Int(_) => "int",
            Py::Float(_) => "float",
            Py::Str(_) => "str",
            Py::Bytes(_) => "bytes",
            Py::Timestamp {
                has_time: false, ..
            } => "date",
            Py::Timestamp { .. } => "datetime",
            Py::List(_) => "list",
            Py::Tuple(_) => "tuple",
            Py::Set(_) => "set",
            Py::Dict(_) => "dict",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Py::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_dict(&self) -> Option<&[(Py, Py)]> {
        match self {
            Py::Dict(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Py]> {
        match self {
            Py::List(l) => Some(l),
            _ => None,
        }
    }

    /// The value of key `key` (by Python equality) of a dict.
    pub fn get_key(&self, key: &Py) -> Option<&Py> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The value of string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Py> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A number for comparisons (`minimum`), as Python compares them; bools count.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Py::Bool(b) => Some(f64::from(u8::from(*b))),
            Py::Int(i) => Some(i.as_f64()),
            Py::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Whether the value can be a dict key or set member in Python.
    pub fn hashable(&self) -> bool {
        match self {
            Py::List(_) | Py::Dict(_) | Py::Set(_) => false,
            Py::Tuple(items) => items.iter().all(Py::hashable),
            _ => true,
        }
    }

    /// The text Python's `str()` gives, as cloud-init joins key paths with it.
    pub fn key_text(&self) -> String {
        match self {
            Py::None => "None".into(),
            Py::Bool(true) => "True".into(),
            Py::Bool(false) => "False".into(),
            Py::Int(i) => i.to_string(),
            Py::Float(f) => float_repr(*f),
            Py::Str(s) => s.clone(),
            Py::Timestamp { text, .. } => text.clone(),
            other => format!("<{}>", other.type_name()),
        }
    }

    /// What a value is, never what it says: a cloud-config may hold passwords.
    pub fn describe(&self) -> String {
        match self {
            Py::None => "null".into(),
            Py::Bool(_) => "a boolean".into(),
            Py::Int(_) => "an integer".into(),
            Py::Float(_) => "a float".into(),
            Py::Str(s) => format!("a string of {} characters", s.chars().count()),
            Py::Bytes(b) => format!("binary data of {} bytes", b.len()),
            Py::Timestamp {
                has_time: false, ..
            } => "a date (unquoted, so not a string)".into(),
            Py::Timestamp { .. } => "a timestamp (unquoted, so not a string)".into(),
            Py::List(l) => format!("a list of {}", l.len()),
            Py::Tuple(l) => format!("a pair list entry of {}", l.len()),
            Py::Set(l) => format!("a set of {}", l.len()),
            Py::Dict(d) => format!("a mapping of {} keys", d.len()),
        }
    }
}

impl Py {
    /// A JSON view for describing a document (`explain`): keys become their `str()`,
    /// dates and big ints their text, bytes a note of their size, sets and tuples lists.
    /// Lossy: never used to check or write what a node reads.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Py::None => Value::Null,
            Py::Bool(b) => Value::Bool(*b),
            Py::Int(PyInt::Small(v)) => i64::try_from(*v)
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(v.to_string())),
            Py::Int(big) => Value::String(big.to_string()),
            Py::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(float_repr(*f))),
            Py::Str(s) => Value::String(s.clone()),
            Py::Bytes(b) => Value::String(format!("({} bytes of binary data)", b.len())),
            Py::Timestamp { text, .. } => Value::String(text.clone()),
            Py::List(l) | Py::Tuple(l) | Py::Set(l) => {
                Value::Array(l.iter().map(Py::to_json).collect())
            }
            Py::Dict(d) => {
                Value::Object(d.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect())
            }
        }
    }
}

/// Python's `repr` of a float, close enough for key paths and messages.
fn float_repr(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python's `==`: `1 == 1.0 == True`, `nan != nan`, a date is not its text, a list is
/// not a tuple.
impl PartialEq for Py {
    fn eq(&self, other: &Py) -> bool {
        if let (Some(a), Some(b)) = (self.numeric(), other.numeric()) {
            return a == b;
        }
        match (self, other) {
            (Py::None, Py::None) => true,
            (Py::Str(a), Py::Str(b)) => a == b,
            (Py::Bytes(a), Py::Bytes(b)) => a == b,
            (
                Py::Timestamp {
                    text: a,
                    has_time: x,
                },
                Py::Timestamp {
                    text: b,
                    has_time: y,
                },
            ) => x == y && a == b,
            (Py::List(a), Py::List(b)) | (Py::Tuple(a), Py::Tuple(b)) => a == b,
            (Py::Set(a), Py::Set(b)) => {
                a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| x == y))
            }
            (Py::Dict(a), Py::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            _ => false,
        }
    }
}

/// Numbers compare across bool, int and float; big ints only with themselves.
#[derive(PartialEq)]
enum Numeric<'a> {
    Exact(i128),
    Float(f64),
    Big(&'a PyInt),
}

impl Py {
    fn numeric(&self) -> Option<Numeric<'_>> {
        match self {
            Py::Bool(b) => Some(Numeric::Exact(i128::from(*b))),
            Py::Int(PyInt::Small(v)) => Some(Numeric::Exact(*v)),
            Py::Int(big) => Some(Numeric::Big(big)),
            Py::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => Some(Numeric::Exact(*f as i128)),
            Py::Float(f) => Some(Numeric::Float(*f)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_pythons() {
        assert_eq!(Py::Int(PyInt::Small(1)), Py::Bool(true));
        assert_eq!(Py::Int(PyInt::Small(3)), Py::Float(3.0));
        assert_ne!(Py::Float(f64::NAN), Py::Float(f64::NAN));
        assert_ne!(Py::str("1"), Py::Int(PyInt::Small(1)));
        assert_ne!(Py::List(vec![]), Py::Tuple(vec![]));
        assert_eq!(Py::Float(0.5).key_text(), "0.5");
        assert_eq!(Py::Float(3.0).key_text(), "3.0");
        assert!(!Py::List(vec![]).hashable());
    }
}
