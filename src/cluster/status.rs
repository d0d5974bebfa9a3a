//! `status`: asks every node's docker API, over mutual TLS with the operator's certificate,
//! whether the cluster is up: reachable, in the swarm, and listed Ready by a manager.
//!
//! The connection is made here (TCP, then rustls with the node's own name as the
//! verification name, then one HTTP/1.1 connection) so that an `--endpoint` override (an SSH
//! tunnel, a qemu port forward) still checks the certificate of the node it stands for, and
//! so that a failure can be told apart: refused, timed out, unknown CA, a certificate the node
//! refused. What a node sends is never trusted: answers are bounded in size and time (see
//! `peer`), and its text is escaped before it is printed (see `text`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{LocalNodeState, Node, NodeState, SystemInfo, SystemVersion};
use bollard::{ClientVersion, API_DEFAULT_VERSION};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use thiserror::Error;

use super::config::{Cluster, DockerExposure, NodeSpec, Role, Swarm};
use crate::node::NodeName;
use failure::timeout;
pub use failure::{Failure, FailureKind};
use hint::{hint, HintContext};
use peer::{connect, Connection};
use text::{clean, MAX_CHARS};

mod failure;
mod hint;
mod peer;
mod text;

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

/// The longest `--wait`: a week is already more than any boot takes.
pub const MAX_WAIT: Duration = Duration::from_secs(7 * 86400);

/// A `--wait` duration: as `parse_duration`, at most `MAX_WAIT`.
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d > MAX_WAIT {
        return Err(format!(
            "{s:?} is longer than the longest wait, {} (7d)",
            humanize(MAX_WAIT)
        ));
    }
    Ok(d)
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
    /// The config gives an address or `--endpoint` a place: not just the bare name.
    pub located: bool,
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
        .map(|n| {
            let given = endpoints.iter().rev().find(|(name, _)| name == &n.name);
            Target {
                name: n.name.clone(),
                role: n.role,
                endpoint: given
                    .map(|(_, ep)| ep.clone())
                    .unwrap_or_else(|| default_endpoint(n, port)),
                located: given.is_some() || n.address.is_some(),
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The operator's TLS client configuration

/// The operator's client certificate and the cluster CA, ready to connect with.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    /// The CA certificate trusted (hints name it).
    ca_path: PathBuf,
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
            ca_path,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The report

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
    /// What to try about `error`, when there is something to try.
    pub hint: Option<String>,
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
    /// Escapes and cuts every text the node supplied (and our messages quoting it).
    fn clean(&mut self) {
        let fields = [
            &mut self.hostname,
            &mut self.docker_version,
            &mut self.api_version,
            &mut self.swarm_state,
            &mut self.swarm_role,
            &mut self.manager_state,
        ];
        for v in fields.into_iter().flatten() {
            *v = clean(v, MAX_CHARS);
        }
        if let Some(e) = &mut self.error {
            e.message = clean(&e.message, 2 * MAX_CHARS);
        }
    }

    /// `ok`, or in a few words why not: what `status --wait` shows as it changes.
    pub fn state(&self) -> String {
        if self.healthy {
            "ok".to_string()
        } else if let Some(e) = &self.error {
            e.message.clone()
        } else {
            self.problems.first().cloned().unwrap_or_default()
        }
    }

    fn new(target: &Target) -> NodeReport {
        NodeReport {
            name: target.name.to_string(),
            endpoint: target.endpoint.clone(),
            role: target.role.as_str(),
            reachable: false,
            error: None,
            hint: None,
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
            if let Some(h) = &n.hint {
                out.push_str(&format!("{:<w$}  hint: {h}\n", ""));
            }
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
            .map(|n| format!("{} {}", n.name, n.state()))
            .collect::<Vec<_>>()
            .join(" · ")
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

/// What asking one node gave: its report, and its connection for asking it more.
struct Probe {
    report: NodeReport,
    conn: Option<Connection>,
    /// The API version to ask in, as `v1.51`.
    api: String,
}

async fn probe(target: Target, tls: ClientTls, t: Duration) -> Probe {
    let mut report = NodeReport::new(&target);
    let default_api = api_prefix(&client_version(None));
    let mut conn = match connect(&target, &tls, t).await {
        Ok(c) => c,
        Err(f) => {
            report.error = Some(f);
            return Probe {
                report,
                conn: None,
                api: default_api,
            };
        }
    };
    // Unversioned: a daemon older than our API version still answers it.
    let version: SystemVersion = match conn.get_json("/version", t).await {
        Ok(v) => v,
        Err(f) => {
            report.error = Some(f);
            return Probe {
                report,
                conn: None,
                api: default_api,
            };
        }
    };
    report.reachable = true;
    report.docker_version = version.version.clone();
    report.api_version = version.api_version.clone();
    let api = api_prefix(&client_version(version.api_version.as_deref()));
    match conn
        .get_json::<SystemInfo>(&format!("/{api}/info"), t)
        .await
    {
        Ok(info) => apply_info(&mut report, &info),
        Err(f) => report.error = Some(f),
    }
    Probe {
        report,
        conn: Some(conn),
        api,
    }
}

fn api_prefix(v: &ClientVersion) -> String {
    format!("v{}.{}", v.major_version, v.minor_version)
}

/// A probe that is cut short: the steps have their own time limits, this bounds their sum.
async fn probe_within(target: Target, tls: ClientTls, t: Duration) -> Probe {
    let budget = t.saturating_mul(4);
    match tokio::time::timeout(budget, probe(target.clone(), tls, t)).await {
        Ok(p) => p,
        Err(_) => Probe {
            report: NodeReport {
                error: Some(timeout("asking the node", budget)),
                ..NodeReport::new(&target)
            },
            conn: None,
            api: api_prefix(&client_version(None)),
        },
    }
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
/// Asks every node (concurrently), then a manager for its node list; the report is
/// evaluated, and every text a node supplied is escaped and cut.
pub async fn check(
    cluster_swarm: &Swarm,
    targets: &[Target],
    tls: &ClientTls,
    t: Duration,
) -> Report {
    let handles: Vec<_> = targets
        .iter()
        .map(|target| tokio::spawn(probe_within(target.clone(), tls.clone(), t)))
        .collect();
    let mut probes = Vec::new();
    for (h, target) in handles.into_iter().zip(targets) {
        probes.push(h.await.unwrap_or_else(|e| Probe {
            report: NodeReport {
                error: Some(Failure::new(
                    FailureKind::Io,
                    format!("internal error: {e}"),
                )),
                ..NodeReport::new(target)
            },
            conn: None,
            api: api_prefix(&client_version(None)),
        }));
    }
    let swarm_mode = matches!(cluster_swarm, Swarm::Join { .. } | Swarm::ZeroTouch { .. });
    let mut manager = None;
    if swarm_mode {
        manager = ask_a_manager(&mut probes, t).await;
    }
    let mut nodes: Vec<NodeReport> = probes.into_iter().map(|p| p.report).collect();
    if let Some((_, list)) = &manager {
        apply_nodes(&mut nodes, list);
    }
    for (n, t) in nodes.iter_mut().zip(targets) {
        n.clean();
        n.hint = n.error.as_ref().and_then(|e| {
            let cx = HintContext {
                node: t.name.as_str(),
                endpoint: &t.endpoint,
                located: t.located,
                ca: &tls.ca_path,
            };
            hint(e, &cx)
        });
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

/// The node list of the first manager that gives one: managers by the config first, then
/// any node that says it can control the swarm. When none does, the first refusal is kept
/// in that node's report.
async fn ask_a_manager(probes: &mut [Probe], t: Duration) -> Option<(String, Vec<Node>)> {
    let mut order: Vec<usize> = (0..probes.len()).collect();
    order.sort_by_key(|&i| probes[i].report.role != "manager");
    let mut first_error = None;
    for i in order {
        let p = &mut probes[i];
        let Some(conn) = p.conn.as_mut() else {
            continue;
        };
        if p.report.swarm_role.as_deref() != Some("manager") {
            continue;
        }
        let path = format!("/{}/nodes", p.api);
        match conn.get_json(&path, t).await {
            Ok(list) => return Some((p.report.name.clone(), list)),
            Err(f) => {
                first_error.get_or_insert((i, f));
            }
        }
    }
    if let Some((i, f)) = first_error {
        probes[i].report.error.get_or_insert(f);
    }
    None
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
                located: false,
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
    fn versions_are_capped() {
        let v = client_version(Some("1.41"));
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let v = client_version(Some("1.99"));
        assert_eq!(v.minor_version, API_DEFAULT_VERSION.minor_version);
        let v = client_version(None);
        assert_eq!(v.minor_version, API_DEFAULT_VERSION.minor_version);
    }
}
