//! cloud-init's own schema check, on the values PyYAML gives it: python-jsonschema 4.10.3's
//! `Draft4Validator` with cloud-init 25.1.4's changes (`get_jsonschema_validator` in
//! `cloudinit/config/schema.py`), run on [`Py`] values rather than JSON, so that what JSON
//! cannot say (an int key, an unquoted date, `!!binary`, a set, a big int) is judged as on
//! the node.
//!
//! What is mirrored, and where it is approximated:
//! - Types: Draft 4's, with bytes also a string ([`walk::is_type`]).
//! - `$ref` siblings are validated too: cloud-init's class keeps `create()`'s default of
//!   running every keyword, not Draft 4's "ignore siblings of `$ref`".
//! - Keys: properties by Python `==` (only a `str` key is a property); patterns by
//!   `re.search`, which raises on a key that is not a string, as does `sorted()` of unknown
//!   keys of mixed types. Such a crash is an error here (cloud-init's whole check would
//!   fail), reported with the key's place; the walk goes on past it, so the other errors are
//!   reported too. Python's `set` of unknown keys is walked in document order, not hash order.
//! - `oneOf`/`anyOf`: see [`combine`]. `deprecated`/`changed` only make notices: dropped.
//! - Formats: only `date` is checked (see [`date`]); `hostname` and `uri` need `fqdn` and
//!   `rfc3987`, which cloud-init's environment lacks, so they pass there and here.
//! - Patterns: Python `re` syntax, translated where the `regex` crate differs (see [`pyre`]).
//! - `uniqueItems`: every pair compared by `equal` (see [`equal`]); Python's sort shortcut
//!   can miss a duplicate among NaNs or sets (partial orders), which is not mirrored.
//! - Not mirrored: `sorted()` of the final error list raising on paths that mix int and
//!   str keys (it only ever happens when there are errors already, or between deprecation
//!   notices, which are not modelled).
//!
//! The walk recurses as deep as the schema goes (a handful of frames per level; the
//! shipped schema has no `$ref` cycle), never per document level beyond that; equality and
//! order of values recurse to the document's depth. `oneOf` re-walks a value once per form,
//! and the schema nests few, so the work stays a small multiple of the document's size.

mod array;
mod combine;
mod compile;
mod date;
mod equal;
mod json;
mod object;
mod pyre;
mod report;
mod scalar;
mod walk;

#[cfg(test)]
mod crosscheck;
#[cfg(test)]
mod tests;

pub(crate) use compile::Schema;

use super::py::Py;
use super::schema::Finding;
use walk::{At, Sink, Walker};

/// (errors, warnings) of `doc` under `schema`, in document order.
pub(crate) fn check(schema: &'static Schema, doc: &Py) -> (Vec<Finding>, Vec<Finding>) {
    let mut walker = Walker::new(schema);
    let mut sink = Sink::full();
    let _ = walker.node(doc, schema.root, &At::root(), &mut sink);
    report::findings(schema.root, &sink.errors, &walker.crashes)
}
