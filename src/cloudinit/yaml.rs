//! YAML read as cloud-init reads it: PyYAML's `SafeLoader`, its types included (see
//! [`super::resolve`] for scalars), `<<` merge keys, `!!set`/`!!omap`/`!!pairs`, and the
//! line of every key and item so a finding can point at it.
//!
//! Bounded where PyYAML is not: aliases expand within a budget (PyYAML shares them, but
//! every consumer on the node walks the expansion), and nesting stops well before the
//! depth at which PyYAML's recursive composer fails and cloud-init drops all user-data.

use std::collections::{BTreeMap, HashMap};

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::py::Py;
use super::resolve::{self, CoreTag};

/// Levels of nesting accepted. PyYAML gives up at about 490 in a bare interpreter, fewer
/// inside cloud-init; no real cloud-config comes near this.
pub const MAX_DEPTH: usize = 100;
/// Values the document may expand to, aliases counted at their full size.
pub const NODE_BUDGET: usize = 100_000;
/// PyYAML's limit for an implicit (`key: value`) key; longer ones need `? key`.
const MAX_IMPLICIT_KEY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based; 0 when the problem has no one place.
    pub line: usize,
    pub message: String,
}

/// A document and, for each node, the line it starts on, keyed by pointer (`""` for the
/// root, `/write_files/0/path`; a key's segment is Python's `str()` of it).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub value: Py,
    pub lines: BTreeMap<String, usize>,
}

/// Reads `text` as PyYAML would, refusing what it refuses, and also a key repeated in one
/// mapping (judged on the resolved keys: `0:` and `00:` are one key, `1:` and `"1":` two),
/// which PyYAML silently resolves to the last value.
pub fn load(text: &str) -> Result<Loaded, YamlError> {
    load_with(text, false)
}

/// As PyYAML does where `load` refuses: a repeated key keeps its last value. For reading
/// files other tools wrote (`explain`).
pub fn load_lenient(text: &str) -> Result<Loaded, YamlError> {
    load_with(text, true)
}

fn load_with(text: &str, lenient: bool) -> Result<Loaded, YamlError> {
    let mut l = Loader {
        text,
        chars: None,
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        lines: BTreeMap::new(),
        lenient,
        nodes: 0,
    };
    let mut value = Py::None;
    let mut documents = 0;
    loop {
        let (ev, span) = l.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        line: span.start.line(),
                        message: "a second YAML document (`---`): cloud-init reads one".into(),
                    });
                }
                let (ev, span) = l.next()?;
                value = l.node(ev, span, "", 0)?;
            }
            other => return Err(err_at(&span, format!("unexpected {other:?}"))),
        }
    }
    Ok(Loaded {
        value,
        lines: l.lines,
    })
}

fn err_at(span: &Span, message: String) -> YamlError {
    YamlError {
        line: span.start.line(),
        message,
    }
}

struct Anchor {
    value: Py,
    nodes: usize,
    line: usize,
}

struct Loader<'a> {
    text: &'a str,
    /// The text as chars, made on first need (spans count chars).
    chars: Option<Vec<char>>,
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Anchor>,
    lines: BTreeMap<String, usize>,
    lenient: bool,
    /// Values made so far, aliases at their expanded size.
    nodes: usize,
}

/// One mapping entry before the mapping is built: PyYAML builds a dict from these in
/// order, the last value of a key winning at the key's first position.
type Pairs = Vec<(Py, Py)>;

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.events.next() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(YamlError {
                line: e.marker().line(),
                message: e.info().to_string(),
            }),
            None => Err(YamlError {
                line: 0,
                message: "unexpected end of input".into(),
            }),
        }
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > NODE_BUDGET {
            return Err(err_at(
                span,
                format!("the document expands to more than {NODE_BUDGET} values"),
            ));
        }
        Ok(())
    }

    fn node(
        &mut self,
        ev: Event<'a>,
        span: Span,
        ptr: &str,
        depth: usize,
    ) -> Result<Py, YamlError> {
        if depth > MAX_DEPTH {
            return Err(err_at(&span, format!(
                "nested deeper than {MAX_DEPTH} levels: PyYAML (cloud-init's loader) fails on deep nesting and cloud-init would then drop all of the user-data"
            )));
        }
        if !ptr.ends_with("/?key") {
            self.lines
                .entry(ptr.to_string())
                .or_insert(span.start.line());
        }
        let before = self.nodes;
        self.count(1, &span)?;
        let (value, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => (
                scalar(&text, style, tag.as_deref()).map_err(|m| err_at(&span, m))?,
                anchor,
            ),
            Event::SequenceStart(anchor, tag) => {
                (self.sequence(tag.as_deref(), &span, ptr, depth)?, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                (self.mapping(tag.as_deref(), &span, ptr, depth)?, anchor)
            }
            Event::Alias(id) => return self.alias(id, &span),
            other => return Err(err_at(&span, format!("unexpected {other:?}"))),
        };
        if anchor > 0 {
            let nodes = self.nodes - before;
            let line = span.start.line();
            self.anchors.insert(
                anchor,
                Anchor {
                    value: value.clone(),
                    nodes,
                    line,
                },
            );
        }
        Ok(value)
    }

    fn alias(&mut self, id: usize, span: &Span) -> Result<Py, YamlError> {
        let Some(a) = self.anchors.get(&id) else {
            return Err(err_at(span, "an alias to an unknown anchor".into()));
        };
        let (nodes, line) = (a.nodes, a.line);
        if self.nodes.saturating_add(nodes) > NODE_BUDGET {
            let name = self.alias_name(span);
            return Err(err_at(span, format!(
                "alias *{name} (anchor &{name} on line {line}) expands the document past {NODE_BUDGET} values: an alias bomb, refused"
            )));
        }
        self.nodes += nodes;
        Ok(self.anchors[&id].value.clone())
    }

    /// The anchor name an alias event's span covers (`*name`).
    fn alias_name(&mut self, span: &Span) -> String {
        let text = self.text;
        let chars = self.chars.get_or_insert_with(|| text.chars().collect());
        let end = span.end.index().min(chars.len());
        let start = span.start.index().min(end);
        chars[start..end]
            .iter()
            .skip_while(|c| **c == '*')
            .take(64)
            .collect()
    }

    fn sequence(
        &mut self,
        tag: Option<&Tag>,
        span: &Span,
        ptr: &str,
        depth: usize,
    ) -> Result<Py, YamlError> {
        let kind = collection_tag(tag).map_err(|m| err_at(span, m))?;
        let mut items = Vec::new();
        loop {
            let (ev, item_span) = self.next()?;
            if matches!(ev, Event::SequenceEnd) {
                break;
            }
            let p = format!("{ptr}/{}", items.len());
            items.push(self.node(ev, item_span, &p, depth + 1)?);
        }
        match kind {
            None | Some(CoreTag::Seq) => Ok(Py::List(items)),
            Some(CoreTag::Omap | CoreTag::Pairs) => pairs_of(items).map_err(|m| err_at(span, m)),
            Some(_) => Err(err_at(span, "a mapping tag on a sequence".into())),
        }
    }

    fn mapping(
        &mut self,
        tag: Option<&Tag>,
        span: &Span,
        ptr: &str,
        depth: usize,
    ) -> Result<Py, YamlError> {
        let kind = collection_tag(tag).map_err(|m| err_at(span, m))?;
        let mut own: Pairs = Vec::new();
        let mut merged: Pairs = Vec::new();
        loop {
            let (ev, kspan) = self.next()?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge =
                matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            self.check_key_length(&ev, &kspan)?;
            let key = self.node(ev, kspan, &format!("{ptr}/?key"), depth + 1)?;
            let key_line = kspan.start.line();
            let p = format!("{ptr}/{}", escape_pointer(&key.key_text()));
            let (vev, vspan) = self.next()?;
            if is_merge {
                let v = self.node(vev, vspan, &p, depth + 1)?;
                merged.extend(merge_sources(v).map_err(|m| err_at(&vspan, m))?);
                continue;
            }
            if !key.hashable() {
                return Err(YamlError {
                    line: key_line,
                    message: format!(
                        "a {} as a mapping key (found unhashable key)",
                        key.type_name()
                    ),
                });
            }
            if !self.lenient && own.iter().any(|(k, _)| *k == key) {
                return Err(YamlError {
                    line: key_line,
                    message: format!(
                        "key `{}` appears twice in one mapping (PyYAML reads both as the same key and silently keeps only the last)",
                        key.key_text()
                    ),
                });
            }
            self.lines.insert(p.clone(), key_line);
            let v = self.node(vev, vspan, &p, depth + 1)?;
            own.push((key, v));
        }
        merged.extend(own);
        let dict = build_dict(merged);
        match kind {
            None | Some(CoreTag::Map) => Ok(Py::Dict(dict)),
            Some(CoreTag::Set) => Ok(Py::Set(dict.into_iter().map(|(k, _)| k).collect())),
            Some(_) => Err(err_at(span, "a sequence tag on a mapping".into())),
        }
    }

    /// PyYAML's scanner allows an implicit key of at most 1024 characters.
    fn check_key_length(&self, ev: &Event<'a>, span: &Span) -> Result<(), YamlError> {
        if !matches!(ev, Event::Scalar(..)) {
            return Ok(());
        }
        let len = span.end.index().saturating_sub(span.start.index());
        if len <= MAX_IMPLICIT_KEY {
            return Ok(());
        }
        // Only for a long key: finding its line is a scan of the text.
        let explicit = self
            .text
            .lines()
            .nth(span.start.line().saturating_sub(1))
            .is_some_and(|l| l.trim_start().starts_with('?'));
        if explicit {
            return Ok(());
        }
        Err(err_at(span, format!(
            "a key of more than {MAX_IMPLICIT_KEY} characters: PyYAML reads such a key only in the explicit form (`? key`)"
        )))
    }
}

/// PyYAML's dict construction: a repeated key (by Python equality) keeps its first
/// position and its last value.
fn build_dict(pairs: Pairs) -> Pairs {
    let mut out: Pairs = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        match out.iter_mut().find(|(k2, _)| *k2 == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// What a `<<` key brings: one mapping, or a list of them of which the first listed wins.
fn merge_sources(v: Py) -> Result<Pairs, String> {
    let bad = || "`<<` (a merge key) needs a mapping or a list of mappings".to_string();
    match v {
        Py::Dict(d) => Ok(d),
        Py::List(items) => {
            let mut out = Vec::new();
            for item in items.into_iter().rev() {
                match item {
                    Py::Dict(d) => out.extend(d),
                    _ => return Err(bad()),
                }
            }
            Ok(out)
        }
        _ => Err(bad()),
    }
}

/// `!!omap`/`!!pairs`: a list of one-key mappings, as a list of tuples.
fn pairs_of(items: Vec<Py>) -> Result<Py, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Py::Dict(mut d) if d.len() == 1 => {
                let (k, v) = d.pop().expect("one entry");
                out.push(Py::Tuple(vec![k, v]));
            }
            _ => return Err("!!omap and !!pairs need a list of one-key mappings".into()),
        }
    }
    Ok(Py::List(out))
}

/// RFC 6901: `~` and `/` inside a key.
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A tag as written: `!!binary` rather than its expanded `tag:yaml.org,2002:binary`.
fn show_tag(t: &Tag) -> String {
    let handle = if t.handle == "tag:yaml.org,2002:" {
        "!!"
    } else {
        &t.handle
    };
    format!("{handle}{}", t.suffix)
}

/// The standard tag `t` names, or why SafeLoader has no constructor for it. `Ok(None)`
/// is the non-specific `!`.
fn core_tag(t: &Tag) -> Result<Option<CoreTag>, String> {
    if t.handle == "!" && t.suffix.is_empty() {
        return Ok(None);
    }
    let core = t.handle == "!!" || t.handle == "tag:yaml.org,2002:";
    core.then(|| CoreTag::from_suffix(&t.suffix))
        .flatten()
        .map(Some)
        .ok_or_else(|| {
            format!(
                "tag {}: cloud-init's loader (PyYAML's safe loader) has no constructor for it",
                show_tag(t)
            )
        })
}

fn collection_tag(tag: Option<&Tag>) -> Result<Option<CoreTag>, String> {
    match tag.map(core_tag).transpose()?.flatten() {
        Some(t) if t.is_scalar() => Err(format!("tag !!{t:?} on a collection").to_lowercase()),
        other => Ok(other),
    }
}

/// A scalar's value: a tag decides, else quoted is a string and plain goes through the
/// implicit resolvers.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Py, String> {
    match tag {
        Some(t) => match core_tag(t)? {
            None => Ok(Py::Str(text.to_string())),
            Some(c) if c.is_scalar() => resolve::construct(c, text),
            Some(_) => Err(format!("tag {} on a scalar", show_tag(t))),
        },
        None if style == ScalarStyle::Plain => resolve::plain(text),
        None => Ok(Py::Str(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudinit::py::PyInt;

    fn int(v: i128) -> Py {
        Py::Int(PyInt::Small(v))
    }

    #[test]
    fn loads_documents_with_types_and_lines() {
        let l = load("#cloud-config\na: 'yes'\nb:\n  - x\n  - {c: on}\n").unwrap();
        let b = l.value.get("b").unwrap().as_list().unwrap();
        assert_eq!(b[1].get("c"), Some(&Py::Bool(true)));
        assert_eq!(l.lines["/a"], 2);
        assert_eq!(l.lines["/b/1/c"], 5);
        let keys = load("snap:\n  commands:\n    0: a\n    10: b\n    2: c\n").unwrap();
        let cmds = keys.value.get("snap").unwrap().get("commands").unwrap();
        let ks: Vec<&Py> = cmds.as_dict().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(ks, [&int(0), &int(10), &int(2)]);
        assert_eq!(keys.lines["/snap/commands/10"], 4);
        let alias = load("x: &k [1, 2]\ny: *k\n").unwrap();
        assert_eq!(alias.value.get("y"), Some(&Py::List(vec![int(1), int(2)])));
        assert_eq!(
            load("a: !!str 0644\n").unwrap().value.get("a"),
            Some(&Py::str("0644"))
        );
        let bin = load("a: !!binary aGk=\n").unwrap();
        assert_eq!(bin.value.get("a"), Some(&Py::Bytes(b"hi".to_vec())));
        let set = load("s: !!set {a, b}\no: !!omap [x: 1]\n").unwrap();
        assert_eq!(set.value.get("s").unwrap().type_name(), "set");
        assert_eq!(
            set.value.get("o").unwrap().as_list().unwrap()[0].type_name(),
            "tuple"
        );
    }

    #[test]
    fn duplicates_are_judged_on_resolved_keys() {
        let dup = load("a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.line, 2);
        assert!(dup.message.contains("twice"), "{dup:?}");
        assert!(load("0: a\n00: b\n").is_err());
        assert!(load("1: a\ntrue: b\n").is_err());
        let two = load("1: a\n'1': b\n").unwrap();
        assert_eq!(two.value.as_dict().unwrap().len(), 2);
        let last = load_lenient("a: 1\na: 2\n").unwrap();
        assert_eq!(last.value.get("a"), Some(&int(2)));
    }

    #[test]
    fn merge_keys_follow_pyyaml() {
        let l =
            load("b: &b {x: 1, y: 1}\nc: &c {y: 2, z: 2}\nd:\n  <<: [*b, *c]\n  z: 3\n").unwrap();
        let d = l.value.get("d").unwrap();
        assert_eq!(d.get("x"), Some(&int(1)));
        assert_eq!(d.get("y"), Some(&int(1)), "the first listed source wins");
        assert_eq!(d.get("z"), Some(&int(3)), "explicit keys win");
        assert!(load("d:\n  <<: 1\n").is_err());
    }

    #[test]
    fn refuses_what_pyyaml_cannot_load_and_stays_bounded() {
        assert!(load("a: [1\n").is_err());
        assert!(load("a: 1\n---\nb: 2\n").is_err());
        assert!(load("a: !foo x\n").unwrap_err().message.contains("!foo"));
        assert!(load("a: !!python/object:os.system x\n").is_err());
        assert!(load("a: =\n").is_err());
        assert!(load("a: !!bool maybe\n").is_err());
        assert!(load("? [1]\n: x\n").is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = (b'a' + i - 1) as char;
            let n = (b'a' + i) as char;
            bomb.push_str(&format!(
                "{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            ));
        }
        let e = load(&bomb).unwrap_err();
        assert!(
            e.message.contains("alias *") && e.message.contains("anchor &"),
            "{e:?}"
        );
        let deep = format!("{}x{}", "[".repeat(5000), "]".repeat(5000));
        let e = load(&deep).unwrap_err();
        assert!(
            e.message.contains("nested deeper") || e.message.contains("recursion"),
            "{e:?}"
        );
        let block: String = (0..500).map(|i| format!("{}-\n", " ".repeat(i))).collect();
        assert!(load(&block).unwrap_err().message.contains("nested deeper"));
        let long = format!("{}: 1\n", "k".repeat(1100));
        assert!(load(&long).is_err());
        let explicit = format!("? {}\n: 1\n", "k".repeat(1100));
        assert!(load(&explicit).is_ok());
    }
}
