//! Text a node supplied (host names, versions, error bodies, certificate names) made safe to
//! print: a terminal obeys control characters, so an error body holding `ESC [2J` would
//! clear the screen and could forge lines of the report.

/// The most characters of one node-supplied value kept in a report.
pub const MAX_CHARS: usize = 200;

/// `s` with every control character (C0, DEL, C1) and every bidirectional override written
/// as an escape (`\x1b`, `\u{202e}`), cut to `max` characters with `…` when longer.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (kept, c) in s.chars().enumerate() {
        if kept >= max {
            out.push('…');
            break;
        }
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_c1(c) || is_bidi(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn is_c1(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// Characters that reorder the text around them when displayed.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_long_text_cut() {
        assert_eq!(clean("rpi1", 10), "rpi1");
        assert_eq!(clean("a\x1b[2Jb", 10), "a\\x1b[2Jb");
        assert_eq!(clean("x\u{9b}31m\u{202e}", 10), "x\\u{9b}31m\\u{202e}");
        assert_eq!(clean("l1\nl2\r\t\x7f", 20), "l1\\nl2\\r\\t\\x7f");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("ünï", 3), "ünï");
        // Cleaning is idempotent apart from the cut: safe to apply twice.
        let once = clean("\x1b]0;title\x07", 50);
        assert_eq!(clean(&once, 50), once);
        assert!(!once.chars().any(char::is_control));
    }
}
