//! An output directory owned by one build: a lock, temporaries unique to the build, stale
//! temporaries of dead builds removed, each node's files published as a set, and no
//! directory of ours left empty by a failed build.
//!
//! What a crash can leave (README, "What a crash leaves"): temporaries named `.clem-tmp-*`
//! (removed by the next build into the same directory), and for a node being published
//! either its old complete set, its new complete set, or sidecars without an image. An
//! image under its final name always has its own sidecars beside it, because the old image
//! is unlinked before the new sidecars go live and the new image is renamed in last.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use thiserror::Error;

use crate::testhook;

/// The lock file's name inside the output directory.
pub const LOCK_NAME: &str = ".clem-image.lock";
/// Every temporary a build makes starts with this.
pub const TEMP_PREFIX: &str = ".clem-tmp-";
/// Mode of an image: it holds the node's TLS key.
pub const IMAGE_MODE: u32 = 0o600;
/// Mode of the sidecars (digests and file lists, no secrets).
pub const SIDECAR_MODE: u32 = 0o644;
/// Mode of directories the build creates.
pub const DIR_MODE: u32 = 0o755;

#[derive(Debug, Error)]
pub enum OutDirError {
    #[error("{path}: cannot {action}")]
    Io {
        path: PathBuf,
        /// What was being done, as a verb phrase ("remove it", "sync it").
        action: &'static str,
        source: io::Error,
    },
    #[error(
        "{path}: another build is writing into this directory ({holder}); wait for it to \
         finish or give another --out"
    )]
    Busy { path: PathBuf, holder: String },
    #[error("{path}: exists and is not a directory")]
    NotADir { path: PathBuf },
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> OutDirError + 'a {
    move |source| OutDirError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// One output file moving from its temporary name to its final one.
pub struct Staged {
    pub tmp: PathBuf,
    pub dest: PathBuf,
}

/// An output directory held by this build until dropped.
#[derive(Debug)]
pub struct OutDir {
    path: PathBuf,
    /// Held open: the `flock` lasts as long as the file is open, and dies with the process.
    _lock: File,
    /// Directories this build created, outermost first.
    created: Vec<PathBuf>,
    done: bool,
}

impl OutDir {
    /// Creates `path` (and missing parents) if needed, takes its lock, and removes the
    /// temporaries of dead builds.
    pub fn claim(path: &Path) -> Result<OutDir, OutDirError> {
        let created = create_dirs(path)?;
        let lock = match lock(path) {
            Ok(lock) => lock,
            Err(e) => {
                remove_empty(&created);
                return Err(e);
            }
        };
        let out = OutDir {
            path: path.to_owned(),
            _lock: lock,
            created,
            done: false,
        };
        out.remove_stale()?;
        testhook::point("locked");
        Ok(out)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A new temporary file for `what` (e.g. `rpi1.img`), unique to this build.
    pub fn temp_file(&self, what: &str) -> Result<NamedTempFile, OutDirError> {
        tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{what}."))
            .tempfile_in(&self.path)
            .map_err(io_err(&self.path, "create a temporary file in it"))
    }

    /// Writes `bytes` to a new temporary for `what`, durable and with exactly `mode`.
    pub fn temp_with(&self, what: &str, bytes: &[u8], mode: u32) -> Result<PathBuf, OutDirError> {
        let tmp = self.temp_file(what)?;
        let path = tmp.path().to_owned();
        let file = tmp.as_file();
        let write = || -> io::Result<()> {
            file.set_permissions(Permissions::from_mode(mode))?;
            (&*file).write_all(bytes)?;
            file.sync_all()
        };
        write().map_err(io_err(&path, "write it"))?;
        tmp.keep().map_err(|e| io_err(&path, "keep it")(e.error))?;
        Ok(path)
    }

    /// Publishes one node: the old image goes first, then the sidecars go live (and stale
    /// ones in `remove` go), and the image is renamed in last, so no final-named image ever
    /// sits beside another build's sidecars.
    pub fn publish(
        &self,
        image: NamedTempFile,
        image_dest: &Path,
        sidecars: &[Staged],
        remove: &[PathBuf],
    ) -> Result<(), OutDirError> {
        let file = image.as_file();
        file.set_permissions(Permissions::from_mode(IMAGE_MODE))
            .and_then(|()| file.sync_all())
            .map_err(io_err(image.path(), "make it private and durable"))?;
        remove_if_there(image_dest)?;
        testhook::point("old-image-removed");
        for stale in remove {
            remove_if_there(stale)?;
        }
        for s in sidecars {
            fs::rename(&s.tmp, &s.dest).map_err(io_err(&s.dest, "rename a sidecar to it"))?;
            testhook::point("sidecar-renamed");
        }
        sync_dir(&self.path)?;
        image
            .persist(image_dest)
            .map_err(|e| io_err(image_dest, "rename the image to it")(e.error))?;
        testhook::point("image-renamed");
        sync_dir(&self.path)
    }

    /// The build succeeded: keep what it created.
    pub fn finish(mut self) {
        self.done = true;
    }

    /// Removes every temporary left by a build that died (we hold the lock, so none is
    /// alive), including the names older releases used.
    fn remove_stale(&self) -> Result<(), OutDirError> {
        let entries = fs::read_dir(&self.path).map_err(io_err(&self.path, "list it"))?;
        for entry in entries {
            let entry = entry.map_err(io_err(&self.path, "list it"))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && is_stale_name(name) {
                remove_if_there(&entry.path())?;
            }
        }
        Ok(())
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        // Removed while still held: a build that opened it meanwhile sees it unlinked when
        // it checks after locking, and starts again (see `lock`).
        let _ = fs::remove_file(self.path.join(LOCK_NAME));
        if !self.done {
            remove_empty(&self.created);
        }
    }
}

/// Names of temporaries: ours, and those of releases before the lock (`.base-*`,
/// `.rpi1.img.XXXXXX`, `.rpi1.img.bmap.tmp`, `.rpi1.manifest.json.tmp`, …).
fn is_stale_name(name: &str) -> bool {
    if name.starts_with(TEMP_PREFIX) || name.starts_with(".base-") {
        return true;
    }
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    if rest.ends_with(".tmp") {
        return [".img.bmap.tmp", ".img.sha256.tmp", ".manifest.json.tmp"]
            .iter()
            .any(|s| rest.ends_with(s));
    }
    // tempfile's old names: `.<node>.img.` and six random characters.
    match rest.rsplit_once(".img.") {
        Some((node, tail)) => {
            !node.is_empty() && tail.len() == 6 && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Creates `path` and its missing parents with [`DIR_MODE`]; returns those it created.
fn create_dirs(path: &Path) -> Result<Vec<PathBuf>, OutDirError> {
    let mut missing = Vec::new();
    let mut at = Some(path);
    while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(OutDirError::NotADir { path: p.to_owned() }),
            Err(_) => missing.push(p.to_owned()),
        }
        at = p.parent();
    }
    missing.reverse();
    let mut created = Vec::new();
    for dir in missing {
        let made = fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(&dir)
            .and_then(|()| fs::set_permissions(&dir, Permissions::from_mode(DIR_MODE)));
        if let Err(e) = made {
            remove_empty(&created);
            return Err(io_err(&dir, "create it")(e));
        }
        created.push(dir);
    }
    Ok(created)
}

/// Removes the directories in `dirs` that are empty, innermost first.
fn remove_empty(dirs: &[PathBuf]) {
    for dir in dirs.iter().rev() {
        if fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

/// Takes the directory's lock without waiting, and records who holds it.
fn lock(dir: &Path) -> Result<File, OutDirError> {
    let path = dir.join(LOCK_NAME);
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(SIDECAR_MODE)
            .open(&path)
            .map_err(io_err(&path, "open the lock file"))?;
        // An exclusive flock(2) (what std uses on Linux), so it dies with the process.
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                return Err(OutDirError::Busy {
                    path: dir.to_owned(),
                    holder: describe_holder(&holder),
                });
            }
            Err(fs::TryLockError::Error(err)) => return Err(io_err(&path, "lock it")(err)),
        }
        // A finishing build may have removed the file between our open and our lock:
        // then the lock we hold is on a file nobody else will see; start again.
        let same = match (file.metadata(), fs::metadata(&path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if !same {
            continue;
        }
        let mut record = || -> io::Result<()> {
            file.set_permissions(Permissions::from_mode(SIDECAR_MODE))?;
            file.set_len(0)?;
            writeln!(file, "pid {}", std::process::id())
        };
        record().map_err(io_err(&path, "record the lock's holder"))?;
        return Ok(file);
    }
}

/// What the lock file says of its holder, in one short printable line.
fn describe_holder(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    let clean: String = line
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .take(40)
        .collect();
    if clean.is_empty() {
        "its process id is not recorded yet".to_string()
    } else {
        clean
    }
}

fn remove_if_there(path: &Path) -> Result<(), OutDirError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path, "remove it")(e)),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), OutDirError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_names_are_ours_or_the_old_releases_and_nothing_else() {
        for stale in [
            ".clem-tmp-rpi1.img.AbC123",
            ".base-x1y2z3",
            ".rpi1.img.AbC123",
            ".rpi1.img.bmap.tmp",
            ".rpi1.img.sha256.tmp",
            ".rpi1.manifest.json.tmp",
        ] {
            assert!(is_stale_name(stale), "{stale}");
        }
        for keep in [
            "rpi1.img",
            "rpi1.img.bmap",
            ".rpi1.img",
            ".notes.tmp",
            ".rpi1.img.longer-tail",
            LOCK_NAME,
            ".img.AbC123",
        ] {
            assert!(!is_stale_name(keep), "{keep}");
        }
    }

    #[test]
    fn a_second_claim_is_refused_naming_the_first_and_a_failed_claim_leaves_no_dirs() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("a/b");
        let first = OutDir::claim(&out).unwrap();
        let e = OutDir::claim(&out).unwrap_err().to_string();
        assert!(
            e.contains("another build") && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        drop(first);
        assert!(
            !root.path().join("a").exists(),
            "unfinished claim left its directories"
        );
        let kept = OutDir::claim(&out).unwrap();
        kept.finish();
        assert!(out.is_dir());
    }

    #[test]
    fn claim_removes_stale_temporaries_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".clem-tmp-rpi1.img.zzzzzz",
            ".base-abcdef",
            "rpi1.img",
            "notes",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        OutDir::claim(dir.path()).unwrap().finish();
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["notes", "rpi1.img"]);
    }
}
