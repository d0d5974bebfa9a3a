//! The operator's side of the mutual TLS: the client certificate and key `init` made, and
//! the cluster CA as the only root trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why the operator's TLS material cannot be used; each names the file at fault.
#[derive(Debug, Error)]
pub enum ClientTlsError {
    #[error("{path}: cannot read a certificate (run `clem-image init`?)")]
    ReadCert {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{path}: holds no certificate")]
    NoCert { path: PathBuf },
    #[error("{path}: not a usable CA certificate")]
    BadCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{path}: cannot read the private key")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{path}: no TLS version to offer")]
    Protocols {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{path}: certificate and key do not fit")]
    KeyMismatch {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// The operator's client certificate and the cluster CA, ready to connect with.
#[derive(Clone)]
pub struct ClientTls {
    pub(super) config: Arc<rustls::ClientConfig>,
    /// The CA certificate trusted (hints name it).
    pub(super) ca_path: PathBuf,
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientTlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|source| ClientTlsError::ReadCert {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ClientTlsError::NoCert {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

impl ClientTls {
    /// Loads `<dir>/client/{cert,key}.pem` and trusts only `<dir>/tls/ca.pem`.
    pub fn load(dir: &Path) -> Result<ClientTls, ClientTlsError> {
        let ca_path = dir.join("tls/ca.pem");
        let cert_path = dir.join("client/cert.pem");
        let key_path = dir.join("client/key.pem");
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(&ca_path)? {
            roots.add(c).map_err(|source| ClientTlsError::BadCa {
                path: ca_path.clone(),
                source,
            })?;
        }
        let chain = read_certs(&cert_path)?;
        let key =
            PrivateKeyDer::from_pem_file(&key_path).map_err(|source| ClientTlsError::ReadKey {
                path: key_path.clone(),
                source,
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| ClientTlsError::Protocols {
                path: cert_path.clone(),
                source,
            })?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|source| ClientTlsError::KeyMismatch {
                path: cert_path.clone(),
                source,
            })?;
        Ok(ClientTls {
            config: Arc::new(config),
            ca_path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_names_the_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = ClientTls::load(dir.path()).err().unwrap();
        assert!(matches!(e, ClientTlsError::ReadCert { .. }), "{e}");
        let text = crate::error::chain(&e);
        assert!(
            text.starts_with(&format!(
                "{}: cannot read a certificate (run `clem-image init`?): ",
                dir.path().join("tls/ca.pem").display()
            )),
            "{text}"
        );
    }

    #[test]
    fn an_empty_file_holds_no_certificate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tls")).unwrap();
        std::fs::write(dir.path().join("tls/ca.pem"), "").unwrap();
        let e = ClientTls::load(dir.path()).err().unwrap();
        assert!(matches!(e, ClientTlsError::NoCert { .. }), "{e}");
        assert!(e.to_string().ends_with("tls/ca.pem: holds no certificate"));
    }
}
