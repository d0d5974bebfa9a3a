//! The boot test's machinery: guests under qemu (run-vm.sh), the package server, ports,
//! polling, and running host commands.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Node, USER};

/// The local package repository, served on 127.0.0.1 for guests started with
/// `--repo-port`; dropping it stops the server.
pub(crate) struct PkgServer {
    state: PathBuf,
}

impl PkgServer {
    pub(crate) fn start(repo: &Path, port: u16, state: &Path) -> PkgServer {
        let o = run(Command::new(scripts().join("pkg-server.sh"))
            .arg("start")
            .arg("--dir")
            .arg(repo)
            .args(["--port", &port.to_string()])
            .arg("--state")
            .arg(state));
        assert!(o.status.success(), "pkg-server.sh start:\n{}", text(&o));
        PkgServer {
            state: state.to_owned(),
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("pkg-server.log")).unwrap_or_default()
    }
}

impl Drop for PkgServer {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("pkg-server.sh"))
            .args(["stop", "--state"])
            .arg(&self.state)
            .status();
    }
}

pub(crate) fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boot")
}

pub(crate) fn elapsed(t: Instant) -> String {
    format!("{:.0} s", t.elapsed().as_secs_f64())
}

/// A tool on PATH (or in the sbin directories a non-root PATH may lack).
pub(crate) fn have(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(tool).is_file());
    found
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `n` distinct free TCP ports on 127.0.0.1: all listeners are held until every port is
/// chosen (binding port 0 one at a time may hand out the same port again).
pub(crate) fn free_tcp_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free TCP port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// Polls `f` every `every` until it is true or `limit` has passed.
pub(crate) fn wait_until(limit: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(every);
    }
}

pub(crate) struct Vm {
    pub(crate) name: &'static str,
    pub(crate) dir: PathBuf,
    pub(crate) ssh_port: u16,
    pub(crate) docker_port: u16,
    pub(crate) plain_port: u16,
    /// The key this guest authorizes, when not the test's own.
    pub(crate) key: Option<PathBuf>,
}

/// The guests of one test run; dropping it stops them all (also when an assertion failed,
/// after printing what each guest's console and first-boot journal say).
pub(crate) struct Vms {
    pub(crate) key: PathBuf,
    pub(crate) vms: Vec<Vm>,
}

impl Vm {
    pub(crate) fn ssh(&self, key: &Path, cmd: &str) -> Output {
        run(Command::new("ssh")
            .args(["-i", key.to_str().unwrap()])
            .args(["-p", &self.ssh_port.to_string()])
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("{USER}@127.0.0.1"))
            .arg(cmd)
            .stdin(Stdio::null()))
    }

    /// curl against this guest's forwarded docker TLS port, by host name (the server
    /// certificate names the node), with extra curl arguments.
    pub(crate) fn curl_tls(&self, path: &str, extra: &[&str]) -> Output {
        let url = format!("https://{}:{}{path}", self.name, self.docker_port);
        let resolve = format!("{}:{}:127.0.0.1", self.name, self.docker_port);
        run(Command::new("curl")
            .args(["-sS", "-f", "--max-time", "15", "--resolve", &resolve])
            .args(extra)
            .arg(url))
    }

    pub(crate) fn console_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether run-vm.sh started this guest under KVM (its `accel` file), not TCG.
    pub(crate) fn ran_under_kvm(&self) -> bool {
        std::fs::read_to_string(self.dir.join("accel")).is_ok_and(|a| a.trim() == "kvm")
    }
}

impl Drop for Vms {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for vm in &self.vms {
                eprintln!(
                    "===== {} ({}): last console lines =====\n{}",
                    vm.name,
                    vm.dir.display(),
                    vm.console_tail(60)
                );
                let o = vm.ssh(
                    vm.key.as_ref().unwrap_or(&self.key),
                    "sudo journalctl --no-pager -b -u clem-firstboot -u docker -u cloud-init-local \
                     -u cloud-init -u cloud-config -u cloud-final | tail -n 80; \
                     sudo cloud-init status --long; sudo ss -ltn; ip -br addr",
                );
                eprintln!("===== {}: guest diagnostics =====\n{}", vm.name, text(&o));
            }
        }
        if std::env::var_os("CLEM_BOOT_KEEP").is_some() {
            eprintln!("CLEM_BOOT_KEEP: VMs left running");
            return;
        }
        for vm in &self.vms {
            let _ = Command::new(scripts().join("run-vm.sh"))
                .args(["stop", "--dir"])
                .arg(&vm.dir)
                .status();
        }
    }
}

/// Starts one guest on `image` (run-vm.sh), on the cluster segment `mcast`, with the
/// package repository at 10.0.2.100 when `repo_port` is given. The guest is registered in
/// `vms` before any assertion, so it is stopped in any case.
pub(crate) fn start_vm(
    vms: &mut Vms,
    work: &Path,
    n: &Node,
    image: &Path,
    mcast: &str,
    repo_port: Option<u16>,
) {
    let ports = free_tcp_ports(3);
    let vm = Vm {
        name: n.name,
        dir: work.join(format!("vm-{}", n.name)),
        ssh_port: ports[0],
        docker_port: ports[1],
        plain_port: ports[2],
        key: None,
    };
    let mut cmd = Command::new(scripts().join("run-vm.sh"));
    cmd.arg("start")
        .arg("--image")
        .arg(image)
        .arg("--dir")
        .arg(&vm.dir)
        .args(["--mac", n.mac, "--mcast", mcast])
        .args(["--ssh-port", &vm.ssh_port.to_string()])
        .args(["--docker-port", &vm.docker_port.to_string()])
        .args(["--plain-port", &vm.plain_port.to_string()]);
    if let Some(p) = repo_port {
        cmd.args(["--repo-port", &p.to_string()]);
    }
    let o = run(&mut cmd);
    vms.vms.push(vm);
    assert!(
        o.status.success(),
        "run-vm.sh start {}:\n{}",
        n.name,
        text(&o)
    );
    println!("{}", text(&o).trim());
}

/// Byte offset of an image's first partition (bootfs), for mtools' `-i IMG@@OFFSET`.
pub(crate) fn bootfs(img: &Path) -> String {
    let parts = super::common::sfdisk_parts(img);
    format!("{}@@{}", img.display(), parts[0].start)
}

/// Removes every file of `dir` (recursively) larger than 1 MiB; returns the bytes freed.
pub(crate) fn remove_disks(dir: &Path) -> u64 {
    let mut freed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            freed += remove_disks(&e.path());
        } else if meta.len() > 1 << 20 && std::fs::remove_file(e.path()).is_ok() {
            use std::os::unix::fs::MetadataExt;
            freed += meta.blocks() * 512;
        }
    }
    freed
}
