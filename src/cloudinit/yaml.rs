//! YAML read as cloud-init reads it. cloud-init loads user-data with PyYAML's safe loader,
//! which resolves plain scalars by YAML 1.1 rules: `yes`/`on` are booleans, `0644` is octal,
//! `1:30` is 90, `1e5` is a string. Checking a config against the schema only means
//! something if its values are the values the node will see, so this loader resolves the
//! same way (PyYAML's implicit resolvers), and remembers the line of every key and item so
//! a finding can point at it.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based; 0 when the problem has no one place.
    pub line: usize,
    pub message: String,
}

/// A document and, for each node, the line it starts on, keyed by JSON pointer (`""` for
/// the root, `/write_files/0/path`).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub value: Value,
    pub lines: BTreeMap<String, usize>,
}

pub fn load(text: &str) -> Result<Loaded, YamlError> {
    load_with(text, false)
}

/// Reads as PyYAML does where `load` refuses: a repeated key keeps its last value, `<<` is
/// an ordinary key, an unknown tag leaves its scalar a string. For describing files other
/// tools wrote (`explain`), not for checking what a user asks for.
pub fn load_lenient(text: &str) -> Result<Loaded, YamlError> {
    load_with(text, true)
}

fn load_with(text: &str, lenient: bool) -> Result<Loaded, YamlError> {
    let mut l = Loader {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        lines: BTreeMap::new(),
        lenient,
    };
    let mut value = Value::Null;
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
                value = l.node(ev, span, "")?;
            }
            other => {
                return Err(YamlError {
                    line: span.start.line(),
                    message: format!("unexpected {other:?}"),
                })
            }
        }
    }
    Ok(Loaded {
        value,
        lines: l.lines,
    })
}

struct Loader<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
    lines: BTreeMap<String, usize>,
    lenient: bool,
}

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

    fn node(&mut self, ev: Event<'a>, span: Span, ptr: &str) -> Result<Value, YamlError> {
        let line = span.start.line();
        self.lines.entry(ptr.to_string()).or_insert(line);
        let err = |message: String| YamlError { line, message };
        let (value, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = match resolve(&text, style, tag.as_deref()) {
                    Ok(v) => v,
                    Err(_) if self.lenient => Value::String(text.to_string()),
                    Err(e) => return Err(err(e)),
                };
                (v, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                if !self.lenient {
                    check_collection_tag(tag.as_deref(), "seq").map_err(err)?;
                }
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let p = format!("{ptr}/{}", items.len());
                    items.push(self.node(ev, span, &p)?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                if !self.lenient {
                    check_collection_tag(tag.as_deref(), "map").map_err(err)?;
                }
                let mut map = Map::new();
                loop {
                    let (ev, kspan) = self.next()?;
                    let key_line = kspan.start.line();
                    let key = match ev {
                        Event::MappingEnd => break,
                        Event::Scalar(text, ..) => text.into_owned(),
                        Event::Alias(_) => {
                            return Err(YamlError {
                                line: key_line,
                                message: "an alias as a mapping key is not supported".into(),
                            })
                        }
                        _ => return Err(YamlError {
                            line: key_line,
                            message:
                                "a mapping or list as a mapping key: cloud-config keys are names"
                                    .into(),
                        }),
                    };
                    if key == "<<" && !self.lenient {
                        return Err(YamlError {
                            line: key_line,
                            message: "YAML merge keys (`<<`) are not supported: write the keys out"
                                .into(),
                        });
                    }
                    if map.contains_key(&key) && !self.lenient {
                        return Err(YamlError {
                            line: key_line,
                            message: format!(
                                "key `{key}` appears twice in one mapping (cloud-init would silently keep only the last)"
                            ),
                        });
                    }
                    let p = format!("{ptr}/{}", escape_pointer(&key));
                    self.lines.insert(p.clone(), key_line);
                    let (ev, vspan) = self.next()?;
                    let v = self.node(ev, vspan, &p)?;
                    map.insert(key, v);
                }
                (Value::Object(map), anchor)
            }
            Event::Alias(id) => {
                return self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| err("an alias to an unknown anchor".into()))
            }
            other => return Err(err(format!("unexpected {other:?}"))),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }
}

/// RFC 6901: `~` and `/` inside a key.
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn is_core_tag(tag: &Tag, name: &str) -> bool {
    (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:") && tag.suffix == name
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

fn check_collection_tag(tag: Option<&Tag>, kind: &str) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if is_core_tag(t, kind) => Ok(()),
        Some(t) => Err(format!(
            "tag {} is not supported in cloud-config",
            show_tag(t)
        )),
    }
}

/// The value of a scalar: quoted ones are strings, plain ones go through PyYAML's resolvers.
fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(t) = tag {
        let forced = ["str", "int", "float", "bool", "null"]
            .into_iter()
            .find(|n| is_core_tag(t, n))
            .ok_or_else(|| format!("tag {} is not supported in cloud-config", show_tag(t)))?;
        if forced == "str" {
            return Ok(Value::String(text.to_string()));
        }
        let v = resolve_plain(text);
        let kind = match &v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            _ => "str",
        };
        // `!!float 3` is a float in PyYAML; JSON has one number type, so ints pass.
        return if kind == forced || (forced == "float" && kind == "int") {
            Ok(v)
        } else {
            Err(format!("`{text}` is not a valid !!{forced}"))
        };
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    Ok(resolve_plain(text))
}

struct Resolvers {
    boolean: Regex,
    int: Regex,
    float: Regex,
}

fn resolvers() -> &'static Resolvers {
    static R: OnceLock<Resolvers> = OnceLock::new();
    R.get_or_init(|| Resolvers {
        boolean: Regex::new(
            "^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        )
        .expect("static regex"),
        int: Regex::new(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        )
        .expect("static regex"),
        float: Regex::new(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        )
        .expect("static regex"),
    })
}

/// PyYAML's implicit resolution of a plain scalar (YAML 1.1). Timestamps stay strings:
/// no cloud-config key takes a date.
pub fn resolve_plain(text: &str) -> Value {
    let r = resolvers();
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if r.boolean.is_match(text) {
        return Value::Bool(matches!(
            text,
            "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON"
        ));
    }
    if r.int.is_match(text) {
        if let Some(n) = parse_int(text) {
            return Value::Number(n);
        }
    }
    if r.float.is_match(text) {
        if let Some(n) = parse_float(text).and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

fn split_sign(text: &str) -> (bool, String) {
    let digits = text.replace('_', "");
    match digits.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, digits.trim_start_matches('+').to_string()),
    }
}

fn parse_int(text: &str) -> Option<Number> {
    let (neg, d) = split_sign(text);
    let magnitude: i128 = if let Some(b) = d.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(h) = d.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if d.contains(':') {
        d.split(':').try_fold(0i128, |acc, part| {
            Some(acc * 60 + part.parse::<i128>().ok()?)
        })?
    } else if d.len() > 1 && d.starts_with('0') {
        i128::from_str_radix(&d[1..], 8).ok()?
    } else {
        d.parse().ok()?
    };
    let v = if neg { -magnitude } else { magnitude };
    i64::try_from(v)
        .map(Number::from)
        .or_else(|_| u64::try_from(v).map(Number::from))
        .ok()
}

fn parse_float(text: &str) -> Option<f64> {
    let (neg, d) = split_sign(text);
    let lower = d.to_ascii_lowercase();
    // JSON has no infinities or NaN: such values stay strings (none is a valid
    // cloud-config value anyway).
    if lower == ".inf" || lower == ".nan" {
        return None;
    }
    let magnitude = if d.contains(':') {
        let mut parts: Vec<&str> = d.split(':').collect();
        let last: f64 = parts.pop()?.parse().ok()?;
        parts
            .iter()
            .try_fold(0f64, |acc, p| Some(acc * 60.0 + p.parse::<f64>().ok()?))?
            * 60.0
            + last
    } else {
        d.parse().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_resolve_as_pyyaml_does() {
        for (text, want) in [
            ("yes", json!(true)),
            ("Off", json!(false)),
            ("y", json!("y")),
            ("0644", json!(420)),
            ("0x1F", json!(31)),
            ("0b101", json!(5)),
            ("1_000", json!(1000)),
            ("1:30", json!(90)),
            ("-7", json!(-7)),
            ("1.5", json!(1.5)),
            ("1e5", json!("1e5")),
            ("1.0e+3", json!(1000.0)),
            ("~", json!(null)),
            ("", json!(null)),
            ("08", json!("08")),
            ("2015-04-23", json!("2015-04-23")),
            (".inf", json!(".inf")),
        ] {
            assert_eq!(resolve_plain(text), want, "{text}");
        }
    }

    #[test]
    fn loads_documents_with_lines_and_refuses_what_cloud_init_would_misread() {
        let l = load("#cloud-config\na: 'yes'\nb:\n  - x\n  - {c: on}\n").unwrap();
        assert_eq!(l.value, json!({"a": "yes", "b": ["x", {"c": true}]}));
        assert_eq!(l.lines["/a"], 2);
        assert_eq!(l.lines["/b/1/c"], 5);
        let dup = load("a: 1\na: 2\n").unwrap_err();
        assert_eq!(dup.line, 2);
        assert!(dup.message.contains("twice"), "{dup:?}");
        assert!(load("a: [1\n").is_err());
        assert!(load("a: !!binary aGk=\n")
            .unwrap_err()
            .message
            .contains("!!binary"));
        assert!(load("a: 1\n---\nb: 2\n").is_err());
        let alias = load("x: &k [1, 2]\ny: *k\n").unwrap();
        assert_eq!(alias.value["y"], json!([1, 2]));
        assert_eq!(load("a: !!str 0644\n").unwrap().value, json!({"a": "0644"}));
    }
}
