//! House rules that no compiler checks, read from the source tree itself:
//! an error's message never repeats its cause (the cause is printed once, from the source
//! chain), and the library's top-level modules use one another without a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let name = |p: &Path| p.strip_prefix(&root).unwrap().display().to_string();
    files
        .iter()
        .map(|p| (name(p), fs::read_to_string(p).unwrap()))
        .collect()
}

/// The text of one `#[error("...")]` message and the variant that follows it, up to the next
/// variant's attribute or the end of the enum.
struct Variant<'a> {
    message: &'a str,
    body: &'a str,
}

fn variants(text: &str) -> Vec<Variant<'_>> {
    let starts: Vec<usize> = text.match_indices("#[error(").map(|(i, _)| i).collect();
    let mut out = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let open = start + "#[error(".len();
        let Some(close) = text[open..].find(")]\n").map(|c| open + c) else {
            continue;
        };
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        let body = &text[close..end.max(close)];
        let body = body.split("\n}").next().unwrap_or(body);
        out.push(Variant {
            message: &text[open..close],
            body,
        });
    }
    out
}

/// The names by which a message could print the variant's cause: `{source}` for a field named
/// `source`, the field's name after `#[source]`/`#[from]`, or `{N}` for a tuple field.
fn cause_names(body: &str) -> Vec<String> {
    let mut names = Vec::new();
    if body.contains("source:") {
        names.push("source".to_string());
    }
    for attr in ["#[source]", "#[from]"] {
        for (i, _) in body.match_indices(attr) {
            let after = body[i + attr.len()..].trim_start();
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let rest = after[ident.len()..].trim_start();
            if rest.starts_with(':') && !rest.starts_with("::") {
                names.push(ident);
            } else if let Some(paren) = body[..i].rfind('(') {
                // A tuple field: its index is the number of commas before it in the parens.
                names.push(body[paren..i].matches(',').count().to_string());
            }
        }
    }
    names
}

#[test]
fn error_messages_do_not_repeat_their_cause() {
    let mut offenders = Vec::new();
    for (file, text) in sources() {
        for v in variants(&text) {
            if v.message.trim() == "transparent" {
                continue;
            }
            for name in cause_names(v.body) {
                let shown = format!("{{{name}}}");
                let shown_fmt = format!("{{{name}:");
                if v.message.contains(&shown) || v.message.contains(&shown_fmt) {
                    offenders.push(format!("{file}: #[error({})] prints {shown}", v.message));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "messages that print their own cause (the chain prints it again):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_cause_finder_sees_each_kind_of_field() {
    let named =
        "#[error(\"reading {path}: {source}\")]\n    Read { path: PathBuf, source: io::Error },\n}";
    let tuple = "#[error(\"bad: {0}\")]\n    Bad(#[from] io::Error),\n}";
    let second = "#[error(\"bad {0}: {1}\")]\n    Bad(String, #[source] io::Error),\n}";
    let plain = "#[error(\"bad {0}\")]\n    Bad(String),\n}";
    let found = |t: &str| cause_names(variants(t)[0].body);
    assert_eq!(found(named), ["source"]);
    assert_eq!(found(tuple), ["0"]);
    assert_eq!(found(second), ["1"]);
    assert!(found(plain).is_empty());
}

/// Which top-level modules of the crate each top-level module names (test code left out).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in sources() {
        let top = file
            .split(['/', '.'])
            .next()
            .unwrap_or_default()
            .to_string();
        if top == "main" || top == "lib" || top == "cli" {
            continue;
        }
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = graph.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != top {
                deps.insert(name);
            }
        }
    }
    graph
}

fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|k| visit(k, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_form_no_circle() {
    let graph = module_graph();
    assert!(graph.contains_key("probe") && graph.contains_key("flavour"));
    if let Some(circle) = find_circle(&graph) {
        panic!(
            "modules use one another in a circle: {}",
            circle.join(" -> ")
        );
    }
}

#[test]
fn the_circle_finder_finds_one() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_circle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_circle(&graph), None);
}
