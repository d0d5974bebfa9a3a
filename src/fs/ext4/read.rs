//! Read-only ext4 access through `ext4-view`, over a partition window.

use std::io::{Read, Seek, SeekFrom};

use ext4_view::{Ext4, Ext4Read};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::fs::{Entry, EntryKind};

#[derive(Debug, Error)]
pub enum Ext4ReadError {
    #[error("not a readable ext4 file system: {0}")]
    Open(ext4_view::Ext4Error),
    #[error("{path}: {source}")]
    Path {
        path: String,
        source: ext4_view::Ext4Error,
    },
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
}

impl Ext4Reader {
    pub fn open<T: Read + Seek + 'static>(part: T) -> Result<Self, Ext4ReadError> {
        let fs = Ext4::load(Box::new(Adapter(part))).map_err(Ext4ReadError::Open)?;
        Ok(Ext4Reader { fs })
    }

    pub fn label(&self) -> String {
        self.fs.label().to_str().unwrap_or("").to_string()
    }

    pub fn exists(&self, path: &str) -> bool {
        self.fs.exists(path).unwrap_or(false)
    }

    pub fn read(&self, path: &str) -> Result<Vec<u8>, Ext4ReadError> {
        self.fs.read(path).map_err(|source| Ext4ReadError::Path {
            path: path.into(),
            source,
        })
    }

    pub fn read_link(&self, path: &str) -> Result<String, Ext4ReadError> {
        let target = self
            .fs
            .read_link(path)
            .map_err(|source| Ext4ReadError::Path {
                path: path.into(),
                source,
            })?;
        Ok(String::from_utf8_lossy(target.as_ref()).into_owned())
    }

    /// Every entry under `/`, depth first, sorted by name; files with SHA-256.
    pub fn list(&self) -> Result<Vec<Entry>, Ext4ReadError> {
        self.list_under("/")
    }

    /// Every entry below directory `dir` (not `dir` itself), depth first, sorted by name.
    pub fn list_under(&self, dir: &str) -> Result<Vec<Entry>, Ext4ReadError> {
        let mut out = Vec::new();
        self.walk(dir, &mut out)?;
        Ok(out)
    }

    fn walk(&self, dir: &str, out: &mut Vec<Entry>) -> Result<(), Ext4ReadError> {
        let err = |path: &str| {
            let path = path.to_string();
            move |source| Ext4ReadError::Path { path, source }
        };
        let mut names = Vec::new();
        for e in self.fs.read_dir(dir).map_err(err(dir))? {
            let e = e.map_err(err(dir))?;
            let name = e.file_name();
            let name = String::from_utf8_lossy(name.as_ref()).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            names.push(name);
        }
        names.sort();
        for name in names {
            let path = if dir == "/" {
                format!("/{name}")
            } else {
                format!("{dir}/{name}")
            };
            let md = self
                .fs
                .symlink_metadata(path.as_str())
                .map_err(err(&path))?;
            let ft = md.file_type();
            let mut entry = Entry {
                path: path.clone(),
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
                out.push(entry);
                self.walk(&path, out)?;
                continue;
            }
            if ft.is_symlink() {
                entry.kind = EntryKind::Symlink;
                entry.target = Some(self.read_link(&path)?);
            } else if ft.is_regular_file() {
                entry.kind = EntryKind::File;
                entry.sha256 = Some(self.sha256(&path)?);
            }
            out.push(entry);
        }
        Ok(())
    }

    /// (permission bits, uid, gid) of `path`, not following a final symlink.
    pub fn owner(&self, path: &str) -> Result<(u16, u32, u32), Ext4ReadError> {
        let md = self
            .fs
            .symlink_metadata(path)
            .map_err(|source| Ext4ReadError::Path {
                path: path.into(),
                source,
            })?;
        Ok((md.mode() & 0o7777, md.uid(), md.gid()))
    }

    /// Streams a file through SHA-256 without holding it in memory.
    pub fn sha256(&self, path: &str) -> Result<String, Ext4ReadError> {
        let err = |source| Ext4ReadError::Path {
            path: path.into(),
            source,
        };
        let mut file = self.fs.open(path).map_err(err)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read_bytes(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hex::encode(hasher.finalize()))
    }
}
