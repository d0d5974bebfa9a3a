//! Read-only ext4 access through `ext4-view`, over a partition window.
//!
//! Nothing read from the image is trusted as a size or a link: a file is read whole
//! only if it is no larger than the partition and [`MAX_READ`]; symlinks are resolved
//! here (each target at most [`MAX_LINK`] bytes, at most [`MAX_HOPS`] of them), so
//! ext4-view never reads a target itself; a listing stops at [`MAX_DEPTH`] levels or
//! [`MAX_PATH`] bytes of path, at more directories than the file system has inodes,
//! or at [`MAX_ENTRIES`] entries (a directory that loops back to an ancestor ends in
//! one of these; ext4-view does not expose inode numbers to recognise it sooner).

use std::io::{Read, Seek, SeekFrom};

use ext4_view::{Ext4, Ext4Read, Metadata};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::fs::{Entry, EntryKind};

/// Largest file read whole into memory (the files read so are configs and injected files).
pub const MAX_READ: u64 = 256 << 20;
/// Longest symlink target followed or reported (Linux's PATH_MAX).
pub const MAX_LINK: u64 = 4096;
/// Symlinks followed while resolving one path (Linux's limit).
pub const MAX_HOPS: usize = 40;
/// Longest path listed (Linux's PATH_MAX): deeper trees are taken for loops.
pub const MAX_PATH: usize = 4096;
/// Deepest directory listed: far deeper than any system image, shallow enough that a
/// loop is reported in seconds (each level re-resolves its path from the root).
pub const MAX_DEPTH: usize = 128;
/// Most entries one listing returns.
pub const MAX_ENTRIES: usize = 2_000_000;

#[derive(Debug, Error)]
pub enum Ext4ReadError {
    #[error("not a readable ext4 file system")]
    Open(#[source] ext4_view::Ext4Error),
    #[error("{path}")]
    Path {
        path: String,
        source: ext4_view::Ext4Error,
    },
    #[error("{path}: {what}")]
    Bad { path: String, what: String },
    #[error("reading the partition")]
    Io(#[from] std::io::Error),
}

fn bad(path: &str, what: impl Into<String>) -> Ext4ReadError {
    Ext4ReadError::Bad {
        path: path.to_string(),
        what: what.into(),
    }
}

/// Adapts any `Read + Seek` (a partition window) to ext4-view's positional reads.
struct Adapter<T>(T);

impl<T: Read + Seek> Ext4Read for Adapter<T> {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.0.seek(SeekFrom::Start(start_byte))?;
        self.0.read_exact(dst)?;
        Ok(())
    }
}

pub struct Ext4Reader {
    fs: Ext4,
    /// Bytes in the partition: no file's data can be longer.
    part_size: u64,
    /// s_inodes_count: a tree without loops has no more directories.
    inodes: u64,
}

/// A path cut for an error message (a looping tree makes very long ones).
fn short(path: &str) -> String {
    if path.len() <= 160 {
        return path.to_string();
    }
    let mut end = 160;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &path[..end])
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Ext4Reader {
    pub fn open<T: Read + Seek + 'static>(mut part: T) -> Result<Self, Ext4ReadError> {
        let part_size = part.seek(SeekFrom::End(0))?;
        let mut sb = [0u8; 4];
        part.seek(SeekFrom::Start(1024))?;
        part.read_exact(&mut sb)?;
        let inodes = u64::from(u32::from_le_bytes(sb));
        let fs = Ext4::load(Box::new(Adapter(part))).map_err(Ext4ReadError::Open)?;
        Ok(Ext4Reader {
            fs,
            part_size,
            inodes,
        })
    }

    pub fn label(&self) -> String {
        self.fs.label().to_str().unwrap_or("").to_string()
    }

    fn lstat(&self, path: &str) -> Result<Metadata, Ext4ReadError> {
        self.fs
            .symlink_metadata(path)
            .map_err(|source| Ext4ReadError::Path {
                path: path.into(),
                source,
            })
    }

    /// The target of the symlink at the symlink-free path `path`, size-checked first.
    fn link_target(&self, path: &str, md: &Metadata) -> Result<String, Ext4ReadError> {
        if md.len() > MAX_LINK {
            return Err(bad(
                path,
                format!(
                    "symlink target of {} bytes (more than {MAX_LINK})",
                    md.len()
                ),
            ));
        }
        let target = self
            .fs
            .read_link(path)
            .map_err(|source| Ext4ReadError::Path {
                path: path.into(),
                source,
            })?;
        Ok(String::from_utf8_lossy(target.as_ref()).into_owned())
    }

    /// `path` with every symlink resolved here (the last one only if `follow_last`).
    /// The result names the same file and contains no symlink ext4-view would follow.
    fn resolve(&self, path: &str, follow_last: bool) -> Result<String, Ext4ReadError> {
        if !path.starts_with('/') {
            return Err(bad(path, "not an absolute path"));
        }
        // Components still to walk, last first (so pushing a target's parts is cheap).
        let mut todo: Vec<String> = path.rsplit('/').map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            let here = join(&format!("/{}", done.join("/")), &c);
            let md = self.lstat(&here)?;
            if !md.is_symlink() || (todo.iter().all(|t| t.is_empty()) && !follow_last) {
                done.push(c);
                continue;
            }
            hops += 1;
            if hops > MAX_HOPS {
                return Err(bad(path, format!("more than {MAX_HOPS} symlinks")));
            }
            let target = self.link_target(&here, &md)?;
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(target.rsplit('/').map(str::to_string));
        }
        Ok(format!("/{}", done.join("/")))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path, true)
            .is_ok_and(|p| self.fs.exists(p.as_str()).unwrap_or(false))
    }

    /// A whole regular file, refused if larger than the partition or [`MAX_READ`].
    pub fn read(&self, path: &str) -> Result<Vec<u8>, Ext4ReadError> {
        let real = self.resolve(path, true)?;
        let len = self.check_len(path, &self.lstat(&real)?)?;
        if len > MAX_READ {
            return Err(bad(
                path,
                format!("{len} bytes: larger than {MAX_READ}, not read whole"),
            ));
        }
        let mut out = Vec::with_capacity(len as usize);
        self.stream(path, &real, |b| out.extend_from_slice(b))?;
        Ok(out)
    }

    /// A regular file's size, refused if larger than the partition could hold.
    fn check_len(&self, path: &str, md: &Metadata) -> Result<u64, Ext4ReadError> {
        if md.is_dir() || !md.file_type().is_regular_file() {
            return Err(bad(path, "not a regular file"));
        }
        if md.len() > self.part_size {
            return Err(bad(
                path,
                format!(
                    "inode size {} bytes exceeds the partition ({} bytes)",
                    md.len(),
                    self.part_size
                ),
            ));
        }
        Ok(md.len())
    }

    /// Feeds the data of the symlink-free path `real` to `sink` in chunks.
    fn stream(
        &self,
        path: &str,
        real: &str,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), Ext4ReadError> {
        let err = |source| Ext4ReadError::Path {
            path: path.into(),
            source,
        };
        let mut file = self.fs.open(real).map_err(err)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read_bytes(&mut buf).map_err(err)?;
            if n == 0 {
                return Ok(());
            }
            sink(&buf[..n]);
        }
    }

    pub fn read_link(&self, path: &str) -> Result<String, Ext4ReadError> {
        let real = self.resolve(path, false)?;
        let md = self.lstat(&real)?;
        self.link_target(path, &md)
    }

    /// Every entry under `/`, depth first, sorted by name; files with SHA-256.
    pub fn list(&self) -> Result<Vec<Entry>, Ext4ReadError> {
        self.list_under("/")
    }

    /// Every entry below directory `dir` (not `dir` itself), depth first, sorted by name.
    pub fn list_under(&self, dir: &str) -> Result<Vec<Entry>, Ext4ReadError> {
        let real = self.resolve(dir, true)?;
        let mut out = Vec::new();
        // One iterator per open directory level: no recursion, so no stack overflow.
        let mut stack = vec![self.list_dir(&real, dir)?.into_iter()];
        let mut dirs = 1u64;
        while let Some(top) = stack.last_mut() {
            let Some((e, sub)) = top.next() else {
                stack.pop();
                continue;
            };
            let shown = e.path.clone();
            out.push(e);
            let Some(sub) = sub else { continue };
            if stack.len() >= MAX_DEPTH {
                return Err(bad(
                    &short(&shown),
                    format!("more than {MAX_DEPTH} directory levels: the tree loops"),
                ));
            }
            dirs += 1;
            if dirs > self.inodes.max(1) {
                return Err(bad(
                    &short(&shown),
                    "more directories than inodes: the tree loops",
                ));
            }
            let children = self.list_dir(&sub, &shown)?;
            if out.len() + children.len() > MAX_ENTRIES {
                return Err(bad(
                    &short(&shown),
                    format!("more than {MAX_ENTRIES} entries"),
                ));
            }
            stack.push(children.into_iter());
        }
        Ok(out)
    }

    /// The entries of one directory, sorted by name, named under `shown`; each
    /// subdirectory comes with its symlink-free path for listing it in turn.
    fn list_dir(
        &self,
        real: &str,
        shown: &str,
    ) -> Result<Vec<(Entry, Option<String>)>, Ext4ReadError> {
        let err = |path: &str| {
            let path = path.to_string();
            move |source| Ext4ReadError::Path { path, source }
        };
        let mut names = Vec::new();
        for e in self.fs.read_dir(real).map_err(err(shown))? {
            let e = e.map_err(err(shown))?;
            let name = e.file_name();
            let name = String::from_utf8_lossy(name.as_ref()).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            names.push(name);
            if names.len() > MAX_ENTRIES {
                return Err(bad(shown, format!("more than {MAX_ENTRIES} entries")));
            }
        }
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let path = join(shown, &name);
            if path.len() > MAX_PATH {
                return Err(bad(
                    &short(shown),
                    format!("path longer than {MAX_PATH} bytes: the tree loops"),
                ));
            }
            let inner = join(real, &name);
            let e = self.entry(&inner, path)?;
            let sub = (e.kind == EntryKind::Dir).then_some(inner);
            out.push((e, sub));
        }
        Ok(out)
    }

    fn entry(&self, real: &str, path: String) -> Result<Entry, Ext4ReadError> {
        let md = self.lstat(real)?;
        let ft = md.file_type();
        let mut entry = Entry {
            path,
            kind: EntryKind::Other,
            size: md.len(),
            mode: Some(format!("{:04o}", md.mode() & 0o7777)),
            uid: Some(md.uid()),
            gid: Some(md.gid()),
            sha256: None,
            target: None,
        };
        if ft.is_dir() {
            entry.kind = EntryKind::Dir;
            // Directory sizes depend on block layout, not content: leave them out.
            entry.size = 0;
        } else if ft.is_symlink() {
            entry.kind = EntryKind::Symlink;
            entry.target = Some(self.link_target(real, &md)?);
        } else if ft.is_regular_file() {
            entry.kind = EntryKind::File;
            entry.sha256 = Some(self.hash(&entry.path, real, &md)?);
        }
        Ok(entry)
    }

    /// The entry at `path` (a final symlink not followed), as a listing gives it.
    pub fn stat(&self, path: &str) -> Result<Entry, Ext4ReadError> {
        let real = self.resolve(path, false)?;
        self.entry(&real, path.to_string())
    }

    /// (permission bits, uid, gid) of `path`, not following a final symlink.
    pub fn owner(&self, path: &str) -> Result<(u16, u32, u32), Ext4ReadError> {
        let md = self.lstat(&self.resolve(path, false)?)?;
        Ok((md.mode() & 0o7777, md.uid(), md.gid()))
    }

    /// Streams a file through SHA-256 without holding it in memory.
    pub fn sha256(&self, path: &str) -> Result<String, Ext4ReadError> {
        let real = self.resolve(path, true)?;
        let md = self.lstat(&real)?;
        self.hash(path, &real, &md)
    }

    fn hash(&self, path: &str, real: &str, md: &Metadata) -> Result<String, Ext4ReadError> {
        self.check_len(path, md)?;
        let mut hasher = Sha256::new();
        self.stream(path, real, |b| hasher.update(b))?;
        Ok(hex::encode(hasher.finalize()))
    }
}
