//! RFC 4716 public keys (`ssh-keygen -e`, commercial SSH, PuTTYgen's export): a
//! `---- BEGIN SSH2 PUBLIC KEY ----` block of `Tag: value` header lines (a line ending in
//! `\` goes on on the next) and a base64 body. The ssh-key crate reads only OpenSSH's
//! formats, and the format is small, so it is read here and turned into the OpenSSH line
//! (type from the blob, comment from the `Comment` header).

use base64::Engine;

pub const BEGIN: &str = "---- BEGIN SSH2 PUBLIC KEY ----";
pub const END: &str = "---- END SSH2 PUBLIC KEY ----";

/// A block's problem and the (1-based) line it is on.
#[derive(Debug, PartialEq, Eq)]
pub struct BlockError {
    pub line: usize,
    pub why: String,
}

/// Reads one block whose BEGIN line is `lines[begin]`. Returns the OpenSSH
/// `type base64 [comment]` line and the index of the END line.
pub fn parse_block(lines: &[&str], begin: usize) -> Result<(String, usize), BlockError> {
    let err = |i: usize, why: &str| BlockError {
        line: i + 1,
        why: why.to_string(),
    };
    let mut comment = String::new();
    let mut body = String::new();
    let mut i = begin + 1;
    while i < lines.len() {
        let line = lines[i].trim_end_matches('\r');
        if line.trim() == END {
            return finish(&body, &comment)
                .map(|l| (l, i))
                .map_err(|w| err(i, &w));
        }
        if line.contains(':') {
            if !body.is_empty() {
                return Err(err(i, "a header line after the key data"));
            }
            let start = i;
            let mut header = String::new();
            // `\` at the end of a line continues the header on the next line.
            let mut cur = line;
            while let Some(head) = cur.strip_suffix('\\') {
                header.push_str(head);
                i += 1;
                cur = lines
                    .get(i)
                    .map(|l| l.trim_end_matches('\r'))
                    .ok_or_else(|| err(start, "a header continues past the end of the file"))?;
            }
            header.push_str(cur);
            let (tag, value) = header.split_once(':').expect("holds a colon");
            if tag.is_empty() || tag.len() > 64 || !tag.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(err(
                    start,
                    "a header tag must be 1 to 64 printable characters",
                ));
            }
            if tag.eq_ignore_ascii_case("comment") {
                comment = unquote(value.trim()).to_string();
            }
        } else if !line.trim().is_empty() {
            let chunk = line.trim();
            if !chunk
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            {
                return Err(err(i, "the key data is not base64"));
            }
            body.push_str(chunk);
        }
        i += 1;
    }
    Err(err(begin, &format!("the block has no \"{END}\" line")))
}

/// `"a b"` → `a b`; an unquoted value as it is.
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// The OpenSSH line for the body, checked as every OpenSSH line is.
fn finish(body: &str, comment: &str) -> Result<String, String> {
    if body.is_empty() {
        return Err("the block holds no key data".into());
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| format!("the key data is not valid base64 ({e})"))?;
    let kind = raw
        .get(..4)
        .map(|l| u32::from_be_bytes(l.try_into().expect("4 bytes")) as usize)
        .and_then(|len| raw.get(4..4 + len))
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or("the key data does not start with a key type")?;
    // Control characters would end the authorized_keys line early.
    let comment: String = comment.chars().filter(|c| !c.is_control()).collect();
    let line = format!("{kind} {body} {comment}");
    super::parse_line(line.trim_end()).map(|k| k.line())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIEz31qc3YGk8h4GLEMKw++ZvRrOxQrNwrEopQIHwAtmi";

    fn parse(text: &str) -> Result<String, BlockError> {
        let lines: Vec<&str> = text.lines().collect();
        parse_block(&lines, 0).map(|(l, _)| l)
    }

    #[test]
    fn headers_continuations_and_comment() {
        let text = format!(
            "{BEGIN}\nx-note: one\\\n two\nComment: \"my key\"\n{}\n{}\n{END}\n",
            &BLOB[..30],
            &BLOB[30..]
        );
        assert_eq!(parse(&text).unwrap(), format!("ssh-ed25519 {BLOB} my key"));
        let bare = format!("{BEGIN}\n{BLOB}\n{END}\n");
        assert_eq!(parse(&bare).unwrap(), format!("ssh-ed25519 {BLOB}"));
    }

    #[test]
    fn malformed_blocks_name_their_line() {
        let e = parse(&format!("{BEGIN}\n{BLOB}\n")).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.why.contains("END"), "{e:?}");
        let e = parse(&format!("{BEGIN}\nComment: x\n{BLOB}!\n{END}\n")).unwrap_err();
        assert_eq!((e.line, e.why.as_str()), (3, "the key data is not base64"));
        let e = parse(&format!("{BEGIN}\n{BLOB}\nComment: late\n{END}\n")).unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse(&format!("{BEGIN}\nComment: x\\")).unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse(&format!("{BEGIN}\nComment: x\n{END}\n")).unwrap_err();
        assert_eq!((e.line, e.why.as_str()), (3, "the block holds no key data"));
        let wrong = BLOB.replacen("AAAAC3", "AAAAD3", 1);
        let e = parse(&format!("{BEGIN}\n{wrong}\n{END}\n")).unwrap_err();
        assert_eq!(e.line, 3, "{e:?}");
    }
}
