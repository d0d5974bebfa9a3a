//! A node's plan: the list of file operations that make the image its own. Built without
//! touching an image, so what goes where is testable on its own.

use serde::Serialize;

use crate::fs::FsKind;
use crate::node::NodeName;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOp {
    /// Partition number (1-based) the file lands on.
    pub partition: u32,
    pub fs: FsKind,
    /// Absolute path inside that partition's file system.
    pub path: String,
    #[serde(skip)]
    pub contents: Vec<u8>,
    /// Permission bits; FAT ignores them.
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

impl FileOp {
    pub fn fat(partition: u32, path: &str, contents: Vec<u8>, mtime: u64) -> FileOp {
        FileOp {
            partition,
            fs: FsKind::Vfat,
            path: path.to_string(),
            contents,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(&self.contents))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    pub node: NodeName,
    pub ops: Vec<FileOp>,
}

impl NodePlan {
    pub fn new(node: NodeName) -> Self {
        NodePlan {
            node,
            ops: Vec::new(),
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
