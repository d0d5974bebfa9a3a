//! The seal that lets a cache hit skip re-reading its base: the base's stat fingerprint
//! (device, inode, size, modification and change times), recorded in its metadata.
//!
//! Any write to the base, a truncation, or an mtime set back changes its change time, which
//! no user can set. That holds only if the file system's clock has moved past the base's
//! last change when the seal is taken (a write in the same clock tick would keep the same
//! time), so a seal is taken only then, as read from a file made for the purpose. What a
//! seal cannot see is damage below the file system (a failing disk); the file system's own
//! checks are the guard there, and a seal that does not hold means a full check.

use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::key::fingerprint;

/// How long to wait, at most, for the file system's clock to pass the base's last change:
/// a little over one second, the coarsest time stamps there are (ext3, FAT's 2 s aside).
const TRIES: u32 = 120;
const TICK: Duration = Duration::from_millis(10);

fn changed_ns(md: &Metadata) -> i128 {
    i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec())
}

/// The file system's current time, as the change time of a file made now in `dir`.
fn fs_now(dir: &Path) -> Option<i128> {
    let probe = tempfile::Builder::new()
        .prefix(".clock-")
        .tempfile_in(dir)
        .ok()?;
    probe.as_file().metadata().ok().map(|md| changed_ns(&md))
}

/// The seal of `base`, once the clock of the file system holding `dir` has passed its
/// last change; `None` if it cannot be read or the clock does not move.
pub(super) fn take(base: &File, dir: &Path) -> Option<String> {
    for _ in 0..TRIES {
        let md = base.metadata().ok()?;
        if fs_now(dir)? > changed_ns(&md) {
            return Some(fingerprint(&md));
        }
        std::thread::sleep(TICK);
    }
    None
}

/// Whether `base` is as it was when `seal` was taken.
pub(super) fn holds(seal: Option<&str>, base: &Metadata) -> bool {
    seal.is_some_and(|s| s == fingerprint(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;
    use std::time::SystemTime;

    fn sealed() -> (tempfile::TempDir, File, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("base");
        std::fs::write(&path, b"base data").unwrap();
        let base = File::options().read(true).write(true).open(&path).unwrap();
        let seal = take(&base, dir.path()).expect("the clock moves");
        (dir, base, seal)
    }

    #[test]
    fn an_untouched_base_keeps_its_seal() {
        let (_d, base, seal) = sealed();
        assert!(holds(Some(&seal), &base.metadata().unwrap()));
        assert!(!holds(None, &base.metadata().unwrap()));
    }

    /// Written at once after sealing, within the same tick if the clock is coarse, and
    /// with the modification time put back: the change time still tells.
    #[test]
    fn a_write_right_after_the_seal_breaks_it_even_with_mtime_restored() {
        let (_d, base, seal) = sealed();
        let mtime = base.metadata().unwrap().modified().unwrap();
        base.write_all_at(b"B", 0).unwrap();
        base.set_modified(mtime).unwrap();
        assert_eq!(base.metadata().unwrap().modified().unwrap(), mtime);
        assert!(!holds(Some(&seal), &base.metadata().unwrap()));
    }

    #[test]
    fn a_touch_breaks_it() {
        let (_d, base, seal) = sealed();
        base.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        assert!(!holds(Some(&seal), &base.metadata().unwrap()));
    }
}
