//! Why a cluster config cannot be used: each names the file and, where it can, the line.

use std::path::PathBuf;

use thiserror::Error;

use crate::cloudinit::CloudConfigError;
use crate::cluster::tls::TlsError;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `message` starts with the line number when toml gives one: `file:line: …`. It is
    /// toml's message, not its error: that one quotes the line, and the file may be a secret.
    #[error("{path}:{message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    CloudConfig(#[from] CloudConfigError),
    #[error(transparent)]
    Key(#[from] TlsError),
}
