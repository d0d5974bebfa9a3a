//! Equality and order as python-jsonschema 4.10.3 uses them.
//!
//! `enum` is `instance in enums`, Python's `==`, except that an instance equal to 0 or 1
//! only matches a bool if it is that bool (and a bool only a bool): `1` is not `true`.
//! `uniqueItems` is `_utils.uniq`, built on `_utils.equal`: a str equals only a str; two
//! sequences (list, tuple, bytes) are equal item by item, so `[1]` equals `(1,)`; two dicts
//! when their keys match (by Python `==`) and their values by `equal`; anything else by
//! `==` with bools apart from ints, at every depth. `uniq` first tries `sorted()` and
//! compares neighbours; for values whose order is total that finds the same duplicates as
//! comparing every pair, which is what is done here (in one pass, by canonical keys).

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::cloudinit::py::{Py, PyInt};

/// jsonschema's `enum` on Python values.
pub(crate) fn enum_match(v: &Py, options: &[Py]) -> bool {
    let zero = Py::Int(PyInt::Small(0));
    let one = Py::Int(PyInt::Small(1));
    if *v == zero || *v == one {
        options.iter().any(|o| match (v, o) {
            (Py::Bool(a), Py::Bool(b)) => a == b,
            (Py::Bool(_), _) | (_, Py::Bool(_)) => false,
            _ => v == o,
        })
    } else {
        options.iter().any(|o| v == o)
    }
}

/// jsonschema's `uniq`: no two items `equal`.
pub(crate) fn unique(items: &[Py]) -> bool {
    let mut nans = 0;
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().all(|i| seen.insert(equal_key(i, &mut nans)))
}

/// A value reduced so that two values are `equal` (or, for [`hash_key`], Python `==`)
/// exactly when their keys are. A NaN equals nothing, so each one gets its own number.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Canon<'a> {
    Nan(usize),
    None,
    Bool(bool),
    Int(i128),
    Big(bool, &'a str),
    Float(u64),
    Str(&'a str),
    Bytes(&'a [u8]),
    Stamp(&'a str, bool),
    Seq(Vec<Canon<'a>>),
    Map(Vec<(Canon<'a>, Canon<'a>)>),
    Set(Vec<Canon<'a>>),
}

/// `_utils.equal`'s classes.
fn equal_key<'a>(v: &'a Py, nans: &mut usize) -> Canon<'a> {
    match v {
        Py::Bool(b) => Canon::Bool(*b),
        Py::List(items) | Py::Tuple(items) => {
            Canon::Seq(items.iter().map(|i| equal_key(i, nans)).collect())
        }
        Py::Bytes(b) => Canon::Seq(b.iter().map(|&c| Canon::Int(c.into())).collect()),
        Py::Dict(entries) => {
            let mut m: Vec<_> = entries
                .iter()
                .map(|(k, v)| (hash_key(k, nans), equal_key(v, nans)))
                .collect();
            m.sort();
            Canon::Map(m)
        }
        _ => hash_key(v, nans),
    }
}

/// Python `==` of hashable values (dict keys, set members): `True == 1 == 1.0`.
fn hash_key<'a>(v: &'a Py, nans: &mut usize) -> Canon<'a> {
    match v {
        Py::None => Canon::None,
        Py::Bool(b) => Canon::Int(i128::from(*b)),
        Py::Int(PyInt::Small(i)) => Canon::Int(*i),
        Py::Int(PyInt::Big { negative, digits }) => Canon::Big(*negative, digits),
        Py::Float(f) if f.is_nan() => {
            *nans += 1;
            Canon::Nan(*nans)
        }
        Py::Float(f) if f.fract() == 0.0 && f.abs() < 1.7e38 => Canon::Int(*f as i128),
        Py::Float(f) => Canon::Float(f.to_bits()),
        Py::Str(s) => Canon::Str(s),
        Py::Bytes(b) => Canon::Bytes(b),
        Py::Timestamp { text, has_time } => Canon::Stamp(text, *has_time),
        Py::Tuple(items) => Canon::Seq(items.iter().map(|i| hash_key(i, nans)).collect()),
        Py::Set(items) => {
            let mut m: Vec<_> = items.iter().map(|i| hash_key(i, nans)).collect();
            m.sort();
            m.dedup();
            Canon::Set(m)
        }
        Py::List(_) | Py::Dict(_) => equal_key(v, nans),
    }
}

/// Whether Python's `sorted()` of these values returns rather than raising TypeError:
/// values of kinds that do not order against each other (a str and an int, a date and a
/// datetime), or two of a kind that does not order at all (None, dict), raise. Lists and
/// tuples are taken to order (Python compares them item by item, and may still raise).
pub(crate) fn sortable<'v>(values: impl Iterator<Item = &'v Py>) -> bool {
    let mut first = None;
    let mut count = 0;
    for v in values {
        count += 1;
        let class = order_class(v);
        match first {
            None => first = Some(class),
            Some(c) if c != class => return false,
            Some(_) => {}
        }
    }
    count < 2 || !matches!(first, Some(OrderClass::None) | Some(OrderClass::Dict))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderClass {
    Number,
    Str,
    Bytes,
    List,
    Tuple,
    Set,
    Date,
    DateTime,
    None,
    Dict,
}

fn order_class(v: &Py) -> OrderClass {
    match v {
        Py::Bool(_) | Py::Int(_) | Py::Float(_) => OrderClass::Number,
        Py::Str(_) => OrderClass::Str,
        Py::Bytes(_) => OrderClass::Bytes,
        Py::List(_) => OrderClass::List,
        Py::Tuple(_) => OrderClass::Tuple,
        Py::Set(_) => OrderClass::Set,
        Py::Timestamp {
            has_time: false, ..
        } => OrderClass::Date,
        Py::Timestamp { .. } => OrderClass::DateTime,
        Py::None => OrderClass::None,
        Py::Dict(_) => OrderClass::Dict,
    }
}

/// Python's `<`/`==`/`>` of two numbers (bools count as 0 and 1); `None` when they do not
/// compare (a NaN) or are not numbers.
pub(crate) fn py_cmp(a: &Py, b: &Py) -> Option<Ordering> {
    match (num(a)?, num(b)?) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(x), Num::Float(y)) => int_vs_float(x, y),
        (Num::Float(x), Num::Int(y)) => int_vs_float(y, x).map(Ordering::reverse),
        (Num::Big(neg), Num::Big(other_neg)) => big_vs_big(a, b, neg, other_neg),
        (Num::Big(neg), other) => big_vs_small(neg, &other),
        (other, Num::Big(neg)) => big_vs_small(neg, &other).map(Ordering::reverse),
    }
}

enum Num {
    Int(i128),
    Float(f64),
    /// Beyond `i128` (so beyond every finite `f64` this compares with): its sign.
    Big(bool),
}

fn num(v: &Py) -> Option<Num> {
    match v {
        Py::Bool(b) => Some(Num::Int(i128::from(*b))),
        Py::Int(PyInt::Small(i)) => Some(Num::Int(*i)),
        Py::Int(PyInt::Big { negative, .. }) => Some(Num::Big(*negative)),
        Py::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

/// Exact, as Python compares an int with a float.
fn int_vs_float(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f.abs() >= 1.7e38 {
        return Some(if f > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let floor = f.floor();
    match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Some(Ordering::Less),
        other => Some(other),
    }
}

/// A big int (of sign `neg`) against an int or float of `i128` range, or an infinity.
fn big_vs_small(neg: bool, other: &Num) -> Option<Ordering> {
    match other {
        Num::Float(f) if f.is_nan() => None,
        Num::Float(f) if f.is_infinite() => Some(if *f > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        }),
        _ if neg => Some(Ordering::Less),
        _ => Some(Ordering::Greater),
    }
}

fn big_vs_big(a: &Py, b: &Py, neg_a: bool, neg_b: bool) -> Option<Ordering> {
    let digits = |v: &Py| match v {
        Py::Int(PyInt::Big { digits, .. }) => digits.clone(),
        _ => String::new(),
    };
    if neg_a != neg_b {
        return Some(if neg_a {
            Ordering::Less
        } else {
            Ordering::Greater
        });
    }
    let (da, db) = (digits(a), digits(b));
    let magnitude = da.len().cmp(&db.len()).then_with(|| da.cmp(&db));
    Some(if neg_a {
        magnitude.reverse()
    } else {
        magnitude
    })
}
