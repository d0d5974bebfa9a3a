//! `status`: asks every node's docker API, over mutual TLS with the operator's certificate,
//! whether the cluster is up: reachable, in the swarm, and listed Ready by a manager.
//!
//! The connection is made here (TCP, then rustls with the node's own name as the
//! verification name, then one HTTP/1.1 connection) so that an `--endpoint` override (an SSH
//! tunnel, a qemu port forward) still checks the certificate of the node it stands for, and
//! so that a failure can be told apart: refused, timed out, unknown CA, a certificate the node
//! refused. The docker API itself is spoken by `bollard` over that connection.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::models::{LocalNodeState, Node, NodeState, SystemInfo, SystemVersion};
use bollard::{BollardRequest, ClientVersion, Docker, API_DEFAULT_VERSION};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use thiserror::Error;

use super::config::{Cluster, DockerExposure, NodeSpec, Role, Swarm};
use crate::node::NodeName;

/// How long connecting, the TLS handshake and each API call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum StatusError {
    #[error("{path}: {detail}")]
    Tls { path: PathBuf, detail: String },
    #[error("--endpoint {0:?}: expected NODE=HOST:PORT (e.g. rpi1=127.0.0.1:22376)")]
    EndpointSyntax(String),
    #[error("--endpoint {0}: {1} is not a node of this cluster")]
    EndpointNode(String, String),
    #[error("status needs docker = \"tls\" (the cluster's docker API is {0})")]
    NotTls(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Durations: 30s, 5m, 1h, 1h30m, 500ms, 90 (seconds)

/// Parses a duration like `30s`, `5m`, `1h`, `1h30m`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (like 30s, 5m, 1h, 1h30m)");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map(Duration::from_secs).map_err(|_| bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" | "sec" | "secs" => Duration::from_secs(n),
            "m" | "min" | "mins" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
            "h" | "hr" | "hrs" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
            "d" => Duration::from_secs(n.checked_mul(86400).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------------
// Targets: which node, where to connect, which name to verify

/// One node to ask: its name (the TLS verification name) and where to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: NodeName,
    pub role: Role,
    /// `host:port` to connect to.
    pub endpoint: String,
}

/// Parses `NODE=HOST:PORT`.
pub fn parse_endpoint(s: &str) -> Result<(NodeName, String), StatusError> {
    let syntax = || StatusError::EndpointSyntax(s.to_string());
    let (node, hostport) = s.split_once('=').ok_or_else(syntax)?;
    let node = NodeName::new(node).map_err(|_| syntax())?;
    let (host, port) = hostport.rsplit_once(':').ok_or_else(syntax)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(syntax());
    }
    Ok((node, hostport.to_string()))
}

fn default_endpoint(node: &NodeSpec, port: u16) -> String {
    match node.address.as_ref().map(|c| c.addr) {
        Some(std::net::IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Some(a) => format!("{a}:{port}"),
        None => format!("{}:{port}", node.name),
    }
}

/// The nodes to ask and where: the node's address (else its name) on 2376, unless overridden.
pub fn targets(
    cluster: &Cluster,
    endpoints: &[(NodeName, String)],
) -> Result<Vec<Target>, StatusError> {
    if cluster.docker != DockerExposure::Tls {
        return Err(StatusError::NotTls(cluster.docker.as_str()));
    }
    let port = DockerExposure::Tls.port().expect("tls has a port");
    for (name, ep) in endpoints {
        if !cluster.nodes.iter().any(|n| &n.name == name) {
            return Err(StatusError::EndpointNode(
                format!("{name}={ep}"),
                name.to_string(),
            ));
        }
    }
    Ok(cluster
        .nodes
        .iter()
        .map(|n| Target {
            name: n.name.clone(),
            role: n.role,
            endpoint: endpoints
                .iter()
                .rev()
                .find(|(name, _)| name == &n.name)
                .map(|(_, ep)| ep.clone())
                .unwrap_or_else(|| default_endpoint(n, port)),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The operator's TLS client configuration

/// The operator's client certificate and the cluster CA, ready to connect with.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl ClientTls {
    /// Loads `<dir>/client/{cert,key}.pem` and trusts only `<dir>/tls/ca.pem`.
    pub fn load(dir: &Path) -> Result<ClientTls, StatusError> {
        let ca_path = dir.join("tls/ca.pem");
        let cert_path = dir.join("client/cert.pem");
        let key_path = dir.join("client/key.pem");
        let err = |path: &Path, detail: String| StatusError::Tls {
            path: path.to_owned(),
            detail,
        };
        let read_certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>, StatusError> {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    err(
                        path,
                        format!("cannot read a certificate: {e} (run `clem-image init`?)"),
                    )
                })?;
            if certs.is_empty() {
                return Err(err(path, "holds no certificate".into()));
            }
            Ok(certs)
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(&ca_path)? {
            roots
                .add(c)
                .map_err(|e| err(&ca_path, format!("not a usable CA certificate: {e}")))?;
        }
        let chain = read_certs(&cert_path)?;
        let key = PrivateKeyDer::from_pem_file(&key_path)
            .map_err(|e| err(&key_path, format!("cannot read the private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(&cert_path, e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| err(&cert_path, format!("certificate and key do not fit: {e}")))?;
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The report

/// Why a node could not be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The host name did not resolve.
    Resolve,
    ConnectionRefused,
    Timeout,
    /// The node's certificate is not signed by the cluster CA.
    UnknownCa,
    /// The node's certificate does not name the node.
    BadCertificateName,
    /// The node refused our client certificate (its daemon trusts another CA, or none).
    ClientCertificateRejected,
    /// Another TLS failure.
    Tls,
    /// Another network failure.
    Io,
    /// The daemon answered, but not as the docker API does.
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What one node said, and whether that is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    pub name: String,
    /// Where it was asked (`host:port`); the certificate is checked against `name`.
    pub endpoint: String,
    /// The role the config gives it.
    pub role: &'static str,
    pub reachable: bool,
    pub error: Option<Failure>,
    /// docker `/info` Name.
    pub hostname: Option<String>,
    /// docker `/version` Version and ApiVersion.
    pub docker_version: Option<String>,
    pub api_version: Option<String>,
    /// `/info` Swarm.LocalNodeState: inactive, pending, active, error, locked.
    pub swarm_state: Option<String>,
    /// `manager` when the node can control the swarm, else `worker` (when in a swarm).
    pub swarm_role: Option<String>,
    /// The state a manager lists it in (`ready`, `down`, …); null when not listed or not asked.
    pub manager_state: Option<String>,
    /// Listed Ready by a manager; null when the cluster has no swarm mode to check.
    pub ready: Option<bool>,
    pub healthy: bool,
    /// Why it is not healthy, one sentence each.
    pub problems: Vec<String>,
}

impl NodeReport {
    fn new(target: &Target) -> NodeReport {
        NodeReport {
            name: target.name.to_string(),
            endpoint: target.endpoint.clone(),
            role: match target.role {
                Role::Manager => "manager",
                Role::Worker => "worker",
            },
            reachable: false,
            error: None,
            hostname: None,
            docker_version: None,
            api_version: None,
            swarm_state: None,
            swarm_role: None,
            manager_state: None,
            ready: None,
            healthy: false,
            problems: Vec::new(),
        }
    }
}

/// The whole cluster's status (`--json` prints this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The format's version; fields are only added within a version.
    pub format: u32,
    pub healthy: bool,
    /// The config's swarm: `none`, `swarm-mode` or `legacy`.
    pub swarm: &'static str,
    /// The node whose `/nodes` list was used.
    pub manager: Option<String>,
    pub nodes: Vec<NodeReport>,
}

impl Report {
    /// Decides each node's health and the cluster's: reachable, and for swarm mode also
    /// active in the swarm and listed Ready.
    pub fn evaluate(&mut self, swarm_mode: bool) {
        for n in &mut self.nodes {
            n.problems.clear();
            if let Some(e) = &n.error {
                n.problems.push(if n.reachable {
                    e.message.clone()
                } else {
                    format!("unreachable: {}", e.message)
                });
            } else if !n.reachable {
                n.problems.push("unreachable".into());
            }
            if swarm_mode && n.reachable {
                match n.swarm_state.as_deref() {
                    Some("active") => {}
                    Some(s) => n.problems.push(format!("swarm state is {s}, not active")),
                    None => n.problems.push("reports no swarm state".into()),
                }
                match (n.ready, n.manager_state.as_deref()) {
                    (Some(true), _) => {}
                    (_, Some(s)) => n.problems.push(format!("the manager lists it as {s}")),
                    _ if self.manager.is_none() => {
                        n.problems.push("no reachable manager to ask".into())
                    }
                    _ => n.problems.push("the manager does not list it".into()),
                }
            }
            n.healthy = n.problems.is_empty();
        }
        self.healthy = self.nodes.iter().all(|n| n.healthy);
    }

    /// One line per node, then a summary line.
    pub fn render_text(&self) -> String {
        let w = self.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for n in &self.nodes {
            let mut facts = Vec::new();
            if n.reachable {
                if let Some(v) = &n.docker_version {
                    facts.push(format!("docker {v}"));
                }
                if let Some(h) = &n.hostname {
                    facts.push(format!("hostname {h}"));
                }
                if let Some(s) = &n.swarm_state {
                    match &n.swarm_role {
                        Some(r) if s == "active" => facts.push(format!("swarm {s} ({r})")),
                        _ => facts.push(format!("swarm {s}")),
                    }
                }
                if n.ready == Some(true) {
                    facts.push("ready".into());
                }
            }
            facts.extend(n.problems.iter().cloned());
            out.push_str(&format!(
                "{:<w$}  {:<4}  {}  [{}]\n",
                n.name,
                if n.healthy { "ok" } else { "FAIL" },
                facts.join(", "),
                n.endpoint,
            ));
        }
        let bad = self.nodes.iter().filter(|n| !n.healthy).count();
        if self.healthy {
            out.push_str(&format!(
                "cluster healthy: {} node(s){}\n",
                self.nodes.len(),
                if self.swarm == "swarm-mode" || self.swarm == "zero-touch" {
                    " up and ready in the swarm"
                } else {
                    " reachable"
                }
            ));
        } else {
            out.push_str(&format!(
                "cluster not healthy: {bad} of {} node(s) failing\n",
                self.nodes.len()
            ));
        }
        out
    }

    /// A short per-node summary for a progress line: `rpi1 ok · rpi2 connection refused`.
    pub fn progress_line(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let state = if n.healthy {
                    "ok".to_string()
                } else if let Some(e) = &n.error {
                    e.message.clone()
                } else {
                    n.problems.first().cloned().unwrap_or_default()
                };
                format!("{} {state}", n.name)
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

// ---------------------------------------------------------------------------------------------
// Failures: from error chains to causes an operator can act on

fn alert_name(a: &rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match a {
        A::CertificateRequired => "certificate required".into(),
        A::UnknownCA => "unknown CA".into(),
        A::BadCertificate => "bad certificate".into(),
        A::CertificateExpired => "certificate expired".into(),
        A::CertificateUnknown => "certificate unknown".into(),
        A::HandshakeFailure => "handshake failure".into(),
        A::DecryptError => "decrypt error".into(),
        other => format!("{other:?}"),
    }
}

fn from_rustls(e: &rustls::Error, name: &str) -> Failure {
    use rustls::CertificateError as C;
    let (kind, message) = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => (
            FailureKind::UnknownCa,
            "TLS error: unknown CA (the node's certificate is not signed by the cluster CA)"
                .to_string(),
        ),
        // Every clem-image CA has the same name: a certificate from another cluster's CA
        // finds ours by name and then fails its signature check.
        rustls::Error::InvalidCertificate(C::BadSignature) => (
            FailureKind::UnknownCa,
            "TLS error: unknown CA (the node's certificate is signed by another CA than this \
             cluster's, perhaps another cluster's)"
                .to_string(),
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => (
            FailureKind::BadCertificateName,
            format!(
                "TLS error: bad certificate name (the node's certificate is not valid for {name})"
            ),
        ),
        rustls::Error::InvalidCertificate(c) => (
            FailureKind::Tls,
            format!("TLS error: the node's certificate is invalid: {c:?}"),
        ),
        rustls::Error::AlertReceived(a) => (
            FailureKind::ClientCertificateRejected,
            format!(
                "TLS error: the node refused our client certificate (alert: {}); \
                 does its daemon trust this cluster's CA?",
                alert_name(a)
            ),
        ),
        other => (FailureKind::Tls, format!("TLS error: {other}")),
    };
    Failure { kind, message }
}

fn from_io(e: &std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    let (kind, message) = match e.kind() {
        K::ConnectionRefused => (FailureKind::ConnectionRefused, "connection refused".into()),
        K::TimedOut => (FailureKind::Timeout, "timed out".into()),
        K::ConnectionReset => (FailureKind::Io, "connection reset".into()),
        K::UnexpectedEof => (
            FailureKind::Io,
            "the connection closed early (is this docker's TLS port?)".into(),
        ),
        _ => (FailureKind::Io, e.to_string()),
    };
    Failure { kind, message }
}

/// Finds the most telling cause in an error chain: a rustls error, else an I/O error.
pub fn classify(e: &(dyn std::error::Error + 'static), name: &str) -> Failure {
    let mut io = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return from_rustls(r, name);
        }
        // bollard's transparent wrappers forward `source()` past the error they hold.
        match err.downcast_ref::<bollard::errors::Error>() {
            Some(bollard::errors::Error::IOError { err }) => {
                cur = Some(err);
                continue;
            }
            Some(bollard::errors::Error::HyperResponseError { err }) => {
                cur = Some(err);
                continue;
            }
            _ => {}
        }
        if let Some(i) = err.downcast_ref::<std::io::Error>() {
            // io::Error's `source()` skips the error it wraps: look inside it first.
            if let Some(inner) = i.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return from_rustls(r, name);
                }
                cur = Some(inner);
                io.get_or_insert(i);
                continue;
            }
            io.get_or_insert(i);
        }
        cur = err.source();
    }
    match io {
        Some(i) => from_io(i),
        None => Failure {
            kind: FailureKind::Api,
            message: e.to_string(),
        },
    }
}

fn timeout(what: &str, t: Duration) -> Failure {
    Failure {
        kind: FailureKind::Timeout,
        message: format!("timed out after {} {what}", humanize(t)),
    }
}

/// `5s`, `1m30s`, `250ms`.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.subsec_millis());
    }
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Asking one node

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, BoxError>;

/// One HTTP/1.1 connection, shared by bollard's requests (they are made one after another).
#[derive(Clone)]
struct Connection {
    sender: Arc<Mutex<Option<SendRequest<Body>>>>,
    host: String,
}

impl Connection {
    async fn send(
        &self,
        req: hyper::Request<Body>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, bollard::errors::Error> {
        let taken = self.sender.lock().expect("not poisoned").take();
        let mut sender = taken.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::WouldBlock, "connection busy")
        })?;
        let res = async {
            sender.ready().await?;
            sender.send_request(req).await
        }
        .await;
        *self.sender.lock().expect("not poisoned") = Some(sender);
        Ok(res?)
    }

    /// Rewrites bollard's absolute URI to origin form with a Host header.
    fn origin_form(&self, req: BollardRequest) -> hyper::Request<Body> {
        let (mut parts, body) = req.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        parts.uri = path.parse().expect("a path and query parse as a URI");
        parts.headers.insert(
            hyper::header::HOST,
            self.host.parse().expect("host:port is a header value"),
        );
        let body: Body = body.map_err(Into::into).boxed_unsync();
        hyper::Request::from_parts(parts, body)
    }
}

async fn connect(target: &Target, tls: &ClientTls, t: Duration) -> Result<Connection, Failure> {
    let name = target.name.as_str();
    let tcp = match tokio::time::timeout(t, tokio::net::TcpStream::connect(&target.endpoint)).await
    {
        Err(_) => return Err(timeout("connecting", t)),
        Ok(Err(e)) => {
            // A name that does not resolve is not a refused connection.
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                return Err(from_io(&e));
            }
            let mut f = classify(&e, name);
            if f.kind == FailureKind::Io && e.to_string().contains("lookup") {
                let host = target.endpoint.rsplit_once(':').map_or("", |(h, _)| h);
                f.kind = FailureKind::Resolve;
                f.message = format!("cannot resolve {host}: {e}");
            }
            return Err(f);
        }
        Ok(Ok(s)) => s,
    };
    let _ = tcp.set_nodelay(true);
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| Failure {
        kind: FailureKind::Tls,
        message: format!("{name} cannot be a TLS name: {e}"),
    })?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = match tokio::time::timeout(t, connector.connect(server_name, tcp)).await {
        Err(_) => return Err(timeout("in the TLS handshake", t)),
        Ok(Err(e)) => return Err(classify(&e, name)),
        Ok(Ok(s)) => s,
    };
    let (sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
        .await
        .map_err(|e| classify(&e, name))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Connection {
        sender: Arc::new(Mutex::new(Some(sender))),
        host: target.endpoint.clone(),
    })
}

/// `1.41` → 1.41, capped at what bollard knows.
fn client_version(api: Option<&str>) -> ClientVersion {
    let parsed = api.and_then(|v| {
        let (a, b) = v.split_once('.')?;
        Some(ClientVersion {
            major_version: a.parse().ok()?,
            minor_version: b.parse().ok()?,
        })
    });
    match parsed {
        Some(v)
            if (v.major_version, v.minor_version)
                < (
                    API_DEFAULT_VERSION.major_version,
                    API_DEFAULT_VERSION.minor_version,
                ) =>
        {
            v
        }
        _ => ClientVersion {
            major_version: API_DEFAULT_VERSION.major_version,
            minor_version: API_DEFAULT_VERSION.minor_version,
        },
    }
}

async fn get_version(conn: &Connection, name: &str, t: Duration) -> Result<SystemVersion, Failure> {
    // Unversioned: a daemon older than bollard's API version still answers it.
    let req = hyper::Request::get("/version")
        .header(hyper::header::HOST, conn.host.as_str())
        .body(
            Empty::<Bytes>::new()
                .map_err(|e: std::convert::Infallible| -> BoxError { match e {} })
                .boxed_unsync(),
        )
        .expect("a valid request");
    let call = async {
        let res = conn.send(req).await.map_err(|e| {
            let mut f = classify(&e, name);
            // With TLS 1.3 a refused client certificate shows only after the handshake; a
            // daemon that closes without sending its alert looks like this.
            if f.kind == FailureKind::Io {
                f.message.push_str(
                    " right after the TLS handshake (did the node refuse our client certificate?)",
                );
            }
            f
        })?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| classify(&e, name))?
            .to_bytes();
        if !status.is_success() {
            return Err(Failure {
                kind: FailureKind::Api,
                message: format!(
                    "GET /version answered {status}: {}",
                    String::from_utf8_lossy(&body).trim()
                ),
            });
        }
        serde_json::from_slice::<SystemVersion>(&body).map_err(|e| Failure {
            kind: FailureKind::Api,
            message: format!("GET /version: not a docker reply: {e}"),
        })
    };
    match tokio::time::timeout(t, call).await {
        Err(_) => Err(timeout("waiting for docker's /version", t)),
        Ok(r) => r,
    }
}

fn api_failure(what: &str, e: &bollard::errors::Error, name: &str, t: Duration) -> Failure {
    match e {
        bollard::errors::Error::RequestTimeoutError => timeout(&format!("waiting for {what}"), t),
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => Failure {
            kind: FailureKind::Api,
            message: format!("{what} answered {status_code}: {message}"),
        },
        other => {
            let mut f = classify(other, name);
            if f.kind == FailureKind::Api {
                f.message = format!("{what}: {}", f.message);
            }
            f
        }
    }
}

/// What asking one node gave: its report, and a client for asking it more.
struct Probe {
    report: NodeReport,
    docker: Option<Docker>,
}

async fn probe(target: Target, tls: ClientTls, t: Duration) -> Probe {
    let mut report = NodeReport::new(&target);
    let name = target.name.to_string();
    let conn = match connect(&target, &tls, t).await {
        Ok(c) => c,
        Err(f) => {
            report.error = Some(f);
            return Probe {
                report,
                docker: None,
            };
        }
    };
    let version = match get_version(&conn, &name, t).await {
        Ok(v) => v,
        Err(f) => {
            report.error = Some(f);
            return Probe {
                report,
                docker: None,
            };
        }
    };
    report.reachable = true;
    report.docker_version = version.version.clone();
    report.api_version = version.api_version.clone();
    let cv = client_version(version.api_version.as_deref());
    let transport_conn = conn.clone();
    let docker = Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let conn = transport_conn.clone();
            async move {
                let req = conn.origin_form(req);
                conn.send(req).await
            }
        },
        Some(format!("https://{}", target.endpoint)),
        t.as_secs().max(1),
        &cv,
    )
    .expect("a custom transport always connects");
    match docker.info().await {
        Ok(info) => apply_info(&mut report, &info),
        Err(e) => report.error = Some(api_failure("GET /info", &e, &name, t)),
    }
    Probe {
        report,
        docker: Some(docker),
    }
}

fn apply_info(report: &mut NodeReport, info: &SystemInfo) {
    report.hostname = info.name.clone();
    if let Some(swarm) = &info.swarm {
        let state = swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY);
        report.swarm_state = Some(match state {
            LocalNodeState::EMPTY => "inactive".to_string(),
            s => s.to_string(),
        });
        if state == LocalNodeState::ACTIVE {
            report.swarm_role = Some(
                if swarm.control_available == Some(true) {
                    "manager"
                } else {
                    "worker"
                }
                .to_string(),
            );
        }
    }
}

/// Marks each report with the state the manager's node list gives it (matched by host name).
fn apply_nodes(reports: &mut [NodeReport], listed: &[Node]) {
    for r in reports {
        let host = r.hostname.clone().unwrap_or_else(|| r.name.clone());
        let state = listed
            .iter()
            .find(|n| {
                n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(host.as_str())
            })
            .map(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.state)
                    .unwrap_or(NodeState::UNKNOWN)
            });
        r.manager_state = state.map(|s| s.to_string());
        r.ready = Some(state == Some(NodeState::READY));
    }
}

/// Asks every node (concurrently), then a manager for its node list; the report is evaluated.
pub async fn check(
    cluster_swarm: &Swarm,
    targets: &[Target],
    tls: &ClientTls,
    t: Duration,
) -> Report {
    let handles: Vec<_> = targets
        .iter()
        .map(|target| tokio::spawn(probe(target.clone(), tls.clone(), t)))
        .collect();
    let mut probes = Vec::new();
    for (h, target) in handles.into_iter().zip(targets) {
        probes.push(h.await.unwrap_or_else(|e| Probe {
            report: NodeReport {
                error: Some(Failure {
                    kind: FailureKind::Io,
                    message: format!("internal error: {e}"),
                }),
                ..NodeReport::new(target)
            },
            docker: None,
        }));
    }
    let swarm_mode = matches!(cluster_swarm, Swarm::Join { .. } | Swarm::ZeroTouch { .. });
    let mut manager = None;
    let mut manager_error = None;
    if swarm_mode {
        // Managers by the config first, then any node that says it can control the swarm.
        let mut order: Vec<usize> = (0..probes.len()).collect();
        order.sort_by_key(|&i| probes[i].report.role != "manager");
        for i in order {
            let p = &probes[i];
            let (Some(docker), Some("manager")) = (&p.docker, p.report.swarm_role.as_deref())
            else {
                continue;
            };
            match docker.list_nodes(None).await {
                Ok(list) => {
                    manager = Some((p.report.name.clone(), list));
                    break;
                }
                Err(e) => {
                    manager_error
                        .get_or_insert((i, api_failure("GET /nodes", &e, &p.report.name, t)));
                }
            }
        }
    }
    let mut nodes: Vec<NodeReport> = probes.into_iter().map(|p| p.report).collect();
    if let (None, Some((i, f))) = (&manager, manager_error) {
        nodes[i].error.get_or_insert(f);
    }
    if let Some((_, list)) = &manager {
        apply_nodes(&mut nodes, list);
    }
    let mut report = Report {
        format: 1,
        healthy: false,
        swarm: cluster_swarm.kind(),
        manager: manager.map(|(n, _)| n),
        nodes,
    };
    report.evaluate(swarm_mode);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).unwrap();
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("5m"), Duration::from_secs(300));
        assert_eq!(d("1h"), Duration::from_secs(3600));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("90"), Duration::from_secs(90));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("2d"), Duration::from_secs(2 * 86400));
        for bad in ["", "s", "5x", "m5", "-5s", "1.5h", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(5)), "5s");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn endpoints() {
        let (n, ep) = parse_endpoint("rpi1=127.0.0.1:22376").unwrap();
        assert_eq!((n.as_str(), ep.as_str()), ("rpi1", "127.0.0.1:22376"));
        assert_eq!(parse_endpoint("rpi1=[::1]:2376").unwrap().1, "[::1]:2376");
        for bad in ["rpi1", "rpi1=host", "rpi1=host:0", "RPI_1=h:1", "rpi1=:5"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    fn node(name: &str) -> NodeReport {
        NodeReport {
            reachable: true,
            hostname: Some(name.into()),
            docker_version: Some("28.5.1".into()),
            api_version: Some("1.51".into()),
            swarm_state: Some("active".into()),
            swarm_role: Some("worker".into()),
            manager_state: Some("ready".into()),
            ready: Some(true),
            ..NodeReport::new(&Target {
                name: NodeName::new(name).unwrap(),
                role: Role::Worker,
                endpoint: format!("{name}:2376"),
            })
        }
    }

    #[test]
    fn rendering_and_health() {
        let mut r = Report {
            format: 1,
            healthy: false,
            swarm: "swarm-mode",
            manager: Some("rpi1".into()),
            nodes: vec![node("rpi1"), node("rpi2"), node("rpi3")],
        };
        r.evaluate(true);
        assert!(r.healthy);
        let text = r.render_text();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.starts_with(
            "rpi1  ok    docker 28.5.1, hostname rpi1, swarm active (worker), ready  [rpi1:2376]\n"
        ), "{text}");
        assert!(text.ends_with("cluster healthy: 3 node(s) up and ready in the swarm\n"));

        r.nodes[1].reachable = false;
        r.nodes[1].error = Some(Failure {
            kind: FailureKind::ConnectionRefused,
            message: "connection refused".into(),
        });
        r.nodes[2].manager_state = Some("down".into());
        r.nodes[2].ready = Some(false);
        r.evaluate(true);
        assert!(!r.healthy);
        let text = r.render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "rpi2  FAIL  unreachable: connection refused  [rpi2:2376]"
        );
        assert!(lines[2].contains("the manager lists it as down"), "{text}");
        assert_eq!(lines[3], "cluster not healthy: 2 of 3 node(s) failing");
        assert_eq!(
            r.progress_line(),
            "rpi1 ok · rpi2 connection refused · rpi3 the manager lists it as down"
        );
        // Without swarm mode, reachable is enough.
        r.evaluate(false);
        assert!(r.nodes[2].healthy && !r.nodes[1].healthy);

        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["format"], 1);
        assert_eq!(json["nodes"][1]["error"]["kind"], "connection-refused");
        assert_eq!(json["nodes"][0]["swarm_role"], "worker");
    }

    #[test]
    fn failures_are_told_apart() {
        use rustls::{AlertDescription, CertificateError};
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let f = classify(
            &wrap(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::UnknownCa);
        assert!(f.message.contains("unknown CA"), "{f}");
        let f = classify(
            &wrap(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::BadCertificateName);
        assert!(f.message.contains("not valid for rpi1"), "{f}");
        let f = classify(
            &wrap(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired,
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::ClientCertificateRejected);
        assert!(f.message.contains("certificate required"), "{f}");
        // Through bollard's wrapper too.
        let b = bollard::errors::Error::from(wrap(rustls::Error::AlertReceived(
            AlertDescription::UnknownCA,
        )));
        let f = classify(&b, "rpi1");
        assert!(f.message.contains("alert: unknown CA"), "{f}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused, "rpi1").message, "connection refused");
    }

    #[test]
    fn versions_are_capped() {
        let v = client_version(Some("1.41"));
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let v = client_version(Some("1.99"));
        assert_eq!(v.minor_version, API_DEFAULT_VERSION.minor_version);
        let v = client_version(None);
        assert_eq!(v.minor_version, API_DEFAULT_VERSION.minor_version);
    }
}
