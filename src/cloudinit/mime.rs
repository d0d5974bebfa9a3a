//! User-data as a MIME multipart, the form every cloud-init (0.7.x included) reads: each
//! part keeps its own bytes (users' files travel base64-encoded, so no line ending or
//! character is touched), and each part says how it merges into the ones before it.
//!
//! The reader takes what this writer and cloud-init's `make-mime` write (`7bit`, `8bit`
//! and `base64` parts, one level of `multipart/mixed`); it serves `explain`, which must
//! say what an image's seed does. A general mail parser would read more than cloud-init
//! seeds hold and still need this mapping onto parts.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use sha2::{Digest, Sha256};

/// One part of a user-data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `text/cloud-config`, `text/x-shellscript`, …
    pub content_type: String,
    /// The name cloud-init logs the part under.
    pub filename: String,
    /// `Merge-Type` (or `X-Merge-Type`), when given.
    pub merge_type: Option<String>,
    pub payload: String,
    /// Sent base64-encoded whatever it holds, so no byte (line ending, white space at
    /// the end) can change on the way: users' files.
    pub exact: bool,
}

/// The multipart document of `parts`. The boundary is derived from the contents, so the
/// same parts give the same bytes.
pub fn write(parts: &[Part]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.payload.as_bytes());
        h.update([0]);
    }
    let digest = format!("{:x}", h.finalize());
    let boundary = format!("==clem-image-{}==", &digest[..24]);
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    for p in parts {
        let plain = !p.exact
            && p.payload.is_ascii()
            && p.payload
                .lines()
                .all(|l| l.len() < 900 && !l.contains(&boundary));
        out.push_str(&format!("--{boundary}\n"));
        out.push_str(&format!(
            "Content-Type: {}; charset=\"utf-8\"\nMIME-Version: 1.0\n",
            p.content_type
        ));
        out.push_str(&format!(
            "Content-Transfer-Encoding: {}\n",
            if plain { "7bit" } else { "base64" }
        ));
        out.push_str(&format!(
            "Content-Disposition: attachment; filename=\"{}\"\n",
            p.filename
        ));
        if let Some(m) = &p.merge_type {
            out.push_str(&format!("Merge-Type: {m}\n"));
        }
        out.push('\n');
        if plain {
            // The line break before a boundary belongs to the boundary.
            out.push_str(&p.payload);
            out.push('\n');
        } else {
            out.push_str(&base64_lines(p.payload.as_bytes()));
        }
    }
    out.push_str(&format!("--{boundary}--\n"));
    out
}

/// Whether cloud-init reads `text` as MIME: it looks for `MIME-Version:` in the first
/// 4096 bytes, case aside.
pub fn is_mime(text: &str) -> bool {
    let head = &text.as_bytes()[..text.len().min(4096)];
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("mime-version:")
}

/// The parts of a multipart user-data, or why they cannot be read.
pub fn read(text: &str) -> Result<Vec<Part>, String> {
    let (headers, body) = split_headers(text);
    let ctype = header(&headers, "content-type").unwrap_or_default();
    if !ctype.to_ascii_lowercase().starts_with("multipart/") {
        return Ok(vec![part_of(&headers, body, 0)?]);
    }
    let boundary = param(&ctype, "boundary").ok_or("a multipart without a boundary")?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare == delimiter || bare == format!("{delimiter}--") {
            if let Some(lines) = current.take() {
                let raw = lines.concat();
                let raw = raw.strip_suffix('\n').unwrap_or(&raw);
                let raw = raw.strip_suffix('\r').unwrap_or(raw);
                let (h, b) = split_headers(raw);
                parts.push(part_of(&h, b, parts.len())?);
            }
            if bare.ends_with("--") && bare != delimiter {
                break;
            }
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    Ok(parts)
}

fn split_headers(text: &str) -> (Vec<(String, String)>, &str) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find('\n') {
        let line = rest[..end].trim_end_matches('\r');
        rest = &rest[end + 1..];
        if line.is_empty() {
            return (headers, rest);
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (headers, "")
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn part_of(headers: &[(String, String)], body: &str, index: usize) -> Result<Part, String> {
    let ctype = header(headers, "content-type").unwrap_or_else(|| "text/x-not-multipart".into());
    let content_type = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let cte = header(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let payload = match cte.as_str() {
        "base64" => {
            let bytes = unbase64(body).ok_or_else(|| format!("part {}: bad base64", index + 1))?;
            String::from_utf8(bytes).map_err(|_| format!("part {}: not UTF-8", index + 1))?
        }
        "" | "7bit" | "8bit" | "binary" => body.to_string(),
        other => {
            return Err(format!(
                "part {}: transfer encoding {other} is not read here",
                index + 1
            ))
        }
    };
    let filename = header(headers, "content-disposition")
        .and_then(|d| param(&d, "filename"))
        .unwrap_or_else(|| format!("part-{:03}", index + 1));
    let merge_type = header(headers, "merge-type").or_else(|| header(headers, "x-merge-type"));
    Ok(Part {
        content_type,
        filename,
        merge_type,
        payload,
        exact: cte == "base64",
    })
}

/// Base64 in lines of 76 characters, as MIME writes it.
fn base64_lines(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 + 4);
    for line in data.chunks(57) {
        out.push_str(&STANDARD.encode(line));
        out.push('\n');
    }
    out
}

/// A base64 body, its line breaks and other white space aside; lenient about padding
/// and stray low bits, as Python's `email` is.
fn unbase64(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let packed: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(packed).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_byte_for_byte() {
        let parts = vec![
            Part {
                content_type: "text/cloud-config".into(),
                filename: "clem-image.cfg".into(),
                merge_type: None,
                payload: "#cloud-config\nhostname: rpi1\n".into(),
                exact: false,
            },
            Part {
                content_type: "text/cloud-config".into(),
                filename: "cluster.cfg".into(),
                merge_type: Some("dict(no_replace)+list(append)".into()),
                payload: "#Cloud-Config\r\nk: 'é'\n\n".into(),
                exact: true,
            },
        ];
        let text = write(&parts);
        assert!(is_mime(&text));
        assert_eq!(write(&parts), text, "deterministic");
        assert_eq!(read(&text).unwrap(), parts);
        for n in 0..5 {
            let data: Vec<u8> = (0..n).collect();
            assert_eq!(unbase64(&base64_lines(&data)).unwrap(), data);
        }
    }
}
