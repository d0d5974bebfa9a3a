//! The status report: what each node said, and the verdict on it and on the cluster. This is
//! the model `--json` prints as it is; `render` draws it as text.

use serde::Serialize;

use super::failure::Failure;
use super::targets::Target;
use super::text::{clean, MAX_CHARS};
use crate::cluster::config::{Role, SwarmSetup};

/// A node's own view of the swarm (docker's `LocalNodeState`), as docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmState {
    /// Not in a swarm (docker also says so with an empty state).
    Inactive,
    Pending,
    Active,
    Error,
    Locked,
}

impl SwarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmState::Inactive => "inactive",
            SwarmState::Pending => "pending",
            SwarmState::Active => "active",
            SwarmState::Error => "error",
            SwarmState::Locked => "locked",
        }
    }
}

impl std::fmt::Display for SwarmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one node said, and whether that is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    pub name: String,
    /// Where it was asked (`host:port`); the certificate is checked against `name`.
    pub endpoint: String,
    /// The role the config gives it.
    pub role: Role,
    pub reachable: bool,
    pub error: Option<Failure>,
    /// What to try about `error`, when there is something to try.
    pub hint: Option<String>,
    /// docker `/info` Name.
    pub hostname: Option<String>,
    /// docker `/version` Version and ApiVersion.
    pub docker_version: Option<String>,
    pub api_version: Option<String>,
    /// `/info` Swarm.LocalNodeState.
    pub swarm_state: Option<SwarmState>,
    /// `manager` when the node can control the swarm, else `worker` (when in a swarm).
    pub swarm_role: Option<Role>,
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
    pub(super) fn clean(&mut self) {
        let fields = [
            &mut self.hostname,
            &mut self.docker_version,
            &mut self.api_version,
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

    /// A node not asked yet: nothing known but what the config says.
    pub fn new(target: &Target) -> NodeReport {
        NodeReport {
            name: target.name.to_string(),
            endpoint: target.endpoint.clone(),
            role: target.role,
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

    /// Why this node is not healthy; `manager_known` says whether any manager answered.
    fn find_problems(&self, swarm_mode: bool, manager_known: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(e) = &self.error {
            problems.push(if self.reachable {
                e.message.clone()
            } else {
                format!("unreachable: {}", e.message)
            });
        } else if !self.reachable {
            problems.push("unreachable".into());
        }
        if swarm_mode && self.reachable {
            match self.swarm_state {
                Some(SwarmState::Active) => {}
                Some(s) => problems.push(format!("swarm state is {s}, not active")),
                None => problems.push("reports no swarm state".into()),
            }
            match (self.ready, self.manager_state.as_deref()) {
                (Some(true), _) => {}
                (_, Some(s)) => problems.push(format!("the manager lists it as {s}")),
                _ if !manager_known => problems.push("no reachable manager to ask".into()),
                _ => problems.push("the manager does not list it".into()),
            }
        }
        problems
    }
}

/// The whole cluster's status (`--json` prints this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The format's version; fields are only added within a version.
    pub format: u32,
    pub healthy: bool,
    /// The config's swarm: `none`, `zero-touch`, `swarm-mode` or `legacy`.
    pub swarm: SwarmSetup,
    /// The node whose `/nodes` list was used.
    pub manager: Option<String>,
    pub nodes: Vec<NodeReport>,
}

impl Report {
    /// Decides each node's health and the cluster's: reachable, and for swarm mode also
    /// active in the swarm and listed Ready.
    pub fn evaluate(&mut self, swarm_mode: bool) {
        let manager_known = self.manager.is_some();
        for n in &mut self.nodes {
            n.problems = n.find_problems(swarm_mode, manager_known);
            n.healthy = n.problems.is_empty();
        }
        self.healthy = self.nodes.iter().all(|n| n.healthy);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cluster::status::failure::FailureKind;
    use crate::node::NodeName;

    /// A node that is up, in the swarm and listed ready.
    pub fn node(name: &str) -> NodeReport {
        NodeReport {
            reachable: true,
            hostname: Some(name.into()),
            docker_version: Some("28.5.1".into()),
            api_version: Some("1.51".into()),
            swarm_state: Some(SwarmState::Active),
            swarm_role: Some(Role::Worker),
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
    fn health_in_and_out_of_swarm_mode() {
        let mut r = Report {
            format: 1,
            healthy: false,
            swarm: SwarmSetup::SwarmMode,
            manager: Some("rpi1".into()),
            nodes: vec![node("rpi1"), node("rpi2")],
        };
        r.evaluate(true);
        assert!(r.healthy);
        r.nodes[1].swarm_state = Some(SwarmState::Pending);
        r.evaluate(true);
        assert_eq!(r.nodes[1].problems, ["swarm state is pending, not active"]);
        r.nodes[1].swarm_state = None;
        r.nodes[1].ready = None;
        r.nodes[1].manager_state = None;
        r.manager = None;
        r.evaluate(true);
        assert_eq!(
            r.nodes[1].problems,
            ["reports no swarm state", "no reachable manager to ask"]
        );
        r.evaluate(false);
        assert!(r.healthy);
        r.nodes[0].reachable = false;
        r.nodes[0].error = Some(Failure::new(FailureKind::Timeout, "timed out"));
        r.evaluate(false);
        assert_eq!(r.nodes[0].problems, ["unreachable: timed out"]);
        assert_eq!(r.nodes[0].state(), "timed out");
    }

    #[test]
    fn json_keeps_the_names_the_strings_had() {
        let mut n = node("rpi1");
        n.role = Role::Manager;
        n.swarm_state = Some(SwarmState::Inactive);
        n.swarm_role = Some(Role::Manager);
        let j = serde_json::to_value(&n).unwrap();
        assert_eq!(j["role"], "manager");
        assert_eq!(j["swarm_state"], "inactive");
        assert_eq!(j["swarm_role"], "manager");
        for s in [
            SwarmState::Inactive,
            SwarmState::Pending,
            SwarmState::Active,
            SwarmState::Error,
            SwarmState::Locked,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
        }
    }
}
