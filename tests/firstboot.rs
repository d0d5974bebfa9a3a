//! The first-boot script (`overlays/firstboot/firstboot.sh`), run under bash against a
//! temporary root with fake `docker`, `systemctl`, `snappy` and `ip` on PATH. The fakes log
//! every invocation's argv and behave by state files, so each case can assert on exactly what
//! the script ran and what it wrote.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clem_image::cluster::config::{DockerExposure, Role};
use clem_image::cluster::firstboot::{layout, NodeEnv};
use clem_image::docker::InstallKind;
use clem_image::node::NodeName;
use clem_image::probe::Flavour;

fn overlay(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("overlays/firstboot")
        .join(name)
}

/// Field separator in the call log (argv elements may contain spaces).
const SEP: char = '\u{1f}';

/// Shared prelude of every fake: log argv (one write per call, so fakes running in
/// parallel, as the subnet probes do, cannot interleave their records), know where the
/// state lives.
fn fake_prelude(name: &str, log: &Path, state: &Path, root: &Path) -> String {
    format!(
        "#!/bin/bash\n\
         LOG='{log}'\nSTATE='{state}'\nROOT='{root}'\n\
         rec=$(printf '%s\\037' '{name}' \"$@\")\n\
         printf '%s\\n' \"$rec\" >>\"$LOG\"\n",
        log = log.display(),
        state = state.display(),
        root = root.display(),
    )
}

const FAKE_DOCKER: &str = r#"
# A counter file makes `swarm join` fail that many times; join_always_fails makes it fail forever.
case "$1" in
info)
    if [ -e "$STATE/docker_down" ]; then exit 1; fi
    if [ "${2:-}" = --format ]; then
        if [ -e "$STATE/joined" ]; then echo active; else echo inactive; fi
    fi
    exit 0 ;;
swarm)
    if [ "$2" = join ]; then
        if [ -e "$STATE/join_always_fails" ]; then
            echo "Error response from daemon: manager unreachable" >&2; exit 1
        fi
        n=$(cat "$STATE/join_failures" 2>/dev/null || echo 0)
        if [ "$n" -gt 0 ]; then
            echo $((n - 1)) >"$STATE/join_failures"
            echo "Error response from daemon: manager unreachable" >&2; exit 1
        fi
        touch "$STATE/joined"; echo "This node joined a swarm as a worker."; exit 0
    fi
    exit 1 ;;
ps)
    if [ -e "$STATE/agent" ]; then cat "$STATE/agent"; fi
    exit 0 ;;
run)
    echo 0123456789ab >"$STATE/agent"; cat "$STATE/agent"; exit 0 ;;
esac
exit 0
"#;

const FAKE_SYSTEMCTL: &str = r#"
if [ "$1" = list-unit-files ]; then
    if [ -e "$STATE/snappy_unit" ]; then echo "$(cat "$STATE/snappy_unit") enabled enabled"; fi
fi
exit 0
"#;

/// `snappy install` creates what the docker snap brings: its conf in both places, its unit,
/// and the /apps/bin wrapper (here: a copy of the fake docker).
const FAKE_SNAPPY: &str = r#"
if [ "$1" = install ]; then
    v=$(cat "$STATE/snap_version" 2>/dev/null || echo 1.6.1.002)
    for d in "$ROOT/var/lib/apps/docker/$v/etc" "$ROOT/apps/docker/$v/etc"; do
        mkdir -p "$d"; echo 'DOCKER_OPTIONS=""' >"$d/docker.conf"
    done
    echo "docker_docker-daemon_$v.service" >"$STATE/snappy_unit"
    mkdir -p "$ROOT/apps/bin"
    exit 0
fi
exit 1
"#;

const FAKE_IP: &str = r#"
if [ "$*" = "-4 -o addr show dev eth0" ] && [ -e "$STATE/ip" ]; then
    a=$(cat "$STATE/ip")
    echo "2: eth0    inet $a/24 brd 10.0.5.255 scope global eth0\       valid_lft forever preferred_lft forever"
fi
exit 0
"#;

struct Node {
    tmp: tempfile::TempDir,
    conf_dir: &'static str,
    max_tries: u32,
}

impl Node {
    fn new(conf_dir: &'static str) -> Node {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["root", "bin", "state"] {
            fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        let node = Node {
            tmp,
            conf_dir,
            max_tries: 4,
        };
        fs::create_dir_all(node.conf()).unwrap();
        for (name, body) in [
            ("docker", FAKE_DOCKER),
            ("systemctl", FAKE_SYSTEMCTL),
            ("snappy", FAKE_SNAPPY),
            ("ip", FAKE_IP),
            ("dockerd", "exit 0\n"),
        ] {
            node.write_fake(&node.bin().join(name), name, body);
        }
        node
    }

    fn write_fake(&self, path: &Path, name: &str, body: &str) {
        let text = fake_prelude(name, &self.log(), &self.state(), &self.root()) + body;
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }
    fn bin(&self) -> PathBuf {
        self.tmp.path().join("bin")
    }
    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    fn log(&self) -> PathBuf {
        self.tmp.path().join("calls.log")
    }
    /// A path on the node (`/etc/...`) inside the temporary root.
    fn at(&self, node_path: &str) -> PathBuf {
        self.root().join(node_path.trim_start_matches('/'))
    }
    fn conf(&self) -> PathBuf {
        self.at(self.conf_dir)
    }
    fn done(&self) -> PathBuf {
        self.at("/var/lib/clem-image/firstboot.done")
    }

    /// node.env as clem-image renders it.
    fn write_env(&self, env: &NodeEnv) {
        fs::write(self.conf().join("node.env"), env.render().unwrap()).unwrap();
    }

    fn set_state(&self, name: &str, value: &str) {
        fs::write(self.state().join(name), value).unwrap();
    }

    fn run(&self) -> Output {
        self.run_script(&overlay("firstboot.sh"))
    }

    fn run_script(&self, script: &Path) -> Output {
        let out = Command::new("/bin/bash")
            .arg(script)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin().display()))
            .env("CLEM_ROOT", self.root())
            .env("CLEM_CONF_DIR", self.conf_dir)
            .env("CLEM_SLEEP", "true")
            .env("CLEM_MAX_TRIES", self.max_tries.to_string())
            .current_dir(self.tmp.path())
            .output()
            .expect("run bash");
        fs::write(
            self.tmp.path().join("last-output"),
            [&out.stdout[..], &out.stderr[..]].concat(),
        )
        .unwrap();
        out
    }

    fn run_ok(&self) -> Output {
        let out = self.run();
        assert!(
            out.status.success(),
            "firstboot failed: {}\ncalls: {:#?}",
            text(&out),
            self.calls()
        );
        out
    }

    /// Every fake invocation so far, as argv vectors (the program name first).
    fn calls(&self) -> Vec<Vec<String>> {
        let Ok(log) = fs::read_to_string(self.log()) else {
            return Vec::new();
        };
        log.lines()
            .map(|l| {
                let mut v: Vec<String> = l.split(SEP).map(str::to_string).collect();
                v.pop(); // the trailing separator
                v
            })
            .collect()
    }

    fn calls_of(&self, prefix: &[&str]) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .filter(|c| c.len() >= prefix.len() && c.iter().zip(prefix).all(|(a, b)| a == b))
            .collect()
    }

    fn clear_log(&self) {
        let _ = fs::remove_file(self.log());
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn argv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pos(calls: &[Vec<String>], want: &[&str]) -> usize {
    calls
        .iter()
        .position(|c| c == &argv(want))
        .unwrap_or_else(|| panic!("no call {want:?} in {calls:#?}"))
}

const TOKEN: &str =
    "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx";

fn name(s: &str) -> NodeName {
    NodeName::new(s).unwrap()
}

/// The one node.env every case starts from: a Raspberry Pi OS worker with docker present
/// that joins a swarm-mode manager; each case changes what it is about.
fn pi_os_env(docker_mode: DockerExposure) -> NodeEnv {
    NodeEnv {
        node_name: name("node2"),
        flavour: Flavour::RaspberryPiOs,
        docker_mode,
        docker_port: docker_mode.port(),
        interface: "eth0".parse().unwrap(),
        node_address: Some("10.0.5.26".parse().unwrap()),
        swarm_mode: "swarm-mode",
        role: Role::Worker,
        addr_pool: None,
        scan_subnet: None,
        swarm_manager: "10.0.5.25:2377".into(),
        swarm_image: String::new(),
        swarm_discovery: String::new(),
        docker_install: InstallKind::Present,
        docker_debs: String::new(),
        docker_snap: String::new(),
        swarm_image_file: String::new(),
        login_user: String::new(),
        docker_version: String::new(),
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

#[test]
fn raspberry_pi_os_tls_swarm_mode_join_with_retries() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&pi_os_env(DockerExposure::Tls));
    fs::write(node.conf().join("swarm-token"), format!("{TOKEN}\n")).unwrap();
    node.set_state("join_failures", "2");

    node.run_ok();

    let json = read_json(&node.at("/etc/docker/daemon.json"));
    assert_eq!(
        json["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"])
    );
    assert_eq!(json["tlsverify"], serde_json::json!(true));
    assert_eq!(json["tlscacert"], "/etc/clem-image/tls/ca.pem");
    assert_eq!(json["tlscert"], "/etc/clem-image/tls/server-cert.pem");
    assert_eq!(json["tlskey"], "/etc/clem-image/tls/server-key.pem");

    let dropin =
        fs::read_to_string(node.at("/etc/systemd/system/docker.service.d/clem-image.conf"))
            .unwrap();
    let lines: Vec<&str> = dropin.lines().map(str::trim).collect();
    let svc = lines
        .iter()
        .position(|l| *l == "[Service]")
        .expect("[Service]");
    let empty = lines
        .iter()
        .position(|l| *l == "ExecStart=")
        .expect("empty ExecStart=");
    assert!(svc < empty, "{dropin}");
    let exec = lines[empty + 1];
    assert!(
        exec.starts_with("ExecStart=") && exec.contains("dockerd"),
        "{dropin}"
    );
    assert!(!exec.contains("-H") && !exec.contains("fd://"), "{dropin}");
    // The dockerd this node has (found on PATH), keeping the packaged DOCKER_OPTS.
    let found = format!("ExecStart={}/dockerd $DOCKER_OPTS ", node.bin().display());
    assert!(exec.starts_with(&found), "{dropin}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("ExecStart=")).count(),
        2,
        "{dropin}"
    );

    let calls = node.calls();
    let reload = pos(&calls, &["systemctl", "daemon-reload"]);
    let restart = pos(&calls, &["systemctl", "restart", "docker"]);
    assert!(reload < restart, "{calls:#?}");
    let join = [
        "docker",
        "swarm",
        "join",
        "--token",
        TOKEN,
        "10.0.5.25:2377",
    ];
    let joins = node.calls_of(&["docker", "swarm", "join"]);
    assert_eq!(joins, vec![argv(&join); 3], "two failures, then success");
    assert!(restart < pos(&calls, &join), "{calls:#?}");
    assert!(node.done().exists());

    // Done means done: the second run touches nothing.
    node.clear_log();
    let out = node.run_ok();
    assert!(
        node.calls().is_empty(),
        "{:#?}\n{}",
        node.calls(),
        text(&out)
    );
}

#[test]
fn insecure_tcp_has_no_tls_keys() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&NodeEnv {
        swarm_mode: "none",
        ..pi_os_env(DockerExposure::InsecureTcp)
    });

    node.run_ok();

    let json = read_json(&node.at("/etc/docker/daemon.json"));
    let obj = json.as_object().unwrap();
    assert_eq!(
        json["hosts"],
        serde_json::json!(["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"])
    );
    for key in ["tlsverify", "tlscacert", "tlscert", "tlskey", "tls"] {
        assert!(!obj.contains_key(key), "{key} in {json}");
    }
    assert!(node.calls_of(&["docker", "swarm"]).is_empty());
    assert!(node.done().exists());
}

fn snappy_env() -> NodeEnv {
    NodeEnv {
        flavour: Flavour::SnappyCore15,
        swarm_mode: "none",
        swarm_manager: String::new(),
        ..pi_os_env(DockerExposure::Tls)
    }
}

const SNAPPY_TLS_OPTIONS: &str = "DOCKER_OPTIONS=\"-H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify --tlscacert=/writable/clem-image/tls/ca.pem --tlscert=/writable/clem-image/tls/server-cert.pem --tlskey=/writable/clem-image/tls/server-key.pem\"";

/// docker as the image made with `ubuntu-device-flash --install docker` has it.
fn preinstall_docker_snap(node: &Node, version: &str) {
    for d in [
        format!("/var/lib/apps/docker/{version}/etc"),
        format!("/apps/docker/{version}/etc"),
    ] {
        fs::create_dir_all(node.at(&d)).unwrap();
        fs::write(
            node.at(&d).join("docker.conf"),
            "# docker snap config\nDOCKER_OPTIONS=\"\"\n",
        )
        .unwrap();
    }
    node.set_state(
        "snappy_unit",
        &format!("docker_docker-daemon_{version}.service"),
    );
}

fn assert_snappy_configured(node: &Node, version: &str) {
    for d in [
        format!("/var/lib/apps/docker/{version}/etc/docker.conf"),
        format!("/apps/docker/{version}/etc/docker.conf"),
    ] {
        let conf = fs::read_to_string(node.at(&d)).unwrap();
        let opts: Vec<&str> = conf
            .lines()
            .filter(|l| l.starts_with("DOCKER_OPTIONS="))
            .collect();
        assert_eq!(opts, vec![SNAPPY_TLS_OPTIONS], "{d}:\n{conf}");
    }
    let unit = format!("docker_docker-daemon_{version}.service");
    pos(&node.calls(), &["systemctl", "restart", &unit]);
    assert!(node.done().exists());
    // Nothing of the systemd-flavour configuration on Snappy's read-only /etc.
    assert!(!node.at("/etc/docker/daemon.json").exists());
}

#[test]
fn snappy_preinstalled_docker_any_version() {
    for version in ["1.6.1.002", "1.7.0"] {
        let node = Node::new("/writable/clem-image");
        node.write_env(&snappy_env());
        preinstall_docker_snap(&node, version);
        // The snap's command lives in /apps/bin, which is not on a systemd unit's PATH.
        fs::remove_file(node.bin().join("docker")).unwrap();
        node.write_fake(&node.at("/apps/bin/docker"), "docker", FAKE_DOCKER);

        node.run_ok();

        assert_snappy_configured(&node, version);
        assert!(node.calls_of(&["snappy"]).is_empty(), "{:#?}", node.calls());
        pos(&node.calls(), &["docker", "info"]);
    }
}

#[test]
fn snappy_installs_docker_offline_from_snap_file() {
    let node = Node::new("/writable/clem-image");
    node.write_env(&NodeEnv {
        docker_install: InstallKind::Snap,
        docker_snap: "/writable/clem-image/docker.snap".into(),
        ..snappy_env()
    });
    let snap = node.at("/writable/clem-image/docker.snap");
    fs::write(&snap, b"not really a snap").unwrap();

    node.run_ok();

    let installs = node.calls_of(&["snappy", "install"]);
    assert_eq!(
        installs,
        vec![argv(&[
            "snappy",
            "install",
            "--allow-unauthenticated",
            snap.to_str().unwrap()
        ])]
    );
    assert_snappy_configured(&node, "1.6.1.002");
}

/// The 15.04 store is gone: with no snap on the image the script never asks it, and fails
/// (build refuses such an image before it gets here).
#[test]
fn snappy_without_docker_or_snap_never_calls_the_store() {
    let node = Node::new("/writable/clem-image");
    node.write_env(&snappy_env());

    let out = node.run();

    assert!(!out.status.success(), "{}", text(&out));
    assert!(node.calls_of(&["snappy"]).is_empty(), "{:#?}", node.calls());
    assert!(
        text(&out).contains("no docker snap was put on this image"),
        "{}",
        text(&out)
    );
    assert!(!node.done().exists());
}

/// apt as an image without network at first: `update` fails until the archive answers,
/// then `docker.io` has a candidate; `install` puts dockerd and the CLI under the root and
/// creates the docker group.
const FAKE_APT_GET: &str = r#"
case "$*" in
*" update")
    n=$(cat "$STATE/apt_down" 2>/dev/null || echo 0)
    if [ "$n" -gt 0 ]; then
        echo $((n - 1)) >"$STATE/apt_down"
        echo "E: Failed to fetch http://10.0.2.100/./Packages  Could not connect" >&2; exit 100
    fi
    touch "$STATE/lists"; exit 0 ;;
*" install "*)
    mkdir -p "$ROOT/usr/sbin" "$ROOT/usr/bin"
    printf '#!/bin/sh\n' >"$ROOT/usr/sbin/dockerd"; cp "$ROOT/usr/sbin/dockerd" "$ROOT/usr/bin/docker"
    chmod 0755 "$ROOT/usr/sbin/dockerd" "$ROOT/usr/bin/docker"
    touch "$STATE/docker_group"; exit 0 ;;
esac
exit 100
"#;

const FAKE_APT_CACHE: &str = r#"
if [ "$1" = show ] && [ -e "$STATE/lists" ]; then
    case "$2" in docker.io|docker-cli) echo "Package: $2"; exit 0 ;; esac
fi
echo "E: No packages found" >&2; exit 100
"#;

const FAKE_GETENT: &str = r#"
if [ "$*" = "group docker" ] && [ -e "$STATE/docker_group" ]; then echo "docker:x:999:"; exit 0; fi
exit 2
"#;

const FAKE_ID: &str = r#"
if [ "$1" = pi ]; then echo "uid=1000(pi)"; exit 0; fi
if [ "$*" = "-nG pi" ]; then echo "pi adm sudo"; exit 0; fi
exit 1
"#;

/// A Raspberry Pi OS node with no docker: the node.env build writes for the apt way.
fn debian_install_node(install: InstallKind) -> Node {
    let node = Node::new("/etc/clem-image");
    node.write_env(&NodeEnv {
        docker_install: install,
        docker_debs: "/var/lib/clem-image/debs".into(),
        login_user: "pi".into(),
        ..pi_os_env(DockerExposure::Tls)
    });
    fs::write(node.conf().join("swarm-token"), format!("{TOKEN}\n")).unwrap();
    // No docker at all: not on PATH, not under the root.
    fs::remove_file(node.bin().join("dockerd")).unwrap();
    for (name, body) in [
        ("apt-get", FAKE_APT_GET),
        ("apt-cache", FAKE_APT_CACHE),
        ("getent", FAKE_GETENT),
        ("id", FAKE_ID),
        ("usermod", "exit 0\n"),
    ] {
        node.write_fake(&node.bin().join(name), name, body);
    }
    node
}

#[test]
fn debian_without_docker_installs_it_over_apt_once_the_archive_answers() {
    let mut node = debian_install_node(InstallKind::Apt);
    node.max_tries = 3;
    // More failures than the short retry allows: the install waits longer than other steps.
    node.set_state("apt_down", "5");

    node.run_ok();

    let calls = node.calls();
    let updates = node.calls_of(&["apt-get"]);
    let n_updates = updates
        .iter()
        .filter(|c| c.last().map(String::as_str) == Some("update"))
        .count();
    assert_eq!(n_updates, 6, "{calls:#?}");
    for c in &updates {
        assert!(
            c.contains(&"DPkg::Lock::Timeout=600".to_string()),
            "no lock timeout: {c:?}"
        );
    }
    let install = calls
        .iter()
        .position(|c| {
            c.first().map(String::as_str) == Some("apt-get") && c.contains(&"install".to_string())
        })
        .expect("apt-get install");
    assert!(
        calls[install].ends_with(&argv(&[
            "install",
            "-y",
            "--no-install-recommends",
            "docker.io",
            "docker-cli"
        ])),
        "{:?}",
        calls[install]
    );
    let group = pos(&calls, &["usermod", "-aG", "docker", "pi"]);
    let restart = pos(&calls, &["systemctl", "restart", "docker"]);
    let join = calls
        .iter()
        .position(|c| c.starts_with(&argv(&["docker", "swarm", "join"])))
        .expect("join");
    assert!(
        install < group && group < restart && restart < join,
        "{calls:#?}"
    );
    // The drop-in starts the dockerd the package installed.
    let dropin =
        fs::read_to_string(node.at("/etc/systemd/system/docker.service.d/clem-image.conf"))
            .unwrap();
    assert!(dropin.contains("ExecStart=/usr/sbin/dockerd "), "{dropin}");
    assert!(node.done().exists());
}

#[test]
fn debian_apt_install_gives_up_without_marker_when_the_archive_never_answers() {
    let node = debian_install_node(InstallKind::Apt);
    node.set_state("apt_down", "1000");
    let out = node.run();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(node.calls_of(&["systemctl", "restart"]).is_empty());
    assert!(!node.done().exists());
}

#[test]
fn debian_offline_bundle_installs_without_network() {
    let node = debian_install_node(InstallKind::Bundle);
    let debs = node.at("/var/lib/clem-image/debs");
    fs::create_dir_all(&debs).unwrap();
    for f in ["containerd_1.7_amd64.deb", "docker.io_26.1_amd64.deb"] {
        fs::write(debs.join(f), b"!<arch>\n").unwrap();
    }

    node.run_ok();

    let calls = node.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.last().map(String::as_str) == Some("update")),
        "no apt-get update offline: {calls:#?}"
    );
    assert!(node.calls_of(&["apt-cache"]).is_empty());
    let want_tail: Vec<String> = ["install", "-y", "--no-install-recommends"]
        .iter()
        .map(|s| s.to_string())
        .chain(
            ["containerd_1.7_amd64.deb", "docker.io_26.1_amd64.deb"]
                .iter()
                .map(|f| debs.join(f).display().to_string()),
        )
        .collect();
    let install = node.calls_of(&["apt-get"]);
    assert_eq!(install.len(), 1, "{install:#?}");
    assert!(install[0].ends_with(&want_tail), "{:?}", install[0]);
    pos(&calls, &["usermod", "-aG", "docker", "pi"]);
    assert!(node.done().exists());
}

fn legacy_env(address: &str) -> NodeEnv {
    NodeEnv {
        node_address: address.parse().ok(),
        swarm_mode: "legacy",
        swarm_manager: String::new(),
        swarm_image: "nimblestratus/rpi-swarm".into(),
        swarm_discovery: "nodes://10.0.5.25:2375,10.0.5.26:2375".into(),
        ..pi_os_env(DockerExposure::InsecureTcp)
    }
}

const AGENT_RUN: [&str; 10] = [
    "docker",
    "run",
    "-d",
    "--restart=always",
    "--name",
    "clem-swarm-agent",
    "nimblestratus/rpi-swarm",
    "join",
    "--addr=10.0.5.26:2375",
    "nodes://10.0.5.25:2375,10.0.5.26:2375",
];

fn agent_run() -> Vec<String> {
    argv(&AGENT_RUN)
}

#[test]
fn legacy_swarm_agent() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&legacy_env("10.0.5.26"));

    node.run_ok();

    assert_eq!(node.calls_of(&["docker", "run"]), vec![agent_run()]);
    assert!(node.calls_of(&["ip"]).is_empty(), "address was given");
    assert!(node.done().exists());

    // Without the marker the script runs again, and finds the agent already there.
    fs::remove_file(node.done()).unwrap();
    node.clear_log();
    node.run_ok();
    assert!(
        node.calls_of(&["docker", "run"]).is_empty(),
        "{:#?}",
        node.calls()
    );
    pos(
        &node.calls(),
        &["docker", "ps", "-aq", "--filter", "name=clem-swarm-agent"],
    );
    assert!(node.done().exists());
}

#[test]
fn legacy_swarm_agent_address_from_interface() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&legacy_env(""));
    node.set_state("ip", "10.0.5.26");

    node.run_ok();

    pos(
        &node.calls(),
        &["ip", "-4", "-o", "addr", "show", "dev", "eth0"],
    );
    assert_eq!(node.calls_of(&["docker", "run"]), vec![agent_run()]);
}

#[test]
fn legacy_swarm_without_address_fails_and_retries_later() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&legacy_env(""));

    let out = node.run();

    assert!(!out.status.success(), "{}", text(&out));
    assert!(node.calls_of(&["docker", "run"]).is_empty());
    assert!(!node.done().exists());
}

#[test]
fn values_are_never_evaluated() {
    let node = Node::new("/etc/clem-image");
    let dir = node.tmp.path();
    let evil = format!(
        "'$(touch {d}/pwned1)' `touch {d}/pwned2`; touch {d}/pwned3 \"$(touch {d}/pwned4)\"",
        d = dir.display()
    );
    node.write_env(&NodeEnv {
        swarm_manager: evil.clone(),
        ..pi_os_env(DockerExposure::Tls)
    });
    fs::write(node.conf().join("swarm-token"), format!("{TOKEN}\n")).unwrap();

    node.run_ok();

    for n in 1..=4 {
        assert!(
            !dir.join(format!("pwned{n}")).exists(),
            "pwned{n} was created"
        );
    }
    assert_eq!(
        node.calls_of(&["docker", "swarm", "join"]),
        vec![argv(&["docker", "swarm", "join", "--token", TOKEN, &evil])]
    );
}

#[test]
fn retry_exhaustion_fails_without_marker() {
    let mut node = Node::new("/etc/clem-image");
    node.max_tries = 3;
    node.write_env(&pi_os_env(DockerExposure::Tls));
    fs::write(node.conf().join("swarm-token"), format!("{TOKEN}\n")).unwrap();
    node.set_state("join_always_fails", "");

    let out = node.run();

    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(node.calls_of(&["docker", "swarm", "join"]).len(), 3);
    assert!(!node.done().exists());
}

/// On the node the scripts have no `.sh` and sit with lib.sh where the layout puts them.
#[test]
fn scripts_run_from_their_installed_paths_with_the_library_next_to_them() {
    for (flavour, conf) in [
        (Flavour::RaspberryPiOs, "/etc/clem-image"),
        (Flavour::SnappyCore15, "/writable/clem-image"),
    ] {
        let lay = layout(flavour);
        let node = Node::new(conf);
        for (from, to) in [
            ("firstboot.sh", lay.script),
            ("lib.sh", lay.lib),
            ("swarm-watch.sh", lay.watch_script),
        ] {
            fs::create_dir_all(node.at(to).parent().unwrap()).unwrap();
            fs::copy(overlay(from), node.at(to)).unwrap();
        }
        node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
        node.write_env(&NodeEnv {
            flavour,
            ..zero_touch_env("rpi2", "10.0.5.12", Role::Worker)
        });
        if flavour == Flavour::SnappyCore15 {
            preinstall_docker_snap(&node, "1.6.1.002");
        }
        let out = node.run_script(&node.at(lay.script));
        assert!(out.status.success(), "{flavour:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("clem-firstboot: done"));
        let out = watch_command_at(&node, &node.at(lay.watch_script))
            .output()
            .unwrap();
        assert!(out.status.success(), "{flavour:?}: {}", text(&out));
    }
}

#[test]
fn script_passes_shellcheck_and_bash_n() {
    let script = overlay("firstboot.sh");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "bash -n: {}", text(&out));
    match Command::new("shellcheck").arg(&script).output() {
        Ok(out) => assert!(out.status.success(), "shellcheck: {}", text(&out)),
        Err(e) => panic!("shellcheck is needed for this test (apt-get install shellcheck): {e}"),
    }
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if !on_path("systemd-analyze") {
        eprintln!("SKIPPED: systemd-analyze is not on PATH (install the systemd package)");
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is required in CI"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("firstboot");
    fs::copy(overlay("firstboot.sh"), &script).unwrap();
    // The unit as build renders it, with the script where this test put it.
    let mut vars = layout(Flavour::RaspberryPiOs).unit_vars();
    vars.insert("script", script.to_str().unwrap().to_string());
    let unit = clem_image::overlay::FIRSTBOOT_UNIT.render(&vars).unwrap();
    assert!(!unit.contains("{{"), "unrendered placeholder:\n{unit}");
    let path = tmp.path().join("clem-firstboot.service");
    fs::write(&path, &unit).unwrap();

    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let all = text(&out);
    // Complaints about the host's own units (this is not a booted system) are not ours.
    let ours: Vec<&str> = all
        .lines()
        .filter(|l| l.contains("clem-firstboot"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify: {all}");
}

#[test]
fn snappy_conf_without_options_line_and_unit_only_on_disk() {
    let node = Node::new("/writable/clem-image");
    node.write_env(&snappy_env());
    preinstall_docker_snap(&node, "1.6.1.002");
    let conf = node.at("/var/lib/apps/docker/1.6.1.002/etc/docker.conf");
    fs::write(&conf, "# no options yet\n").unwrap();
    // systemctl lists nothing: the unit file on disk names it.
    fs::remove_file(node.state().join("snappy_unit")).unwrap();
    let units = node.at("/etc/systemd/system");
    fs::create_dir_all(&units).unwrap();
    fs::write(units.join("docker_docker-daemon_1.6.1.002.service"), "").unwrap();

    node.run_ok();
    assert_snappy_configured(&node, "1.6.1.002");
    assert!(fs::read_to_string(&conf)
        .unwrap()
        .starts_with("# no options yet\n"));

    // Run again (no marker): nothing is written twice.
    fs::remove_file(node.done()).unwrap();
    let before = fs::read_to_string(&conf).unwrap();
    node.run_ok();
    assert_eq!(fs::read_to_string(&conf).unwrap(), before);
    assert_snappy_configured(&node, "1.6.1.002");
}

#[test]
fn legacy_swarm_without_docker_on_tcp_fails_clearly() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&NodeEnv {
        docker_mode: DockerExposure::None,
        docker_port: None,
        ..legacy_env("10.0.5.26")
    });

    let out = node.run();

    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("legacy swarm needs docker on TCP"),
        "{}",
        text(&out)
    );
    assert!(node.calls_of(&["docker", "run"]).is_empty());
    assert!(!node.done().exists());
}

/// A docker that also plays swarm init, join tokens, `node ls`, and remote daemons reached
/// with `--tlsverify … -H tcp://HOST:PORT` (state per host in `$STATE/remote-HOST`:
/// `inactive`, `active`, or absent = unreachable).
const FAKE_DOCKER_ZT: &str = r#"
host=""
if [ "$1" = --tlsverify ]; then
    while [ "$1" != -H ]; do shift; done
    host="${2#tcp://}"; host="${host%:*}"; shift 2
fi
if [ -n "$host" ]; then
    f="$STATE/remote-$host"
    if [ ! -e "$f" ]; then echo "error during connect: dial tcp $host: connect: no route to host" >&2; exit 1; fi
    case "$1" in
    info) cat "$f"; exit 0 ;;
    swarm)
        if [ "$2" = join ]; then
            echo active >"$f"
            # The manager lists the node Ready from now on, under the name the test gave it.
            if [ -e "$STATE/name-$host" ]; then echo "$(cat "$STATE/name-$host") Ready" >>"$STATE/node_ls"; fi
            exit 0
        fi ;;
    esac
    exit 1
fi
case "$1" in
info)
    if [ "${2:-}" = --format ]; then
        if [ -e "$STATE/joined" ]; then echo active; else echo inactive; fi
    fi
    exit 0 ;;
swarm)
    case "$2" in
    init) touch "$STATE/joined"; exit 0 ;;
    join-token) echo "TOKEN-$4"; exit 0 ;;
    esac
    exit 1 ;;
node)
    if [ ! -e "$STATE/joined" ]; then echo "Error response from daemon: This node is not a swarm manager." >&2; exit 1; fi
    cat "$STATE/node_ls" 2>/dev/null; exit 0 ;;
esac
exit 0
"#;

fn zero_touch_env(node: &str, addr: &str, role: Role) -> NodeEnv {
    NodeEnv {
        node_name: name(node),
        node_address: Some(addr.parse().unwrap()),
        swarm_mode: "zero-touch",
        role,
        addr_pool: Some("172.30.0.0/16".parse().unwrap()),
        swarm_manager: String::new(),
        ..pi_os_env(DockerExposure::Tls)
    }
}

#[test]
fn zero_touch_manager_inits_the_swarm_and_starts_the_watch() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
    node.write_env(&zero_touch_env("rpi1", "10.0.5.11", Role::Manager));
    node.run_ok();
    let calls = node.calls();
    pos(
        &calls,
        &[
            "docker",
            "swarm",
            "init",
            "--advertise-addr",
            "10.0.5.11",
            "--default-addr-pool",
            "172.30.0.0/16",
        ],
    );
    pos(
        &calls,
        &[
            "systemctl",
            "start",
            "--no-block",
            "clem-swarm-watch.service",
        ],
    );
    assert!(node.done().exists());
    // Again, after a reboot without the marker: the swarm exists, no second init.
    fs::remove_file(node.done()).unwrap();
    node.clear_log();
    node.run_ok();
    assert!(node.calls_of(&["docker", "swarm", "init"]).is_empty());
}

#[test]
fn zero_touch_worker_only_exposes_docker_and_waits() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
    node.write_env(&zero_touch_env("rpi2", "10.0.5.12", Role::Worker));
    let out = node.run_ok();
    assert!(String::from_utf8_lossy(&out.stdout).contains("waiting to be joined"));
    assert!(
        node.calls_of(&["docker", "swarm"]).is_empty(),
        "{:#?}",
        node.calls()
    );
    pos(&node.calls(), &["systemctl", "restart", "docker"]);
    assert!(node.done().exists());
}

/// The port probe the watch runs before any docker call, unless a case brings its own:
/// HOST answers when it has a `remote-HOST` or `open-HOST` state file; `refused-HOST`
/// holding N makes its first N probes refused (up, docker not listening yet); anything
/// else does not answer at all.
const FAKE_PROBE: &str = r#"
n=$(cat "$STATE/probes-$1" 2>/dev/null || echo 0)
echo $((n + 1)) >"$STATE/probes-$1"
if [ -e "$STATE/refused-$1" ] && [ "$n" -lt "$(cat "$STATE/refused-$1")" ]; then exit 1; fi
if [ -e "$STATE/remote-$1" ] || [ -e "$STATE/open-$1" ]; then exit 0; fi
exit 2
"#;

/// The swarm watch under bash against `node`'s root, fakes and port probe: one round.
fn watch_command(node: &Node) -> Command {
    watch_command_at(node, &overlay("swarm-watch.sh"))
}

fn watch_command_at(node: &Node, script: &Path) -> Command {
    let probe = node.bin().join("probe");
    if !probe.exists() {
        node.write_fake(&probe, "probe", FAKE_PROBE);
    }
    // docker is installed: the watch asks it for the swarm only once its socket exists.
    fs::create_dir_all(node.at("/var/run")).unwrap();
    fs::write(node.at("/var/run/docker.sock"), "").unwrap();
    // Waits between rounds are logged, not slept.
    node.write_fake(&node.bin().join("nap"), "nap", "exit 0\n");
    let mut cmd = Command::new("/bin/bash");
    cmd.arg(script)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", node.bin().display()))
        .env("CLEM_PROBE", probe)
        .env("CLEM_SLEEP", node.bin().join("nap"))
        .env("CLEM_WATCH_ROUNDS", "1")
        .env("CLEM_ROOT", node.root())
        .env("CLEM_CONF_DIR", node.conf_dir);
    cmd
}

fn run_watch(node: &Node) -> Output {
    let out = watch_command(node).output().expect("run bash");
    assert!(out.status.success(), "swarm-watch failed: {}", text(&out));
    out
}

#[test]
fn swarm_watch_joins_inactive_nodes_over_mtls_and_skips_the_rest() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
    node.write_env(&zero_touch_env("rpi1", "10.0.5.11", Role::Manager));
    fs::write(
        node.conf().join("cluster-nodes"),
        "# name address role\nrpi1 10.0.5.11 manager\nrpi2 10.0.5.12 worker\n\
         rpi3 10.0.5.13 worker\nrpi4 - worker\nrpi5 10.0.5.15 manager\n\
         rpi6 10.0.5.16 worker\n",
    )
    .unwrap();
    node.set_state("joined", "");
    node.set_state("node_ls", "rpi1 Ready\nrpi9 Down\n");
    node.set_state("remote-10.0.5.12", "inactive\n");
    node.set_state("remote-rpi4", "active\n");
    node.set_state("remote-10.0.5.15", "inactive\n");
    // rpi3 is unreachable (no state file). rpi6's daemon refuses us, and `docker info`
    // still exits 0 (printing the client side and the server's error).
    node.set_state(
        "remote-10.0.5.16",
        "Server:\nERROR: error during connect: remote error: tls: unknown certificate authority\n",
    );
    let out = run_watch(&node);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let tls = [
        "--tlsverify",
        "--tlscacert=/etc/clem-image/tls/ca.pem",
        "--tlscert=/etc/clem-image/tls/manager-client-cert.pem",
        "--tlskey=/etc/clem-image/tls/manager-client-key.pem",
    ];
    let join = |host: &str, token: &str| {
        let mut v = vec!["docker"];
        v.extend(tls);
        let h = format!("tcp://{host}:2376");
        let mut v: Vec<String> = argv(&v);
        v.extend(argv(&[
            "-H",
            &h,
            "swarm",
            "join",
            "--token",
            token,
            "10.0.5.11:2377",
        ]));
        v
    };
    let calls = node.calls();
    assert!(
        calls.contains(&join("10.0.5.12", "TOKEN-worker")),
        "{calls:#?}"
    );
    // A second manager joins with the manager token.
    assert!(
        calls.contains(&join("10.0.5.15", "TOKEN-manager")),
        "{calls:#?}"
    );
    assert!(
        !calls.contains(&join("rpi4", "TOKEN-worker")),
        "rpi4 was already in a swarm"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.iter().any(|a| a.contains("10.0.5.11:2376"))),
        "called itself"
    );
    assert!(
        log.contains("node rpi3 (10.0.5.13) is not reachable"),
        "{log}"
    );
    assert!(
        log.contains(
            "node rpi6 (10.0.5.16) is not reachable: ERROR: error during connect: \
             remote error: tls: unknown certificate authority"
        ),
        "{log}"
    );
    assert!(
        !calls.contains(&join("10.0.5.16", "TOKEN-worker")),
        "joined a refusing node"
    );
    assert!(log.contains("node rpi9 is down (not removed)"), "{log}");
    assert!(node.calls_of(&["docker", "node", "rm"]).is_empty());

    // Next round: the manager lists rpi2 Ready, so it is not even asked.
    node.set_state("node_ls", "rpi1 Ready\nrpi2 Ready\n");
    node.clear_log();
    run_watch(&node);
    assert!(
        !node
            .calls()
            .iter()
            .any(|c| c.iter().any(|a| a.contains("10.0.5.12"))),
        "{:#?}",
        node.calls()
    );
}

#[test]
fn swarm_watch_waits_for_the_swarm_and_passes_shellcheck() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
    node.write_env(&zero_touch_env("rpi1", "10.0.5.11", Role::Manager));
    fs::write(node.conf().join("cluster-nodes"), "rpi2 10.0.5.12 worker\n").unwrap();
    let out = run_watch(&node);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not in an active swarm"));
    assert!(node.calls_of(&["docker", "--tlsverify"]).is_empty());
    // While the first boot is still installing docker (no socket yet) no docker call at all.
    node.clear_log();
    let mut cmd = watch_command(&node);
    fs::remove_file(node.at("/var/run/docker.sock")).unwrap();
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not in an active swarm yet (no docker)"),
        "{}",
        text(&out)
    );
    assert!(node.calls_of(&["docker"]).is_empty(), "{:#?}", node.calls());
    let sc = Command::new("shellcheck")
        .arg(overlay("swarm-watch.sh"))
        .output();
    if let Ok(o) = sc {
        assert!(o.status.success(), "shellcheck: {}", text(&o));
    }
}

#[test]
fn legacy_manager_runs_the_swarm_manager_with_static_discovery_over_tls() {
    let node = Node::new("/etc/clem-image");
    node.write_env(&NodeEnv {
        swarm_mode: "legacy",
        swarm_image: "nimblestratus/rpi-swarm".into(),
        swarm_discovery: "nodes://10.0.5.11:2376,10.0.5.12:2376".into(),
        ..zero_touch_env("rpi1", "10.0.5.11", Role::Manager)
    });
    // Containers by name, so the manager container does not hide the agent.
    node.write_fake(
        &node.bin().join("docker"),
        "docker",
        r#"
case "$1" in
ps) n="${4#name=}"; if [ -e "$STATE/container-$n" ]; then cat "$STATE/container-$n"; fi ;;
run) echo "id-$5" >"$STATE/container-$5" ;;
esac
exit 0
"#,
    );
    node.run_ok();
    let calls = node.calls();
    pos(
        &calls,
        &[
            "docker",
            "run",
            "-d",
            "--restart=always",
            "--name",
            "clem-swarm-manager",
            "-p",
            "3376:2375",
            "-v",
            "/etc/clem-image/tls:/certs:ro",
            "nimblestratus/rpi-swarm",
            "manage",
            "--tlsverify",
            "--tlscacert=/certs/ca.pem",
            "--tlscert=/certs/manager-client-cert.pem",
            "--tlskey=/certs/manager-client-key.pem",
            "nodes://10.0.5.11:2376,10.0.5.12:2376",
        ],
    );
    // The manager is also an agent: it advertises itself like every node.
    pos(
        &calls,
        &[
            "docker",
            "run",
            "-d",
            "--restart=always",
            "--name",
            "clem-swarm-agent",
            "nimblestratus/rpi-swarm",
            "join",
            "--addr=10.0.5.11:2376",
            "nodes://10.0.5.11:2376,10.0.5.12:2376",
        ],
    );
}

#[test]
fn swarm_watch_joins_unlisted_nodes_of_this_cluster_found_on_the_subnet() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
    // The port probe answers for addresses with an `open-ADDR` state file.
    node.write_fake(
        &node.bin().join("probe"),
        "probe",
        "if [ -e \"$STATE/open-$1\" ] && [ \"$2\" = 2376 ]; then exit 0; fi\nexit 1\n",
    );
    node.write_env(&NodeEnv {
        scan_subnet: Some("10.0.5.0/29".parse().unwrap()),
        ..zero_touch_env("rpi1", "10.0.5.1", Role::Manager)
    });
    fs::write(
        node.conf().join("cluster-nodes"),
        "rpi1 10.0.5.1 manager\nrpi2 10.0.5.2 worker\n",
    )
    .unwrap();
    node.set_state("joined", "");
    node.set_state("node_ls", "rpi1 Ready\nrpi2 Ready\n");
    for open in ["10.0.5.2", "10.0.5.5", "10.0.5.6"] {
        node.set_state(&format!("open-{open}"), "");
    }
    // 10.0.5.5: a node of this cluster built later; 10.0.5.6: something else on 2376.
    node.set_state("remote-10.0.5.5", "inactive\n");
    let out = run_watch(&node);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let probes: Vec<String> = node
        .calls_of(&["probe"])
        .iter()
        .map(|c| c[1].clone())
        .collect();
    // Every host of the /29 but the listed ones was probed (.1 is us, .2 is listed).
    let mut probed = probes.clone();
    probed.sort();
    assert_eq!(
        probed,
        ["10.0.5.3", "10.0.5.4", "10.0.5.5", "10.0.5.6"],
        "{log}"
    );
    let joins: Vec<Vec<String>> = node
        .calls()
        .into_iter()
        .filter(|c| c.iter().any(|a| a == "join"))
        .collect();
    assert_eq!(joins.len(), 1, "{joins:#?}");
    assert!(
        joins[0].contains(&"tcp://10.0.5.5:2376".to_string()),
        "{joins:#?}"
    );
    assert!(joins[0].contains(&"TOKEN-worker".to_string()), "{joins:#?}");
    assert!(log.contains("joining unlisted node at 10.0.5.5"), "{log}");
    assert!(
        log.contains("unlisted 10.0.5.6 answers on 2376 but not as a node of this cluster"),
        "{log}"
    );
}

/// The fast lane: one run of twelve 3-second rounds. rpi2 is up but its docker refuses
/// the port for three probes (it is still being installed): it is probed every round and
/// joined in the round its docker answers. rpi3 never answers and rpi4 answers only with a
/// certificate error: both back off (rounds 0, 1, 3, 7) and are logged once, not per round.
/// The unlisted hosts of the subnet are scanned once, at the old once-a-minute pace.
#[test]
fn swarm_watch_probes_a_booting_member_every_round_and_backs_off_an_absent_one() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", FAKE_DOCKER_ZT);
    node.write_env(&NodeEnv {
        scan_subnet: Some("10.0.5.0/29".parse().unwrap()),
        ..zero_touch_env("rpi1", "10.0.5.1", Role::Manager)
    });
    fs::write(
        node.conf().join("cluster-nodes"),
        "rpi1 10.0.5.1 manager\nrpi2 10.0.5.2 worker\nrpi3 10.0.5.3 worker\n\
         rpi4 10.0.5.4 worker\n",
    )
    .unwrap();
    node.set_state("joined", "");
    node.set_state("node_ls", "rpi1 Ready\n");
    node.set_state("refused-10.0.5.2", "3");
    node.set_state("remote-10.0.5.2", "inactive\n");
    node.set_state("name-10.0.5.2", "rpi2");
    node.set_state(
        "remote-10.0.5.4",
        "ERROR: tls: failed to verify certificate: x509: certificate signed by unknown authority\n",
    );
    let out = watch_command(&node)
        .env("CLEM_WATCH_ROUNDS", "12")
        .output()
        .expect("run bash");
    assert!(out.status.success(), "swarm-watch failed: {}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let calls = node.calls();
    let probes = |host: &str| node.calls_of(&["probe", host, "2376"]).len();
    // Probed in rounds 0..=3, joined in round 3, Ready from round 4 on: never again.
    assert_eq!(probes("10.0.5.2"), 4, "{log}\n{calls:#?}");
    let join = calls
        .iter()
        .position(|c| c.contains(&"join".to_string()) && c.contains(&"tcp://10.0.5.2:2376".into()))
        .unwrap_or_else(|| panic!("rpi2 never joined: {log}\n{calls:#?}"));
    let fourth_probe = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c[..] == argv(&["probe", "10.0.5.2", "2376"])[..])
        .map(|(i, _)| i)
        .nth(3)
        .unwrap();
    // The join follows the probe that found the port open, in the same round (no sleep).
    let naps_before = |i: usize| calls[..i].iter().filter(|c| c[0] == "nap").count();
    assert!(fourth_probe < join, "{calls:#?}");
    assert_eq!(naps_before(fourth_probe), naps_before(join), "{calls:#?}");
    assert_eq!(naps_before(join), 3, "rpi2 joined in round 3: {calls:#?}");
    // The worker token was asked for once, in round 0, before rpi2's docker answered: the
    // join itself is one docker call.
    let token = argv(&["docker", "swarm", "join-token", "-q", "worker"]);
    let asked: Vec<usize> = (0..calls.len()).filter(|&i| calls[i] == token).collect();
    assert_eq!(asked.len(), 1, "{calls:#?}");
    assert_eq!(naps_before(asked[0]), 0, "{calls:#?}");
    assert_eq!(
        log.matches("node rpi2 (10.0.5.2) is up; its docker is not on 2376 yet")
            .count(),
        1,
        "{log}"
    );
    // Backoff 1, 2, 4, 8 rounds: probed in rounds 0, 1, 3 and 7 of 0..12.
    for host in ["10.0.5.3", "10.0.5.4"] {
        assert_eq!(probes(host), 4, "{host}: {log}\n{calls:#?}");
    }
    assert_eq!(
        log.matches("node rpi3 (10.0.5.3) is not reachable: no answer on 2376")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("node rpi4 (10.0.5.4) is not reachable: ERROR: tls: failed to verify")
            .count(),
        1,
        "{log}"
    );
    let joins = calls.iter().filter(|c| c.contains(&"join".to_string()));
    assert_eq!(joins.count(), 1, "only rpi2 joins: {calls:#?}");
    for host in ["10.0.5.5", "10.0.5.6"] {
        assert_eq!(probes(host), 1, "{host}: {calls:#?}");
    }
    // Eleven waits of one round (3 s) between the twelve rounds.
    let naps = node.calls_of(&["nap"]);
    assert_eq!(naps.len(), 11, "{naps:?}");
    assert!(
        naps.iter().all(|c| c[..] == argv(&["nap", "3"])[..]),
        "{naps:?}"
    );
}

/// Seen in the real boot: the watch's first `docker info` ran while the first-boot unit
/// restarted dockerd and never returned, so the oneshot never finished and the timer never
/// fired again. Every docker call is bounded now: a hanging daemon costs one run, not all.
#[test]
fn swarm_watch_survives_a_docker_call_that_hangs() {
    let node = Node::new("/etc/clem-image");
    node.write_fake(&node.bin().join("docker"), "docker", "exec sleep 600\n");
    node.write_env(&zero_touch_env("rpi1", "10.0.5.11", Role::Manager));
    let t = std::time::Instant::now();
    let out = watch_command(&node)
        .env("CLEM_DOCKER_TIMEOUT", "2")
        .output()
        .expect("run bash");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(60),
        "the watch hung for {:?}",
        t.elapsed()
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("not in an active swarm yet"),
        "{}",
        text(&out)
    );
    assert_eq!(node.calls_of(&["docker", "info"]).len(), 1);
    // The unit is stopped by systemd too, should a run hang anyway.
    let unit = fs::read_to_string(overlay("clem-swarm-watch.service")).unwrap();
    assert!(unit.contains("\nTimeoutStartSec=15min\n"), "{unit}");
}

/// The mission's own path: stock Snappy 15.04, docker from the snap build put on the
/// image, TLS, then the swarm image loaded from its tarball before any swarm container.
#[test]
fn snappy_legacy_swarm_installs_snap_configures_tls_loads_image_then_starts_swarm() {
    let node = Node::new("/writable/clem-image");
    node.write_env(&NodeEnv {
        swarm_mode: "legacy",
        swarm_image: "nimblestratus/rpi-swarm".into(),
        swarm_discovery: "nodes://10.0.5.26:2376,10.0.5.27:2376".into(),
        role: Role::Manager,
        docker_install: InstallKind::Snap,
        docker_snap: "/writable/clem-image/docker.snap".into(),
        swarm_image_file: "/writable/clem-image/swarm-image.tar".into(),
        ..snappy_env()
    });
    fs::write(node.at("/writable/clem-image/docker.snap"), b"snap").unwrap();
    fs::write(node.at("/writable/clem-image/swarm-image.tar"), b"tar").unwrap();
    // The snap's docker answers in /apps/bin once installed; `images -q` is empty until
    // the tarball is loaded.
    fs::remove_file(node.bin().join("docker")).unwrap();
    node.write_fake(
        &node.at("/apps/bin/docker"),
        "docker",
        r#"
case "$1" in
images) if [ -e "$STATE/loaded" ]; then echo 0123abcd; fi ;;
load) touch "$STATE/loaded" ;;
ps) n="${4#name=}"; if [ -e "$STATE/container-$n" ]; then cat "$STATE/container-$n"; fi ;;
run) echo "id-$5" >"$STATE/container-$5" ;;
esac
exit 0
"#,
    );

    node.run_ok();

    let calls = node.calls();
    let root = node.root();
    let at = |p: &str| root.join(p.trim_start_matches('/')).display().to_string();
    let install = pos(
        &calls,
        &[
            "snappy",
            "install",
            "--allow-unauthenticated",
            &at("/writable/clem-image/docker.snap"),
        ],
    );
    assert_snappy_configured(&node, "1.6.1.002");
    let restart = pos(
        &calls,
        &[
            "systemctl",
            "restart",
            "docker_docker-daemon_1.6.1.002.service",
        ],
    );
    let load = pos(
        &calls,
        &[
            "docker",
            "load",
            "-i",
            &at("/writable/clem-image/swarm-image.tar"),
        ],
    );
    let first_run = calls
        .iter()
        .position(|c| c.starts_with(&argv(&["docker", "run"])))
        .expect("docker run");
    assert!(
        install < restart && restart < load && load < first_run,
        "{calls:#?}"
    );
    let manager = calls
        .iter()
        .find(|c| c.contains(&"clem-swarm-manager".to_string()) && c[1] == "run")
        .expect("manager container");
    for flag in [
        "--tlsverify",
        "--tlscacert=/certs/ca.pem",
        "--tlscert=/certs/manager-client-cert.pem",
        "--tlskey=/certs/manager-client-key.pem",
    ] {
        assert!(manager.contains(&flag.to_string()), "{manager:?}");
    }
    pos(
        &calls,
        &[
            "docker",
            "run",
            "-d",
            "--restart=always",
            "--name",
            "clem-swarm-agent",
            "nimblestratus/rpi-swarm",
            "join",
            "--addr=10.0.5.26:2376",
            "nodes://10.0.5.26:2376,10.0.5.27:2376",
        ],
    );
    // A second run (e.g. after a reboot before the marker): the image is not loaded again.
    fs::remove_file(node.done()).ok();
    node.clear_log();
    node.run_ok();
    assert!(
        node.calls_of(&["docker", "load"]).is_empty(),
        "{:#?}",
        node.calls()
    );
}
