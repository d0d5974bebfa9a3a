//! One cache entry: a directory named by the input's key holding the sparse base
//! (`base.img`), its chunked block map (`base.bmap`, whose digests every node's map
//! reuses) and `meta.json` (the base's size and the map's SHA-256). An entry is made under
//! a temporary name and renamed into place only when complete; on use it is checked
//! against its metadata, and its base either still carries the seal taken when it was made
//! ([`super::seal`]) or is checked against its map (every data range's digest, zeros
//! elsewhere) and sealed again, so a damaged or half-written one is never used.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use thiserror::Error;

use super::key::{ContentKey, InputId};
use super::seal;
use super::{io_err, CacheError};
use crate::bmap::{Bmap, BmapError};

pub(super) const BASE: &str = "base.img";
pub(super) const MAP: &str = "base.bmap";
pub(super) const META: &str = "meta.json";
/// Its modification time is the entry's last use (least recently used goes first).
pub(super) const USED: &str = "used";
/// Held locked by the build filling a temporary entry; an unlocked one is abandoned.
pub(super) const LOCK: &str = "lock";
/// The metadata layout; an entry of another format is rebuilt.
pub(super) const FORMAT: u32 = 2;

/// `meta.json`: what the base must be for the entry to be used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Meta {
    pub format: u32,
    /// The compressed input's SHA-256 (the directory's name).
    pub key: String,
    /// Where the input was when the entry was made (for messages only).
    pub input: PathBuf,
    pub base_len: u64,
    /// SHA-256 of `base.bmap`, which holds a SHA-256 per data range of the base.
    pub map_sha256: String,
    /// The base's seal: while it holds, the base is used without being read again.
    pub base_seal: Option<String>,
}

/// Why an entry was not used.
#[derive(Debug, Error)]
pub enum Damage {
    #[error("its metadata is missing or unreadable")]
    Meta(#[source] io::Error),
    #[error("its metadata is not valid")]
    MetaFormat(#[source] serde_json::Error),
    #[error("its metadata is of another format or entry")]
    Foreign,
    #[error("its base is missing or unreadable")]
    Base(#[source] io::Error),
    #[error("its base is {actual} bytes; the metadata says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("its block map is missing or unreadable")]
    MapFile(#[source] io::Error),
    #[error("its block map does not have the digest the metadata records")]
    MapDigest,
    #[error("its block map is not valid")]
    Map(#[source] BmapError),
    #[error("its base does not match its block map")]
    Content(#[source] BmapError),
}

/// A checked entry: the base open read-only, reached through this process's descriptor so
/// that the entry being evicted by another build meanwhile does not matter.
pub struct CachedBase {
    pub dir: PathBuf,
    pub input: PathBuf,
    pub file: File,
    pub path: PathBuf,
    pub map: Bmap,
    pub len: u64,
    pub checked: Checked,
}

/// How a cached base was found whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Unchanged since it was sealed: nothing of it read.
    Sealed,
    /// Its seal did not hold (or it had none): every range read and checked against the
    /// map, then sealed again.
    Hashed,
}

/// Opens and checks the entry in `dir` for `key`.
pub(super) fn open_checked(dir: &Path, key: &ContentKey) -> Result<CachedBase, Damage> {
    let raw = fs::read(dir.join(META)).map_err(Damage::Meta)?;
    let meta: Meta = serde_json::from_slice(&raw).map_err(Damage::MetaFormat)?;
    if meta.format != FORMAT || meta.key != key.as_str() {
        return Err(Damage::Foreign);
    }
    let file = File::open(dir.join(BASE)).map_err(Damage::Base)?;
    let len = file.metadata().map_err(Damage::Base)?.len();
    if len != meta.base_len {
        return Err(Damage::Size {
            expected: meta.base_len,
            actual: len,
        });
    }
    let xml = fs::read(dir.join(MAP)).map_err(Damage::MapFile)?;
    if hex::encode(Sha256::digest(&xml)) != meta.map_sha256 {
        return Err(Damage::MapDigest);
    }
    let map = Bmap::parse(xml.as_slice()).map_err(Damage::Map)?;
    let md = file.metadata().map_err(Damage::Base)?;
    let checked = if seal::holds(meta.base_seal.as_deref(), &md) {
        Checked::Sealed
    } else {
        map.check_file(&file, &dir.join(BASE))
            .map_err(Damage::Content)?;
        reseal(dir, meta.clone(), &file);
        Checked::Hashed
    };
    Ok(CachedBase {
        dir: dir.to_owned(),
        input: meta.input,
        path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
        file,
        map,
        len,
        checked,
    })
}

/// Records a new seal for a base just found whole, replacing the metadata atomically; on
/// failure the next use simply checks the base again.
fn reseal(dir: &Path, meta: Meta, base: &File) {
    let Some(seal) = seal::take(base, dir) else {
        return;
    };
    let meta = Meta {
        base_seal: Some(seal),
        ..meta
    };
    let json = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        if io::Write::write_all(&mut tmp, &json).is_ok() {
            let _ = tmp.persist(dir.join(META));
        }
    }
}

/// An entry being made: a locked temporary directory with the base file to fill.
pub struct NewEntry {
    dir: TempDir,
    base: File,
    base_path: PathBuf,
    _lock: File,
}

impl NewEntry {
    pub(super) fn create(cache: &Path) -> Result<NewEntry, CacheError> {
        let dir = tempfile::Builder::new()
            .prefix(super::TMP_PREFIX)
            .tempdir_in(cache)
            .map_err(io_err(cache, "make a temporary entry in"))?;
        let lock_path = dir.path().join(LOCK);
        let lock = File::create(&lock_path).map_err(io_err(&lock_path, "create"))?;
        lock.try_lock()
            .map_err(|e| io_err(&lock_path, "lock")(io::Error::from(e)))?;
        let base_path = dir.path().join(BASE);
        let base = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&base_path)
            .map_err(io_err(&base_path, "create"))?;
        Ok(NewEntry {
            dir,
            base,
            base_path,
            _lock: lock,
        })
    }

    pub fn base_file(&self) -> &File {
        &self.base
    }

    pub fn base_path(&self) -> &Path {
        &self.base_path
    }

    /// Writes the map and metadata and renames the entry into place as `dest`. Another
    /// build that got there first wins (its entry holds the same base); ours is dropped.
    pub(super) fn publish(
        self,
        dest: &Path,
        meta_of: impl FnOnce(String, Option<String>) -> Meta,
        map: &Bmap,
        id: &InputId,
    ) -> Result<bool, CacheError> {
        let dir = self.dir.path();
        let mut xml = Vec::new();
        map.write_xml(&mut xml)
            .map_err(io_err(&dir.join(MAP), "write"))?;
        // The base is complete: sealed now, so that a hit need not read it again.
        let seal = seal::take(&self.base, dir);
        let meta = meta_of(hex::encode(Sha256::digest(&xml)), seal);
        let json = serde_json::to_vec_pretty(&meta).expect("metadata serializes");
        let write = |name: &str, data: &[u8]| {
            let p = dir.join(name);
            fs::write(&p, data).map_err(io_err(&p, "write"))
        };
        write(MAP, &xml)?;
        write(USED, b"")?;
        write(id.file_name(), b"")?;
        // Last: an entry without metadata is incomplete, whatever else it holds.
        write(META, &json)?;
        match fs::rename(dir, dest) {
            Ok(()) => {
                let _ = fs::remove_file(dest.join(LOCK));
                let _ = self.dir.keep();
                Ok(true)
            }
            Err(_) if dest.join(META).exists() => Ok(false),
            Err(e) => Err(io_err(dest, "rename the new entry to")(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A published entry for a 4 MiB base with data at both ends and a hole between.
    fn entry() -> (tempfile::TempDir, PathBuf, ContentKey) {
        let cache = tempfile::tempdir().unwrap();
        let new = NewEntry::create(cache.path()).unwrap();
        new.base_file().write_all_at(b"head", 0).unwrap();
        new.base_file()
            .write_all_at(b"tail", (4 << 20) - 4)
            .unwrap();
        let map = Bmap::chunked_from_file(new.base_path()).unwrap();
        let key = ContentKey::from_name(&"a".repeat(64)).unwrap();
        let dest = cache.path().join(key.as_str());
        let id = InputId::of(&fs::metadata(cache.path()).unwrap());
        let meta_of = |map_sha256, base_seal| Meta {
            format: FORMAT,
            key: key.to_string(),
            input: PathBuf::from("in.xz"),
            base_len: 4 << 20,
            map_sha256,
            base_seal,
        };
        assert!(new.publish(&dest, meta_of, &map, &id).unwrap());
        assert!(!dest.join(LOCK).exists());
        (cache, dest, key)
    }

    #[test]
    fn a_whole_entry_is_used() {
        let (_c, dir, key) = entry();
        let base = open_checked(&dir, &key).unwrap();
        assert_eq!(base.len, 4 << 20);
        assert_eq!(base.checked, Checked::Sealed);
        assert_eq!(fs::read(&base.path).unwrap().len(), 4 << 20);
    }

    /// A base touched but not changed (as a copy of the cache would be) is read once,
    /// found whole, and sealed again.
    #[test]
    fn a_touched_base_is_checked_then_sealed_again() {
        let (_c, dir, key) = entry();
        let f = File::options().write(true).open(dir.join(BASE)).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(open_checked(&dir, &key).unwrap().checked, Checked::Hashed);
        assert_eq!(open_checked(&dir, &key).unwrap().checked, Checked::Sealed);
    }

    /// Damages an entry in its directory.
    type Damager = fn(&Path);

    #[test]
    fn each_damage_is_named() {
        let cases: [(&str, Damager); 5] = [
            ("metadata is missing", |d| {
                fs::remove_file(d.join(META)).unwrap()
            }),
            ("base is 2", |d| {
                File::options()
                    .write(true)
                    .open(d.join(BASE))
                    .unwrap()
                    .set_len(2)
                    .unwrap()
            }),
            ("does not match its block map", |d| {
                let f = File::options().write(true).open(d.join(BASE)).unwrap();
                f.write_all_at(b"H", 0).unwrap();
            }),
            ("does not match its block map", |d| {
                let f = File::options().write(true).open(d.join(BASE)).unwrap();
                f.write_all_at(b"x", 2 << 20).unwrap();
            }),
            ("block map does not have the digest", |d| {
                fs::write(d.join(MAP), b"<bmap/>").unwrap()
            }),
        ];
        for (want, damage) in cases {
            let (_c, dir, key) = entry();
            damage(&dir);
            let e = open_checked(&dir, &key).err().expect(want);
            let text = crate::error::chain(&e);
            assert!(text.contains(want), "{want}: {text}");
        }
    }

    #[test]
    fn another_keys_metadata_is_refused() {
        let (_c, dir, _) = entry();
        let other = ContentKey::from_name(&"b".repeat(64)).unwrap();
        assert!(matches!(open_checked(&dir, &other), Err(Damage::Foreign)));
    }
}
