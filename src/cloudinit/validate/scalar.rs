//! The keywords of single values: `type`, `enum`, `minimum`/`maximum`, lengths, `pattern`
//! and the `date` format.

use std::cmp::Ordering;

use super::compile::{Kw, NodeId};
use super::date::is_date;
use super::equal::{enum_match, py_cmp};
use super::walk::{is_type, At, Flow, Kind, Sink, Walker};
use crate::cloudinit::py::Py;

/// Python's `len()` of what Draft 4 (with cloud-init's bytes) calls a string.
fn length(v: &Py) -> Option<usize> {
    match v {
        Py::Str(s) => Some(s.chars().count()),
        Py::Bytes(b) => Some(b.len()),
        _ => None,
    }
}

/// Whether number `v` is below (`exclusive`: at or below) `limit`, as Python compares.
fn below(v: &Py, limit: &Py, exclusive: bool) -> bool {
    match py_cmp(v, limit) {
        Some(Ordering::Less) => true,
        Some(Ordering::Equal) => exclusive,
        _ => false,
    }
}

impl<'a> Walker<'a> {
    pub(crate) fn scalar(
        &mut self,
        kw: &'static Kw,
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let number = is_type(v, super::compile::Ty::Number);
        let kind = match kw {
            Kw::Type(types) if !types.iter().any(|t| is_type(v, *t)) => Kind::Type(types.clone()),
            Kw::Enum(options) if !enum_match(v, options) => Kind::Enum(options),
            Kw::Minimum { limit, exclusive } if number && below(v, limit, *exclusive) => {
                Kind::Minimum(limit, *exclusive)
            }
            Kw::Maximum { limit, exclusive } if number && below(limit, v, *exclusive) => {
                Kind::Maximum(limit, *exclusive)
            }
            Kw::MinLength(n) if length(v).is_some_and(|l| l < *n) => Kind::MinLength(*n),
            Kw::MaxLength(n) if length(v).is_some_and(|l| l > *n) => Kind::MaxLength(*n),
            Kw::Pattern { source, re } => match v {
                Py::Str(s) if !re.is_match(s) => Kind::Pattern(source),
                Py::Bytes(_) => {
                    // `re.search` of a str pattern on bytes raises TypeError.
                    self.crash(Kind::BytesPattern, id, v, at);
                    return Ok(());
                }
                _ => return Ok(()),
            },
            Kw::DateFormat => match v {
                Py::Str(s) if !is_date(s) => Kind::Date,
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        sink.push(self.error(kind, id, v, at))
    }
}
