//! The keywords of arrays, which in Draft 4 are Python lists only: a tuple (`!!pairs`,
//! `!!omap` entries) or a set (`!!set`) is no array, so these keywords pass it by (and
//! `type: array` refuses it).

use super::compile::{NodeId, Rule};
use super::equal::{sortable, unique};
use super::walk::{At, Flow, Kind, Sink, Step, Walker};
use crate::cloudinit::py::Py;

impl<'a> Walker<'a> {
    pub(crate) fn items(
        &mut self,
        sub: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::List(items) = v else { return Ok(()) };
        for (i, item) in items.iter().enumerate() {
            self.node(item, sub, &at.child(Step::Index(i)), sink)?;
        }
        Ok(())
    }

    pub(crate) fn tuple_items(
        &mut self,
        subs: &'static [NodeId],
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::List(items) = v else { return Ok(()) };
        for (i, (item, sub)) in items.iter().zip(subs).enumerate() {
            self.node(item, *sub, &at.child(Step::Index(i)), sink)?;
        }
        Ok(())
    }

    pub(crate) fn additional_items(
        &mut self,
        prefix: usize,
        rule: Rule,
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let Py::List(items) = v else { return Ok(()) };
        let rest = items.get(prefix..).unwrap_or_default();
        match rule {
            Rule::Allow => Ok(()),
            Rule::Schema(sub) => rest.iter().enumerate().try_for_each(|(i, item)| {
                self.node(item, sub, &at.child(Step::Index(prefix + i)), sink)
            }),
            Rule::Deny if rest.is_empty() => Ok(()),
            Rule::Deny => {
                // The message lists them `sorted()`.
                if !sortable(rest.iter()) {
                    self.crash(Kind::Unsortable, id, v, at);
                }
                sink.push(self.error(Kind::ExtraItems(prefix), id, v, at))
            }
        }
    }

    pub(crate) fn unique_items(
        &mut self,
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        match v {
            Py::List(items) if !unique(items) => sink.push(self.error(Kind::Unique, id, v, at)),
            _ => Ok(()),
        }
    }
}
