//! A user-data as cloud-init takes it apart: a single document or a MIME multipart, each
//! part's type from its `Content-Type` or (for plain parts) its first line, and the
//! cloud-config parts merged in order with the mergers each asks for.

use super::header::{self, Kind};
use super::merge::Mergers;
use super::mime;
use super::py::Py;
use super::yaml;

/// What a user-data does, merged.
#[derive(Debug, Clone)]
pub struct UserData {
    /// The cloud-config parts merged, `merge_how` keys consumed (an empty dict if none).
    pub config: Py,
    /// Every part: its name and what cloud-init does with it.
    pub parts: Vec<(String, Kind)>,
}

/// Reads `text` as cloud-init's user-data processing would; a part cloud-init would fail
/// to read is an error naming it.
pub fn read(text: &str) -> Result<UserData, String> {
    let multipart = mime::is_mime(text);
    let parts = if multipart {
        mime::read(text)?
    } else {
        vec![mime::Part {
            content_type: "text/x-not-multipart".into(),
            filename: "user-data".into(),
            merge_type: None,
            payload: text.to_string(),
            exact: false,
        }]
    };
    let mut config = Py::Dict(Vec::new());
    let mut out = Vec::new();
    for p in &parts {
        let kind = match p.content_type.as_str() {
            "text/plain" | "text/x-not-multipart" => header::classify(&p.payload),
            other => Kind::from_content_type(other),
        };
        if kind == Kind::CloudConfig {
            config = merge_part(&config, p).map_err(|e| {
                if multipart {
                    format!("part {}: {e}", p.filename)
                } else {
                    e
                }
            })?;
        }
        out.push((p.filename.clone(), kind));
    }
    Ok(UserData { config, parts: out })
}

/// One cloud-config part merged into `acc`, as cloud-init's cloud-config handler does.
pub fn merge_part(acc: &Py, p: &mime::Part) -> Result<Py, String> {
    let loaded =
        yaml::load_lenient(&p.payload).map_err(|e| format!("line {}: {}", e.line, e.message))?;
    merge_doc(acc, loaded.value, p.merge_type.as_deref())
}

/// A part's loaded document merged into `acc`: its `merge_how` taken out and used before
/// the part's `Merge-Type` header.
pub fn merge_doc(acc: &Py, doc: Py, header: Option<&str>) -> Result<Py, String> {
    let (doc, how) = take_merge_how(doc)?;
    let mergers = Mergers::for_part(how.as_ref(), header)?;
    Ok(mergers.merge(acc, &doc))
}

/// The document without its `merge_how` (else `merge_type`) key, and that key's value:
/// cloud-init removes it before merging.
pub fn take_merge_how(doc: Py) -> Result<(Py, Option<Py>), String> {
    let Py::Dict(mut d) = doc else {
        return match doc {
            Py::None => Err("empty cloud-config: cloud-init skips the part".into()),
            other => Err(format!(
                "the document is {}, not a mapping",
                other.describe()
            )),
        };
    };
    for key in ["merge_how", "merge_type"] {
        if let Some(i) = d.iter().position(|(k, _)| k.as_str() == Some(key)) {
            let (_, v) = d.remove(i);
            return Ok((Py::Dict(d), Some(v)));
        }
    }
    Ok((Py::Dict(d), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudinit::merge::USER_PART_MERGE_TYPE;

    #[test]
    fn multipart_parts_merge_in_order() {
        let part = |payload: &str, merge: Option<&str>| mime::Part {
            content_type: "text/cloud-config".into(),
            filename: "x".into(),
            merge_type: merge.map(str::to_string),
            payload: payload.into(),
            exact: false,
        };
        let text = mime::write(&[
            part("#cloud-config\nhostname: rpi1\nruncmd: [a]\n", None),
            part("#cloud-config\nhostname: x\nruncmd: [b]\nmerge_how: 'dict(no_replace,recurse_list)+list(prepend)'\n", Some(USER_PART_MERGE_TYPE)),
        ]);
        let ud = read(&text).unwrap();
        assert_eq!(ud.config.get("hostname"), Some(&Py::str("rpi1")));
        let runcmd: Vec<String> = ud
            .config
            .get("runcmd")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .map(Py::key_text)
            .collect();
        assert_eq!(runcmd, ["b", "a"], "the part's own merge_how comes first");
        assert!(ud.config.get("merge_how").is_none());
        let single = read("#cloud-config\nhostname: a\n").unwrap();
        assert_eq!(single.config.get("hostname"), Some(&Py::str("a")));
        assert_eq!(read("#!/bin/sh\necho\n").unwrap().parts[0].1, Kind::Script);
    }
}
