//! Writes a cloud-config document back as YAML that PyYAML reads to the same value: block
//! mappings and lists, every string quoted (so `"yes"` or `"0644"` stays a string), text with
//! line breaks as literal blocks, short lists of scalars in flow style.

use serde_json::{Map, Value};

use super::py::Py;
use super::resolve;

/// `#cloud-config`, then `comments` as `#` lines, then the document.
pub fn cloud_config(comments: &[String], doc: &Map<String, Value>) -> String {
    let mut out = String::from("#cloud-config\n");
    for c in comments {
        for line in c.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
    }
    map(&mut out, doc, 0);
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn map(out: &mut String, m: &Map<String, Value>, indent: usize) {
    for (k, v) in m {
        pad(out, indent);
        out.push_str(&key(k));
        out.push(':');
        value_after_key(out, v, indent);
    }
}

/// A value that follows `key:` on its line.
fn value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(out, m, indent + 2);
        }
        Value::Array(items) if !items.is_empty() && flow(items).is_none() => {
            out.push('\n');
            list(out, items, indent + 2);
        }
        _ => {
            out.push(' ');
            inline(out, v, indent + 2);
        }
    }
}

fn list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        match item {
            // The item's first key shares the `- ` line; the rest align under it.
            Value::Object(m) if !m.is_empty() => {
                let mut body = String::new();
                map(&mut body, m, indent + 2);
                out.push_str(&body[indent + 2..]);
            }
            Value::Array(inner) if !inner.is_empty() && flow(inner).is_none() => {
                let mut body = String::new();
                list(&mut body, inner, indent + 2);
                out.push_str(&body[indent + 2..]);
            }
            _ => inline(out, item, indent + 2),
        }
    }
}

/// A scalar, an empty collection, or a short flow list, then the line break (a literal
/// block brings its own lines, indented by `indent`).
fn inline(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(_) => out.push_str("{}"),
        Value::Array(items) => out.push_str(&flow(items).unwrap_or_else(|| "[]".into())),
        Value::String(s) if literal_ok(s) => {
            literal(out, s, indent);
            return;
        }
        _ => out.push_str(&scalar(v)),
    }
    out.push('\n');
}

/// A list of scalars that fits on one line, as `[a, b]`; `None` when it should be a block.
fn flow(items: &[Value]) -> Option<String> {
    if items
        .iter()
        .any(|v| v.is_object() || v.is_array() || v.as_str().is_some_and(|s| s.contains('\n')))
    {
        return None;
    }
    let s = format!(
        "[{}]",
        items.iter().map(scalar).collect::<Vec<_>>().join(", ")
    );
    (s.len() <= 72).then_some(s)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => {
            // PyYAML reads `1e20` as a string: a float needs its dot.
            let s = n.to_string();
            match s.split_once('e') {
                Some((m, e)) if !m.contains('.') => format!("{m}.0e{}", signed(e)),
                Some((m, e)) => format!("{m}e{}", signed(e)),
                None if !s.contains('.') => format!("{s}.0"),
                None => s,
            }
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(_) | Value::Object(_) => unreachable!("collections are not scalars"),
    }
}

/// YAML 1.1 wants a sign on a float's exponent.
fn signed(e: &str) -> String {
    if e.starts_with(['-', '+']) {
        e.to_string()
    } else {
        format!("+{e}")
    }
}

/// A key as plain text when PyYAML reads that back as the same string, else quoted.
fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !k.starts_with(['-', '.'])
        && matches!(resolve::plain(k), Ok(Py::Str(_)));
    if plain {
        k.to_string()
    } else {
        quoted(k)
    }
}

/// A double-quoted scalar. Escapes every character PyYAML would refuse or fold: controls,
/// C1 controls, the YAML 1.1 line separators, and the non-characters.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn needs_escape(c: char) -> bool {
    let u = c as u32;
    u < 0x20
        || (0x7f..=0x9f).contains(&u)
        || matches!(u, 0x2028 | 0x2029 | 0xfeff | 0xfffe | 0xffff)
}

/// Text with line breaks reads best as a literal block, when nothing in it needs escaping
/// and no line starts with a space or tab (which would need an indentation indicator).
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.trim_matches('\n').is_empty()
        && !s
            .chars()
            .any(|c| c != '\n' && (c == '\t' || needs_escape(c)))
        && s.lines().all(|l| !l.starts_with(' '))
}

fn literal(out: &mut String, s: &str, indent: usize) {
    let body = s.trim_end_matches('\n');
    let chomp = match s.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    out.push('|');
    out.push_str(chomp);
    out.push('\n');
    for line in s[..body.len()].split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    // Keep mode: the extra trailing line breaks are part of the value.
    for _ in 1..s.len() - body.len() {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::load;
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_written_reads_back_the_same() {
        let doc = json!({
            "hostname": "rpi1",
            "yes": "no",
            "odd key": {"0644": "0644", "empty": "", "list": [], "map": {}},
            "write_files": [
                {"path": "/etc/x", "content": "line 1\n\nline 3\n", "permissions": "0644"},
                {"path": "/y", "content": "no newline\nat end", "defer": true},
                {"path": "/z", "content": "keep\n\n\n", "owner": null}
            ],
            "runcmd": [["touch", "/tmp/a b"], "echo 'x: y' # not a comment", ["sh", "-c", "a\nb"]],
            "numbers": [1, -2, 1.5, 1e20, 0.000001],
            "odd": "tab\there \u{85} \u{2028} \"q\" \\",
            "lead": "  two spaces\nthen text\n",
            "nested": [[["deep", {"k": [1, 2]}]]],
            "long": ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccc"]
        });
        let text = cloud_config(
            &["a comment\nover two lines".into()],
            doc.as_object().unwrap(),
        );
        assert!(
            text.starts_with("#cloud-config\n# a comment\n# over two lines\n"),
            "{text}"
        );
        assert_eq!(load(&text).unwrap().value.to_json(), doc, "{text}");
    }
}
