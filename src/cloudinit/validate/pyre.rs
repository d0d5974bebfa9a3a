//! Python `re` patterns (as the schema's `pattern` and `patternProperties` hold them) in the
//! `regex` crate's syntax, for the subset whose meaning is the same in both. Anything outside
//! it is refused when the schema is compiled, so a schema refresh cannot silently change
//! what a pattern accepts.
//!
//! The one difference the subset needs translated: without `re.MULTILINE`, Python's `$`
//! matches at the end *or just before a final newline* (`re.search("^a$", "a\n")` matches);
//! the crate's `$` only at the end. A `$` that ends the pattern or one of its top-level
//! branches becomes `(?:\n?\z)`, which means the same for a search; any other `$` is
//! refused.

use regex::Regex;

/// The crate's regex for Python pattern `py`, or why it has none.
pub(crate) fn compile(py: &str) -> Result<Regex, String> {
    let translated = translate(py).map_err(|e| format!("pattern {py:?}: {e}"))?;
    Regex::new(&translated).map_err(|e| format!("pattern {py:?}: {e}"))
}

fn translate(py: &str) -> Result<String, String> {
    let chars: Vec<char> = py.chars().collect();
    let mut out = String::with_capacity(py.len() + 8);
    let mut in_class = false;
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => {
                let e = next.ok_or("ends in a backslash")?;
                out.push_str(&escape(e)?);
                i += 1;
            }
            _ if in_class => out.push_str(&class_char(c, next, &mut in_class)?),
            '[' => {
                if matches!(next, Some(']')) || chars.get(i + 1..i + 3) == Some(&['^', ']']) {
                    return Err("a class starting with `]` is not supported".into());
                }
                in_class = true;
                out.push('[');
            }
            '$' => {
                if depth > 0 || !matches!(next, None | Some('|')) {
                    return Err("`$` before more pattern is not supported".into());
                }
                out.push_str(r"(?:\n?\z)");
            }
            '(' if next == Some('?') => {
                let rest: String = chars[i..].iter().take(4).collect();
                if !(rest.starts_with("(?:") || rest.starts_with("(?P<")) {
                    return Err("groups other than `(?:` and `(?P<` are not supported".into());
                }
                depth += 1;
                out.push('(');
            }
            '(' => {
                depth += 1;
                out.push('(');
            }
            ')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced `)`")?;
                out.push(')');
            }
            '{' => {
                if !is_quantifier(&chars[i..]) {
                    return Err("a literal `{` is not supported".into());
                }
                out.push('{');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if in_class {
        return Err("unterminated character class".into());
    }
    Ok(out)
}

/// An escape outside or inside a class: the ones both dialects read alike.
fn escape(e: char) -> Result<String, String> {
    match e {
        'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'b' | 'B' | 'n' | 't' | 'r' | 'f' | 'v' => {
            Ok(format!("\\{e}"))
        }
        'A' => Ok(r"\A".into()),
        'Z' => Ok(r"\z".into()),
        c if c.is_ascii_punctuation() || c == ' ' => Ok(regex::escape(&c.to_string())),
        c => Err(format!("escape `\\{c}` is not supported")),
    }
}

/// A character inside `[...]`: the crate reads `[`, `&&`, `--` and `~~` there as set
/// operations, Python as literals.
fn class_char(c: char, next: Option<char>, in_class: &mut bool) -> Result<String, String> {
    match c {
        ']' => {
            *in_class = false;
            Ok("]".into())
        }
        '[' | '&' | '~' => Ok(format!("\\{c}")),
        '-' if next == Some('-') => Err("`--` in a class is not supported".into()),
        _ => Ok(c.to_string()),
    }
}

/// Whether `{` starts a `{m}`, `{m,}` or `{m,n}` repetition (Python reads any other `{`
/// as a literal, the crate refuses it).
fn is_quantifier(rest: &[char]) -> bool {
    let Some(end) = rest.iter().position(|&c| c == '}') else {
        return false;
    };
    let inner: String = rest[1..end].iter().collect();
    let mut parts = inner.splitn(2, ',');
    let low = parts.next().unwrap_or("");
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(low)
        && parts
            .next()
            .is_none_or(|high| high.is_empty() || digits(high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_allows_a_final_newline_as_python_does() {
        let re = compile("^.+$").unwrap();
        assert!(re.is_match("abc"));
        assert!(re.is_match("abc\n"));
        assert!(!re.is_match("a\nb"));
        assert!(!re.is_match("\n"));
        assert!(!re.is_match(""));
        let joined = compile("^(ecdsa|rsa)_(public|private)$|^[0-9a-zA-Z_]+$").unwrap();
        assert!(joined.is_match("rsa_public\n"));
        assert!(joined.is_match("x_1"));
        assert!(!joined.is_match("x-1"));
    }

    #[test]
    fn classes_and_ranges_mean_what_python_means() {
        // ` -_` is a range from space to underscore, in both.
        let re = compile("^[0-9a-zA-Z -_]+$").unwrap();
        assert!(re.is_match("my repo.1"));
        assert!(!re.is_match("a~b"));
        assert!(compile("^[-_0-9a-zA-Z]+(,[-_0-9a-zA-Z]+)*$")
            .unwrap()
            .is_match("a-b,c_d"));
        assert!(compile("^\\+?[0-9]+$").unwrap().is_match("+12"));
        assert!(compile("^([0-9]+)?\\.?[0-9]+[BKMGT]$")
            .unwrap()
            .is_match("1.5G"));
        assert!(compile("[a&&b]").unwrap().is_match("&"));
    }

    #[test]
    fn refuses_what_it_cannot_translate() {
        for p in [
            "a$b", "(a$)", "(a$|b)c", "(?=x)", "(?i)a", "\\1", "a{", "[]a]", "[a--b]", "\\0",
        ] {
            assert!(compile(p).is_err(), "{p}");
        }
        assert!(compile("a{2,3}").unwrap().is_match("aa"));
    }
}
