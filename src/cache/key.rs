//! What a cache entry is keyed by: the SHA-256 of the compressed input file (its content),
//! and a stat fingerprint that remembers that digest for an unchanged file, so a rebuild
//! from the same file reads none of it.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The SHA-256 of the compressed input, in lower-case hex: an entry's directory name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentKey(String);

impl ContentKey {
    /// The key an entry directory's name stands for, if it is one.
    pub fn from_name(name: &str) -> Option<ContentKey> {
        let hex = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        (hex && name == name.to_ascii_lowercase()).then(|| ContentKey(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes the file at `path`; returns its key and how many bytes were read.
pub fn hash_file(path: &Path) -> io::Result<(ContentKey, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    Ok((ContentKey(hex::encode(hasher.finalize())), read))
}

/// Which file this is and whether it changed: device, inode, size, modification and
/// change times (nanoseconds). The change time cannot be set back by a user, so a file
/// rewritten in place, even with its old mtime restored, gets a new fingerprint; a new
/// fingerprint only costs one hash of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputId(String);

impl InputId {
    pub fn of(md: &Metadata) -> InputId {
        InputId(format!("input-{}", fingerprint(md)))
    }

    /// The name of the marker file an entry keeps for each input it was found for.
    pub fn file_name(&self) -> &str {
        &self.0
    }
}

/// A file's identity and change state: device, inode, size, modification and change times
/// (nanoseconds). What [`InputId`] and a base's seal are made of.
pub(super) fn fingerprint(md: &Metadata) -> String {
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    format!(
        "{:x}-{:x}-{:x}-{}-{}",
        md.dev(),
        md.ino(),
        md.size(),
        ns(md.mtime(), md.mtime_nsec()),
        ns(md.ctime(), md.ctime_nsec())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_files_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        let (key, read) = hash_file(&p).unwrap();
        assert_eq!(
            key.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(read, 3);
        assert_eq!(ContentKey::from_name(key.as_str()), Some(key));
    }

    #[test]
    fn only_hex_digests_name_entries() {
        assert!(ContentKey::from_name(".tmp-abc").is_none());
        assert!(ContentKey::from_name(&"A".repeat(64)).is_none());
        assert!(ContentKey::from_name(&"a".repeat(63)).is_none());
    }

    #[test]
    fn a_rewritten_file_gets_a_new_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"one").unwrap();
        let before = InputId::of(&std::fs::metadata(&p).unwrap());
        assert_eq!(before, InputId::of(&std::fs::metadata(&p).unwrap()));
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"two").unwrap();
        assert_ne!(before, InputId::of(&std::fs::metadata(&p).unwrap()));
    }
}
