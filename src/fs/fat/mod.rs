//! FAT (vfat) through `fatfs`: list, read, and create/replace files in existing directories.
//!
//! We never create directories on FAT: fatfs 0.3.6 writes long-name entries for `.` and
//! `..` that `fsck.fat` flags. Every file we place lives in a directory the image has.
//!
//! fatfs trusts the boot sector, follows chains without end and would let us write into a
//! damaged tree, so every mount is preceded by our own check of the layout, the chains and
//! the directory tree ([`check`]); only a file system that passes is handed to fatfs.

mod check;
mod entries;
mod geometry;
mod table;

use std::io::{self, Read, Write};

use fatfs::{Date, DateTime, FileSystem, FsOptions, ReadWriteSeek, Time, TimeProvider};
use thiserror::Error;

use super::{Entry, EntryKind};
use crate::io::hash_reader;

#[derive(Debug, Error)]
pub enum FatError {
    #[error("not a usable FAT file system")]
    Open(#[source] io::Error),
    #[error("damaged FAT file system: {0}")]
    Damaged(String),
    #[error("{path}")]
    Io { path: String, source: io::Error },
    #[error("{path}: the directory {dir} does not exist on this FAT partition")]
    NoParent { path: String, dir: String },
}

fn entry(path: String, kind: EntryKind, size: u64, sha256: Option<String>) -> Entry {
    Entry {
        path,
        kind,
        size,
        mode: None,
        uid: None,
        gid: None,
        sha256,
        target: None,
    }
}

/// A fixed clock for fatfs, so file times come from the build epoch.
#[derive(Debug)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

fn dos_time(epoch: u64) -> DateTime {
    let (y, mo, d, h, mi, s) = super::time::civil(epoch);
    // DOS dates start in 1980 and end in 2107.
    let year = y.clamp(1980, 2107) as u16;
    DateTime {
        date: Date {
            year,
            month: mo as u16,
            day: d as u16,
        },
        time: Time {
            hour: h as u16,
            min: mi as u16,
            sec: (s - s % 2) as u16,
            millis: 0,
        },
    }
}

pub struct Fat<T: ReadWriteSeek> {
    fs: FileSystem<T>,
}

impl<T: ReadWriteSeek> Fat<T> {
    /// Mounts the FAT in `disk` (the whole partition) after checking its structures;
    /// `epoch` stamps any file this handle writes.
    pub fn open(mut disk: T, epoch: u64) -> Result<Self, FatError> {
        let part_len = disk.seek(io::SeekFrom::End(0)).map_err(FatError::Open)?;
        check::check(&mut disk, part_len).map_err(FatError::Damaged)?;
        // fatfs asserts that the disk starts at position 0.
        disk.seek(io::SeekFrom::Start(0)).map_err(FatError::Open)?;
        // fatfs wants a `'static` provider; one small leak per mount is the price.
        let clock: &'static FixedTime = Box::leak(Box::new(FixedTime(dos_time(epoch))));
        let fs =
            FileSystem::new(disk, FsOptions::new().time_provider(clock)).map_err(FatError::Open)?;
        Ok(Fat { fs })
    }

    pub fn label(&self) -> String {
        self.fs.volume_label().trim_end().to_string()
    }

    /// Every file and directory, depth first, sorted by name, with each file's SHA-256.
    pub fn list(&self) -> Result<Vec<Entry>, FatError> {
        self.walk(true)
    }

    /// Like [`Fat::list`] without reading file contents (sizes from the directory, no
    /// digests): for finding files, where hashing a kernel would be wasted.
    pub fn names(&self) -> Result<Vec<Entry>, FatError> {
        self.walk(false)
    }

    /// Depth first with an explicit stack (the tree was checked acyclic at mount, and the
    /// stack keeps a deep one off the call stack).
    fn walk(&self, hash: bool) -> Result<Vec<Entry>, FatError> {
        let mut out = Vec::new();
        let mut stack = vec![(String::new(), self.children(&self.fs.root_dir(), "")?)];
        while let Some((prefix, children)) = stack.last_mut() {
            let Some(e) = children.next() else {
                stack.pop();
                continue;
            };
            let path = format!("{prefix}/{}", e.file_name());
            if e.is_dir() {
                if stack.len() > check::MAX_DEPTH {
                    return Err(FatError::Damaged(format!("{path}: nested too deep")));
                }
                out.push(entry(path.clone(), EntryKind::Dir, 0, None));
                let below = self.children(&e.to_dir(), &path)?;
                stack.push((path, below));
            } else if hash {
                let mut file = e.to_file();
                let (size, digest) = hash_reader(&mut file).map_err(|source| FatError::Io {
                    path: path.clone(),
                    source,
                })?;
                out.push(entry(path, EntryKind::File, size, Some(digest)));
            } else {
                out.push(entry(path, EntryKind::File, e.len(), None));
            }
        }
        Ok(out)
    }

    /// The entries of `dir` sorted by name, without `.`, `..` and the volume label.
    fn children<'a>(
        &self,
        dir: &fatfs::Dir<'a, T>,
        prefix: &str,
    ) -> Result<std::vec::IntoIter<fatfs::DirEntry<'a, T>>, FatError> {
        let mut entries = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(|source| FatError::Io {
                path: format!("{prefix}/"),
                source,
            })?;
            // By the 8.3 name, as the check skips them: a damaged long name on `..` must
            // not make it an ordinary directory (it leads back to the root).
            let short = e.short_file_name_as_bytes();
            if short == b"."
                || short == b".."
                || e.attributes().contains(fatfs::FileAttributes::VOLUME_ID)
            {
                continue;
            }
            entries.push(e);
        }
        entries.sort_by_key(|e| e.file_name());
        Ok(entries.into_iter())
    }

    /// Reads a whole (small) file; `path` is absolute within the partition.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, FatError> {
        let rel = path.trim_start_matches('/');
        let mut file = self
            .fs
            .root_dir()
            .open_file(rel)
            .map_err(|source| FatError::Io {
                path: path.into(),
                source,
            })?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(|source| FatError::Io {
            path: path.into(),
            source,
        })?;
        Ok(buf)
    }

    /// Creates or replaces `path` with `data`; its directory must already exist.
    pub fn write(&self, path: &str, data: &[u8]) -> Result<(), FatError> {
        let rel = path.trim_start_matches('/');
        if let Some((dir, _)) = rel.rsplit_once('/') {
            if self.fs.root_dir().open_dir(dir).is_err() {
                return Err(FatError::NoParent {
                    path: path.into(),
                    dir: format!("/{dir}"),
                });
            }
        }
        let io_err = |source| FatError::Io {
            path: path.into(),
            source,
        };
        let mut file = self.fs.root_dir().create_file(rel).map_err(io_err)?;
        file.truncate().map_err(io_err)?;
        file.write_all(data).map_err(io_err)?;
        file.flush().map_err(io_err)?;
        Ok(())
    }

    /// Writes FSInfo and clears the dirty flag; dropping without this may leave them stale.
    pub fn unmount(self) -> Result<(), FatError> {
        self.fs.unmount().map_err(FatError::Open)
    }
}

#[cfg(test)]
mod tests;
