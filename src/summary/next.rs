//! The next commands after a build, each one a command the user can paste.

use std::path::Path;

use super::{BuildSummary, Invocation, NextStep};
use crate::build::Built;
use crate::cluster::config::{DockerExposure, Role, Swarm};

/// A path or value as one shell word: bare when it is plainly safe, else quoted.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if plain {
        s.to_string()
    } else {
        crate::cluster::values::shell_quote(s)
    }
}

fn word(p: &Path) -> String {
    shell_word(&p.display().to_string())
}

pub(super) fn steps(s: &BuildSummary, built: &Built, how: &Invocation<'_>) -> Vec<NextStep> {
    let mut steps = Vec::new();
    if how.sample {
        steps.push(NextStep {
            what: "These images come from the bundled TEST sample and do not boot on a Pi: \
                   build from the real upstream image (or set [cluster] image in the config)"
                .into(),
            commands: vec![format!(
                "{} --image ubuntu-15.04-snappy-armhf-rpi2.img.xz",
                rebuild(s, how)
            )],
        });
    }
    let out = if how.out == Path::new("out") {
        String::new()
    } else {
        format!(" --out {}", word(how.out))
    };
    steps.push(NextStep {
        what: "Flash each card (find its device with `lsblk`; flash asks before writing):".into(),
        commands: s
            .nodes
            .iter()
            .map(|n| format!("clem-image flash{out} --node {} /dev/sdX", n.name))
            .collect(),
    });
    steps.push(power_on(s, built, how));
    if let Some(step) = docker_cli(s, built, how) {
        steps.push(step);
    }
    if let Some(first) = s.nodes.first() {
        let identity = s
            .login
            .identity
            .as_deref()
            .map(|p| format!("-i {} ", word(p)))
            .unwrap_or_default();
        steps.push(NextStep {
            what: "Log in to a node:".into(),
            commands: vec![format!("ssh {identity}{}@{}", s.login.user, first.host)],
        });
    }
    steps
}

/// The build command again, for the sample warning.
fn rebuild(s: &BuildSummary, how: &Invocation<'_>) -> String {
    match how.config {
        Some(c) => format!("clem-image build --config {}", word(c)),
        None => {
            let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
            format!("clem-image build --node {}", names.join(","))
        }
    }
}

fn power_on(s: &BuildSummary, built: &Built, how: &Invocation<'_>) -> NextStep {
    let slow = if s.docker.install == "apt" {
        " (more while docker is installed from the network)"
    } else {
        ""
    };
    let mut what = format!(
        "Power the nodes on: a first boot takes a few minutes{slow}; SSH answers first, then docker"
    );
    let mut commands = Vec::new();
    if built.cluster.docker == DockerExposure::Tls {
        what.push_str(", then the swarm forms. Watch it:");
        let nodes = match how.config {
            Some(_) => String::new(),
            None => {
                let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
                format!(" --node {}", names.join(","))
            }
        };
        let cluster = cluster_flag(how, &built.cluster.dir);
        commands.push(format!("clem-image status{nodes}{cluster} --wait 15m"));
    } else {
        what.push('.');
    }
    NextStep { what, commands }
}

fn docker_cli(s: &BuildSummary, built: &Built, how: &Invocation<'_>) -> Option<NextStep> {
    let manager = s
        .nodes
        .iter()
        .find(|n| n.role == Role::Manager)
        .or(s.nodes.first())?;
    let verb = match built.cluster.swarm {
        Swarm::ZeroTouch { .. } | Swarm::Join { .. } => "node ls",
        _ => "info",
    };
    match built.cluster.docker {
        DockerExposure::Tls => {
            let certs = s.docker.cert_path.as_deref()?;
            Some(NextStep {
                what: format!(
                    "Talk to {}'s docker with your certificate (or set the variables with \
                     `clem-image env`):",
                    manager.name
                ),
                commands: vec![
                    format!(
                        "DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={} docker -H tcp://{}:2376 {verb}",
                        word(certs),
                        manager.host
                    ),
                    format!(
                        "eval \"$(clem-image env {}{})\"; docker {verb}",
                        manager.name,
                        cluster_flag(how, &built.cluster.dir)
                    ),
                ],
            })
        }
        DockerExposure::InsecureTcp => Some(NextStep {
            what: format!(
                "Talk to {}'s docker (plain TCP, no authentication: anyone on the network can):",
                manager.name
            ),
            commands: vec![format!("docker -H tcp://{}:2375 {verb}", manager.host)],
        }),
        DockerExposure::None => None,
    }
}

/// ` --config FILE`, or ` --cluster-dir DIR` when that is not the default: how later
/// commands find this build's cluster.
fn cluster_flag(how: &Invocation<'_>, dir: &Path) -> String {
    match how.config {
        Some(c) => format!(" --config {}", word(c)),
        None if dir == Path::new("clem-cluster") => String::new(),
        None => format!(" --cluster-dir {}", word(dir)),
    }
}
