//! SSH public keys: each line checked to be a public key of a known type whose base64
//! blob really is that type, so a private key or a typo never lands on a card. OpenSSH
//! lines and RFC 4716 blocks (see `rfc4716`) are read.

use std::path::{Path, PathBuf};

use base64::Engine;
use thiserror::Error;

mod rfc4716;

#[derive(Debug, Error)]
pub enum KeyError {
    /// Refused before reading (not a regular file, too large): the error names the file.
    #[error(transparent)]
    Read(#[from] crate::io::regular::UserFileError),
    #[error("{path}: this is a PRIVATE key; pass the public key (the .pub file) instead")]
    Private { path: PathBuf },
    #[error("{path}:{line}: not an SSH public key: {why}")]
    Bad {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("{path}: holds no SSH public key")]
    Empty { path: PathBuf },
}

const KNOWN_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
];

/// One validated `type base64 [comment]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kind: String,
    pub blob: String,
    pub comment: String,
}

impl PublicKey {
    /// The `authorized_keys` line.
    pub fn line(&self) -> String {
        if self.comment.is_empty() {
            format!("{} {}", self.kind, self.blob)
        } else {
            format!("{} {} {}", self.kind, self.blob, self.comment)
        }
    }

    /// The fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of
    /// the SHA-256 of the key blob.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let blob = base64::engine::general_purpose::STANDARD
            .decode(&self.blob)
            .unwrap_or_default();
        let digest = Sha256::digest(blob);
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        )
    }
}

/// Reads every key in `path` (a `.pub` file or an `authorized_keys`-style list).
pub fn read_keys(path: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let text = crate::io::regular::read_user_file(path, crate::io::regular::SSH_KEY)?;
    let text = String::from_utf8_lossy(&text);
    if text.contains("PRIVATE KEY-----")
        || text.contains("PuTTY-User-Key-File")
        || text.contains("BEGIN SSH2 ENCRYPTED PRIVATE KEY")
    {
        return Err(KeyError::Private {
            path: path.to_owned(),
        });
    }
    let lines: Vec<&str> = text.lines().collect();
    let bad = |line: usize, why: String| KeyError::Bad {
        path: path.to_owned(),
        line,
        why,
    };
    let mut keys = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line == rfc4716::BEGIN {
            let (openssh, end) = rfc4716::parse_block(&lines, i)
                .map_err(|e| bad(e.line, format!("RFC 4716 block: {}", e.why)))?;
            keys.push(parse_line(&openssh).map_err(|why| bad(i + 1, why))?);
            i = end + 1;
            continue;
        }
        if !line.is_empty() && !line.starts_with('#') {
            keys.push(parse_line(line).map_err(|why| bad(i + 1, why))?);
        }
        i += 1;
    }
    if keys.is_empty() {
        return Err(KeyError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(keys)
}

pub fn parse_line(line: &str) -> Result<PublicKey, String> {
    let mut parts = line.splitn(3, char::is_whitespace);
    let kind = parts.next().unwrap_or_default();
    let blob = parts.next().unwrap_or_default().trim();
    let comment = parts.next().unwrap_or_default().trim();
    if !KNOWN_TYPES.contains(&kind) {
        // The line's words are not repeated: the file may hold something secret.
        return Err(format!(
            "the line does not start with a known key type (one of {})",
            KNOWN_TYPES.join(", ")
        ));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|e| format!("the key data is not valid base64 ({e})"))?;
    // The blob starts with the key type again, as an SSH string (u32 length + bytes).
    let inner = raw
        .get(4..)
        .and_then(|rest| {
            let len = u32::from_be_bytes(raw[..4].try_into().ok()?) as usize;
            rest.get(..len)
        })
        .ok_or("the key data is too short")?;
    if inner != kind.as_bytes() {
        // Named only when it is a known type: anything else may be a secret's bytes.
        return Err(match KNOWN_TYPES.iter().find(|t| t.as_bytes() == inner) {
            Some(t) => format!("the key data is a {t} key, but the line says {kind}"),
            None => format!("the key data does not hold a {kind} key"),
        });
    }
    if raw.len() < 4 + inner.len() + 16 {
        return Err("the key data is too short to hold a key".into());
    }
    if comment.chars().any(char::is_control) {
        return Err("the comment holds control characters".into());
    }
    Ok(PublicKey {
        kind: kind.to_string(),
        blob: blob.to_string(),
        comment: comment.to_string(),
    })
}

/// The user's own `~/.ssh/*.pub` keys, sorted by file name; unreadable or invalid
/// files are skipped with a warning, since the user did not name them.
pub fn default_keys(warn: &mut dyn FnMut(String)) -> Vec<PublicKey> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    let dir = Path::new(&home).join(".ssh");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    paths.sort();
    let mut keys = Vec::new();
    for p in paths {
        match read_keys(&p) {
            Ok(k) => keys.extend(k),
            Err(e) => warn(format!("skipping {}", crate::error::chain(&e))),
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: &str) -> String {
        let mut raw = (kind.len() as u32).to_be_bytes().to_vec();
        raw.extend_from_slice(kind.as_bytes());
        raw.extend_from_slice(&[0, 0, 0, 32]);
        raw.extend_from_slice(&[7u8; 32]);
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    #[test]
    fn accepts_a_real_shaped_key() {
        let line = format!("ssh-ed25519 {} me@host", blob("ssh-ed25519"));
        let k = parse_line(&line).unwrap();
        assert_eq!(k.line(), line);
    }

    #[test]
    fn refuses_mismatched_type_and_garbage() {
        let line = format!("ssh-rsa {}", blob("ssh-ed25519"));
        assert!(parse_line(&line).unwrap_err().contains("ssh-ed25519"));
        assert!(parse_line("ssh-ed25519 !!!")
            .unwrap_err()
            .contains("base64"));
        let e = parse_line("foo AAAA").unwrap_err();
        assert!(e.contains("known key type") && !e.contains("foo"), "{e}");
    }
}
