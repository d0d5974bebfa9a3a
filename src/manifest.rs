//! `rpiN.manifest.json`, the sidecar the build writes beside each image: what was placed
//! where, so that `verify`, `flash` and the one-CA check can judge an image without rebuilding
//! it. Its own module because the build writes it and several readers use it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::disk::PartitionTable;
use crate::fs::FsKind;
use crate::io::regular::{read_user_text, UserFileError, SIDECAR};
use crate::plan::{NodePlan, OpKind};

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error(transparent)]
    Read(#[from] UserFileError),
    #[error("{path}: not a clem-image manifest")]
    NotManifest {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// One file the build placed, as recorded in the node's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    pub partition: u32,
    pub fs: String,
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// Octal permission bits and owner (ext4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// `rpiN.manifest.json`: what `verify` needs to check an image without rebuilding it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub node: String,
    pub image: String,
    /// Built from the bundled test sample, which does not boot (`flash` warns).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sample: bool,
    /// The SHA-256 of the cluster CA the node trusts: nodes of different CAs never join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_sha256: Option<String>,
    pub table: serde_json::Value,
    pub injected: Vec<Injected>,
}

impl Manifest {
    /// Reads `rpiN.manifest.json` (a user's file: bounded, regular files only).
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let text = read_user_text(path, SIDECAR)?;
        serde_json::from_str(&text).map_err(|source| ManifestError::NotManifest {
            path: path.to_owned(),
            source,
        })
    }

    pub fn new(plan: &NodePlan, image: &str, table: &PartitionTable) -> Manifest {
        Manifest {
            node: plan.node.to_string(),
            image: image.to_string(),
            sample: false,
            ca_sha256: plan.ca_sha256.clone(),
            table: serde_json::to_value(table).expect("tables serialize"),
            injected: plan
                .ops
                .iter()
                .map(|op| {
                    let ext4 = op.fs == FsKind::Ext4;
                    Injected {
                        partition: op.partition,
                        fs: match op.fs {
                            FsKind::Vfat => "vfat",
                            FsKind::Ext4 => "ext4",
                            FsKind::Unknown => "unknown",
                        }
                        .into(),
                        path: op.path.clone(),
                        kind: match op.kind {
                            OpKind::File { .. } | OpKind::Copy { .. } => "file",
                            OpKind::Dir => "dir",
                            OpKind::Symlink { .. } => "symlink",
                        }
                        .into(),
                        target: match &op.kind {
                            OpKind::Symlink { target } => Some(target.clone()),
                            _ => None,
                        },
                        size: op.size(),
                        sha256: op.sha256(),
                        mode: ext4.then(|| format!("{:04o}", op.mode)),
                        uid: ext4.then_some(op.uid),
                        gid: ext4.then_some(op.gid),
                    }
                })
                .collect(),
        }
    }
}
