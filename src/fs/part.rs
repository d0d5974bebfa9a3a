//! [`PartFs`]: the one read-only handle on a partition's file system, FAT or ext4, that
//! every reader of an image (probe, inspect, verify, diff, cat, explain) goes through.
//!
//! It hides which driver sits underneath and gives each failure one typed error,
//! [`PartFsError`], naming the image, the partition and the path, with the cause as its
//! `source`. The partition is opened through [`ReadOnly`], so no reader can ever write.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::ext4::read::{Ext4ReadError, Ext4Reader};
use super::fat::{Fat, FatError};
use super::{Entry, EntryKind, FsKind};
use crate::disk::Partition;
use crate::io::{ReadOnly, Window};

/// A partition of an image file, read-only: what the drivers are handed.
pub type PartWindow = Window<ReadOnly<File>>;

/// Something failed on partition `partition` of `image`, at `path` (`/` while opening).
#[derive(Debug, Error)]
#[error("{}: partition {partition}: {path}", image.display())]
pub struct PartFsError {
    pub image: PathBuf,
    pub partition: u32,
    pub path: String,
    #[source]
    pub cause: FsCause,
}

/// Why a [`PartFs`] operation failed.
#[derive(Debug, Error)]
pub enum FsCause {
    #[error("cannot open the image")]
    Image(#[source] io::Error),
    #[error("cannot read the partition")]
    Detect(#[source] io::Error),
    #[error("holds no FAT or ext4 file system")]
    NoFs,
    #[error("no such file")]
    Missing,
    #[error("is a directory")]
    IsDir,
    #[error("not a symlink")]
    NotLink,
    #[error("not a directory")]
    NotDir,
    /// The FAT driver's own error (it names a path when one is involved).
    #[error(transparent)]
    Fat(FatError),
    /// The ext4 reader's own error (it names a path when one is involved).
    #[error(transparent)]
    Ext4(Ext4ReadError),
}

/// Permission bits and owner of a file (ext4; FAT has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
}

enum Driver {
    Fat(Box<Fat<PartWindow>>),
    Ext4(Box<Ext4Reader>),
}

/// One partition's file system, open read-only. Paths are absolute within the partition
/// (`/etc/hostname`, `/cmdline.txt`); FAT names match without regard to case, as FAT does.
/// Every error is a [`PartFsError`] naming the image, the partition and the path.
pub struct PartFs {
    image: PathBuf,
    number: u32,
    driver: Driver,
}

impl PartFs {
    /// Opens partition `part` of the raw image at `data` (named `name` in errors),
    /// detecting its file system; one that is neither FAT nor ext4 is [`FsCause::NoFs`].
    pub fn open(data: &Path, name: &Path, part: &Partition) -> Result<PartFs, PartFsError> {
        let fail = |cause| PartFsError {
            image: name.to_owned(),
            partition: part.number,
            path: "/".into(),
            cause,
        };
        let mut win = Self::window(data, part).map_err(|e| fail(FsCause::Image(e)))?;
        let kind = super::detect(&mut win).map_err(|e| fail(FsCause::Detect(e)))?;
        let driver = match kind {
            FsKind::Vfat => Driver::Fat(Box::new(
                Fat::open(win, 0).map_err(|e| fail(FsCause::Fat(e)))?,
            )),
            FsKind::Ext4 => Driver::Ext4(Box::new(
                Ext4Reader::open(win).map_err(|e| fail(FsCause::Ext4(e)))?,
            )),
            FsKind::Unknown => return Err(fail(FsCause::NoFs)),
        };
        Ok(PartFs {
            image: name.to_owned(),
            number: part.number,
            driver,
        })
    }

    /// A read-only window on partition `part` of the image at `data`.
    pub fn window(data: &Path, part: &Partition) -> io::Result<PartWindow> {
        Ok(part.window(ReadOnly(File::open(data)?)))
    }

    /// The partition's number in its table.
    pub fn number(&self) -> u32 {
        self.number
    }

    pub fn kind(&self) -> FsKind {
        match self.driver {
            Driver::Fat(_) => FsKind::Vfat,
            Driver::Ext4(_) => FsKind::Ext4,
        }
    }

    /// The file system's volume label (empty when it has none).
    pub fn label(&self) -> String {
        match &self.driver {
            Driver::Fat(f) => f.label(),
            Driver::Ext4(r) => r.label(),
        }
    }

    fn fail(&self, path: &str, cause: FsCause) -> PartFsError {
        PartFsError {
            image: self.image.clone(),
            partition: self.number,
            path: path.into(),
            cause,
        }
    }

    /// An ext4 error as its cause: "not found" in plain words.
    fn ext4_cause(e: Ext4ReadError) -> FsCause {
        match e {
            Ext4ReadError::Path {
                source: ext4_view::Ext4Error::NotFound,
                ..
            } => FsCause::Missing,
            e => FsCause::Ext4(e),
        }
    }

    /// A whole regular file (symlinks followed on ext4). The ext4 reader refuses one
    /// larger than the partition or [`crate::fs::ext4::read::MAX_READ`].
    pub fn read(&self, path: &str) -> Result<Vec<u8>, PartFsError> {
        let result = match &self.driver {
            Driver::Fat(f) => f.read(path).map_err(FsCause::Fat),
            Driver::Ext4(r) => r.read(path).map_err(Self::ext4_cause),
        };
        // The drivers' errors for a directory or a missing name are not typed: say which.
        result.map_err(|cause| match self.stat(path) {
            Ok(e) if e.kind == EntryKind::Dir => self.fail(path, FsCause::IsDir),
            Err(e) if matches!(e.cause, FsCause::Missing) => e,
            _ => self.fail(path, cause),
        })
    }

    /// The entry at `path` as a listing gives it, a final symlink not followed (ext4
    /// files come with their SHA-256; FAT entries with their size only).
    pub fn stat(&self, path: &str) -> Result<Entry, PartFsError> {
        match &self.driver {
            Driver::Ext4(r) => r
                .stat(path)
                .map_err(|e| self.fail(path, Self::ext4_cause(e))),
            Driver::Fat(f) => {
                let want = path.trim_end_matches('/');
                if want.is_empty() {
                    return Ok(fat_root());
                }
                let names = f.names().map_err(|e| self.fail(path, FsCause::Fat(e)))?;
                names
                    .into_iter()
                    .find(|e| e.path.eq_ignore_ascii_case(want))
                    .ok_or_else(|| self.fail(path, FsCause::Missing))
            }
        }
    }

    /// Whether `path` names anything (on ext4, after following symlinks).
    pub fn exists(&self, path: &str) -> bool {
        match &self.driver {
            Driver::Ext4(r) => r.exists(path),
            Driver::Fat(_) => self.stat(path).is_ok(),
        }
    }

    /// Permission bits and owner of `path`, a final symlink not followed; `None` on FAT,
    /// which records neither.
    pub fn owner(&self, path: &str) -> Result<Option<Owner>, PartFsError> {
        match &self.driver {
            Driver::Fat(_) => self.stat(path).map(|_| None),
            Driver::Ext4(r) => {
                let (mode, uid, gid) = r
                    .owner(path)
                    .map_err(|e| self.fail(path, Self::ext4_cause(e)))?;
                Ok(Some(Owner { mode, uid, gid }))
            }
        }
    }

    /// The target of the symlink at `path` (FAT has no symlinks).
    pub fn read_link(&self, path: &str) -> Result<String, PartFsError> {
        match &self.driver {
            Driver::Fat(_) => self.stat(path).and(Err(self.fail(path, FsCause::NotLink))),
            Driver::Ext4(r) => r.read_link(path).map_err(|e| match e {
                Ext4ReadError::Path {
                    source: ext4_view::Ext4Error::NotASymlink,
                    ..
                } => self.fail(path, FsCause::NotLink),
                e => self.fail(path, Self::ext4_cause(e)),
            }),
        }
    }

    /// The entries directly in directory `dir`, sorted by name.
    pub fn list(&self, dir: &str) -> Result<Vec<Entry>, PartFsError> {
        let dir = dir.trim_end_matches('/');
        let prefix = format!("{dir}/");
        let below = match &self.driver {
            Driver::Ext4(r) => r
                .list_under(if dir.is_empty() { "/" } else { dir })
                .map_err(|e| self.fail(&prefix, Self::ext4_cause(e)))?,
            Driver::Fat(f) => f.names().map_err(|e| self.fail(&prefix, FsCause::Fat(e)))?,
        };
        let direct = |e: &Entry| {
            e.path
                .strip_prefix(&prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        };
        let mut out: Vec<Entry> = below.into_iter().filter(direct).collect();
        if out.is_empty() && !dir.is_empty() && self.stat(dir)?.kind != EntryKind::Dir {
            return Err(self.fail(dir, FsCause::NotDir));
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Every file and directory, depth first, sorted by name, each file with its SHA-256:
    /// what `inspect` prints.
    pub fn walk(&self) -> Result<Vec<Entry>, PartFsError> {
        match &self.driver {
            Driver::Fat(f) => f.list().map_err(|e| self.fail("/", FsCause::Fat(e))),
            Driver::Ext4(r) => r.list().map_err(|e| self.fail("/", Self::ext4_cause(e))),
        }
    }
}

/// The FAT root, which no listing has an entry for.
fn fat_root() -> Entry {
    Entry {
        path: "/".into(),
        kind: EntryKind::Dir,
        size: 0,
        mode: None,
        uid: None,
        gid: None,
        sha256: None,
        target: None,
    }
}

#[cfg(test)]
mod tests;
