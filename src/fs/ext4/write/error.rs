//! Errors of the ext4 writer.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Ext4Error {
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    #[error("not an ext4 file system: {0}")]
    NotExt4(String),
    #[error("unsupported ext4 feature or layout: {0}")]
    Unsupported(String),
    #[error("the journal needs recovery (needs_recovery is set): run e2fsck first")]
    NeedsRecovery,
    #[error("file system is not clean: {0}")]
    NotClean(String),
    #[error("corrupt file system: {0}")]
    Corrupt(String),
    #[error("no space left on file system: {0}")]
    NoSpace(String),
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("not a directory: {0}")]
    NotADirectory(String),
    #[error("is a directory: {0}")]
    IsADirectory(String),
    #[error("invalid path or name: {0}")]
    InvalidPath(String),
    #[error("directory index is full at its maximum depth: {0}")]
    DirIndexFull(String),
    #[error("short read of file data: expected {expected} bytes, got {got}")]
    ShortData { expected: u64, got: u64 },
}

pub(crate) fn corrupt(msg: impl Into<String>) -> Ext4Error {
    Ext4Error::Corrupt(msg.into())
}
