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
//! `CLEM_BOOT_ACCEL` (`tcg`/`kvm`, default: probed), `CLEM_BOOT_JOIN_BOUND` (seconds
//! from the last node's docker answering to a complete swarm; default issue 19's target,
//! 20, when every guest runs under KVM, else 120),
//! `CLEM_BOOT_KEEP=1` (leave the VMs running after the test; stop them with
//! `tests/boot/run-vm.sh stop --dir DIR`).
//! Everything lands in `target/tmp/boot-test/` (wiped at the start of each run). A run that
//! passes removes its disk images and keeps the logs (`vm-<node>/console.log` is each
//! guest's serial console); a failed run keeps everything.

mod common;
#[path = "boot/images.rs"]
mod images;
#[path = "boot/timeline.rs"]
mod timeline;
#[path = "boot/vm.rs"]
mod vm;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::BIN;
use images::Built;
use timeline::{Target, Timeline};
use vm::{elapsed, have, run, start_vm, text, wait_until, PkgServer, Vm, Vms};

/// The default user cloud-init creates from the seed's `ssh_authorized_keys`: the base
/// image's cloud.cfg.d sets `system_info.default_user.name: pi` (tests/boot/make-base.sh).
pub(crate) const USER: &str = "pi";

pub(crate) struct Node {
    pub(crate) name: &'static str,
    pub(crate) cidr: &'static str,
    pub(crate) role: &'static str,
    pub(crate) mac: &'static str,
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

/// The client certificate a cluster directory holds, as curl arguments.
struct Cert {
    ca: String,
    cert: String,
    key: String,
}

impl Cert {
    fn of(cluster_dir: &Path) -> Cert {
        let s = |p: &str| cluster_dir.join(p).to_str().unwrap().to_string();
        Cert {
            ca: s("tls/ca.pem"),
            cert: s("client/cert.pem"),
            key: s("client/key.pem"),
        }
    }

    fn args(&self) -> [&str; 6] {
        [
            "--cacert", &self.ca, "--cert", &self.cert, "--key", &self.key,
        ]
    }

    fn owned_args(&self) -> [String; 6] {
        self.args().map(str::to_string)
    }
}

/// The booted guests: our two nodes first, then the rogue, then the offline node.
struct Fleet {
    vms: Vms,
    t_boot: Instant,
    repo_port: u16,
}

const ROGUE_VM: usize = NODES.len();
const OFFLINE_VM: usize = NODES.len() + 1;

impl Fleet {
    fn nodes(&self) -> &[Vm] {
        &self.vms.vms[..NODES.len()]
    }
}

#[test]
fn two_nodes_form_a_swarm() {
    if !boot_test_runs() {
        return;
    }
    let t0 = Instant::now();
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-test");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    let base = images::base_image(&work);
    let built = images::build_all(&work, &base);
    let fleet = boot(&work, &built);
    let ours = Cert::of(&built.cluster);
    let timeline = watch_timings(&fleet, &ours);
    ssh_and_hostname(&fleet, &built.key);
    let server = first_boot_waits_for_the_archive(&fleet, &built.key, &base.repo, &work);
    extra_cloud_config_ran(&fleet, &built.key);
    for vm in fleet.nodes() {
        docker_tls_only(vm, &built.key, &ours, fleet.t_boot);
        first_boot_done(vm, &built.key, fleet.t_boot);
    }
    cluster_segment(&fleet, &built.key);
    swarm_formed(&fleet, &built.key, &ours);
    joined_within_the_bound(&fleet, &timeline);
    status_sees_the_swarm(&fleet, &built);
    rogue_never_joins(&fleet, &built, &ours);
    docker_sources(&fleet, &built, &server);

    // Passed: stop the guests and free the disk space their images take (gigabytes),
    // keeping the logs. A failed run keeps everything for a look.
    drop(fleet);
    let freed = vm::remove_disks(&work);
    println!(
        "boot test total: {}; removed {} MiB of disk images from {}",
        elapsed(t0),
        freed >> 20,
        work.display()
    );
}

/// In CI (and with CLEM_BOOT_TEST=1) this test must run: missing tools are a failure that
/// names them. On a developer machine without them it skips, saying so; CLEM_BOOT_TEST=0
/// skips it on purpose.
fn boot_test_runs() -> bool {
    let forced = std::env::var("CLEM_BOOT_TEST").ok();
    if forced.as_deref() == Some("0") {
        println!("skipped: CLEM_BOOT_TEST=0");
        return false;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    let must_run = ci || forced.is_some();
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
        return false;
    }
    assert!(
        missing.is_empty(),
        "the boot test cannot run, these tools are missing: {} (run .ci/boot-deps)",
        missing.join(", ")
    );
    true
}

/// 3. Boot our nodes and the rogue on one private segment (a multicast group on 127.0.0.1
///    of our own); the offline node on a segment of its own with no package server.
fn boot(work: &Path, built: &Built) -> Fleet {
    let mcast = format!("230.0.0.1:{}", vm::free_udp_port());
    let mut vms = Vms {
        key: built.key.clone(),
        vms: Vec::new(),
    };
    let t_boot = Instant::now();
    // The package server's port is chosen now, but nothing listens there until the guests
    // are up: their first boot finds no archive and must wait for it.
    let repo_port = vm::free_tcp_ports(1)[0];
    for n in &NODES {
        let img = built.out.join(format!("{}.img", n.name));
        start_vm(&mut vms, work, n, &img, &mcast, Some(repo_port));
    }
    let img = built.out_rogue.join(format!("{}.img", ROGUE.name));
    start_vm(&mut vms, work, &ROGUE, &img, &mcast, Some(repo_port));
    let mcast_offline = format!("230.0.0.1:{}", vm::free_udp_port());
    let img = built.out_offline.join(format!("{}.img", OFFLINE.name));
    start_vm(&mut vms, work, &OFFLINE, &img, &mcast_offline, None);
    vms.vms[OFFLINE_VM].key = Some(built.offline_key.clone());
    Fleet {
        vms,
        t_boot,
        repo_port,
    }
}

/// The last node must be Ready in the swarm within this long of its docker answering over
/// TLS: the manager's watch probes listed members every 3 s (issue 19). Issue 19's target,
/// 20 s, is the bound where every guest runs under KVM; under TCG each docker CLI call in a
/// guest takes 5-10 s (a loaded machine measured 69 s), so there the default, 120 s, guards
/// against the old minute-long timer and subnet scan coming back. `CLEM_BOOT_JOIN_BOUND`
/// sets it (20 holds the target under TCG too).
fn join_bound(accel: Accel) -> Duration {
    let secs = std::env::var("CLEM_BOOT_JOIN_BOUND")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(match accel {
            Accel::Kvm => 20,
            Accel::Tcg => 120,
        });
    Duration::from_secs(secs)
}

/// What the guests ran under, as run-vm.sh recorded it in each one's directory.
#[derive(Clone, Copy, Debug)]
enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// KVM only if every node ran under it: one slow guest makes the whole swarm slow.
    fn of(fleet: &Fleet) -> Accel {
        if fleet.nodes().iter().all(Vm::ran_under_kvm) {
            Accel::Kvm
        } else {
            Accel::Tcg
        }
    }
}

/// 3a. From power-on, in the background: when each of our nodes answers SSH, answers docker
///     over TLS, and is Ready in the manager's node list.
fn watch_timings(fleet: &Fleet, ours: &Cert) -> Timeline {
    let targets = fleet
        .nodes()
        .iter()
        .map(|vm| Target {
            name: vm.name,
            ssh_port: vm.ssh_port,
            docker_port: vm.docker_port,
        })
        .collect();
    Timeline::start(targets, ours.owned_args(), fleet.t_boot)
}

/// 7a. The timings per node, and the bound: the swarm is complete within join_bound() of the
///     last node's docker answering.
fn joined_within_the_bound(fleet: &Fleet, timeline: &Timeline) {
    let marks = timeline.wait(Duration::from_secs(60));
    eprintln!(
        "boot timings (after power-on):\n{}",
        timeline::table(&marks)
    );
    let took = timeline::completion(&marks).unwrap_or_else(|| panic!("marks missing: {marks:#?}"));
    let accel = Accel::of(fleet);
    let bound = join_bound(accel);
    eprintln!(
        "swarm complete {:.0} s after the last node's docker answered (bound {} s, {accel:?})",
        took.as_secs_f64(),
        bound.as_secs()
    );
    assert!(
        took <= bound,
        "the swarm took {took:?} after the last docker answered (bound {bound:?}): {marks:#?}"
    );
}

/// 4. SSH as the default user, and the host name from the seed.
fn ssh_and_hostname(fleet: &Fleet, key: &Path) {
    let limit = Duration::from_secs(
        std::env::var("CLEM_BOOT_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(900),
    );
    for vm in fleet.nodes() {
        let up = wait_until(
            limit.saturating_sub(fleet.t_boot.elapsed()),
            Duration::from_secs(5),
            || vm.ssh(key, "true").status.success(),
        );
        assert!(up, "{}: no SSH as {USER} within {limit:?}", vm.name);
        println!("{}: SSH up {} after start", vm.name, elapsed(fleet.t_boot));
        let o = vm.ssh(key, "hostname");
        assert_eq!(text(&o).trim(), vm.name, "{}: host name", vm.name);
    }
}

/// 4a. The first boot found no archive (the package server is not up yet) and keeps
///     retrying; only now does the archive appear.
fn first_boot_waits_for_the_archive(
    fleet: &Fleet,
    key: &Path,
    repo: &Path,
    work: &Path,
) -> PkgServer {
    let manager = &fleet.vms.vms[0];
    let waited = wait_until(Duration::from_secs(600), Duration::from_secs(5), || {
        text(&manager.ssh(key, "sudo journalctl --no-pager -b -u clem-firstboot"))
            .contains("'apt_install_docker' failed")
    });
    assert!(
        waited,
        "{}: the first boot never tried apt before the archive was up:\n{}",
        manager.name,
        text(&manager.ssh(
            key,
            "sudo journalctl --no-pager -b -u clem-firstboot | tail -n 20"
        ))
    );
    let server = PkgServer::start(repo, fleet.repo_port, &work.join("pkg-server"));
    println!(
        "package server up {} after start (guests had retried apt)",
        elapsed(fleet.t_boot)
    );
    server
}

/// 4b. The user's extra cloud-config ran: the cluster's file on every node, rpi2's own
///     file (with its mode) and command only on rpi2; and the node's cloud-init (25.1, the
///     schema version we validate against) finds the user-data it read valid.
fn extra_cloud_config_ran(fleet: &Fleet, key: &Path) {
    for vm in fleet.nodes() {
        let ran = wait_until(Duration::from_secs(600), Duration::from_secs(5), || {
            vm.ssh(key, "cloud-init status --wait >/dev/null 2>&1; test -e /var/lib/cloud/instance/boot-finished")
                .status
                .success()
        });
        assert!(
            ran,
            "{}: cloud-init never finished:\n{}",
            vm.name,
            vm.console_tail(40)
        );
        let o = vm.ssh(key, "cat /etc/clem-cluster-extra");
        assert_eq!(
            text(&o).trim(),
            "from the cluster file",
            "{}: cluster extra",
            vm.name
        );
        let o = vm.ssh(
            key,
            "sudo stat -c '%a %U' /var/lib/clem-test/node-extra.txt && sudo cat /var/lib/clem-test/node-extra.txt /var/tmp/clem-extra-ran",
        );
        if vm.name != EXTRA_NODE {
            assert!(
                !o.status.success(),
                "{}: got rpi2's extra cloud-config: {}",
                vm.name,
                text(&o)
            );
            continue;
        }
        assert_eq!(
            text(&o),
            "640 root\nwritten by rpi2's own cloud-config\nran on rpi2 as 0\n",
            "{}: node extra",
            vm.name
        );
        let o = vm.ssh(key, "sudo cloud-init schema --system 2>&1");
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
    }
}

/// 5. docker: mutual TLS on 2376 once the first-boot unit has configured it, and nothing
///    else: no TLS without a client certificate, no plain HTTP, nothing on 2375.
fn docker_tls_only(vm: &Vm, key: &Path, ours: &Cert, t_boot: Instant) {
    let with_cert = ours.args();
    // Give up early when the first-boot unit has failed twice and left docker down.
    let mut broken = String::new();
    // The install (dpkg under TCG, four guests on two cores) takes minutes.
    let ok = wait_until(Duration::from_secs(1500), Duration::from_secs(5), || {
        if vm.curl_tls("/version", &with_cert).status.success() {
            return true;
        }
        let o = vm.ssh(
            key,
            "! systemctl is-active -q docker && \
             systemctl show -p NRestarts -p Result clem-firstboot",
        );
        let t = text(&o);
        // Failed on its retry too (a single failure may be a slow start on TCG).
        if o.status.success() && !t.contains("NRestarts=0") && !t.contains("Result=success") {
            broken = text(&vm.ssh(
                key,
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
    nothing_but_tls(vm, key, ours);
}

fn nothing_but_tls(vm: &Vm, key: &Path, ours: &Cert) {
    let o = vm.curl_tls("/version", &["--cacert", &ours.ca]);
    assert!(
        !o.status.success(),
        "{}: docker answered TLS without a client certificate: {}",
        vm.name,
        text(&o)
    );
    let plain = |port: u16| {
        run(Command::new("curl")
            .args(["-sS", "-f", "--max-time", "15"])
            .arg(format!("http://127.0.0.1:{port}/version")))
    };
    let o = plain(vm.docker_port);
    assert!(
        !o.status.success() && !text(&o).contains("ApiVersion"),
        "{}: docker answered plain HTTP on 2376: {}",
        vm.name,
        text(&o)
    );
    let o = plain(vm.plain_port);
    assert!(
        !o.status.success(),
        "{}: something answers on 2375: {}",
        vm.name,
        text(&o)
    );
    let o = vm.ssh(key, "ss -Hltn");
    assert!(
        !text(&o).contains(":2375 "),
        "{}: a listener on 2375:\n{}",
        vm.name,
        text(&o)
    );
}

/// The first-boot script marks success only after its last step (docker ready, the swarm
/// joined); it retries with backoff, so give it a few minutes.
fn first_boot_done(vm: &Vm, key: &Path, t_boot: Instant) {
    let done = wait_until(Duration::from_secs(300), Duration::from_secs(5), || {
        vm.ssh(key, "sudo test -e /var/lib/clem-image/firstboot.done")
            .status
            .success()
    });
    assert!(
        done,
        "{}: first boot not done (no /var/lib/clem-image/firstboot.done):\n{}",
        vm.name,
        text(&vm.ssh(
            key,
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

/// 6. The private cluster segment: each node reaches the other's address on eth0.
fn cluster_segment(fleet: &Fleet, key: &Path) {
    let vms = &fleet.vms.vms;
    for (vm, other) in [(&vms[0], &NODES[1]), (&vms[1], &NODES[0])] {
        let addr = other.cidr.split('/').next().unwrap();
        let o = vm.ssh(key, &format!("sudo ping -c 2 -W 3 -I eth0 {addr}"));
        assert!(
            o.status.success(),
            "{}: cannot reach {} ({addr}) on the cluster segment:\n{}",
            vm.name,
            other.name,
            text(&o)
        );
    }
}

/// 7. The swarm: the manager's API lists both nodes ready with a leader, rpi2 sees itself
///    in an active swarm, and the login user may use docker (the install made the docker
///    group; the first boot put pi in it).
fn swarm_formed(fleet: &Fleet, key: &Path, ours: &Cert) {
    let with_cert = ours.args();
    let manager = &fleet.vms.vms[0];
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
    let info = text(&fleet.vms.vms[1].curl_tls("/info", &with_cert));
    assert!(
        info.contains("\"LocalNodeState\":\"active\""),
        "swarm: rpi2 not in an active swarm: {info}"
    );
    println!("swarm formed {} after start", elapsed(fleet.t_boot));
    let o = manager.ssh(key, "docker node ls --format '{{.Hostname}} {{.Status}}'");
    assert!(o.status.success(), "pi: docker node ls:\n{}", text(&o));
    for n in &NODES {
        assert!(
            text(&o).contains(&format!("{} Ready", n.name)),
            "docker node ls as pi: {}",
            text(&o)
        );
    }
}

/// `clem-image status --json` of `vms` from the host through the port forwards, checking
/// each node's certificate under its own name.
fn status(built: &Built, vms: &[Vm], extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut status = Command::new(BIN);
    status
        .args(["status", "--json"])
        .args(extra)
        .arg("--config")
        .arg(&built.config)
        .arg("--cluster-dir")
        .arg(&built.cluster);
    for vm in vms {
        status
            .arg("--endpoint")
            .arg(format!("{}=127.0.0.1:{}", vm.name, vm.docker_port));
    }
    let o = run(&mut status);
    let report = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}:\n{}", text(&o)));
    (o.status.code(), report)
}

fn status_sees_the_swarm(fleet: &Fleet, built: &Built) {
    let (code, report) = status(
        built,
        fleet.nodes(),
        &["--wait", "3m", "--node", "rpi1,rpi2"],
    );
    assert_eq!(code, Some(0), "clem-image status: {report:#}");
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
}

/// 8. The negative case: rpi3 runs (its docker answers TLS for ITS OWN CA's client), the
///    manager's watch has tried it, and it never joined; `status` says which node and why.
fn rogue_never_joins(fleet: &Fleet, built: &Built, ours: &Cert) {
    let rogue = &fleet.vms.vms[ROGUE_VM];
    let theirs = Cert::of(&built.other);
    let up = wait_until(Duration::from_secs(1500), Duration::from_secs(5), || {
        rogue.curl_tls("/version", &theirs.args()).status.success()
    });
    assert!(
        up,
        "{}: its docker never came up (with its own CA)",
        rogue.name
    );
    println!(
        "{}: docker (other CA) answers {} after start",
        rogue.name,
        elapsed(fleet.t_boot)
    );
    // Our operator certificate is refused there, and its certificate is not ours.
    assert!(!rogue.curl_tls("/version", &ours.args()).status.success());
    // The watch backs off a node that answers with the wrong certificate (at most 30 s
    // between tries): its last word on rpi3 must be a refusal over TLS, not "no answer".
    let manager = &fleet.vms.vms[0];
    let tried = wait_until(Duration::from_secs(240), Duration::from_secs(10), || {
        let j = text(&manager.ssh(
            &built.key,
            "sudo journalctl --no-pager -u clem-swarm-watch | grep 'node rpi3' | tail -n 1",
        ));
        j.contains("not reachable") && !j.contains("no answer on")
    });
    let journal = text(&manager.ssh(
        &built.key,
        "sudo journalctl --no-pager -u clem-swarm-watch | tail -n 20",
    ));
    assert!(tried, "the manager's watch never reported rpi3:\n{journal}");
    let nodes = text(&manager.curl_tls("/nodes", &ours.args()));
    assert!(
        !nodes.contains("\"Hostname\":\"rpi3\""),
        "rpi3 (another CA) joined the swarm: {nodes}"
    );
    let (code, report) = status(built, &fleet.vms.vms[..=ROGUE_VM], &[]);
    assert_eq!(code, Some(1), "status with rpi3: {report:#}");
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
}

/// 9. docker came from the package server on the networked nodes, and from the bundle on
///    the offline node, which never had a way to any archive.
fn docker_sources(fleet: &Fleet, built: &Built, server: &PkgServer) {
    let served = server.log();
    assert!(
        served.contains("/docker.io_") && served.contains("/docker-cli_"),
        "the guests fetched no docker package from the repository:\n{served}"
    );
    let offline = &fleet.vms.vms[OFFLINE_VM];
    let key = &built.offline_key;
    let cert = Cert::of(&built.offline_dir);
    let up = wait_until(Duration::from_secs(1500), Duration::from_secs(5), || {
        offline.curl_tls("/version", &cert.args()).status.success()
    });
    assert!(
        up,
        "{}: docker never answered over TLS (offline bundle):\n{}",
        offline.name,
        text(&offline.ssh(
            key,
            "sudo journalctl --no-pager -b -u clem-firstboot | tail -n 30"
        ))
    );
    println!(
        "{}: docker TLS answers {} after start (offline bundle)",
        offline.name,
        elapsed(fleet.t_boot)
    );
    let o = offline.ssh(key, "sudo journalctl --no-pager -b -u clem-firstboot");
    assert!(
        text(&o).contains("(offline)") && !text(&o).contains("apt_install_docker"),
        "{}: {}",
        offline.name,
        text(&o)
    );
    let o = offline.ssh(
        key,
        "id -nG pi; docker version --format '{{.Server.Version}}'",
    );
    assert!(
        o.status.success() && text(&o).contains("docker"),
        "{}: {}",
        offline.name,
        text(&o)
    );
}
