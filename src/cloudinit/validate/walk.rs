//! The walk: a document against a compiled schema, keyword by keyword in schema order, the
//! way python-jsonschema's `iter_errors` runs cloud-init's validator class.
//!
//! Errors go into a [`Sink`]. A full sink takes them all (what `list(iter_errors())` sees);
//! a first-only sink stops the walk at the first (what `is_valid`, used by `oneOf` to find
//! a second matching form, sees: Python's generators stop there too, which decides whether
//! a later crash is reached). Where Python would raise (`re.search` on a key that is not a
//! string, `re.search` on bytes, `sorted` on keys that do not order) the whole of cloud-init's
//! check fails; such a crash is recorded apart from the errors, because no `oneOf` can
//! absorb it, and the walk goes on past it.

use super::compile::{Kw, NodeId, Schema, Ty};
use crate::cloudinit::py::Py;

/// One step into a document: a dict key (with its position, for document order) or a list
/// index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    Key { key: &'a Py, pos: usize },
    Index(usize),
}

impl Step<'_> {
    /// The step's position among its siblings; two paths into one document are the same
    /// place exactly when their positions are.
    pub(crate) fn position(&self) -> usize {
        match self {
            Step::Key { pos, .. } => *pos,
            Step::Index(i) => *i,
        }
    }
}

/// Where the walk is: a path kept on the stack, turned into a `Vec` only for an error.
#[derive(Clone, Copy)]
pub(crate) struct At<'p, 'a> {
    up: Option<&'p At<'p, 'a>>,
    step: Option<Step<'a>>,
    pub(crate) depth: usize,
}

impl<'p, 'a> At<'p, 'a> {
    pub(crate) fn root() -> At<'static, 'a> {
        At {
            up: None,
            step: None,
            depth: 0,
        }
    }

    pub(crate) fn child(&'p self, step: Step<'a>) -> At<'p, 'a> {
        At {
            up: Some(self),
            step: Some(step),
            depth: self.depth + 1,
        }
    }

    pub(crate) fn path(&self) -> Vec<Step<'a>> {
        let mut out = Vec::with_capacity(self.depth);
        let mut at = Some(self);
        while let Some(here) = at {
            out.extend(here.step);
            at = here.up;
        }
        out.reverse();
        out
    }
}

/// What failed.
#[derive(Debug, Clone)]
pub(crate) enum Kind<'a> {
    Type(Vec<Ty>),
    /// `additionalProperties: false`, one error per key (Python makes one for them all).
    Unknown(Step<'a>),
    /// The same with `patternProperties` beside it: the key matches none of them.
    NoPattern(Step<'a>, &'static [String]),
    ExtraItems(usize),
    Enum(&'static [Py]),
    MinItems(usize),
    MaxItems(usize),
    Unique,
    Required(&'static str),
    MinProperties(usize),
    MaxProperties(usize),
    MinLength(usize),
    MaxLength(usize),
    Minimum(&'static Py, bool),
    Maximum(&'static Py, bool),
    Pattern(&'static str),
    Date,
    /// `oneOf`: more than one form fits.
    Ambiguous,
    /// `anyOf`: no form fits (jsonschema's wrapper error; its best match comes with it).
    NoneOf,
    False,
    /// Crashes: a key that is not a string where Python's `re.search` reads keys.
    KeyNotString(Step<'a>),
    /// `re.search` of a `pattern` on bytes.
    BytesPattern,
    /// `sorted` of unknown keys (or extra items) whose types Python cannot order.
    Unsortable,
    /// A key cloud-init's `json_path` cannot join (neither string nor int).
    PathKey(Step<'a>),
}

/// One error, as python-jsonschema makes it.
#[derive(Debug, Clone)]
pub(crate) struct Error<'a> {
    /// From the document's root.
    pub(crate) path: Vec<Step<'a>>,
    pub(crate) kind: Kind<'a>,
    /// The schema holding the failed keyword (jsonschema's `error.schema`).
    pub(crate) node: NodeId,
    pub(crate) instance: &'a Py,
    /// Errors one `oneOf`/`anyOf` reported together (0: none), so that the report can say
    /// "not one of these types" once instead of once per form.
    pub(crate) group: u32,
    /// For an `anyOf`'s best match, the other errors of its forms, for the report only.
    pub(crate) also: Vec<Error<'a>>,
}

/// The walk was told to stop: a first-only sink has its error.
pub(crate) struct Enough;

pub(crate) type Flow = Result<(), Enough>;

pub(crate) struct Sink<'a> {
    pub(crate) errors: Vec<Error<'a>>,
    first_only: bool,
}

impl<'a> Sink<'a> {
    pub(crate) fn full() -> Sink<'a> {
        Sink {
            errors: Vec::new(),
            first_only: false,
        }
    }

    pub(crate) fn first_only() -> Sink<'a> {
        Sink {
            errors: Vec::new(),
            first_only: true,
        }
    }

    pub(crate) fn push(&mut self, e: Error<'a>) -> Flow {
        self.errors.push(e);
        if self.first_only {
            Err(Enough)
        } else {
            Ok(())
        }
    }
}

pub(crate) struct Walker<'a> {
    pub(crate) schema: &'static Schema,
    pub(crate) crashes: Vec<Error<'a>>,
    groups: u32,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(schema: &'static Schema) -> Walker<'a> {
        Walker {
            schema,
            crashes: Vec::new(),
            groups: 0,
        }
    }

    /// A fresh group number for the errors one `oneOf`/`anyOf` reports.
    pub(crate) fn group(&mut self) -> u32 {
        self.groups += 1;
        self.groups
    }

    pub(crate) fn error(
        &self,
        kind: Kind<'a>,
        node: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
    ) -> Error<'a> {
        Error {
            path: at.path(),
            kind,
            node,
            instance: v,
            group: 0,
            also: Vec::new(),
        }
    }

    pub(crate) fn crash(&mut self, kind: Kind<'a>, node: NodeId, v: &'a Py, at: &At<'_, 'a>) {
        let e = self.error(kind, node, v, at);
        self.crashes.push(e);
    }

    /// `descend`: every keyword of schema `id` on `v`, in schema order.
    pub(crate) fn node(
        &mut self,
        v: &'a Py,
        id: NodeId,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let schema: &'static Schema = self.schema;
        for kw in &schema.node(id).kws {
            self.keyword(kw, id, v, at, sink)?;
        }
        Ok(())
    }

    /// Whether `v` has no error under schema `id` (jsonschema's `is_valid`).
    pub(crate) fn is_valid(&mut self, v: &'a Py, id: NodeId, at: &At<'_, 'a>) -> bool {
        let mut sink = Sink::first_only();
        let _ = self.node(v, id, at, &mut sink);
        sink.errors.is_empty()
    }

    fn keyword(
        &mut self,
        kw: &'static Kw,
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        match kw {
            Kw::False => sink.push(self.error(Kind::False, id, v, at)),
            Kw::Ref(target) => self.node(v, *target, at, sink),
            Kw::AllOf(subs) => subs.iter().try_for_each(|s| self.node(v, *s, at, sink)),
            Kw::OneOf(subs) => self.one_of(subs, id, v, at, sink),
            Kw::AnyOf(subs) => self.any_of(subs, id, v, at, sink),
            Kw::Properties(props) => self.properties(props, v, at, sink),
            Kw::PatternProperties(pats) => self.pattern_properties(pats, id, v, at, sink),
            Kw::AdditionalProperties(extra) => self.additional_properties(extra, id, v, at, sink),
            Kw::Required(names) => self.required(names, id, v, at, sink),
            Kw::MinProperties(_) | Kw::MaxProperties(_) => self.count_bound(kw, id, v, at, sink),
            Kw::Items(sub) => self.items(*sub, v, at, sink),
            Kw::TupleItems(subs) => self.tuple_items(subs, v, at, sink),
            Kw::AdditionalItems { prefix, rule } => {
                self.additional_items(*prefix, *rule, id, v, at, sink)
            }
            Kw::MinItems(_) | Kw::MaxItems(_) => self.count_bound(kw, id, v, at, sink),
            Kw::UniqueItems => self.unique_items(id, v, at, sink),
            _ => self.scalar(kw, id, v, at, sink),
        }
    }
}

impl<'a> Walker<'a> {
    /// `minItems`, `maxItems`, `minProperties`, `maxProperties`: a list's items or a
    /// dict's keys counted against the bound; any other value passes.
    fn count_bound(
        &mut self,
        kw: &'static Kw,
        id: NodeId,
        v: &'a Py,
        at: &At<'_, 'a>,
        sink: &mut Sink<'a>,
    ) -> Flow {
        let (broken, kind) = match (kw, v) {
            (Kw::MinItems(n), Py::List(l)) => (l.len() < *n, Kind::MinItems(*n)),
            (Kw::MaxItems(n), Py::List(l)) => (l.len() > *n, Kind::MaxItems(*n)),
            (Kw::MinProperties(n), Py::Dict(d)) => (d.len() < *n, Kind::MinProperties(*n)),
            (Kw::MaxProperties(n), Py::Dict(d)) => (d.len() > *n, Kind::MaxProperties(*n)),
            _ => return Ok(()),
        };
        if broken {
            sink.push(self.error(kind, id, v, at))
        } else {
            Ok(())
        }
    }
}

/// Draft 4's type check with cloud-init's one change: bytes are strings too. `bool` is no
/// integer or number; a float, even `1.0`, is no integer; only a list is an array (not a
/// tuple or a set); a date is none of these.
pub(crate) fn is_type(v: &Py, t: Ty) -> bool {
    match t {
        Ty::String => matches!(v, Py::Str(_) | Py::Bytes(_)),
        Ty::Integer => matches!(v, Py::Int(_)),
        Ty::Number => matches!(v, Py::Int(_) | Py::Float(_)),
        Ty::Object => matches!(v, Py::Dict(_)),
        Ty::Array => matches!(v, Py::List(_)),
        Ty::Boolean => matches!(v, Py::Bool(_)),
        Ty::Null => matches!(v, Py::None),
    }
}
