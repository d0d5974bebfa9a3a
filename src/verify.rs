//! Verification of a written image: its partition table, its file systems, every injected
//! file read back, and its SHA-256 against the `.sha256` file beside it. `report` runs the
//! checks one by one for the `verify` command.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::disk::PartitionTable;
use crate::fs::part::{Owner, PartFs, PartFsError};
use crate::io::checkpoint::hash_range;
use crate::probe::{self, ProbeError};

pub mod report;

pub use crate::manifest::{Injected, Manifest, ManifestError};

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
    #[error("{path}: cannot read")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: bad manifest: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error(transparent)]
    ManifestFile(#[from] ManifestError),
    #[error(transparent)]
    Read(#[from] crate::io::regular::UserFileError),
    /// Boxed: it is the largest cause, and `BuildError` carries a `VerifyError`.
    #[error(transparent)]
    Fs(Box<PartFsError>),
}

impl From<PartFsError> for VerifyError {
    fn from(e: PartFsError) -> Self {
        VerifyError::Fs(Box::new(e))
    }
}

struct Found {
    data: Vec<u8>,
    target: Option<String>,
    owner: Option<Owner>,
}

/// Checks `path` against the expected table and injected files.
pub fn verify_image(
    path: &Path,
    expected_table: &serde_json::Value,
    injected: &[Injected],
) -> Result<(), VerifyError> {
    let info = probe::probe(path)?;
    check_table(path, &info.table, expected_table)?;
    check_injected(path, path, &info, injected)
}

/// The table found in `name` against the one its manifest records.
pub fn check_table(
    name: &Path,
    found: &PartitionTable,
    expected: &serde_json::Value,
) -> Result<(), VerifyError> {
    let found = serde_json::to_value(found).expect("tables serialize");
    if &found != expected {
        return Err(VerifyError::Table {
            path: name.to_owned(),
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    Ok(())
}

/// Reads every injected file back from `data` (probed as `info`) and compares it with the
/// manifest's record; errors name the image `name`, the partition and the file.
pub fn check_injected(
    data: &Path,
    name: &Path,
    info: &probe::ImageInfo,
    injected: &[Injected],
) -> Result<(), VerifyError> {
    let mut open: BTreeMap<u32, PartFs> = BTreeMap::new();
    for want in injected {
        let file_err = |detail: String| VerifyError::File {
            path: name.to_owned(),
            partition: want.partition,
            file: want.path.clone(),
            detail,
        };
        let part = info
            .part(want.partition)
            .ok_or_else(|| file_err("the partition is missing".into()))?;
        let fs = match open.entry(want.partition) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(PartFs::open(data, name, &part.partition)?),
        };
        let found = read_back(fs, want)?;
        compare(&found, want, &file_err)?;
    }
    Ok(())
}

/// What the image holds at `want`'s path.
fn read_back(fs: &PartFs, want: &Injected) -> Result<Found, PartFsError> {
    Ok(Found {
        data: match want.kind.as_str() {
            "file" => fs.read(&want.path)?,
            _ => Vec::new(),
        },
        target: match want.kind.as_str() {
            "symlink" => Some(fs.read_link(&want.path)?),
            _ => None,
        },
        owner: fs.owner(&want.path)?,
    })
}

/// The read-back file against the manifest's size, digest, link target, mode and owner.
fn compare(
    found: &Found,
    want: &Injected,
    file_err: &dyn Fn(String) -> VerifyError,
) -> Result<(), VerifyError> {
    let sha = hex::encode(Sha256::digest(&found.data));
    if found.data.len() as u64 != want.size || sha != want.sha256 {
        return Err(file_err(format!(
            "read back {} bytes with SHA-256 {sha}, expected {} bytes with {}",
            found.data.len(),
            want.size,
            want.sha256
        )));
    }
    if want.target.is_some() && found.target != want.target {
        return Err(file_err(format!(
            "links to {:?}, expected {:?}",
            found.target, want.target
        )));
    }
    if let (Some(mode), Some(uid), Some(gid), Some(o)) =
        (&want.mode, want.uid, want.gid, found.owner)
    {
        let (m, u, g) = (o.mode, o.uid, o.gid);
        // Symlink permission bits are always 0777 and meaningless; directories that
        // already existed keep their own mode, so check owners of files only.
        if want.kind == "file" && (format!("{m:04o}") != *mode || u != uid || g != gid) {
            return Err(file_err(format!(
                "has mode {m:04o} owner {u}:{g}, expected {mode} {uid}:{gid}"
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
    hash_range(&mut hasher, &file, 0, len).map_err(io_err)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The digest the `.sha256` file records for `image_name`.
pub fn read_sums(sums: &Path, image_name: &str) -> Result<String, VerifyError> {
    let text = crate::io::regular::read_user_text(sums, crate::io::regular::SIDECAR)?;
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
