//! The cluster's TLS material: a CA made once and kept in the cluster directory (key 0600),
//! a server certificate per node (SANs: host name and address) and a client certificate for
//! the operator, laid out so the directory works as docker's `DOCKER_CERT_PATH`.
//!
//! Everything is generated once and reused: keys and certificates are inputs of later
//! builds, so the same inputs give the same image bytes.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use thiserror::Error;

use crate::node::NodeName;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A certificate or key file refused before reading (not regular, too large, not UTF-8).
    #[error(transparent)]
    Refused(#[from] crate::io::regular::UserFileError),
    #[error("{path}: {detail}")]
    Cert { path: PathBuf, detail: String },
    #[error(
        "{path}: a private key readable by {who} (mode {mode:04o}); run `chmod 600 {path}` \
         (or pass --allow-open-keys to use it anyway)"
    )]
    OpenKey {
        path: PathBuf,
        who: &'static str,
        mode: u32,
    },
}

/// The private keys of a cluster directory: the CA's, the operator's, and every node's.
fn private_keys(dir: &Path) -> Vec<PathBuf> {
    let mut keys = vec![
        dir.join("tls/ca-key.pem"),
        dir.join("client/key.pem"),
        super::login::cluster_key_path(dir),
    ];
    if let Ok(nodes) = fs::read_dir(dir.join("nodes")) {
        for node in nodes.flatten() {
            keys.push(node.path().join("key.pem"));
            keys.push(node.path().join("client/key.pem"));
        }
    }
    keys
}

/// Refuses, as ssh does, a private key of the cluster directory that group or others may
/// read: whoever could read it may already hold a copy. With `allow`, each such key is a
/// warning instead.
pub fn check_key_modes(dir: &Path, allow: bool) -> Result<Vec<String>, TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let mut warnings = Vec::new();
    for path in private_keys(dir) {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 == 0 {
            continue;
        }
        let who = if mode & 0o007 != 0 {
            "others"
        } else {
            "its group"
        };
        let err = TlsError::OpenKey { path, who, mode };
        if !allow {
            return Err(err);
        }
        warnings.push(format!("--allow-open-keys: using {err}"));
    }
    Ok(warnings)
}

/// A Raspberry Pi has no real-time clock: at first boot its time may be years behind the
/// build. Certificates are therefore valid from long before any plausible boot clock.
fn validity(params: &mut CertificateParams) {
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
}

pub(crate) fn write_secret(path: &Path, data: &str, mode: u32) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        make_dir(dir, 0o700)?;
    }
    // Write to a temporary name with the final mode from the start, then rename. The mode
    // is set again on the open file: the umask may have taken bits the mode asked for.
    // Unique per process: two builds sharing a cluster directory never write one file.
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode & 0o600)
        .open(&tmp)
        .map_err(io)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(data.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Creates `dir` and its missing parents with exactly `mode`, whatever the umask; an
/// existing directory is left as it is.
pub fn make_dir(dir: &Path, mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::DirBuilderExt;
    let io = |source| TlsError::Io {
        path: dir.to_owned(),
        source,
    };
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dir(parent, mode)?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(io(e)),
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    Ok(crate::io::regular::read_user_text(
        path,
        crate::io::regular::PEM,
    )?)
}

fn cert_err(path: &Path) -> impl Fn(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError::Cert {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}

/// A PEM certificate and its PEM private key.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: String,
    pub key: String,
}

pub struct ClusterCa {
    dir: PathBuf,
    cert_pem: String,
    key: KeyPair,
    /// This run made the CA (it did not exist before).
    created: bool,
}

impl ClusterCa {
    pub fn ca_path(dir: &Path) -> PathBuf {
        dir.join("tls/ca.pem")
    }

    /// Loads the CA from `dir/tls/`, creating it the first time.
    pub fn open_or_create(dir: &Path, log: &mut dyn FnMut(String)) -> Result<ClusterCa, TlsError> {
        let cert_path = Self::ca_path(dir);
        let key_path = dir.join("tls/ca-key.pem");
        if cert_path.exists() && key_path.exists() {
            let key = KeyPair::from_pem(&read(&key_path)?).map_err(cert_err(&key_path))?;
            return Ok(ClusterCa {
                dir: dir.to_owned(),
                cert_pem: read(&cert_path)?,
                key,
                created: false,
            });
        }
        let key = KeyPair::generate().map_err(cert_err(&key_path))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "clem-image cluster");
        dn.push(DnType::CommonName, "clem-image cluster CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params);
        let cert = params.self_signed(&key).map_err(cert_err(&cert_path))?;
        write_secret(&key_path, &key.serialize_pem(), 0o600)?;
        write_secret(&cert_path, &cert.pem(), 0o644)?;
        log(format!(
            "NEW CLUSTER CA: created {} (its key {}, 0600). Nodes trust only the CA they were \
             built with, so build every node of this cluster with this directory; keep it \
             private: its key can issue certificates for the whole cluster",
            cert_path.display(),
            key_path.display()
        ));
        Ok(ClusterCa {
            dir: dir.to_owned(),
            cert_pem: cert.pem(),
            key,
            created: true,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Whether this run created the CA.
    pub fn created(&self) -> bool {
        self.created
    }

    /// The SHA-256 of the CA certificate's PEM, as the nodes carry it.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(self.cert_pem.as_bytes()))
    }

    fn sign(
        &self,
        cn: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        where_: &Path,
    ) -> Result<Pair, TlsError> {
        let issuer =
            Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(cert_err(where_))?;
        let key = KeyPair::generate().map_err(cert_err(where_))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let cert = params.signed_by(&key, &issuer).map_err(cert_err(where_))?;
        Ok(Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Loads `dir/{cert,key}.pem` when they exist for the same `spec`, else issues anew.
    fn cached(
        &self,
        dir: &Path,
        spec: &str,
        issue: impl FnOnce() -> Result<Pair, TlsError>,
    ) -> Result<Pair, TlsError> {
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        let spec_path = dir.join("spec");
        let ca_copy = dir.join("ca.pem");
        if cert_path.exists()
            && key_path.exists()
            && fs::read_to_string(&spec_path).ok().as_deref() == Some(spec)
            && fs::read_to_string(&ca_copy).ok().as_deref() == Some(self.cert_pem.as_str())
        {
            return Ok(Pair {
                cert: read(&cert_path)?,
                key: read(&key_path)?,
            });
        }
        let pair = issue()?;
        write_secret(&key_path, &pair.key, 0o600)?;
        write_secret(&cert_path, &pair.cert, 0o644)?;
        write_secret(&ca_copy, &self.cert_pem, 0o644)?;
        write_secret(&spec_path, spec, 0o644)?;
        Ok(pair)
    }

    /// The server certificate of `node`, valid for its host name and address.
    pub fn node_server(&self, node: &NodeName, addr: Option<IpAddr>) -> Result<Pair, TlsError> {
        let dir = self.dir.join("nodes").join(node.as_str());
        let mut spec = format!("server {node}");
        let mut sans = vec![SanType::DnsName(
            node.as_str().try_into().map_err(cert_err(&dir))?,
        )];
        if let Some(ip) = addr {
            spec.push_str(&format!(" {ip}"));
            sans.push(SanType::IpAddress(ip));
        }
        spec.push('\n');
        self.cached(&dir, &spec, || {
            self.sign(
                node.as_str(),
                sans,
                ExtendedKeyUsagePurpose::ServerAuth,
                &dir,
            )
        })
    }

    /// The client certificate a zero-touch manager uses to call workers' docker APIs. It is
    /// placed only on that manager.
    pub fn manager_client(&self, node: &NodeName) -> Result<Pair, TlsError> {
        let dir = self.dir.join("nodes").join(node.as_str()).join("client");
        let spec = format!("client {node}-swarm-manager\n");
        self.cached(&dir, &spec, || {
            self.sign(
                &format!("{node}-swarm-manager"),
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
                &dir,
            )
        })
    }

    /// The operator's client certificate, in `dir/client/` as `DOCKER_CERT_PATH` expects.
    pub fn operator_client(&self) -> Result<PathBuf, TlsError> {
        let dir = self.dir.join("client");
        self.cached(&dir, "client operator\n", || {
            self.sign(
                "operator",
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
                &dir,
            )
        })?;
        Ok(dir)
    }
}
