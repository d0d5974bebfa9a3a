//! Per-node boot timings, watched from the host in the background while the test does its
//! own (slower, sequential) checks: power-on → SSH banner, power-on → docker answering
//! over mutual TLS on 2376, and docker → Ready in the manager's node list. Polled once a
//! second, so each mark is late by at most about a second plus one curl.

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the poller needs of one guest (a `Vm` stays with the test).
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) name: &'static str,
    pub(crate) ssh_port: u16,
    pub(crate) docker_port: u16,
}

/// When each thing was first seen, after power-on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Marks {
    pub(crate) ssh: Option<Duration>,
    pub(crate) docker: Option<Duration>,
    pub(crate) ready: Option<Duration>,
}

impl Marks {
    fn complete(&self) -> bool {
        self.ssh.is_some() && self.docker.is_some() && self.ready.is_some()
    }
}

pub(crate) struct Timeline {
    targets: Vec<Target>,
    marks: Arc<Mutex<Vec<Marks>>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl Timeline {
    /// Starts polling `targets` (the first is the manager) with the client certificate
    /// `cert` (`--cacert CA --cert CERT --key KEY`), times measured from `t_boot`.
    pub(crate) fn start(targets: Vec<Target>, cert: [String; 6], t_boot: Instant) -> Timeline {
        let marks = Arc::new(Mutex::new(vec![Marks::default(); targets.len()]));
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (targets, marks, stop) = (targets.clone(), marks.clone(), stop.clone());
            std::thread::spawn(move || poll(&targets, &cert, t_boot, &marks, &stop))
        };
        Timeline {
            targets,
            marks,
            stop,
            poller: Some(poller),
        }
    }

    /// Waits up to `limit` for every mark of every node; returns them by node name.
    pub(crate) fn wait(&self, limit: Duration) -> Vec<(&'static str, Marks)> {
        let end = Instant::now() + limit;
        while Instant::now() < end && !self.marks.lock().unwrap().iter().all(Marks::complete) {
            std::thread::sleep(Duration::from_millis(500));
        }
        let marks = self.marks.lock().unwrap().clone();
        self.targets.iter().map(|t| t.name).zip(marks).collect()
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
    }
}

fn poll(
    targets: &[Target],
    cert: &[String; 6],
    t_boot: Instant,
    marks: &Mutex<Vec<Marks>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        let round = Instant::now();
        let now: Vec<Marks> = marks.lock().unwrap().clone();
        if now.iter().all(Marks::complete) {
            return;
        }
        let ready = ready_hosts(&targets[0], cert);
        let mut seen = now.clone();
        for (t, m) in targets.iter().zip(seen.iter_mut()) {
            if m.ssh.is_none() && ssh_banner(t.ssh_port) {
                m.ssh = Some(t_boot.elapsed());
            }
            if m.docker.is_none() && curl(t, "/version", cert).is_some() {
                m.docker = Some(t_boot.elapsed());
            }
            if m.ready.is_none() && ready.iter().any(|h| h == t.name) {
                m.ready = Some(t_boot.elapsed());
            }
        }
        *marks.lock().unwrap() = seen;
        std::thread::sleep(Duration::from_secs(1).saturating_sub(round.elapsed()));
    }
}

/// sshd greets first: qemu's port forward accepts a connection even while the guest has
/// no listener, so only the banner says SSH is up.
fn ssh_banner(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(2),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

/// The body of `path` on `t`'s docker over mutual TLS, when it answers.
fn curl(t: &Target, path: &str, cert: &[String; 6]) -> Option<Vec<u8>> {
    let resolve = format!("{}:{}:127.0.0.1", t.name, t.docker_port);
    let o = Command::new("curl")
        .args(["-sS", "-f", "--max-time", "5", "--resolve", &resolve])
        .args(cert)
        .arg(format!("https://{}:{}{path}", t.name, t.docker_port))
        .output()
        .ok()?;
    o.status.success().then_some(o.stdout)
}

/// Host names the manager lists as ready.
fn ready_hosts(manager: &Target, cert: &[String; 6]) -> Vec<String> {
    let Some(body) = curl(manager, "/nodes", cert) else {
        return Vec::new();
    };
    let nodes: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    nodes
        .iter()
        .filter(|n| n["Status"]["State"] == "ready")
        .filter_map(|n| n["Description"]["Hostname"].as_str().map(str::to_string))
        .collect()
}

/// How long after the last node's docker answered the last node was Ready (zero when it
/// was seen Ready first); None while a mark is missing.
pub(crate) fn completion(marks: &[(&'static str, Marks)]) -> Option<Duration> {
    let last = |f: fn(&Marks) -> Option<Duration>| -> Option<Duration> {
        marks
            .iter()
            .map(|(_, m)| f(m))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    };
    Some(last(|m| m.ready)?.saturating_sub(last(|m| m.docker)?))
}

/// The table of `marks`, one line per node, in seconds.
pub(crate) fn table(marks: &[(&'static str, Marks)]) -> String {
    let s = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.0} s", d.as_secs_f64()));
    let mut out = format!(
        "{:<6} {:>14} {:>17} {:>16}\n",
        "node", "power-on→SSH", "power-on→docker", "docker→Ready"
    );
    for (name, m) in marks {
        let join = match (m.docker, m.ready) {
            (Some(d), Some(r)) => format!("{:.0} s", r.as_secs_f64() - d.as_secs_f64()),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{name:<6} {:>14} {:>17} {join:>16}\n",
            s(m.ssh),
            s(m.docker)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ssh: u64, docker: u64, ready: u64) -> Marks {
        let s = |n| Some(Duration::from_secs(n));
        Marks {
            ssh: s(ssh),
            docker: s(docker),
            ready: s(ready),
        }
    }

    #[test]
    fn completion_runs_from_the_last_docker_to_the_last_ready() {
        let marks = [("rpi1", at(50, 300, 302)), ("rpi2", at(60, 310, 318))];
        assert_eq!(completion(&marks), Some(Duration::from_secs(8)));
        // A worker seen Ready before the poller saw its docker: no negative time.
        let marks = [("rpi1", at(50, 300, 299))];
        assert_eq!(completion(&marks), Some(Duration::ZERO));
        let missing = [("rpi1", at(50, 300, 302)), ("rpi2", Marks::default())];
        assert_eq!(completion(&missing), None);
    }

    #[test]
    fn table_has_a_line_per_node_and_a_dash_for_what_was_not_seen() {
        let t = table(&[("rpi1", at(50, 300, 302)), ("rpi2", Marks::default())]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].contains("docker→Ready"), "{t}");
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cols, ["rpi1", "50", "s", "300", "s", "2", "s"], "{t}");
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["rpi2", "-", "-", "-"]
        );
    }
}
