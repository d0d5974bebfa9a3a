//! How the operator logs in to the nodes: the SSH public keys a build authorizes.
//!
//! Keys come from the command line or the config, else from `~/.ssh/*.pub`. With none at all
//! a build would remove the image's password login and add no key, leaving nodes nobody can
//! ever reach; so the cluster gets its own ed25519 key instead, made once in the cluster
//! directory (`ssh/id_ed25519`, 0600) and reused by later builds, like the CA.

use std::path::{Path, PathBuf};

use ssh_key::{rand_core::OsRng, Algorithm, LineEnding, PrivateKey};
use thiserror::Error;

use super::tls::{self, TlsError};
use crate::sshkey::{self, KeyError, PublicKey};

#[derive(Debug, Error)]
pub enum LoginError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Write(#[from] TlsError),
    #[error("{path}: cannot make an SSH key")]
    Generate {
        path: PathBuf,
        source: ssh_key::Error,
    },
}

/// Where the authorized keys came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Files named by `--ssh-key` or the config's `ssh_keys`.
    Given(Vec<PathBuf>),
    /// The operator's `~/.ssh/*.pub`.
    Home,
    /// The cluster's own key; `created` when this build made it.
    Cluster { private: PathBuf, created: bool },
}

/// The keys a build authorizes, and where they came from.
#[derive(Debug, Clone)]
pub struct Login {
    pub keys: Vec<PublicKey>,
    pub source: KeySource,
}

impl Login {
    /// The private key to pass to `ssh -i`, when it is the cluster's.
    pub fn identity(&self) -> Option<&Path> {
        match &self.source {
            KeySource::Cluster { private, .. } => Some(private),
            _ => None,
        }
    }
}

/// The cluster key's private half in a cluster directory.
pub fn cluster_key_path(dir: &Path) -> PathBuf {
    dir.join("ssh/id_ed25519")
}

/// Chooses the keys: the given files, else `~/.ssh/*.pub`, else the cluster's own key
/// (created the first time). `warn` hears about skipped files in `~/.ssh`.
pub fn choose(
    files: &[PathBuf],
    cluster_dir: &Path,
    warn: &mut dyn FnMut(String),
) -> Result<Login, LoginError> {
    if !files.is_empty() {
        let mut keys = Vec::new();
        for path in files {
            keys.extend(sshkey::read_keys(path)?);
        }
        return Ok(Login {
            keys,
            source: KeySource::Given(files.to_vec()),
        });
    }
    let keys = sshkey::default_keys(warn);
    if !keys.is_empty() {
        return Ok(Login {
            keys,
            source: KeySource::Home,
        });
    }
    let (key, private, created) = cluster_key(cluster_dir)?;
    Ok(Login {
        keys: vec![key],
        source: KeySource::Cluster { private, created },
    })
}

/// Loads the cluster key's public half, making the pair the first time.
fn cluster_key(dir: &Path) -> Result<(PublicKey, PathBuf, bool), LoginError> {
    let private = cluster_key_path(dir);
    let public = private.with_extension("pub");
    if private.exists() && public.exists() {
        let key = sshkey::read_keys(&public)?.remove(0);
        return Ok((key, private, false));
    }
    let fail = |source| LoginError::Generate {
        path: private.clone(),
        source,
    };
    let mut pair = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(fail)?;
    pair.set_comment("clem-image cluster key");
    let secret = pair.to_openssh(LineEnding::LF).map_err(fail)?;
    let line = pair.public_key().to_openssh().map_err(fail)?;
    // The public half last: its presence marks a complete pair (write_secret makes ssh/
    // 0700).
    tls::write_secret(&private, &secret, 0o600)?;
    tls::write_secret(&public, &format!("{line}\n"), 0o644)?;
    let key = sshkey::read_keys(&public)?.remove(0);
    Ok((key, private, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn cluster_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let (a, private, created) = cluster_key(dir.path()).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (b, _, again) = cluster_key(dir.path()).unwrap();
        assert!(!again);
        assert_eq!(a, b);
        assert_eq!(a.kind, "ssh-ed25519");
    }
}
