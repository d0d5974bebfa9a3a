//! `status` against small docker API stand-ins: TLS servers in this process that require a
//! client certificate from the cluster CA and answer `/version`, `/info` and `/nodes`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clem_image::cluster::tls::ClusterCa;
use clem_image::node::NodeName;
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};

/// Answers a path (version prefix and query removed) with a JSON body, or None for 404.
type Handler = Arc<dyn Fn(&str) -> Option<Value> + Send + Sync>;

/// A cluster directory made by `clem-image init`, with a two-node swarm-mode config.
struct Cluster {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
}

impl Cluster {
    fn new(swarm: bool) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let dir = root.join("c");
        let o = clem(&["init", "--dir", dir.to_str().unwrap()], &root);
        assert!(o.status.success(), "{}", stderr(&o));
        let swarm = if swarm {
            "[swarm]\nmode = \"swarm-mode\"\nmanager = \"10.0.5.11:2377\"\ntoken = \"SWMTKN-1-abc-def\"\n"
        } else {
            // Zero-touch swarm is the default with TLS: say "none" to have no swarm.
            "[swarm]\nmode = \"none\"\n"
        };
        std::fs::write(
            dir.join("cluster.toml"),
            format!(
                "[cluster]\ndocker = \"tls\"\n{swarm}\n\
                 [[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\nrole = \"manager\"\n\n\
                 [[node]]\nname = \"rpi2\"\naddress = \"10.0.5.12/24\"\n"
            ),
        )
        .unwrap();
        Cluster {
            _tmp: tmp,
            root,
            dir,
        }
    }

    fn config(&self) -> String {
        self.dir.join("cluster.toml").to_str().unwrap().to_string()
    }

    /// `status --config … --json` with the given endpoints and extra flags.
    fn status(&self, endpoints: &[(&str, SocketAddr)], extra: &[&str]) -> (i32, Value, String) {
        let mut args = vec!["status".to_string(), "--config".into(), self.config()];
        args.push("--json".into());
        for (n, a) in endpoints {
            args.push("--endpoint".into());
            args.push(format!("{n}={a}"));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = clem(&args, &self.root);
        let out = stdout(&o);
        let json: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}\nstderr: {}", stderr(&o)));
        (o.status.code().unwrap(), json, stderr(&o))
    }
}

/// The server certificate of `name` from the CA in `ca_dir`, issued by the code `build` uses
/// (kept in `nodes/<name>/`).
fn node_cert(ca_dir: &Path, name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca = ClusterCa::open_or_create(ca_dir, &mut |_| {}).unwrap();
    let node = NodeName::new(name).unwrap();
    let pair = ca
        .node_server(&node, Some("10.0.5.11".parse().unwrap()))
        .unwrap();
    (
        vec![CertificateDer::from_pem_slice(pair.cert.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap(),
    )
}

/// Starts a docker API stand-in: server certificate for `name` from `server_ca`, client
/// certificates required from `client_ca`. Runs until the test process ends.
fn serve(server_ca: &Path, client_ca: &Path, name: &str, handler: Handler) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(client_ca.join("tls/ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
    let (chain, key) = node_cert(server_ca, name);
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            let handler = handler.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if answer(&mut tls, &handler).is_err() {
                    // Read what the client still sends before closing, so that the close
                    // does not reset the connection before the client reads the alert.
                    let _ = tls.sock.set_read_timeout(Some(Duration::from_millis(300)));
                    let _ = std::io::copy(&mut tls.sock, &mut std::io::sink());
                }
            });
        }
    });
    addr
}

/// HTTP/1.1 with keep-alive: GET requests without bodies.
fn answer<S: std::io::Read + Write>(stream: &mut S, handler: &Handler) -> std::io::Result<()> {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let path = target.split('?').next().unwrap();
        // `/v1.51/info` → `/info`.
        let path = match path.strip_prefix("/v") {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
                &rest[rest.find('/').unwrap_or(rest.len())..]
            }
            _ => path,
        };
        let (status, body) = match handler(path) {
            Some(v) => ("200 OK", v.to_string()),
            None => (
                "404 Not Found",
                json!({"message": "page not found"}).to_string(),
            ),
        };
        let s = r.get_mut();
        write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        s.flush()?;
    }
}

fn docker(
    hostname: &'static str,
    manager: bool,
    swarm_state: impl Fn() -> &'static str + Send + Sync + 'static,
    nodes: impl Fn() -> Value + Send + Sync + 'static,
) -> Handler {
    Arc::new(move |path| match path {
        "/version" => Some(json!({"Version": "28.5.1", "ApiVersion": "1.51", "Os": "linux"})),
        "/info" => Some(json!({
            "Name": hostname,
            "Swarm": {"LocalNodeState": swarm_state(), "ControlAvailable": manager},
        })),
        "/nodes" if manager => Some(nodes()),
        _ => None,
    })
}

fn listed(states: &[(&str, &str)]) -> Value {
    Value::Array(
        states
            .iter()
            .map(|(h, s)| json!({"ID": h, "Description": {"Hostname": h}, "Status": {"State": s}}))
            .collect(),
    )
}

fn two_nodes(c: &Cluster, rpi2_state: &'static str) -> [(&'static str, SocketAddr); 2] {
    let m = serve(
        &c.dir,
        &c.dir,
        "rpi1",
        docker(
            "rpi1",
            true,
            || "active",
            move || listed(&[("rpi1", "ready"), ("rpi2", rpi2_state)]),
        ),
    );
    let w = serve(
        &c.dir,
        &c.dir,
        "rpi2",
        docker("rpi2", false, || "active", || json!([])),
    );
    [("rpi1", m), ("rpi2", w)]
}

/// A local port with nothing listening on it.
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

#[test]
fn a_healthy_swarm_exits_0_with_a_full_report() {
    let c = Cluster::new(true);
    let eps = two_nodes(&c, "ready");
    let (code, j, err) = c.status(&eps, &[]);
    assert_eq!(code, 0, "{j:#}\n{err}");
    assert_eq!(j["format"], 1);
    assert_eq!(j["healthy"], true);
    assert_eq!(j["swarm"], "swarm-mode");
    assert_eq!(j["manager"], "rpi1");
    let n = &j["nodes"];
    assert_eq!(n.as_array().unwrap().len(), 2);
    assert_eq!(n[0]["name"], "rpi1");
    assert_eq!(n[0]["endpoint"], eps[0].1.to_string());
    assert_eq!(n[0]["role"], "manager");
    assert_eq!(n[0]["reachable"], true);
    assert_eq!(n[0]["error"], Value::Null);
    assert_eq!(n[0]["hostname"], "rpi1");
    assert_eq!(n[0]["docker_version"], "28.5.1");
    assert_eq!(n[0]["api_version"], "1.51");
    assert_eq!(n[0]["swarm_state"], "active");
    assert_eq!(n[0]["swarm_role"], "manager");
    assert_eq!(n[0]["manager_state"], "ready");
    assert_eq!(n[0]["ready"], true);
    assert_eq!(n[0]["healthy"], true);
    assert_eq!(n[0]["problems"], json!([]));
    assert_eq!(n[1]["name"], "rpi2");
    assert_eq!(n[1]["role"], "worker");
    assert_eq!(n[1]["swarm_role"], "worker");
    assert_eq!(n[1]["ready"], true);

    // The text form: one line per node and a summary.
    let mut args = vec!["status", "--config"];
    let cfg = c.config();
    args.push(&cfg);
    let e: Vec<String> = eps.iter().map(|(n, a)| format!("{n}={a}")).collect();
    for x in &e {
        args.extend(["--endpoint", x]);
    }
    let o = clem(&args, &c.root);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0]
            .starts_with("rpi1  ok    docker 28.5.1, hostname rpi1, swarm active (manager), ready"),
        "{text}"
    );
    assert!(lines[1].starts_with("rpi2  ok"), "{text}");
}

#[test]
fn a_node_without_a_server_is_unreachable_connection_refused() {
    let c = Cluster::new(true);
    let [m, _] = two_nodes(&c, "ready");
    let (code, j, _) = c.status(&[m, ("rpi2", closed_port())], &[]);
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["healthy"], false);
    assert_eq!(j["nodes"][0]["healthy"], true);
    let n = &j["nodes"][1];
    assert_eq!(n["reachable"], false);
    assert_eq!(n["healthy"], false);
    assert_eq!(n["error"]["kind"], "connection-refused");
    assert_eq!(n["error"]["message"], "connection refused");
    assert_eq!(n["hostname"], Value::Null);
}

#[test]
fn a_node_with_a_certificate_from_another_ca_is_a_tls_error() {
    let c = Cluster::new(true);
    let other = Cluster::new(false);
    let [m, _] = two_nodes(&c, "ready");
    // A daemon of another cluster: its certificate and its client CA are the other one's.
    let foreign = serve(
        &other.dir,
        &other.dir,
        "rpi2",
        docker("rpi2", false, || "active", || json!([])),
    );
    let (code, j, _) = c.status(&[m, ("rpi2", foreign)], &[]);
    assert_eq!(code, 1, "{j:#}");
    let n = &j["nodes"][1];
    assert_eq!(n["reachable"], false);
    assert_eq!(n["error"]["kind"], "unknown-ca", "{n:#}");
    let msg = n["error"]["message"].as_str().unwrap();
    assert!(msg.contains("TLS") && msg.contains("unknown CA"), "{msg}");

    // A daemon with our certificate that trusts another CA for clients refuses ours.
    let picky = serve(
        &c.dir,
        &other.dir,
        "rpi2",
        docker("rpi2", false, || "active", || json!([])),
    );
    let (code, j, _) = c.status(&[m, ("rpi2", picky)], &[]);
    assert_eq!(code, 1, "{j:#}");
    let n = &j["nodes"][1];
    assert_eq!(n["error"]["kind"], "client-certificate-rejected", "{n:#}");
    assert!(n["error"]["message"]
        .as_str()
        .unwrap()
        .contains("client certificate"));
}

#[test]
fn the_certificate_is_checked_against_the_node_name_behind_an_endpoint() {
    let c = Cluster::new(true);
    let [m, w] = two_nodes(&c, "ready");
    // rpi1's endpoint answers with rpi2's certificate: the wrong node.
    let (code, j, _) = c.status(&[("rpi1", w.1), ("rpi2", m.1)], &[]);
    assert_eq!(code, 1, "{j:#}");
    for n in j["nodes"].as_array().unwrap() {
        assert_eq!(n["error"]["kind"], "bad-certificate-name", "{n:#}");
        assert!(n["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad certificate name"));
    }
}

#[test]
fn a_port_that_never_speaks_tls_times_out() {
    let c = Cluster::new(true);
    let [m, _] = two_nodes(&c, "ready");
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(held);
    });
    let (code, j, _) = c.status(&[m, ("rpi2", addr)], &[]);
    assert_eq!(code, 1, "{j:#}");
    let n = &j["nodes"][1];
    assert_eq!(n["error"]["kind"], "timeout", "{n:#}");
    assert_eq!(
        n["error"]["message"],
        "timed out after 5s in the TLS handshake"
    );
}

#[test]
fn a_node_the_manager_lists_as_down_is_not_healthy() {
    let c = Cluster::new(true);
    let eps = two_nodes(&c, "down");
    let (code, j, _) = c.status(&eps, &[]);
    assert_eq!(code, 1, "{j:#}");
    let n = &j["nodes"][1];
    assert_eq!(n["reachable"], true);
    assert_eq!(n["manager_state"], "down");
    assert_eq!(n["ready"], false);
    assert_eq!(n["problems"], json!(["the manager lists it as down"]));
}

#[test]
fn without_a_swarm_reachable_is_enough() {
    let c = Cluster::new(false);
    let m = serve(
        &c.dir,
        &c.dir,
        "rpi1",
        docker("rpi1", false, || "inactive", || json!([])),
    );
    let w = serve(
        &c.dir,
        &c.dir,
        "rpi2",
        docker("rpi2", false, || "inactive", || json!([])),
    );
    let (code, j, _) = c.status(&[("rpi1", m), ("rpi2", w)], &[]);
    assert_eq!(code, 0, "{j:#}");
    assert_eq!(j["swarm"], "none");
    assert_eq!(j["nodes"][0]["swarm_state"], "inactive");
    assert_eq!(j["nodes"][0]["ready"], Value::Null);
}

#[test]
fn wait_polls_until_the_swarm_is_healthy() {
    let c = Cluster::new(true);
    let start = Instant::now();
    let joined = move || start.elapsed() > Duration::from_secs(2);
    let m = serve(
        &c.dir,
        &c.dir,
        "rpi1",
        docker(
            "rpi1",
            true,
            || "active",
            move || {
                listed(&[
                    ("rpi1", "ready"),
                    ("rpi2", if joined() { "ready" } else { "unknown" }),
                ])
            },
        ),
    );
    let w = serve(
        &c.dir,
        &c.dir,
        "rpi2",
        docker(
            "rpi2",
            false,
            move || if joined() { "active" } else { "pending" },
            || json!([]),
        ),
    );
    let (code, j, _) = c.status(&[("rpi1", m), ("rpi2", w)], &["--wait", "10s"]);
    assert_eq!(code, 0, "{j:#}");
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(j["nodes"][1]["swarm_state"], "active");

    // A node that never comes: exit 1 with the last report once the time is up.
    let t = Instant::now();
    let (code, j, err) = c.status(&[("rpi1", m), ("rpi2", closed_port())], &["--wait", "3s"]);
    assert_eq!(code, 1, "{j:#}");
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(j["nodes"][1]["error"]["kind"], "connection-refused");
    assert!(err.contains("not healthy after 3s"), "{err}");
}

#[test]
fn bad_arguments_name_the_problem() {
    let c = Cluster::new(true);
    let o = clem(
        &[
            "status",
            "--config",
            &c.config(),
            "--endpoint",
            "rpi9=127.0.0.1:1",
        ],
        &c.root,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("rpi9 is not a node"), "{}", stderr(&o));
    let o = clem(
        &["status", "--config", &c.config(), "--wait", "soon"],
        &c.root,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not a duration"), "{}", stderr(&o));
}
