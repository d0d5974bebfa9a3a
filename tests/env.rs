//! `env NODE` and `env --context`: the lines are run by the shells themselves (bash, fish)
//! and the docker CLI itself (`docker context create`, `docker context inspect`), in a
//! cluster directory whose path holds a space, a `$` and a quote, so quoting is tested too.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
}

/// `init` in a directory with an awkward name, then a config with `docker`.
fn setup(docker: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let dir = root.join("my $cluster 'x'");
    let o = clem(&["init", "--dir", dir.to_str().unwrap()], &root);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        dir.join("cluster.toml"),
        format!(
            "[cluster]\ndocker = \"{docker}\"\n\n\
             [[node]]\nname = \"rpi1\"\naddress = \"10.0.5.11/24\"\nrole = \"manager\"\n\n\
             [[node]]\nname = \"rpi2\"\n"
        ),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        root,
        dir,
    }
}

impl Setup {
    fn config(&self) -> String {
        self.dir.join("cluster.toml").to_str().unwrap().to_string()
    }

    fn env(&self, extra: &[&str]) -> std::process::Output {
        let config = self.config();
        let mut args = vec!["env", "--config", &config];
        args.extend_from_slice(extra);
        clem(&args, &self.root)
    }
}

/// Runs `script` in `shell` (with clem-image's printed lines spliced in) and returns the
/// environment it ends with.
fn env_after(shell: &str, script: &str) -> HashMap<String, String> {
    let o = Command::new(shell)
        .args(["-c", script])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_TLS_VERIFY")
        .output()
        .unwrap_or_else(|e| panic!("{shell}: {e}"));
    assert!(
        o.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_tls_env(vars: &HashMap<String, String>, dir: &Path, host: &str) {
    assert_eq!(vars["DOCKER_HOST"], format!("tcp://{host}:2376"));
    assert_eq!(vars["DOCKER_TLS_VERIFY"], "1");
    let certs = PathBuf::from(&vars["DOCKER_CERT_PATH"]);
    assert!(certs.is_absolute(), "{}", certs.display());
    assert_eq!(certs, dir.join("client").canonicalize().unwrap());
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(
            certs.join(f).is_file(),
            "{f} missing in {}",
            certs.display()
        );
    }
}

#[test]
fn sh_and_fish_lines_set_the_docker_variables() {
    let s = setup("tls");
    let o = s.env(&["rpi1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = stdout(&o);
    assert!(lines.contains("# eval \"$(clem-image env rpi1"), "{lines}");
    let vars = env_after(
        "bash",
        &format!("eval \"$(cat <<'EOF'\n{lines}EOF\n)\"; env"),
    );
    check_tls_env(&vars, &s.dir, "10.0.5.11");

    // A node without an address: its host name. Run from elsewhere: the path is absolute.
    let o = s.env(&["rpi2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vars = env_after("sh", &format!("cd /; {}\nenv", stdout(&o)));
    check_tls_env(&vars, &s.dir, "rpi2");

    if need_tool("fish") {
        let o = s.env(&["rpi1", "--shell", "fish"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let file = s.root.join("env.fish");
        std::fs::write(&file, stdout(&o)).unwrap();
        let vars = env_after("fish", &format!("source '{}'; env", file.display()));
        check_tls_env(&vars, &s.dir, "10.0.5.11");
    }
}

#[test]
fn context_line_makes_a_docker_context() {
    let s = setup("tls");
    let o = s.env(&["--context"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(
        line.starts_with("docker context create clem-rpi1 "),
        "{line}"
    );
    assert!(
        Command::new("bash")
            .args(["-n", "-c", &line])
            .status()
            .unwrap()
            .success(),
        "{line}"
    );
    if !need_tool("docker") {
        return;
    }
    let cfg = s.root.join("docker-config");
    std::fs::create_dir(&cfg).unwrap();
    let run = |script: &str| {
        let o = Command::new("bash")
            .args(["-c", script])
            .env("DOCKER_CONFIG", &cfg)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(&line);
    let json: serde_json::Value =
        serde_json::from_str(&run("docker context inspect clem-rpi1")).unwrap();
    let ctx = &json[0];
    assert_eq!(ctx["Name"], "clem-rpi1");
    assert_eq!(ctx["Endpoints"]["docker"]["Host"], "tcp://10.0.5.11:2376");
    assert_eq!(ctx["Endpoints"]["docker"]["SkipTLSVerify"], false);
    // docker copied the three files into its store: they are the cluster's own.
    let tls = PathBuf::from(ctx["Storage"]["TLSPath"].as_str().unwrap()).join("docker");
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        assert_eq!(
            std::fs::read(tls.join(f)).unwrap(),
            std::fs::read(s.dir.join("client").join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn insecure_tcp_warns_and_none_or_unknown_nodes_are_refused() {
    let s = setup("insecure-tcp");
    let o = s.env(&["rpi1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("WARNING") && stderr(&o).contains("insecure-tcp"));
    let vars = env_after(
        "bash",
        &format!("export DOCKER_TLS_VERIFY=1\n{}env", stdout(&o)),
    );
    assert_eq!(vars["DOCKER_HOST"], "tcp://10.0.5.11:2375");
    assert!(!vars.contains_key("DOCKER_TLS_VERIFY") && !vars.contains_key("DOCKER_CERT_PATH"));

    let o = s.env(&["rpi9"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("has no node rpi9") && stderr(&o).contains("cluster.toml"),
        "{}",
        stderr(&o)
    );
    let o = s.env(&[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("which node"), "{}", stderr(&o));

    let s = setup("none");
    let o = s.env(&["rpi1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("docker = \"none\""), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

#[test]
fn missing_certificates_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o = clem(&["env", "rpi1", "--cluster-dir", "nowhere"], tmp.path());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("nowhere/client/ca.pem: missing"),
        "{}",
        stderr(&o)
    );
    let o = clem(
        &["env", "--context", "--cluster-dir", "nowhere"],
        tmp.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("which node?"), "{}", stderr(&o));
}
