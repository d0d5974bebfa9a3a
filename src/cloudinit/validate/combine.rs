//! `oneOf` and `anyOf` as cloud-init 25.1.4 replaces them (`_oneOf`, `_anyOf` in
//! `cloudinit/config/schema.py`), on top of python-jsonschema 4.10.3.
//!
//! `oneOf`: the forms are tried in order, each in full, until one has no error. If none
//! does, the errors reported are `cloud_init_deepest_matches` of all the forms' errors: those
//! deepest in the document (all of them at that depth) - or, when the value is a dict with
//! a `type` key, the first error whose schema lists that type in `properties.type.enum`, else
//! the errors whose path ends in `type`, else none at all (so such a dict that fits no form
//! gets no error from cloud-init; this is mirrored). If one form fits, the forms after it are
//! checked with `is_valid` and a second fit is an error.
//!
//! `anyOf`: forms in order until one fits; if none does, jsonschema's `best_match` of all the
//! errors (highest in the document, not a `oneOf`/`anyOf` error, an error whose schema's
//! `type` the value does not have), then a "valid under none" error at the value. Not
//! mirrored: `best_match`'s descent into the context of a nested `anyOf` error (the shipped
//! schema nests no `anyOf` in an `anyOf`), and `_anyOf`'s `anyOf_type_` refs (it has none).

use super::compile::NodeId;
use super::walk::{is_type, At, Error, Flow, Kind, Sink, Step, Walker};
use crate::cloudinit::py::Py;

impl<'a> Walker<'a> {
    pub(crate) fn one_of(
        &mut self,
        subs: &'static [NodeId],
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let mut all = Vec::new();
        let mut fit = None;
        for (i, sub) in subs.iter().enumerate() {
            let mut form = Sink::full();
            let _ = self.node(v, *sub, at, &mut form);
            if form.errors.is_empty() {
                fit = Some(i);
                break;
            }
            all.append(&mut form.errors);
        }
        let Some(first) = fit else {
            let group = self.group();
            for mut e in self.deepest(all, v, at) {
                e.group = group;
                sink.push(e)?;
            }
            return Ok(());
        };
        // Every later form is tried (a list comprehension), not just up to a second fit.
        let more = subs[first + 1..]
            .iter()
            .filter(|sub| self.is_valid(v, **sub, at))
            .count();
        if more > 0 {
            sink.push(self.error(Kind::Ambiguous, id, v, at))?;
        }
        Ok(())
    }

    /// `cloud_init_deepest_matches(errors, instance)`.
    fn deepest(&mut self, errors: Vec<Error<'a>>, v: &'a Py, at: &At<'_, 'a>) -> Vec<Error<'a>> {
        let base = at.depth;
        let typed = match v {
            Py::Dict(_) => v.get("type"),
            _ => None,
        };
        let mut best = Vec::new();
        let mut depth = 0;
        for e in errors {
            let rel = e.path.len() - base;
            let Some(t) = typed else {
                if rel == depth {
                    best.push(e);
                } else if rel > depth {
                    depth = rel;
                    best = vec![e];
                }
                continue;
            };
            if self.schema.node(e.node).type_enum.iter().any(|x| x == t) {
                return vec![e];
            }
            match json_path_ends_in_type(&e.path[base..]) {
                Ok(true) => best.push(e),
                Ok(false) => {}
                Err(step) => self.crash(Kind::PathKey(step), e.node, e.instance, at),
            }
        }
        best
    }

    pub(crate) fn any_of(
        &mut self,
        subs: &'static [NodeId],
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let mut all = Vec::new();
        for sub in subs {
            let mut form = Sink::full();
            let _ = self.node(v, *sub, at, &mut form);
            if form.errors.is_empty() {
                return Ok(());
            }
            all.append(&mut form.errors);
        }
        let group = self.group();
        if let Some(i) = self.best_match(&all) {
            let mut best = all.remove(i);
            // For the report only (see `report`): the other forms' errors.
            best.also = all;
            best.group = group;
            sink.push(best)?;
        }
        let mut none = self.error(Kind::NoneOf, id, v, at);
        none.group = group;
        sink.push(none)
    }

    /// The index of jsonschema's `best_match`: the first error with the greatest relevance.
    fn best_match(&self, errors: &[Error<'a>]) -> Option<usize> {
        let relevance = |e: &Error<'a>| {
            let weak = matches!(e.kind, Kind::Ambiguous | Kind::NoneOf);
            let matches_type = self
                .schema
                .node(e.node)
                .types
                .as_ref()
                .is_some_and(|ts| ts.iter().any(|t| is_type(e.instance, *t)));
            (std::cmp::Reverse(e.path.len()), !weak, !matches_type)
        };
        let mut best: Option<(usize, _)> = None;
        for (i, e) in errors.iter().enumerate() {
            let r = relevance(e);
            if best.as_ref().is_none_or(|(_, b)| r > *b) {
                best = Some((i, r));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// Whether jsonschema's `error.json_path` (`$.a[0].b`) ends in `type`, or the key that
/// makes building it raise (one neither a string nor an int).
fn json_path_ends_in_type<'a>(rel: &[Step<'a>]) -> Result<bool, Step<'a>> {
    for step in rel {
        if let Step::Key { key, .. } = step {
            if !matches!(key, Py::Str(_) | Py::Int(_) | Py::Bool(_)) {
                return Err(*step);
            }
        }
    }
    Ok(matches!(rel.last(), Some(Step::Key { key: Py::Str(s), .. }) if s.ends_with("type")))
}
