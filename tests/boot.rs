//! The real boot test: build two node images from a Debian base shaped like Raspberry Pi OS,
//! boot both under qemu on a private cluster segment, and judge them from the host the way
//! a user would: SSH as the image's default user, docker's API over mutual TLS.
//!
//! Part of `cargo test`. It needs root or passwordless sudo for the first base build,
//! `qemu-system-x86` and `mmdebstrap` (`.ci/boot-deps` installs them) and a few minutes of
//! CPU on TCG. Without those tools it skips with a note on a developer machine and fails in
//! CI (`CI` set) or with `CLEM_BOOT_TEST=1`; `CLEM_BOOT_TEST=0` skips it. With output:
//!
//!     cargo test --test boot -- --nocapture
//!
//! Knobs: `CLEM_BOOT_CACHE` (base image cache, default `~/.cache/clem-image-boot`),
//! `CLEM_BOOT_TIMEOUT` (seconds for both guests to answer SSH, default 900),
//! `CLEM_BOOT_ACCEL` (`tcg`/`kvm`, default: probed), `CLEM_BOOT_KEEP=1` (leave the VMs
//! running after the test; stop them with `tests/boot/run-vm.sh stop --dir DIR`).
//! Everything lands in `target/tmp/boot-test/` (wiped at the start of each run). A run that
//! passes removes its disk images and keeps the logs (`vm-<node>/console.log` is each
//! guest's serial console); a failed run keeps everything.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

/// The default user cloud-init creates from the seed's `ssh_authorized_keys`: the base
/// image's cloud.cfg.d sets `system_info.default_user.name: pi` (tests/boot/make-base.sh).
const USER: &str = "pi";

/// Flip when clem-image forms a swarm by itself (zero-touch swarm mode): see the TODO below.
const SWARM_ZERO_TOUCH: bool = true;

struct Node {
    name: &'static str,
    cidr: &'static str,
    role: &'static str,
    mac: &'static str,
}

/// The user's cloud-config for every node (a file next to cluster.toml).
const CLUSTER_EXTRA: &str = "#cloud-config
write_files:
  - path: /etc/clem-cluster-extra
    content: from the cluster file
    permissions: '0644'
";

/// The node whose own (inline) cloud-config writes a file and runs a command.
const EXTRA_NODE: &str = "rpi2";
const NODE_EXTRA: &str = "#cloud-config
write_files:
  - path: /var/lib/clem-test/node-extra.txt
    content: |
      written by rpi2's own cloud-config
    permissions: '0640'
runcmd:
  - [sh, -c, 'echo \"ran on $(hostname) as $(id -u)\" > /var/tmp/clem-extra-ran']
";

const NODES: [Node; 2] = [
    Node {
        name: "rpi1",
        cidr: "10.0.5.11/24",
        role: "manager",
        mac: "52:54:00:c1:00:11",
    },
    Node {
        name: "rpi2",
        cidr: "10.0.5.12/24",
        role: "worker",
        mac: "52:54:00:c1:00:12",
    },
];

/// The negative case: a worker listed in the config but built from ANOTHER cluster
/// directory (another CA). It boots next to the others and must never join; `status` must
/// say which node and why.
const ROGUE: Node = Node {
    name: "rpi3",
    cidr: "10.0.5.13/24",
    role: "worker",
    mac: "52:54:00:c1:00:13",
};

/// Built from its own config with `docker_debs` (the repository's .deb files) and booted
/// with no package server at all: docker must come from the bundle on the image.
const OFFLINE: Node = Node {
    name: "rpi4",
    cidr: "10.0.5.14/24",
    role: "manager",
    mac: "52:54:00:c1:00:14",
};

/// The local package repository, served on 127.0.0.1 for guests started with
/// `--repo-port`; dropping it stops the server.
struct PkgServer {
    state: PathBuf,
}

impl PkgServer {
    fn start(repo: &Path, port: u16, state: &Path) -> PkgServer {
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

    fn log(&self) -> String {
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

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/boot")
}

fn elapsed(t: Instant) -> String {
    format!("{:.0} s", t.elapsed().as_secs_f64())
}

/// A tool on PATH (or in the sbin directories a non-root PATH may lack).
fn have(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(tool).is_file());
    found
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `n` distinct free TCP ports on 127.0.0.1: all listeners are held until every port is
/// chosen (binding port 0 one at a time may hand out the same port again).
fn free_tcp_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free TCP port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// Polls `f` every `every` until it is true or `limit` has passed.
fn wait_until(limit: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
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

struct Vm {
    name: &'static str,
    dir: PathBuf,
    ssh_port: u16,
    docker_port: u16,
    plain_port: u16,
    /// The key this guest authorizes, when not the test's own.
    key: Option<PathBuf>,
}

/// The guests of one test run; dropping it stops them all (also when an assertion failed,
/// after printing what each guest's console and first-boot journal say).
struct Vms {
    key: PathBuf,
    vms: Vec<Vm>,
}

impl Vm {
    fn ssh(&self, key: &Path, cmd: &str) -> Output {
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
    fn curl_tls(&self, path: &str, extra: &[&str]) -> Output {
        let url = format!("https://{}:{}{path}", self.name, self.docker_port);
        let resolve = format!("{}:{}:127.0.0.1", self.name, self.docker_port);
        run(Command::new("curl")
            .args(["-sS", "-f", "--max-time", "15", "--resolve", &resolve])
            .args(extra)
            .arg(url))
    }

    fn console_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
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
fn start_vm(
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
fn bootfs(img: &Path) -> String {
    let parts = common::sfdisk_parts(img);
    format!("{}@@{}", img.display(), parts[0].start)
}

#[test]
fn two_nodes_form_a_swarm() {
    // In CI (and with CLEM_BOOT_TEST=1) this test must run: missing tools are a failure
    // that names them. On a developer machine without them it skips, saying so;
    // CLEM_BOOT_TEST=0 skips it on purpose.
    let forced = std::env::var("CLEM_BOOT_TEST").ok();
    if forced.as_deref() == Some("0") {
        println!("skipped: CLEM_BOOT_TEST=0");
        return;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    let must_run = ci || forced.is_some();
    let t0 = Instant::now();

    let missing: Vec<&str> = [
        "qemu-system-x86_64",
        "qemu-img",
        "mmdebstrap",
        "ssh",
        "ssh-keygen",
        "curl",
        "mcopy",
        "mtype",
        "sfdisk",
        "mkfs.vfat",
        "mke2fs",
    ]
    .into_iter()
    .filter(|t| !have(t))
    .collect();
    if !missing.is_empty() && !must_run {
        println!(
            "skipped: the boot test needs {} (install them with .ci/boot-deps; CI and \
             CLEM_BOOT_TEST=1 make this a failure)",
            missing.join(", ")
        );
        return;
    }
    assert!(
        missing.is_empty(),
        "the boot test cannot run, these tools are missing: {} (run .ci/boot-deps)",
        missing.join(", ")
    );

    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    // 1. The base image (cached across runs, keyed by make-base.sh's hash).
    let t = Instant::now();
    let cache = std::env::var_os("CLEM_BOOT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/clem-image-boot")
        });
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut make = if root {
        Command::new(scripts().join("make-base.sh"))
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "env"])
            .arg(format!("CLEM_BOOT_CACHE={}", cache.display()))
            .arg(scripts().join("make-base.sh"));
        c
    };
    let o = run(make.arg(&work).env("CLEM_BOOT_CACHE", &cache));
    assert!(o.status.success(), "make-base.sh failed:\n{}", text(&o));
    let base = work.join("base.img");
    // The repository the base's only apt source points at (docker.io, docker-cli and their
    // dependencies); its .debs double as the offline node's bundle.
    let repo = work.join("repo");
    assert!(
        repo.join("Packages").exists(),
        "make-base.sh made no repo/Packages"
    );
    println!("base image: {} ({})", elapsed(t), text(&o).trim());

    // 2. Cluster config and images.
    let (key, public) = common::keygen(&work, "id_ed25519");
    let mut toml = format!(
        "[cluster]\nssh_keys = [\"{}\"]\ndocker = \"tls\"\ninterface = \"eth0\"\n\n",
        public.display()
    );
    // Zero-touch swarm mode: no token; the manager inits the swarm and joins the worker
    // over mutual TLS.
    toml.push_str("[swarm]\nmode = \"swarm-mode\"\n\n");
    // The user's own cloud-config: one file for every node, and inline text for rpi2 that
    // writes a file and runs a command (both merged under clem-image's keys).
    toml = toml.replacen(
        "[cluster]\n",
        "[cluster]\ncloud_config = \"extra-cloud-config.yaml\"\n",
        1,
    );
    std::fs::write(work.join("extra-cloud-config.yaml"), CLUSTER_EXTRA).unwrap();
    for n in NODES.iter().chain([&ROGUE]) {
        toml.push_str(&format!(
            "[[node]]\nname = \"{}\"\naddress = \"{}\"\nrole = \"{}\"\n",
            n.name, n.cidr, n.role
        ));
        if n.name == EXTRA_NODE {
            toml.push_str(&format!("cloud_config_inline = '''\n{NODE_EXTRA}'''\n"));
        }
        toml.push('\n');
    }
    let config = work.join("cluster.toml");
    std::fs::write(&config, &toml).unwrap();
    let out = work.join("out");
    let cluster = work.join("cluster");
    let t = Instant::now();
    let o = run(Command::new(BIN)
        .arg("build")
        .arg("--image")
        .arg(&base)
        .arg("--config")
        .arg(&config)
        .arg("--cluster-dir")
        .arg(&cluster)
        .args(["--node", "rpi1,rpi2"])
        .arg("--out")
        .arg(&out)
        .env("HOME", &work));
    assert!(o.status.success(), "clem-image build failed:\n{}", text(&o));
    // The base has no docker: the build says the first boot installs it over apt.
    assert!(
        text(&o).contains("the first boot installs docker.io (and docker-cli) from the image's apt sources (http://10.0.2.100/)"),
        "build did not say how docker gets there:\n{}",
        text(&o)
    );
    // The rogue worker: same config, another cluster directory, so another CA.
    let other = work.join("cluster-other");
    let out_rogue = work.join("out-rogue");
    let o = run(Command::new(BIN)
        .arg("build")
        .arg("--image")
        .arg(&base)
        .arg("--config")
        .arg(&config)
        .arg("--cluster-dir")
        .arg(&other)
        .args(["--node", ROGUE.name])
        .arg("--out")
        .arg(&out_rogue)
        .env("HOME", &work));
    assert!(o.status.success(), "clem-image build failed:\n{}", text(&o));
    // The offline node: its own cluster (CA), docker from the bundle, no swarm; and built
    // as on a fresh machine: no key given and an empty HOME, so the cluster makes its own
    // SSH key, which must log in.
    let offline_cfg = work.join("cluster-offline.toml");
    std::fs::write(
        &offline_cfg,
        format!(
            "[cluster]\ndocker = \"tls\"\ninterface = \"eth0\"\ndocker_debs = \"{}\"\n\
             [swarm]\nmode = \"none\"\n[[node]]\nname = \"{}\"\naddress = \"{}\"\nrole = \"{}\"\n",
            repo.display(),
            OFFLINE.name,
            OFFLINE.cidr,
            OFFLINE.role
        ),
    )
    .unwrap();
    let offline_dir = work.join("cluster-offline");
    let fresh_home = work.join("home-fresh");
    std::fs::create_dir_all(&fresh_home).unwrap();
    let out_offline = work.join("out-offline");
    let o = run(Command::new(BIN)
        .arg("build")
        .arg("--image")
        .arg(&base)
        .arg("--config")
        .arg(&offline_cfg)
        .arg("--cluster-dir")
        .arg(&offline_dir)
        .arg("--out")
        .arg(&out_offline)
        .arg("--json")
        .env("HOME", &fresh_home));
    assert!(
        o.status.success(),
        "clem-image build (offline) failed:\n{}",
        text(&o)
    );
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).expect("build --json");
    assert_eq!(summary["login"]["source"], "cluster", "{summary}");
    let offline_key = PathBuf::from(summary["login"]["identity"].as_str().unwrap());
    assert_eq!(offline_key, offline_dir.join("ssh/id_ed25519"));
    assert!(
        text(&o).contains("installed at first boot without network"),
        "{}",
        text(&o)
    );
    println!("clem-image build (4 nodes, 3 clusters): {}", elapsed(t));

    for n in &NODES {
        let img = out.join(format!("{}.img", n.name));
        let fat = bootfs(&img);
        let (has, net) = common::tool("mtype", &["-i", &fat, "::/network-config"]);
        assert!(
            has && net.contains(n.cidr),
            "{}.img: no network-config with {} on bootfs: {net}",
            n.name,
            n.cidr
        );
    }

    // 3. Boot both on one private segment (a multicast group on 127.0.0.1 of our own).
    let mcast = format!("230.0.0.1:{}", free_udp_port());
    let mut vms = Vms {
        key: key.clone(),
        vms: Vec::new(),
    };
    let t_boot = Instant::now();
    // The package server's port is chosen now, but nothing listens there until the guests
    // are up: their first boot finds no archive and must wait for it.
    let repo_port = free_tcp_ports(1)[0];
    for n in &NODES {
        let img = out.join(format!("{}.img", n.name));
        start_vm(&mut vms, &work, n, &img, &mcast, Some(repo_port));
    }
    let img = out_rogue.join(format!("{}.img", ROGUE.name));
    start_vm(&mut vms, &work, &ROGUE, &img, &mcast, Some(repo_port));
    // The offline node: a segment of its own and no package server.
    let mcast_offline = format!("230.0.0.1:{}", free_udp_port());
    let img = out_offline.join(format!("{}.img", OFFLINE.name));
    start_vm(&mut vms, &work, &OFFLINE, &img, &mcast_offline, None);
    let offline_vm = NODES.len() + 1;
    vms.vms[offline_vm].key = Some(offline_key.clone());

    // 4. SSH as the default user, and the host name from the seed.
    let limit = Duration::from_secs(
        std::env::var("CLEM_BOOT_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(900),
    );
    for vm in &vms.vms[..NODES.len()] {
        let up = wait_until(
            limit.saturating_sub(t_boot.elapsed()),
            Duration::from_secs(5),
            || vm.ssh(&key, "true").status.success(),
        );
        assert!(up, "{}: no SSH as {USER} within {limit:?}", vm.name);
        println!("{}: SSH up {} after start", vm.name, elapsed(t_boot));
        let o = vm.ssh(&key, "hostname");
        assert_eq!(text(&o).trim(), vm.name, "{}: host name", vm.name);
    }

    // 4a. The first boot found no archive (the package server is not up yet) and keeps
    //     retrying; only now does the archive appear.
    let manager = &vms.vms[0];
    let waited = wait_until(Duration::from_secs(600), Duration::from_secs(5), || {
        text(&manager.ssh(&key, "sudo journalctl --no-pager -b -u clem-firstboot"))
            .contains("'apt_install_docker' failed")
    });
    assert!(
        waited,
        "{}: the first boot never tried apt before the archive was up:\n{}",
        manager.name,
        text(&manager.ssh(
            &key,
            "sudo journalctl --no-pager -b -u clem-firstboot | tail -n 20"
        ))
    );
    let server = PkgServer::start(&repo, repo_port, &work.join("pkg-server"));
    println!(
        "package server up {} after start (guests had retried apt)",
        elapsed(t_boot)
    );

    // 4b. The user's extra cloud-config ran: the cluster's file on every node, rpi2's own
    //     file (with its mode) and command only on rpi2; and the node's cloud-init
    //     (25.1, the schema version we validate against) finds the user-data it read valid.
    for vm in &vms.vms[..NODES.len()] {
        let mine = vm.name == EXTRA_NODE;
        let ran = wait_until(Duration::from_secs(600), Duration::from_secs(5), || {
            vm.ssh(&key, "cloud-init status --wait >/dev/null 2>&1; test -e /var/lib/cloud/instance/boot-finished")
                .status
                .success()
        });
        assert!(
            ran,
            "{}: cloud-init never finished:\n{}",
            vm.name,
            vm.console_tail(40)
        );
        let o = vm.ssh(&key, "cat /etc/clem-cluster-extra");
        assert_eq!(
            text(&o).trim(),
            "from the cluster file",
            "{}: cluster extra",
            vm.name
        );
        let o = vm.ssh(
            &key,
            "sudo stat -c '%a %U' /var/lib/clem-test/node-extra.txt && sudo cat /var/lib/clem-test/node-extra.txt /var/tmp/clem-extra-ran",
        );
        if mine {
            assert_eq!(
                text(&o),
                "640 root\nwritten by rpi2's own cloud-config\nran on rpi2 as 0\n",
                "{}: node extra",
                vm.name
            );
            let o = vm.ssh(&key, "sudo cloud-init schema --system 2>&1");
            assert!(
                o.status.success(),
                "{}: cloud-init schema --system:\n{}",
                vm.name,
                text(&o)
            );
            println!(
                "{}: extra cloud-config applied; node's own check: {}",
                vm.name,
                text(&o).trim()
            );
        } else {
            assert!(
                !o.status.success(),
                "{}: got rpi2's extra cloud-config: {}",
                vm.name,
                text(&o)
            );
        }
    }

    // 5. docker: mutual TLS on 2376 once the first-boot unit has configured it.
    let ca = cluster.join("tls/ca.pem");
    let cert = cluster.join("client/cert.pem");
    let ckey = cluster.join("client/key.pem");
    let (ca, cert, ckey) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        ckey.to_str().unwrap(),
    );
    let with_cert = ["--cacert", ca, "--cert", cert, "--key", ckey];
    for vm in &vms.vms[..NODES.len()] {
        // Give up early when the first-boot unit has failed twice and left docker down.
        let mut broken = String::new();
        // The install (dpkg under TCG, four guests on two cores) takes minutes.
        let ok = wait_until(Duration::from_secs(1500), Duration::from_secs(5), || {
            if vm.curl_tls("/version", &with_cert).status.success() {
                return true;
            }
            let o = vm.ssh(
                &key,
                "! systemctl is-active -q docker && \
                 systemctl show -p NRestarts -p Result clem-firstboot",
            );
            let t = text(&o);
            // Failed on its retry too (a single failure may be a slow start on TCG).
            if o.status.success() && !t.contains("NRestarts=0") && !t.contains("Result=success") {
                broken = text(&vm.ssh(
                    &key,
                    "sudo journalctl --no-pager -b -u clem-firstboot -u docker | tail -n 30",
                ));
                return true;
            }
            false
        });
        assert!(
            ok && broken.is_empty(),
            "{}: docker /version over TLS with the client certificate: {}\n\
             first boot failed and docker is down:\n{broken}",
            vm.name,
            text(&vm.curl_tls("/version", &with_cert))
        );
        let v = vm.curl_tls("/version", &with_cert);
        let body = String::from_utf8_lossy(&v.stdout);
        assert!(
            body.contains("\"ApiVersion\""),
            "{}: /version: {body}",
            vm.name
        );
        println!(
            "{}: docker TLS answers {} after start",
            vm.name,
            elapsed(t_boot)
        );

        let o = vm.curl_tls("/version", &["--cacert", ca]);
        assert!(
            !o.status.success(),
            "{}: docker answered TLS without a client certificate: {}",
            vm.name,
            text(&o)
        );
        let o = run(Command::new("curl")
            .args(["-sS", "-f", "--max-time", "15"])
            .arg(format!("http://127.0.0.1:{}/version", vm.docker_port)));
        assert!(
            !o.status.success() && !text(&o).contains("ApiVersion"),
            "{}: docker answered plain HTTP on 2376: {}",
            vm.name,
            text(&o)
        );
        let o = run(Command::new("curl")
            .args(["-sS", "-f", "--max-time", "15"])
            .arg(format!("http://127.0.0.1:{}/version", vm.plain_port)));
        assert!(
            !o.status.success(),
            "{}: something answers on 2375: {}",
            vm.name,
            text(&o)
        );
        let o = vm.ssh(&key, "ss -Hltn");
        assert!(
            !text(&o).contains(":2375 "),
            "{}: a listener on 2375:\n{}",
            vm.name,
            text(&o)
        );
        // The first-boot script marks success only after its last step (docker ready, the
        // swarm joined); it retries with backoff, so give it a few minutes.
        let done = wait_until(Duration::from_secs(300), Duration::from_secs(5), || {
            vm.ssh(&key, "sudo test -e /var/lib/clem-image/firstboot.done")
                .status
                .success()
        });
        assert!(
            done,
            "{}: first boot not done (no /var/lib/clem-image/firstboot.done):\n{}",
            vm.name,
            text(&vm.ssh(
                &key,
                "systemctl status --no-pager clem-firstboot; \
                 sudo journalctl --no-pager -b -u clem-firstboot | tail -n 20"
            ))
        );
        println!(
            "{}: first boot done {} after start",
            vm.name,
            elapsed(t_boot)
        );
    }

    // 6. The private cluster segment: each node reaches the other's address on eth0.
    for (vm, other) in [(&vms.vms[0], &NODES[1]), (&vms.vms[1], &NODES[0])] {
        let addr = other.cidr.split('/').next().unwrap();
        let o = vm.ssh(&key, &format!("sudo ping -c 2 -W 3 -I eth0 {addr}"));
        assert!(
            o.status.success(),
            "{}: cannot reach {} ({addr}) on the cluster segment:\n{}",
            vm.name,
            other.name,
            text(&o)
        );
    }

    // 7. The swarm.
    // TODO(lead, zero-touch swarm): set SWARM_ZERO_TOUCH once the config above selects the
    // zero-touch mode; then the manager's API must list both nodes, rpi1 the leader, both
    // ready, and rpi2 must see itself in an active swarm.
    if SWARM_ZERO_TOUCH {
        let manager = &vms.vms[0];
        let ok = wait_until(Duration::from_secs(600), Duration::from_secs(10), || {
            let o = manager.curl_tls("/nodes", &with_cert);
            let body = String::from_utf8_lossy(&o.stdout);
            o.status.success()
                && NODES
                    .iter()
                    .all(|n| body.contains(&format!("\"Hostname\":\"{}\"", n.name)))
                && body.matches("\"State\":\"ready\"").count() == NODES.len()
        });
        assert!(
            ok,
            "swarm: the manager does not list every node ready: {}",
            text(&manager.curl_tls("/nodes", &with_cert))
        );
        let nodes = text(&manager.curl_tls("/nodes", &with_cert));
        assert!(
            nodes.contains("\"Leader\":true"),
            "swarm: no leader: {nodes}"
        );
        let info = text(&vms.vms[1].curl_tls("/info", &with_cert));
        assert!(
            info.contains("\"LocalNodeState\":\"active\""),
            "swarm: rpi2 not in an active swarm: {info}"
        );
        println!("swarm formed {} after start", elapsed(t_boot));
        // The login user may use docker (the install made the docker group; the first boot
        // put pi in it): the swarm, seen from the manager's shell.
        let o = vms.vms[0].ssh(&key, "docker node ls --format '{{.Hostname}} {{.Status}}'");
        assert!(o.status.success(), "pi: docker node ls:\n{}", text(&o));
        for n in &NODES {
            assert!(
                text(&o).contains(&format!("{} Ready", n.name)),
                "docker node ls as pi: {}",
                text(&o)
            );
        }

        // `clem-image status`, from the host through the port forwards, checking each
        // node's certificate under its own name.
        let mut status = Command::new(BIN);
        status
            .args([
                "status",
                "--json",
                "--wait",
                "3m",
                "--node",
                "rpi1,rpi2",
                "--config",
            ])
            .arg(&config)
            .arg("--cluster-dir")
            .arg(&cluster);
        for vm in &vms.vms[..NODES.len()] {
            status
                .arg("--endpoint")
                .arg(format!("{}=127.0.0.1:{}", vm.name, vm.docker_port));
        }
        let o = run(&mut status);
        assert!(o.status.success(), "clem-image status:\n{}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(report["healthy"], true, "{report:#}");
        for n in &NODES {
            let node = report["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["name"] == n.name)
                .unwrap_or_else(|| panic!("{} missing from status: {report:#}", n.name));
            assert_eq!(node["ready"], true, "{report:#}");
            assert_eq!(node["hostname"], n.name, "{report:#}");
        }

        // 8. The negative case: rpi3 runs (its docker answers TLS for ITS OWN CA's
        //    client), the manager's watch has tried it, and it never joined.
        let rogue = &vms.vms[NODES.len()];
        let oca = other.join("tls/ca.pem");
        let ocert = other.join("client/cert.pem");
        let okey = other.join("client/key.pem");
        let other_cert = [
            "--cacert",
            oca.to_str().unwrap(),
            "--cert",
            ocert.to_str().unwrap(),
            "--key",
            okey.to_str().unwrap(),
        ];
        let up = wait_until(Duration::from_secs(1500), Duration::from_secs(5), || {
            rogue.curl_tls("/version", &other_cert).status.success()
        });
        assert!(
            up,
            "{}: its docker never came up (with its own CA)",
            rogue.name
        );
        println!(
            "{}: docker (other CA) answers {} after start",
            rogue.name,
            elapsed(t_boot)
        );
        // Our operator certificate is refused there, and its certificate is not ours.
        assert!(!rogue.curl_tls("/version", &with_cert).status.success());
        // Two watch rounds (every 60 s) after it came up.
        let manager = &vms.vms[0];
        let tried = wait_until(Duration::from_secs(240), Duration::from_secs(10), || {
            let j = text(&manager.ssh(
                &key,
                "sudo journalctl --no-pager -u clem-swarm-watch | grep 'node rpi3' | tail -n 3",
            ));
            j.contains("not reachable")
        });
        let journal = text(&manager.ssh(
            &key,
            "sudo journalctl --no-pager -u clem-swarm-watch | tail -n 20",
        ));
        assert!(tried, "the manager's watch never reported rpi3:\n{journal}");
        let nodes = text(&manager.curl_tls("/nodes", &with_cert));
        assert!(
            !nodes.contains("\"Hostname\":\"rpi3\""),
            "rpi3 (another CA) joined the swarm: {nodes}"
        );
        let mut status = Command::new(BIN);
        status
            .args(["status", "--json", "--config"])
            .arg(&config)
            .arg("--cluster-dir")
            .arg(&cluster);
        for vm in &vms.vms[..=NODES.len()] {
            status
                .arg("--endpoint")
                .arg(format!("{}=127.0.0.1:{}", vm.name, vm.docker_port));
        }
        let o = run(&mut status);
        assert_eq!(o.status.code(), Some(1), "status with rpi3:\n{}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let bad = report["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == ROGUE.name)
            .unwrap_or_else(|| panic!("rpi3 missing: {report:#}"));
        assert_eq!(bad["healthy"], false, "{report:#}");
        let kind = bad["error"]["kind"].as_str().unwrap_or_default();
        assert!(
            [
                "unknown-ca",
                "client-certificate-rejected",
                "bad-certificate-name"
            ]
            .contains(&kind),
            "rpi3: expected a TLS trust error, got {bad:#}"
        );
        println!("negative case: rpi3 refused ({kind}), manager journal:\n{journal}");
    } else {
        println!("swarm: not asserted yet (TODO: zero-touch swarm mode)");
    }

    // 9. docker came from the package server on the networked nodes, and from the bundle
    //    on the offline node, which never had a way to any archive.
    let served = server.log();
    assert!(
        served.contains("/docker.io_") && served.contains("/docker-cli_"),
        "the guests fetched no docker package from the repository:\n{served}"
    );
    let offline = &vms.vms[offline_vm];
    let oca = offline_dir.join("tls/ca.pem");
    let ocert = offline_dir.join("client/cert.pem");
    let okey = offline_dir.join("client/key.pem");
    let offline_cert = [
        "--cacert",
        oca.to_str().unwrap(),
        "--cert",
        ocert.to_str().unwrap(),
        "--key",
        okey.to_str().unwrap(),
    ];
    let up = wait_until(Duration::from_secs(1500), Duration::from_secs(5), || {
        offline.curl_tls("/version", &offline_cert).status.success()
    });
    assert!(
        up,
        "{}: docker never answered over TLS (offline bundle):\n{}",
        offline.name,
        text(&offline.ssh(
            &offline_key,
            "sudo journalctl --no-pager -b -u clem-firstboot | tail -n 30"
        ))
    );
    println!(
        "{}: docker TLS answers {} after start (offline bundle)",
        offline.name,
        elapsed(t_boot)
    );
    let o = offline.ssh(
        &offline_key,
        "sudo journalctl --no-pager -b -u clem-firstboot",
    );
    assert!(
        text(&o).contains("(offline)") && !text(&o).contains("apt_install_docker"),
        "{}: {}",
        offline.name,
        text(&o)
    );
    let o = offline.ssh(
        &offline_key,
        "id -nG pi; docker version --format '{{.Server.Version}}'",
    );
    assert!(
        o.status.success() && text(&o).contains("docker"),
        "{}: {}",
        offline.name,
        text(&o)
    );

    // Passed: stop the guests and free the disk space their images take (gigabytes),
    // keeping the logs. A failed run keeps everything for a look.
    drop(vms);
    let freed = remove_disks(&work);
    println!(
        "boot test total: {}; removed {} MiB of disk images from {}",
        elapsed(t0),
        freed >> 20,
        work.display()
    );
}

/// Removes every file of `dir` (recursively) larger than 1 MiB; returns the bytes freed.
fn remove_disks(dir: &Path) -> u64 {
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
