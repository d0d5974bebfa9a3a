//! Which files are secrets, so `diff`, `explain` and `cat` never print them.
//!
//! The rule (one place, documented in the README): a file is **secret** when
//!
//! 1. its content holds a private key block: a PEM or OpenSSH armour line ending in
//!    `PRIVATE KEY-----` (`-----BEGIN RSA PRIVATE KEY-----`, `…OPENSSH PRIVATE KEY-----`,
//!    PKCS#8 `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`) or PGP's `PRIVATE KEY BLOCK-----`,
//!    also inside a part of a MIME multipart user-data (clem-image sends users' parts
//!    base64-encoded); or
//! 2. it is a regular file owned by root (uid 0) that others may not read and nobody may
//!    run: no permission bit for "other", no execute bit (`0600`, `0400`, `0640`, `0440`).
//!    That covers clem-image's TLS keys and `node.env` (0600), `/etc/shadow` and
//!    `/etc/gshadow` (0640 root:shadow), ssh host keys. The rule holds anywhere on a
//!    partition, because a partition path does not say where the node mounts it (Snappy
//!    keeps `/etc` under `writable`'s `system-data/`, clem-image's files under
//!    `/clem-image`).
//!
//! FAT has no owners or modes: there only rule 1 applies.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::bytes::Regex;
use serde::Serialize;

use crate::cloudinit::mime;
use crate::fs::{Entry, EntryKind};

/// What is printed in place of secret content.
pub const NOT_SHOWN: &str = "(secret, not shown)";

/// Why a file is a secret, when it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    Public,
    /// Rule 1: the content holds a private key block.
    PrivateKey,
    /// Rule 2: a root-owned regular file that others may not read.
    RootOnly,
}

fn marker() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"PRIVATE KEY(?: BLOCK)?-----").expect("valid regex"))
}

fn begin() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----").expect("valid regex")
    })
}

fn end() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----").expect("valid regex")
    })
}

impl Sensitivity {
    /// Rule 2, from a listing entry's metadata alone.
    pub fn of_entry(e: &Entry) -> Sensitivity {
        let Some(mode) = e
            .mode
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok())
        else {
            return Sensitivity::Public;
        };
        Sensitivity::of_metadata(e.kind == EntryKind::File, mode, e.uid)
    }

    /// Rule 2 from a file's type, permission bits and owner.
    pub fn of_metadata(regular: bool, mode: u32, uid: Option<u32>) -> Sensitivity {
        if regular && uid == Some(0) && mode & 0o007 == 0 && mode & 0o111 == 0 {
            Sensitivity::RootOnly
        } else {
            Sensitivity::Public
        }
    }

    /// Rule 1, from the content.
    pub fn of_content(data: &[u8]) -> Sensitivity {
        if marker().is_match(data) || mime_holds_key(data) {
            Sensitivity::PrivateKey
        } else {
            Sensitivity::Public
        }
    }

    /// Both rules: metadata first, content where it was read.
    pub fn of(e: &Entry, data: Option<&[u8]>) -> Sensitivity {
        match Sensitivity::of_entry(e) {
            Sensitivity::Public => data.map_or(Sensitivity::Public, Sensitivity::of_content),
            s => s,
        }
    }

    pub fn is_secret(self) -> bool {
        self != Sensitivity::Public
    }

    /// In plain words, for error messages.
    pub fn why(self) -> &'static str {
        match self {
            Sensitivity::Public => "not a secret",
            Sensitivity::PrivateKey => "it holds a private key",
            Sensitivity::RootOnly => "it is a root-owned file others may not read",
        }
    }
}

/// A MIME user-data (as cloud-init recognises one) with a key in a decoded part.
fn mime_holds_key(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    mime::is_mime(text)
        && mime::read(text).is_ok_and(|parts| {
            parts
                .iter()
                .any(|p| marker().is_match(p.payload.as_bytes()))
        })
}

/// `data` with every private key block (armour lines and what lies between) replaced by
/// [`NOT_SHOWN`], keeping the line count so errors about the rest still name the right
/// line. A block without its END line is cut to the end; a stray armour line is replaced
/// too. Text without a key comes back unchanged (borrowed).
pub fn redact_keys(data: &[u8]) -> Cow<'_, [u8]> {
    if !marker().is_match(data) {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len());
    let mut at = 0;
    while let Some(b) = begin().find_at(data, at) {
        out.extend_from_slice(&data[at..b.start()]);
        let stop = end().find_at(data, b.end()).map_or(data.len(), |e| e.end());
        out.extend_from_slice(NOT_SHOWN.as_bytes());
        let lines = data[b.start()..stop]
            .iter()
            .filter(|&&c| c == b'\n')
            .count();
        out.extend(std::iter::repeat_n(b'\n', lines));
        at = stop;
    }
    out.extend_from_slice(&data[at..]);
    let cleaned = marker()
        .replace_all(&out, NOT_SHOWN.as_bytes())
        .into_owned();
    Cow::Owned(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mode: &str, uid: u32) -> Entry {
        Entry {
            path: "/x".into(),
            kind: EntryKind::File,
            size: 1,
            mode: Some(mode.into()),
            uid: Some(uid),
            gid: Some(0),
            sha256: None,
            target: None,
        }
    }

    #[test]
    fn root_only_files_are_secret() {
        for m in ["0600", "0400", "0640", "0440"] {
            assert_eq!(
                Sensitivity::of_entry(&file(m, 0)),
                Sensitivity::RootOnly,
                "{m}"
            );
        }
        for (m, uid) in [("0644", 0), ("0600", 1000), ("0700", 0), ("0604", 0)] {
            assert_eq!(
                Sensitivity::of_entry(&file(m, uid)),
                Sensitivity::Public,
                "{m}"
            );
        }
        let mut dir = file("0600", 0);
        dir.kind = EntryKind::Dir;
        assert_eq!(Sensitivity::of_entry(&dir), Sensitivity::Public);
        let mut fat = file("0600", 0);
        fat.mode = None;
        assert_eq!(Sensitivity::of(&fat, Some(b"hello")), Sensitivity::Public);
    }

    #[test]
    fn key_blocks_are_found_and_cut() {
        let key =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(
            Sensitivity::of_content(key.as_bytes()),
            Sensitivity::PrivateKey
        );
        assert_eq!(
            Sensitivity::of_content(b"-----BEGIN PUBLIC KEY-----\n"),
            Sensitivity::Public
        );
        let text = format!("a: 1\nkey: |\n  {}\nb: 2\n", key.replace('\n', "\n  "));
        let red = String::from_utf8(redact_keys(text.as_bytes()).into_owned()).unwrap();
        assert!(
            !red.contains("PRIVATE KEY") && !red.contains("AAAA"),
            "{red}"
        );
        assert!(red.contains(NOT_SHOWN) && red.ends_with("b: 2\n"), "{red}");
        assert_eq!(red.lines().count(), text.lines().count());
        // No END line: everything after BEGIN goes.
        let cut = redact_keys(b"x\n-----BEGIN RSA PRIVATE KEY-----\nCCCC\n");
        assert_eq!(&cut[..], format!("x\n{NOT_SHOWN}\n\n").as_bytes());
        assert!(matches!(redact_keys(b"plain"), Cow::Borrowed(_)));
    }
}
