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

/// What a stand-in does with one accepted TLS connection.
type Raw = Arc<dyn Fn(&mut dyn ReadWrite) -> std::io::Result<()> + Send + Sync>;

trait ReadWrite: std::io::Read + Write {}
impl<T: std::io::Read + Write> ReadWrite for T {}

/// Starts a docker API stand-in: server certificate for `name` from `server_ca`, client
/// certificates required from `client_ca`. Runs until the test process ends.
fn serve(server_ca: &Path, client_ca: &Path, name: &str, handler: Handler) -> SocketAddr {
    let (chain, key) = node_cert(server_ca, name);
    serve_raw(
        chain,
        key,
        client_ca,
        Arc::new(move |s| answer(s, &handler)),
    )
}

/// A TLS server presenting `chain`, requiring client certificates from `client_ca`, that
/// hands each connection to `raw`.
fn serve_raw(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: &Path,
    raw: Raw,
) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(client_ca.join("tls/ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .unwrap();
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
            let raw = raw.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if raw(&mut tls).is_err() {
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
fn answer<S: std::io::Read + Write + ?Sized>(
    stream: &mut S,
    handler: &Handler,
) -> std::io::Result<()> {
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
    // The hint says what to do: the node may still be booting.
    let hint = n["hint"].as_str().unwrap();
    assert!(
        hint.contains("few minutes") && hint.contains("--wait 10m"),
        "{hint}"
    );
    assert_eq!(j["nodes"][0]["hint"], Value::Null);
    // The text report gives it on the line after the node's.
    let cfg = c.config();
    let ep = format!("rpi2={}", closed_port());
    let o = clem(&["status", "--config", &cfg, "--endpoint", &ep], &c.root);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("rpi2  FAIL"))
        .unwrap();
    assert!(
        lines[at + 1]
            .trim_start()
            .starts_with("hint: rpi2 may not have booted"),
        "{text}"
    );
}

#[test]
fn a_node_with_no_address_that_does_not_resolve_hints_at_address_or_endpoint() {
    let c = Cluster::new(false);
    std::fs::write(
        c.dir.join("cluster.toml"),
        "[cluster]\ndocker = \"tls\"\n[swarm]\nmode = \"none\"\n\n\
         [[node]]\nname = \"nowhere.invalid\"\nrole = \"manager\"\n",
    )
    .unwrap();
    let (code, j, _) = c.status(&[], &[]);
    assert_eq!(code, 1, "{j:#}");
    let n = &j["nodes"][0];
    assert_eq!(n["error"]["kind"], "resolve", "{n:#}");
    let hint = n["hint"].as_str().unwrap();
    assert!(
        hint.contains("`address` in cluster.toml")
            && hint.contains("--endpoint nowhere.invalid=HOST:PORT"),
        "{hint}"
    );
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
    // The hint names the CA this status trusts: the card is from another directory.
    let ca = c.dir.join("tls/ca.pem");
    let hint = n["hint"].as_str().unwrap();
    assert!(
        hint.contains(ca.to_str().unwrap()) && hint.contains("another cluster directory"),
        "{hint}"
    );

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
    let (code, j, err) = c.status(&[("rpi1", m), ("rpi2", w)], &["--wait", "10s"]);
    assert_eq!(code, 0, "{j:#}");
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(j["nodes"][1]["swarm_state"], "active");
    // Not a terminal: one line per change on stderr, nothing drawn.
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
    let changes = |node: &str| -> Vec<String> {
        err.lines()
            .filter(|l| l.starts_with('[') && l.contains(&format!("] {node}: ")))
            .map(|l| l.split_once(": ").unwrap().1.to_string())
            .collect()
    };
    assert_eq!(changes("rpi1"), ["ok"], "{err}");
    let rpi2 = changes("rpi2");
    assert!(rpi2.len() >= 2 && rpi2.last().unwrap() == "ok", "{err}");
    assert!(
        rpi2.windows(2).all(|w| w[0] != w[1]),
        "a line without a change: {err}"
    );

    // A node that never comes: exit 1 with the last report once the time is up.
    let t = Instant::now();
    let (code, j, err) = c.status(&[("rpi1", m), ("rpi2", closed_port())], &["--wait", "3s"]);
    assert_eq!(code, 1, "{j:#}");
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(j["nodes"][1]["error"]["kind"], "connection-refused");
    assert!(err.contains("not healthy after 3s"), "{err}");
}

/// On a terminal (a pseudo-terminal from script(1)) `--wait` draws a live display with
/// each node's state and the time left.
#[test]
fn wait_on_a_terminal_draws_the_nodes_states() {
    let have = std::process::Command::new("script")
        .arg("--version")
        .output();
    if have.is_err() {
        assert!(std::env::var_os("CI").is_none(), "script(1) missing in CI");
        return;
    }
    let c = Cluster::new(true);
    let [(_, m), _] = two_nodes(&c, "ready");
    let cmd = format!(
        "{BIN} status --config '{}' --endpoint rpi1={m} --endpoint rpi2={} --wait 3s",
        c.config(),
        closed_port()
    );
    let log = c.root.join("typescript");
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, log.to_str().unwrap()])
        .env("HOME", &c.root)
        .env("TERM", "xterm")
        .current_dir(&c.root)
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert_eq!(o.status.code(), Some(1), "{screen}");
    assert!(screen.contains('\x1b'), "nothing drawn: {screen:?}");
    assert!(screen.contains("left)"), "{screen:?}");
    assert!(
        screen.contains("rpi2") && screen.contains("connection refused"),
        "{screen:?}"
    );
    assert!(screen.contains("not healthy after 3s"), "{screen:?}");
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

// ---------------------------------------------------------------------------------------------
// Hostile peers: what a node sends is bounded in size and time, its text is escaped, and the
// healthy nodes are still reported.

/// Reads a request head (up to the blank line); false when the client closed.
fn read_head(s: &mut dyn ReadWrite) -> std::io::Result<bool> {
    let mut r = BufReader::new(s);
    let mut saw_any = false;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(false);
        }
        if saw_any && (line == "\r\n" || line == "\n") {
            return Ok(true);
        }
        saw_any = true;
    }
}

/// A stand-in with a proper certificate for `name` that answers every request with `raw`.
fn hostile(c: &Cluster, name: &str, raw: Raw) -> SocketAddr {
    let (chain, key) = node_cert(&c.dir, name);
    serve_raw(chain, key, &c.dir, raw)
}

/// A healthy rpi1 (no swarm: reachable is healthy).
fn healthy_rpi1(c: &Cluster) -> (&'static str, SocketAddr) {
    let a = serve(
        &c.dir,
        &c.dir,
        "rpi1",
        docker("rpi1", false, || "inactive", || json!([])),
    );
    ("rpi1", a)
}

/// The address space `status` may use in the hostile tests (KiB, for `ulimit -v`): ample
/// for a normal run, far less than reading an endless answer whole.
const MEMORY_LIMIT_KIB: u64 = 1024 * 1024;

/// `status --config … [--json]` under `ulimit -v`, with its wall time.
fn status_limited(
    c: &Cluster,
    endpoints: &[(&str, SocketAddr)],
    json: bool,
) -> (std::process::Output, Duration) {
    let mut args = vec!["status".to_string(), "--config".into(), c.config()];
    if json {
        args.push("--json".into());
    }
    for (n, a) in endpoints {
        args.push("--endpoint".into());
        args.push(format!("{n}={a}"));
    }
    let t = Instant::now();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(&args)
        .current_dir(&c.root)
        .env("HOME", &c.root)
        .output()
        .unwrap();
    (o, t.elapsed())
}

/// Judges a run against one hostile rpi2: exit 1 (not 134 or a signal), within the time,
/// no raw ESC byte on either stream, rpi1 reported healthy; returns rpi2's report.
fn judge_hostile(o: &std::process::Output, took: Duration) -> Value {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{:?}\n{err}", o.status);
    assert!(
        !err.contains("panicked") && !err.contains("memory"),
        "{err}"
    );
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(
        !o.stdout.contains(&0x1b) && !o.stderr.contains(&0x1b),
        "raw ESC"
    );
    let j: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(j["nodes"][0]["healthy"], true, "{j:#}");
    assert_eq!(j["nodes"][0]["reachable"], true, "{j:#}");
    j["nodes"][1].clone()
}

/// An endless chunked body on /version: judged by exit code, wall time and `ulimit -v`
/// (reading it whole would exhaust the address space and abort).
#[test]
fn an_endless_body_is_cut_off_in_bounded_memory() {
    let c = Cluster::new(false);
    let rpi1 = healthy_rpi1(&c);
    let endless = hostile(
        &c,
        "rpi2",
        Arc::new(|s| {
            read_head(s)?;
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
            loop {
                s.write_all(chunk.as_bytes())?;
            }
        }),
    );
    let (o, took) = status_limited(&c, &[rpi1, ("rpi2", endless)], true);
    let n = judge_hostile(&o, took);
    assert_eq!(n["reachable"], false, "{n:#}");
    assert_eq!(n["error"]["kind"], "api", "{n:#}");
    let msg = n["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("GET /version") && msg.contains("larger than 4 MiB"),
        "{msg}"
    );
}

/// A response head that never ends (one header, endlessly long): judged as above.
#[test]
fn endless_headers_are_cut_off_in_bounded_memory() {
    let c = Cluster::new(false);
    let rpi1 = healthy_rpi1(&c);
    let endless = hostile(
        &c,
        "rpi2",
        Arc::new(|s| {
            read_head(s)?;
            s.write_all(b"HTTP/1.1 200 OK\r\nX-Junk: ")?;
            let junk = vec![b'a'; 0x10000];
            loop {
                s.write_all(&junk)?;
            }
        }),
    );
    let (o, took) = status_limited(&c, &[rpi1, ("rpi2", endless)], true);
    let n = judge_hostile(&o, took);
    let msg = n["error"]["message"].as_str().unwrap();
    assert!(msg.contains("response head larger than the limit"), "{msg}");
}

/// A body that trickles a byte a second: the node's call times out, judged by wall time.
#[test]
fn a_trickling_body_times_out() {
    let c = Cluster::new(false);
    let rpi1 = healthy_rpi1(&c);
    let slow = hostile(
        &c,
        "rpi2",
        Arc::new(|s| {
            read_head(s)?;
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")?;
            loop {
                s.write_all(b" ")?;
                s.flush()?;
                std::thread::sleep(Duration::from_millis(500));
            }
        }),
    );
    let (o, took) = status_limited(&c, &[rpi1, ("rpi2", slow)], true);
    let n = judge_hostile(&o, took);
    assert_eq!(n["error"]["kind"], "timeout", "{n:#}");
    assert_eq!(
        n["error"]["message"],
        "timed out after 5s waiting for GET /version"
    );
    assert!(took < Duration::from_secs(12), "took {took:?}");
}

/// Escape sequences in a node's error text and host name: judged by the absence of any raw
/// ESC byte in the text and JSON outputs, and the escaped form being shown instead.
#[test]
fn escape_sequences_from_a_node_are_shown_escaped() {
    let c = Cluster::new(false);
    let rpi1 = healthy_rpi1(&c);
    let bad_error = serve(
        &c.dir,
        &c.dir,
        "rpi2",
        Arc::new(move |path| match path {
            "/version" => Some(json!({"Version": "28.5.1\u{1b}[31m", "ApiVersion": "1.51"})),
            _ => None,
        }),
    );
    let (o, took) = status_limited(&c, &[rpi1, ("rpi2", bad_error)], false);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    assert!(took < Duration::from_secs(25));
    assert!(!o.stdout.contains(&0x1b), "raw ESC in {text:?}");
    assert!(text.contains("docker 28.5.1\\x1b[31m"), "{text}");

    // An error body with ESC sequences and 5000 more characters: escaped and cut.
    let body = format!(
        "{{\"message\": {}}}",
        serde_json::to_string(&format!("\x1b[2J\x1b[Hrpi2  ok  {}", "x".repeat(5000))).unwrap()
    );
    let screen = hostile(
        &c,
        "rpi2",
        Arc::new(move |s| {
            read_head(s)?;
            write!(
                s,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            s.flush()?;
            read_head(s).map(|_| ())
        }),
    );
    for json in [false, true] {
        let (o, took) = status_limited(&c, &[rpi1, ("rpi2", screen)], json);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
        assert!(took < Duration::from_secs(25));
        assert!(!o.stdout.contains(&0x1b), "raw ESC in {out:?}");
        assert!(out.len() < 3000, "not cut: {} bytes", out.len());
        let shown = if json {
            let j: Value = serde_json::from_str(&out).unwrap();
            j["nodes"][1]["error"]["message"]
                .as_str()
                .unwrap()
                .to_string()
        } else {
            out
        };
        assert!(shown.contains("\\x1b[2J\\x1b[Hrpi2  ok  xxx"), "{shown}");
        assert!(shown.contains("xxx…"), "not cut: {shown}");
    }
}

/// A certificate for `names`, signed by the cluster CA in `dir`, valid between the years
/// given.
fn cert_from_ca(
    dir: &Path,
    names: &[&str],
    years: (i32, i32),
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_pem = std::fs::read_to_string(dir.join("tls/ca.pem")).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(dir.join("tls/ca-key.pem")).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        vec![cert.der().clone()],
        PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
    )
}

fn pem_pair(cert: &Path, key: &Path) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    (
        vec![CertificateDer::from_pem_file(cert).unwrap()],
        PrivateKeyDer::from_pem_file(key).unwrap(),
    )
}

/// rpi2's report when its daemon presents `chain`: the healthy rpi1 is still reported.
fn tls_failure(c: &Cluster, pair: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)) -> Value {
    let rpi1 = healthy_rpi1(c);
    let handler = docker("rpi2", false, || "inactive", || json!([]));
    let a = serve_raw(
        pair.0,
        pair.1,
        &c.dir,
        Arc::new(move |s| answer(s, &handler)),
    );
    let (o, took) = status_limited(c, &[rpi1, ("rpi2", a)], true);
    judge_hostile(&o, took)
}

/// Judged by the failure's kind and sentence: plain words, no rustls/webpki identifiers.
fn plain(n: &Value, kind: &str, words: &str) {
    assert_eq!(n["reachable"], false, "{n:#}");
    assert_eq!(n["error"]["kind"], kind, "{n:#}");
    let msg = n["error"]["message"].as_str().unwrap();
    assert!(msg.contains(words), "{msg}");
    for jargon in [
        "Other(",
        "OtherError",
        "CaUsedAsEndEntity",
        "Context {",
        "InvalidCertificate",
    ] {
        assert!(!msg.contains(jargon), "{msg}");
    }
}

#[test]
fn a_node_presenting_the_ca_certificate_is_not_a_server_certificate() {
    let c = Cluster::new(false);
    let pair = pem_pair(&c.dir.join("tls/ca.pem"), &c.dir.join("tls/ca-key.pem"));
    let n = tls_failure(&c, pair);
    plain(&n, "not-a-server-certificate", "not a server certificate");
    assert!(n["error"]["message"]
        .as_str()
        .unwrap()
        .contains("CA certificate"));
}

#[test]
fn a_node_presenting_a_client_certificate_is_not_a_server_certificate() {
    let c = Cluster::new(false);
    let pair = pem_pair(
        &c.dir.join("client/cert.pem"),
        &c.dir.join("client/key.pem"),
    );
    plain(
        &tls_failure(&c, pair),
        "not-a-server-certificate",
        "not a server certificate",
    );
}

#[test]
fn an_expired_node_certificate_says_when_it_expired() {
    let c = Cluster::new(false);
    let pair = cert_from_ca(&c.dir, &["rpi2"], (2001, 2002));
    plain(
        &tls_failure(&c, pair),
        "certificate-expired",
        "the node's certificate expired on 2002-01-01",
    );
}

#[test]
fn a_node_certificate_not_yet_valid_points_at_the_clock() {
    let c = Cluster::new(false);
    let pair = cert_from_ca(&c.dir, &["rpi2"], (2090, 2095));
    plain(
        &tls_failure(&c, pair),
        "certificate-not-yet-valid",
        "not valid before 2090-01-01",
    );
}

#[test]
fn a_node_certificate_for_another_name_names_both() {
    let c = Cluster::new(false);
    let pair = cert_from_ca(&c.dir, &["evil.example"], (2001, 2049));
    plain(
        &tls_failure(&c, pair),
        "bad-certificate-name",
        "not valid for rpi2: it names evil.example",
    );
}

/// An absurd `--wait` is refused by name (it used to overflow the clock and panic); judged
/// by exit code and message.
#[test]
fn an_absurd_wait_is_refused() {
    let c = Cluster::new(true);
    for wait in ["99999999999h", "200000d", "8d"] {
        let o = clem(
            &["status", "--config", &c.config(), "--wait", wait],
            &c.root,
        );
        assert_eq!(o.status.code(), Some(2), "{wait}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("longer than the longest wait"),
            "{wait}: {}",
            stderr(&o)
        );
    }
    // Past what a Duration holds: refused by the parser.
    let o = clem(
        &[
            "status",
            "--config",
            &c.config(),
            "--wait",
            "99999999999999999999d",
        ],
        &c.root,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a duration"), "{}", stderr(&o));
}

/// A plain-TCP peer that answers in HTTP and then streams junk: told apart from TLS,
/// judged by the kind, wall time and memory limit.
#[test]
fn a_plain_http_peer_is_not_tls() {
    let c = Cluster::new(false);
    let rpi1 = healthy_rpi1(&c);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
                let junk = vec![b'\x1b'; 0x10000];
                while s.write_all(&junk).is_ok() {}
            });
        }
    });
    let (o, took) = status_limited(&c, &[rpi1, ("rpi2", addr)], true);
    let n = judge_hostile(&o, took);
    assert_eq!(n["error"]["kind"], "tls", "{n:#}");
    assert!(
        n["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not speak TLS"),
        "{n:#}"
    );
}
