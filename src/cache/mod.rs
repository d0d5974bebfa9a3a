//! The cache of decompressed bases, so that a rebuild after a config change decompresses
//! nothing. By default under `$XDG_CACHE_HOME/clem-image` (else `~/.cache/clem-image`);
//! one entry per input, keyed by the SHA-256 of the compressed file ([`key`]), holding the
//! sparse base and its block map ([`entry`]); the last few used are kept ([`prune`]).
//!
//! Safe under concurrent builds: entries are made under temporary names and renamed into
//! place whole, a build uses an entry through descriptors it opened (an eviction meanwhile
//! only unlinks names), and two builds of the same input write the same base, so whichever
//! rename lands first is kept.

mod entry;
mod key;
mod prune;
mod seal;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use entry::{CachedBase, Checked, Damage, NewEntry};
pub use key::{hash_file, ContentKey, InputId};

/// Bases kept by default: a few upstream images, each costing its data on disk.
pub const KEEP: usize = 3;

/// Temporary entries being made (locked by their maker), and entries being removed.
const TMP_PREFIX: &str = ".tmp-";
const TRASH_PREFIX: &str = ".trash-";

#[derive(Debug, Error)]
pub enum CacheError {
    #[error("cache: cannot {action} {path}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// The default cache directory: `$XDG_CACHE_HOME/clem-image` when that is an absolute
/// path (the XDG rule), else `$HOME/.cache/clem-image`; none without either.
pub fn default_dir() -> Option<PathBuf> {
    dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

fn dir_from(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        home.filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache"))
    })?;
    Some(base.join("clem-image"))
}

/// An open cache directory.
pub struct Cache {
    dir: PathBuf,
    keep: usize,
}

impl Cache {
    /// Opens (making it if needed) the cache in `dir`, keeping `keep` bases, and clears
    /// what crashed builds left there.
    pub fn open(dir: &Path, keep: usize) -> Result<Cache, CacheError> {
        fs::create_dir_all(dir).map_err(io_err(dir, "create the directory"))?;
        prune::clear_abandoned(dir);
        Ok(Cache {
            dir: dir.to_owned(),
            keep: keep.max(1),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry_dir(&self, key: &ContentKey) -> PathBuf {
        self.dir.join(key.as_str())
    }

    /// The entry an earlier build made or used for this very file, if any.
    pub fn find_by_input(&self, id: &InputId) -> Option<ContentKey> {
        prune::entries(&self.dir)
            .into_iter()
            .find(|key| self.entry_dir(key).join(id.file_name()).exists())
    }

    /// The checked entry for `key`, or `None` when there is none or it is damaged (then
    /// it is removed, and `log` says why, so that this build makes it anew).
    pub fn load(
        &self,
        key: &ContentKey,
        id: &InputId,
        log: &mut dyn FnMut(String),
    ) -> Option<CachedBase> {
        let dir = self.entry_dir(key);
        if !dir.is_dir() {
            return None;
        }
        match entry::open_checked(&dir, key) {
            Ok(base) => {
                prune::touch(&dir);
                // Remembered, so that the next build from this file reads none of it.
                let _ = fs::write(dir.join(id.file_name()), b"");
                Some(base)
            }
            // Removed by another build between our look and our open: simply absent.
            Err(_) if !dir.is_dir() => None,
            Err(damage) => {
                let why = crate::error::chain(&damage);
                log(format!(
                    "cache: {} is damaged ({why}); removing it and decompressing again",
                    dir.display()
                ));
                prune::remove(&self.dir, &dir);
                None
            }
        }
    }

    /// A new, empty entry to decompress into.
    pub fn new_entry(&self) -> Result<NewEntry, CacheError> {
        NewEntry::create(&self.dir)
    }

    /// Puts a complete entry in place for `key`, then drops the least recently used
    /// entries beyond the limit, saying which. Returns the entry's directory, and whether
    /// this build's entry is the one kept (another build may have put the same one first).
    pub fn publish(
        &self,
        new: NewEntry,
        key: &ContentKey,
        id: &InputId,
        input: &Path,
        map: &crate::bmap::Bmap,
        log: &mut dyn FnMut(String),
    ) -> Result<(PathBuf, bool), CacheError> {
        let dest = self.entry_dir(key);
        let meta_of = |map_sha256, base_seal| entry::Meta {
            format: entry::FORMAT,
            key: key.to_string(),
            input: input.to_owned(),
            base_len: map.image_size,
            map_sha256,
            base_seal,
        };
        let ours = new.publish(&dest, meta_of, map, id)?;
        self.prune(key, log);
        Ok((dest, ours))
    }

    /// Keeps the `keep` most recently used entries (always `current`), removes the rest.
    pub fn prune(&self, current: &ContentKey, log: &mut dyn FnMut(String)) {
        prune::keep_recent(&self.dir, current, self.keep, log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_follows_xdg_then_home() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            dir_from(os("/x/cache"), os("/home/u")),
            Some(PathBuf::from("/x/cache/clem-image"))
        );
        // A relative XDG_CACHE_HOME is ignored, as the XDG rules say.
        assert_eq!(
            dir_from(os("rel"), os("/home/u")),
            Some(PathBuf::from("/home/u/.cache/clem-image"))
        );
        assert_eq!(dir_from(None, os("")), None);
        assert_eq!(dir_from(None, None), None);
    }
}
