//! The schema, compiled once: every subschema a node in one arena, every `$ref` resolved to
//! its node, every pattern compiled, every keyword in the order the file gives it (the order
//! python-jsonschema runs them in).
//!
//! Only the validators of cloud-init's validator class count: Draft 4's, with cloud-init's
//! `oneOf`/`anyOf`, and its `deprecated`/`changed` which only ever yield deprecation notices
//! (never errors, and filtered out of `oneOf`/`anyOf` verdicts), so they are dropped here.
//! Every other key (`description`, `default`, `label`, `hidden`, `prefixItems`, ...) is no
//! Draft 4 validator and is ignored, as there. A Draft 4 validator this module does not
//! implement (`not`, `dependencies`, `multipleOf`) is refused, so a schema refresh that
//! starts using one fails the tests instead of being half-checked.

use std::collections::HashMap;

use regex::Regex;

use super::json::Json;
use super::pyre;
use crate::cloudinit::py::Py;

pub(crate) type NodeId = usize;

/// A compiled schema.
pub(crate) struct Schema {
    pub(crate) nodes: Vec<Node>,
    pub(crate) root: NodeId,
}

/// One subschema.
#[derive(Default)]
pub(crate) struct Node {
    pub(crate) kws: Vec<Kw>,
    /// Its `type`, which jsonschema's `best_match` reads (`_matches_type`).
    pub(crate) types: Option<Vec<Ty>>,
    /// Its `properties.type.enum`, which cloud-init's `cloud_init_deepest_matches` reads.
    pub(crate) type_enum: Vec<Py>,
}

/// A Draft 4 type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    Integer,
    Number,
    Object,
    Array,
    Boolean,
    Null,
}

/// `additionalProperties` or `additionalItems`: `true`, `false`, or a schema.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    Allow,
    Deny,
    Schema(NodeId),
}

/// `additionalProperties` with what `find_additional_properties` reads of its siblings.
pub(crate) struct Extra {
    pub(crate) names: Vec<String>,
    /// The sibling `patternProperties` joined with `|`, unless that is empty.
    pub(crate) patterns: Option<Regex>,
    /// The sibling `patternProperties`, sorted, for messages.
    pub(crate) pattern_names: Vec<String>,
    pub(crate) rule: Rule,
}

/// One validator keyword and its compiled value.
pub(crate) enum Kw {
    /// The `false` schema.
    False,
    Type(Vec<Ty>),
    Properties(Vec<(String, NodeId)>),
    PatternProperties(Vec<(Regex, NodeId)>),
    AdditionalProperties(Extra),
    Ref(NodeId),
    Items(NodeId),
    TupleItems(Vec<NodeId>),
    /// Only with array-form `items` (otherwise Draft 4 ignores it): `prefix` is its length.
    AdditionalItems {
        prefix: usize,
        rule: Rule,
    },
    Enum(Vec<Py>),
    OneOf(Vec<NodeId>),
    AnyOf(Vec<NodeId>),
    AllOf(Vec<NodeId>),
    MinItems(usize),
    MaxItems(usize),
    UniqueItems,
    Required(Vec<String>),
    MinProperties(usize),
    MaxProperties(usize),
    MinLength(usize),
    MaxLength(usize),
    Minimum {
        limit: Py,
        exclusive: bool,
    },
    Maximum {
        limit: Py,
        exclusive: bool,
    },
    Pattern {
        source: String,
        re: Regex,
    },
    /// `format: date`; the other formats the schema uses (`hostname`, `uri`) need packages
    /// cloud-init's environment does not have, so python-jsonschema does not check them.
    DateFormat,
}

impl Schema {
    pub(crate) fn parse(text: &str) -> Result<Schema, String> {
        let json = Json::parse(text)?;
        let mut c = Compiler {
            root: &json,
            nodes: Vec::new(),
            refs: HashMap::new(),
        };
        let root = c.node(&json, "#")?;
        Ok(Schema {
            nodes: c.nodes,
            root,
        })
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }
}

struct Compiler<'j> {
    root: &'j Json,
    nodes: Vec<Node>,
    refs: HashMap<String, NodeId>,
}

impl<'j> Compiler<'j> {
    fn node(&mut self, j: &'j Json, at: &str) -> Result<NodeId, String> {
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.fill(id, j, at)?;
        Ok(id)
    }

    fn reference(&mut self, target: &str, at: &str) -> Result<NodeId, String> {
        if let Some(id) = self.refs.get(target) {
            return Ok(*id);
        }
        let j = self
            .root
            .pointer(target)
            .ok_or_else(|| format!("{at}: $ref {target:?} names nothing"))?;
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.refs.insert(target.to_string(), id);
        self.fill(id, j, target)?;
        Ok(id)
    }

    fn fill(&mut self, id: NodeId, j: &'j Json, at: &str) -> Result<(), String> {
        let entries = match j {
            Json::Bool(true) => return Ok(()),
            Json::Bool(false) => {
                self.nodes[id].kws.push(Kw::False);
                return Ok(());
            }
            Json::Object(m) => m,
            _ => return Err(format!("{at}: a schema must be an object or a boolean")),
        };
        let mut kws = Vec::new();
        for (key, value) in entries {
            let here = format!("{at}/{key}");
            if let Some(kw) = self.keyword(key, value, j, &here)? {
                kws.push(kw);
            }
        }
        let node = &mut self.nodes[id];
        node.kws = kws;
        node.types = j.get("type").map(types).transpose()?;
        node.type_enum = j
            .get("properties")
            .and_then(|p| p.get("type"))
            .and_then(|t| t.get("enum"))
            .and_then(Json::as_array)
            .map(|a| a.iter().map(Json::to_py).collect())
            .unwrap_or_default();
        Ok(())
    }

    /// The compiled keyword `key` of schema `parent`, or `None` for a key that validates
    /// nothing.
    fn keyword(
        &mut self,
        key: &str,
        v: &'j Json,
        parent: &'j Json,
        at: &str,
    ) -> Result<Option<Kw>, String> {
        let kw = match key {
            "type" => Kw::Type(types(v)?),
            "properties" => Kw::Properties(self.named(v, at)?),
            "patternProperties" => Kw::PatternProperties(self.patterned(v, at)?),
            "additionalProperties" => Kw::AdditionalProperties(self.extra(v, parent, at)?),
            "$ref" => Kw::Ref(self.reference(text(v, at)?, at)?),
            "items" => self.items(v, at)?,
            "additionalItems" => match parent.get("items").and_then(Json::as_array) {
                Some(tuple) => Kw::AdditionalItems {
                    prefix: tuple.len(),
                    rule: self.rule(v, at)?,
                },
                None => return Ok(None),
            },
            "enum" => Kw::Enum(array(v, at)?.iter().map(Json::to_py).collect()),
            "oneOf" => Kw::OneOf(self.list(v, at)?),
            "anyOf" => Kw::AnyOf(self.list(v, at)?),
            "allOf" => Kw::AllOf(self.list(v, at)?),
            "minItems" => Kw::MinItems(count(v, at)?),
            "maxItems" => Kw::MaxItems(count(v, at)?),
            "minProperties" => Kw::MinProperties(count(v, at)?),
            "maxProperties" => Kw::MaxProperties(count(v, at)?),
            "minLength" => Kw::MinLength(count(v, at)?),
            "maxLength" => Kw::MaxLength(count(v, at)?),
            "uniqueItems" => match v {
                Json::Bool(true) => Kw::UniqueItems,
                _ => return Ok(None),
            },
            "required" => Kw::Required(strings(v, at)?),
            "minimum" => Kw::Minimum {
                limit: number(v, at)?,
                exclusive: matches!(parent.get("exclusiveMinimum"), Some(Json::Bool(true))),
            },
            "maximum" => Kw::Maximum {
                limit: number(v, at)?,
                exclusive: matches!(parent.get("exclusiveMaximum"), Some(Json::Bool(true))),
            },
            "pattern" => {
                let source = text(v, at)?.to_string();
                let re = pyre::compile(&source).map_err(|e| format!("{at}: {e}"))?;
                Kw::Pattern { source, re }
            }
            "format" => match text(v, at)? {
                "date" => Kw::DateFormat,
                _ => return Ok(None),
            },
            "not" | "dependencies" | "multipleOf" => {
                return Err(format!("{at}: keyword {key} is not implemented"))
            }
            _ => return Ok(None),
        };
        Ok(Some(kw))
    }

    fn list(&mut self, v: &'j Json, at: &str) -> Result<Vec<NodeId>, String> {
        let items = array(v, at)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, s) in items.iter().enumerate() {
            out.push(self.node(s, &format!("{at}/{i}"))?);
        }
        Ok(out)
    }

    fn named(&mut self, v: &'j Json, at: &str) -> Result<Vec<(String, NodeId)>, String> {
        let m = v
            .as_object()
            .ok_or_else(|| format!("{at}: not an object"))?;
        let mut out = Vec::with_capacity(m.len());
        for (name, s) in m {
            out.push((name.clone(), self.node(s, &format!("{at}/{name}"))?));
        }
        Ok(out)
    }

    fn patterned(&mut self, v: &'j Json, at: &str) -> Result<Vec<(Regex, NodeId)>, String> {
        let named = self.named(v, at)?;
        named
            .into_iter()
            .map(|(p, id)| Ok((pyre::compile(&p).map_err(|e| format!("{at}: {e}"))?, id)))
            .collect()
    }

    fn extra(&mut self, v: &'j Json, parent: &'j Json, at: &str) -> Result<Extra, String> {
        let names = parent
            .get("properties")
            .and_then(Json::as_object)
            .map(|m| m.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        let mut pattern_names: Vec<String> = parent
            .get("patternProperties")
            .and_then(Json::as_object)
            .map(|m| m.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default();
        let joined = pattern_names.join("|");
        let patterns = match joined.is_empty() {
            true => None,
            false => Some(pyre::compile(&joined).map_err(|e| format!("{at}: {e}"))?),
        };
        pattern_names.sort();
        Ok(Extra {
            names,
            patterns,
            pattern_names,
            rule: self.rule(v, at)?,
        })
    }

    fn rule(&mut self, v: &'j Json, at: &str) -> Result<Rule, String> {
        Ok(match v {
            Json::Bool(true) => Rule::Allow,
            Json::Bool(false) => Rule::Deny,
            Json::Object(_) => Rule::Schema(self.node(v, at)?),
            _ => return Err(format!("{at}: must be a boolean or a schema")),
        })
    }

    fn items(&mut self, v: &'j Json, at: &str) -> Result<Kw, String> {
        Ok(match v {
            Json::Object(_) => Kw::Items(self.node(v, at)?),
            Json::Array(_) => Kw::TupleItems(self.list(v, at)?),
            _ => return Err(format!("{at}: items must be a schema or a list of them")),
        })
    }
}

fn types(v: &Json) -> Result<Vec<Ty>, String> {
    let one = |s: &str| {
        Ok(match s {
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "object" => Ty::Object,
            "array" => Ty::Array,
            "boolean" => Ty::Boolean,
            "null" => Ty::Null,
            other => return Err(format!("unknown type {other:?}")),
        })
    };
    match v {
        Json::Str(s) => Ok(vec![one(s)?]),
        Json::Array(a) => a
            .iter()
            .map(|t| {
                t.as_str()
                    .ok_or("a type must be a string".to_string())
                    .and_then(one)
            })
            .collect(),
        _ => Err("type must be a string or a list".into()),
    }
}

fn text<'v>(v: &'v Json, at: &str) -> Result<&'v str, String> {
    v.as_str().ok_or_else(|| format!("{at}: not a string"))
}

fn array<'v>(v: &'v Json, at: &str) -> Result<&'v [Json], String> {
    v.as_array().ok_or_else(|| format!("{at}: not an array"))
}

fn strings(v: &Json, at: &str) -> Result<Vec<String>, String> {
    array(v, at)?
        .iter()
        .map(|s| text(s, at).map(str::to_string))
        .collect()
}

fn count(v: &Json, at: &str) -> Result<usize, String> {
    match v {
        Json::Int(i) => usize::try_from(*i).map_err(|_| format!("{at}: not a count")),
        _ => Err(format!("{at}: not an integer")),
    }
}

fn number(v: &Json, at: &str) -> Result<Py, String> {
    match v {
        Json::Int(_) | Json::Float(_) => Ok(v.to_py()),
        _ => Err(format!("{at}: not a number")),
    }
}
