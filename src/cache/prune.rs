//! Keeping the cache small: the least recently used entries beyond the limit are removed
//! (and named), and so are temporary entries whose build died. Removal renames first, so
//! no reader ever finds half an entry under an entry's name.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use indicatif::HumanBytes;

use super::entry::{BASE, LOCK, META, USED};
use super::key::ContentKey;
use super::{TMP_PREFIX, TRASH_PREFIX};

/// A temporary entry without a lock file is this old at least before it counts as
/// abandoned (its maker may be between making the directory and locking it).
const GRACE: Duration = Duration::from_secs(60);

/// The entries in `dir` (directories named by a key), in no order.
pub(super) fn entries(dir: &Path) -> Vec<ContentKey> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| ContentKey::from_name(e.file_name().to_str()?))
        .collect()
}

/// Marks an entry as just used.
pub(super) fn touch(entry: &Path) {
    if let Ok(f) = File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(entry.join(USED))
    {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn last_used(entry: &Path) -> SystemTime {
    [USED, META]
        .iter()
        .find_map(|n| fs::metadata(entry.join(n)).and_then(|m| m.modified()).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Removes `entry`: renamed out of the way first (atomic), then deleted.
pub(super) fn remove(cache: &Path, entry: &Path) {
    let Ok(trash) = tempfile::Builder::new()
        .prefix(TRASH_PREFIX)
        .tempdir_in(cache)
    else {
        return;
    };
    let trash = trash.keep();
    // Onto the new empty directory: rename replaces an empty one.
    if fs::rename(entry, &trash).is_ok() {
        let _ = fs::remove_dir_all(&trash);
    } else {
        let _ = fs::remove_dir(&trash);
    }
}

/// Keeps `keep` entries, the most recently used (`current` always among them), and
/// removes the others, saying which and what they held.
pub(super) fn keep_recent(
    cache: &Path,
    current: &ContentKey,
    keep: usize,
    log: &mut dyn FnMut(String),
) {
    let mut others: Vec<(SystemTime, ContentKey)> = entries(cache)
        .into_iter()
        .filter(|k| k != current)
        .map(|k| (last_used(&cache.join(k.as_str())), k))
        .collect();
    others.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (_, key) in others.into_iter().skip(keep.saturating_sub(1)) {
        let dir = cache.join(key.as_str());
        let held = fs::metadata(dir.join(BASE)).map_or(0, |m| m.blocks() * 512);
        let input = fs::read(dir.join(META))
            .ok()
            .and_then(|raw| serde_json::from_slice::<super::entry::Meta>(&raw).ok())
            .map_or_else(
                || "an unknown input".to_owned(),
                |m| m.input.display().to_string(),
            );
        remove(cache, &dir);
        log(format!(
            "cache: removed {} (the base of {input}, {} on disk): only the {keep} most recently \
             used bases are kept",
            dir.display(),
            HumanBytes(held)
        ));
    }
}

/// Removes temporary entries whose maker is gone (their lock is free) and leftovers of
/// removals that were interrupted.
pub(super) fn clear_abandoned(cache: &Path) {
    let Ok(read) = fs::read_dir(cache) else {
        return;
    };
    for e in read.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let path = e.path();
        let trash = name.starts_with(TRASH_PREFIX);
        if trash || (name.starts_with(TMP_PREFIX) && abandoned(&path)) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

fn abandoned(tmp: &Path) -> bool {
    match File::open(tmp.join(LOCK)) {
        // The lock is held for as long as its maker runs, and dies with it.
        Ok(lock) => lock.try_lock().is_ok(),
        Err(_) => fs::metadata(tmp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > GRACE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> ContentKey {
        ContentKey::from_name(&c.to_string().repeat(64)).unwrap()
    }

    fn make(cache: &Path, k: &ContentKey, age_s: u64) {
        let d = cache.join(k.as_str());
        fs::create_dir(&d).unwrap();
        let f = File::create(d.join(USED)).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
    }

    #[test]
    fn the_least_recently_used_go_and_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path();
        for (ch, age) in [('a', 40), ('b', 30), ('c', 20), ('d', 10)] {
            make(c, &key(ch), age);
        }
        let mut lines = Vec::new();
        // 'a' is the oldest, but it is the one in use: it stays.
        keep_recent(c, &key('a'), 3, &mut |l| lines.push(l));
        let mut left: Vec<String> = entries(c).iter().map(|k| k.to_string()).collect();
        left.sort();
        assert_eq!(left, [key('a'), key('c'), key('d')].map(|k| k.to_string()));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(key('b').as_str()), "{lines:?}");
        assert!(
            lines[0].contains("only the 3 most recently used"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_locked_temporary_entry_stays_and_an_abandoned_one_goes() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path();
        let live = super::super::NewEntry::create(c).unwrap();
        let dead = c.join(format!("{TMP_PREFIX}dead"));
        fs::create_dir(&dead).unwrap();
        File::create(dead.join(LOCK)).unwrap();
        let trash = c.join(format!("{TRASH_PREFIX}x"));
        fs::create_dir(&trash).unwrap();
        clear_abandoned(c);
        assert!(live.base_path().exists());
        assert!(!dead.exists());
        assert!(!trash.exists());
    }
}
