//! The keywords of dicts. Keys are found as Python finds them, by `==` on the key: only a
//! `str` key equals a schema's property name, so an int key `0` is not property `"0"`.

use super::compile::{Extra, NodeId, Rule};
use super::equal::sortable;
use super::walk::{At, Flow, Kind, Sink, Step, Walker};
use crate::cloudinit::py::Py;

/// The position of string key `name` in a dict's entries (the last one, as a Python dict
/// keeps the last value of a repeated key).
fn find(entries: &[(Py, Py)], name: &str) -> Option<usize> {
    entries.iter().rposition(|(k, _)| k.as_str() == Some(name))
}

impl<'a> Walker<'a> {
    pub(crate) fn properties(
        &mut self,
        props: &'static [(String, NodeId)],
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::Dict(entries) = v else { return Ok(()) };
        for (name, sub) in props {
            if let Some(pos) = find(entries, name) {
                let (key, value) = &entries[pos];
                let here = at.child(Step::Key { key, pos });
                self.node(value, *sub, &here, sink)?;
            }
        }
        Ok(())
    }

    /// For each pattern, for each key: `re.search(pattern, key)`, which raises on a key
    /// that is not a string.
    pub(crate) fn pattern_properties(
        &mut self,
        pats: &'static [(regex::Regex, NodeId)],
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::Dict(entries) = v else { return Ok(()) };
        for (re, sub) in pats {
            for (pos, (key, value)) in entries.iter().enumerate() {
                let step = Step::Key { key, pos };
                match key.as_str() {
                    None => self.crash(Kind::KeyNotString(step), id, v, at),
                    Some(text) if re.is_match(text) => {
                        self.node(value, *sub, &at.child(step), sink)?;
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// jsonschema's `find_additional_properties`: keys that are no property and match
    /// none of the patterns (searched only when there are any, and then raising on a key
    /// that is not a string).
    fn extras(&mut self, extra: &Extra, id: NodeId, v: &'a Py, at: &At<'_, 'a>) -> Vec<usize> {
        let Py::Dict(entries) = v else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (pos, (key, _)) in entries.iter().enumerate() {
            if key
                .as_str()
                .is_some_and(|k| extra.names.iter().any(|n| n == k))
            {
                continue;
            }
            match (&extra.patterns, key.as_str()) {
                (None, _) => out.push(pos),
                (Some(_), None) => {
                    self.crash(Kind::KeyNotString(Step::Key { key, pos }), id, v, at);
                }
                (Some(re), Some(text)) if !re.is_match(text) => out.push(pos),
                (Some(_), Some(_)) => {}
            }
        }
        out
    }

    pub(crate) fn additional_properties(
        &mut self,
        extra: &'static Extra,
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::Dict(entries) = v else { return Ok(()) };
        // Computed whatever the rule: even `true` searches the patterns.
        let extras = self.extras(extra, id, v, at);
        match extra.rule {
            Rule::Allow => Ok(()),
            Rule::Schema(sub) => extras.into_iter().try_for_each(|pos| {
                let (key, value) = &entries[pos];
                self.node(value, sub, &at.child(Step::Key { key, pos }), sink)
            }),
            Rule::Deny if extras.is_empty() => Ok(()),
            Rule::Deny => {
                // The message lists them `sorted()`.
                if !sortable(extras.iter().map(|&p| &entries[p].0)) {
                    self.crash(Kind::Unsortable, id, v, at);
                }
                extras.into_iter().try_for_each(|pos| {
                    let step = Step::Key {
                        key: &entries[pos].0,
                        pos,
                    };
                    let kind = match extra.patterns {
                        Some(_) => Kind::NoPattern(step, &extra.pattern_names),
                        None => Kind::Unknown(step),
                    };
                    sink.push(self.error(kind, id, v, at))
                })
            }
        }
    }

    pub(crate) fn required(
        &mut self,
        names: &'static [String],
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::Dict(entries) = v else { return Ok(()) };
        for name in names {
            if find(entries, name).is_none() {
                sink.push(self.error(Kind::Required(name), id, v, at))?;
            }
        }
        Ok(())
    }
}
