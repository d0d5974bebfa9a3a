//! cloud-init's own cloud-config JSON schema, shipped in `schemas/cloud-init/` and compiled
//! in, so a config is checked offline against exactly the rules of a known cloud-init, and
//! by the same validator semantics (see [`super::validate`]).

use std::sync::OnceLock;

use serde_json::Value;

use super::py::{Py, PyInt};
use super::validate::{self, Schema};

const SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schemas/cloud-init/schema-cloud-config-v1.json"
));
const VERSION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schemas/cloud-init/VERSION"
));

/// The cloud-init release whose schema this is.
pub fn version() -> &'static str {
    VERSION.trim()
}

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::parse(SCHEMA).expect("the shipped schema compiles"))
}

/// One thing the schema says about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// JSON pointer of the value (`/write_files/0/contnet`), for line lookup; a dict key
    /// is `escape_pointer` of its Python `str()`, a list item its index.
    pub pointer: String,
    /// The same place as a key path (`write_files[0].contnet`; a key that is not a string
    /// in brackets by its `str()`: `snap.commands[0]` for int key 0).
    pub path: String,
    /// Why, without the value itself (a cloud-config may hold passwords).
    pub reason: String,
}

/// Errors (the document breaks the schema, or would make cloud-init's check crash) and
/// warnings (top-level keys this cloud-init does not know: it ignores them, so they are
/// worth a word, not a refusal), each in document order.
pub fn check(doc: &Py) -> (Vec<Finding>, Vec<Finding>) {
    validate::check(schema(), doc)
}

/// [`check`] of a JSON document. A stopgap while callers still hold `serde_json` values.
pub fn check_json(doc: &Value) -> (Vec<Finding>, Vec<Finding>) {
    check(&from_json(doc))
}

/// What Python's `json.load` would give.
fn from_json(v: &Value) -> Py {
    match v {
        Value::Null => Py::None,
        Value::Bool(b) => Py::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Py::Int(PyInt::Small(i.into())),
            (None, Some(u)) => Py::Int(PyInt::Small(u.into())),
            _ => Py::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Py::Str(s.clone()),
        Value::Array(a) => Py::List(a.iter().map(from_json).collect()),
        Value::Object(m) => Py::Dict(
            m.iter()
                .map(|(k, v)| (Py::Str(k.clone()), from_json(v)))
                .collect(),
        ),
    }
}
