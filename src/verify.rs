//! Verification of a written image: its partition table, its file systems, every injected
//! file read back, and its SHA-256 against the `.sha256` file beside it.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::disk::PartitionTable;
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::FsKind;
use crate::io::sparse::data_ranges;
use crate::plan::{NodePlan, OpKind};
use crate::probe::{self, ProbeError};

#[derive(Debug, Error)]
pub enum VerifyError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("{path}: the partition table differs from the source image's\n  expected: {expected}\n  found:    {found}")]
    Table {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: partition {partition}: {file}: {detail}")]
    File {
        path: PathBuf,
        partition: u32,
        file: String,
        detail: String,
    },
    #[error("{path}: SHA-256 mismatch: {sums} says {expected}, the image hashes to {found}")]
    Sha {
        path: PathBuf,
        sums: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: bad manifest: {detail}")]
    Manifest { path: PathBuf, detail: String },
}

/// One file the build placed, as recorded in the node's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    pub partition: u32,
    pub fs: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `rpiN.manifest.json`: what `verify` needs to check an image without rebuilding it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub node: String,
    pub image: String,
    pub table: serde_json::Value,
    pub injected: Vec<Injected>,
}

impl Manifest {
    pub fn new(plan: &NodePlan, image: &str, table: &PartitionTable) -> Manifest {
        Manifest {
            node: plan.node.to_string(),
            image: image.to_string(),
            table: serde_json::to_value(table).expect("tables serialize"),
            injected: plan
                .ops
                .iter()
                .filter(|op| matches!(op.kind, OpKind::File { .. }))
                .map(|op| Injected {
                    partition: op.partition,
                    fs: match op.fs {
                        FsKind::Vfat => "vfat",
                        FsKind::Ext4 => "ext4",
                        FsKind::Unknown => "unknown",
                    }
                    .into(),
                    path: op.path.clone(),
                    size: op.data().len() as u64,
                    sha256: op.sha256(),
                })
                .collect(),
        }
    }
}

/// Checks `path` against the expected table and injected files.
pub fn verify_image(
    path: &Path,
    expected_table: &serde_json::Value,
    injected: &[Injected],
) -> Result<(), VerifyError> {
    let info = probe::probe(path)?;
    let found = serde_json::to_value(&info.table).expect("tables serialize");
    if &found != expected_table {
        return Err(VerifyError::Table {
            path: path.to_owned(),
            expected: expected_table.to_string(),
            found: found.to_string(),
        });
    }
    for want in injected {
        let file_err = |detail: String| VerifyError::File {
            path: path.to_owned(),
            partition: want.partition,
            file: want.path.clone(),
            detail,
        };
        let part = info
            .part(want.partition)
            .ok_or_else(|| file_err("the partition is missing".into()))?;
        let win = probe::open_part(path, &part.partition)?;
        let data = match part.fs {
            FsKind::Vfat => Fat::open(win, 0)
                .and_then(|fat| fat.read(&want.path))
                .map_err(|e| file_err(e.to_string()))?,
            FsKind::Ext4 => Ext4Reader::open(win)
                .and_then(|rd| rd.read(&want.path))
                .map_err(|e| file_err(e.to_string()))?,
            FsKind::Unknown => return Err(file_err("no known file system".into())),
        };
        let sha = hex::encode(Sha256::digest(&data));
        if data.len() as u64 != want.size || sha != want.sha256 {
            return Err(file_err(format!(
                "read back {} bytes with SHA-256 {sha}, expected {} bytes with {}",
                data.len(),
                want.size,
                want.sha256
            )));
        }
    }
    Ok(())
}

/// SHA-256 of a whole image. Holes are hashed as zeros without reading them from disk.
pub fn sha256_image(path: &Path) -> Result<String, VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut hasher = Sha256::new();
    let zeros = vec![0u8; 1 << 20];
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    let feed_zeros = |hasher: &mut Sha256, mut n: u64| {
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            hasher.update(&zeros[..k]);
            n -= k as u64;
        }
    };
    for (start, end) in data_ranges(&file, len).map_err(io_err)? {
        feed_zeros(&mut hasher, start - pos);
        let mut at = start;
        while at < end {
            let k = ((end - at) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..k], at).map_err(io_err)?;
            hasher.update(&buf[..k]);
            at += k as u64;
        }
        pos = end;
    }
    feed_zeros(&mut hasher, len - pos);
    Ok(hex::encode(hasher.finalize()))
}

/// Writes `<hex>  <file name>` in sha256sum's format.
pub fn write_sums(sums: &Path, image_name: &str, hex: &str) -> io::Result<()> {
    let mut f = File::create(sums)?;
    writeln!(f, "{hex}  {image_name}")?;
    f.sync_all()
}

/// The digest the `.sha256` file records for `image_name`.
pub fn read_sums(sums: &Path, image_name: &str) -> Result<String, VerifyError> {
    let text = std::fs::read_to_string(sums).map_err(|source| VerifyError::Io {
        path: sums.to_owned(),
        source,
    })?;
    text.lines()
        .filter_map(|l| l.split_once("  ").or_else(|| l.split_once(" *")))
        .find(|(_, name)| *name == image_name)
        .map(|(h, _)| h.to_string())
        .ok_or_else(|| VerifyError::Manifest {
            path: sums.to_owned(),
            detail: format!("no line for {image_name}"),
        })
}

/// Compares the image's hash with its `.sha256` file.
pub fn check_sums(image: &Path, sums: &Path) -> Result<String, VerifyError> {
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expected = read_sums(sums, &name)?;
    let found = sha256_image(image)?;
    if expected != found {
        return Err(VerifyError::Sha {
            path: image.to_owned(),
            sums: sums.to_owned(),
            expected,
            found,
        });
    }
    Ok(found)
}
