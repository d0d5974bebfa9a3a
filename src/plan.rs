//! A node's plan: the list of file operations that make the image its own. Built without
//! touching an image, so what goes where is testable on its own.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fs::FsKind;
use crate::node::NodeName;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum OpKind {
    /// Create or replace a regular file.
    File {
        #[serde(skip)]
        data: Vec<u8>,
    },
    /// Create a directory (and its parents, with the same owner and mode).
    Dir,
    /// Create or replace a symbolic link.
    Symlink { target: String },
    /// Create or replace a regular file with a host file's bytes, streamed at apply time
    /// (a docker bundle is tens of MiB: it is never held in memory).
    #[serde(rename = "file")]
    Copy {
        #[serde(skip)]
        source: HostFile,
    },
}

/// A file on the build host, with the size and digest it had when the plan was made; the
/// copy is checked against both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

impl HostFile {
    /// Reads `path` once to take its size and SHA-256. Only regular files are taken: a
    /// FIFO or device would block or never end.
    pub fn digest(path: &Path) -> Result<HostFile, (PathBuf, std::io::Error)> {
        let err = |e| (path.to_owned(), e);
        let (mut file, _) = crate::io::regular::open_user_file(path, crate::io::regular::PAYLOAD)
            .map_err(|e| err(std::io::Error::other(e.problem)))?;
        let (size, sha256) = crate::io::hash_reader(&mut file).map_err(err)?;
        Ok(HostFile {
            path: path.to_owned(),
            size,
            sha256,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOp {
    /// Partition number (1-based) the file lands on.
    pub partition: u32,
    pub fs: FsKind,
    /// Absolute path inside that partition's file system.
    pub path: String,
    #[serde(flatten)]
    pub kind: OpKind,
    /// Permission bits; FAT ignores them.
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

/// Owner and permissions of a file in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const fn root(mode: u16) -> Owner {
        Owner {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

impl FileOp {
    pub fn fat(partition: u32, path: &str, data: Vec<u8>, mtime: u64) -> FileOp {
        FileOp {
            partition,
            fs: FsKind::Vfat,
            path: path.to_string(),
            kind: OpKind::File { data },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    pub fn ext4(partition: u32, path: &str, kind: OpKind, owner: Owner, mtime: u64) -> FileOp {
        FileOp {
            partition,
            fs: FsKind::Ext4,
            path: path.to_string(),
            kind,
            mode: owner.mode,
            uid: owner.uid,
            gid: owner.gid,
            mtime,
        }
    }

    /// The file's bytes (empty for directories and links).
    pub fn data(&self) -> &[u8] {
        match &self.kind {
            OpKind::File { data } => data,
            _ => &[],
        }
    }

    pub fn sha256(&self) -> String {
        match &self.kind {
            OpKind::Copy { source } => source.sha256.clone(),
            _ => hex::encode(Sha256::digest(self.data())),
        }
    }

    /// The file's size in bytes (0 for directories and links).
    pub fn size(&self) -> u64 {
        match &self.kind {
            OpKind::Copy { source } => source.size,
            _ => self.data().len() as u64,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    pub node: NodeName,
    pub ops: Vec<FileOp>,
    /// Things the user should know about this node's image (printed by build).
    #[serde(skip)]
    pub notes: Vec<String>,
    /// The SHA-256 of the cluster CA this node trusts (TLS builds).
    #[serde(skip)]
    pub ca_sha256: Option<String>,
}

impl NodePlan {
    pub fn new(node: NodeName) -> Self {
        NodePlan {
            node,
            ops: Vec::new(),
            notes: Vec::new(),
            ca_sha256: None,
        }
    }

    pub fn push(&mut self, op: FileOp) {
        self.ops.push(op);
    }

    /// Partition numbers this plan writes to, ascending, each once.
    pub fn partitions(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.ops.iter().map(|o| o.partition).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
