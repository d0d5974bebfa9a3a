//! Asking nodes: one node's `/version` and `/info` (within a time budget), then a manager's
//! `/nodes`, and what their answers say about each node.

use std::time::Duration;

use bollard::models::{LocalNodeState, Node, NodeState, SystemInfo, SystemVersion};
use bollard::{ClientVersion, API_DEFAULT_VERSION};

use super::failure::timeout;
use super::peer::{connect, Connection};
use super::report::{NodeReport, SwarmState};
use super::targets::Target;
use super::tls::ClientTls;
use crate::cluster::config::Role;

/// What asking one node gave: its report, and its connection for asking it more.
pub(super) struct Probe {
    pub report: NodeReport,
    pub conn: Option<Connection>,
    /// The API version to ask in, as `v1.51`.
    pub api: String,
}

impl Probe {
    /// A node that could not be asked (or not asked more): its report only.
    pub fn failed(report: NodeReport) -> Probe {
        Probe {
            report,
            conn: None,
            api: api_prefix(&client_version(None)),
        }
    }
}

async fn probe(target: Target, tls: ClientTls, t: Duration) -> Probe {
    let mut report = NodeReport::new(&target);
    let mut conn = match connect(&target, &tls, t).await {
        Ok(c) => c,
        Err(f) => {
            report.error = Some(f);
            return Probe::failed(report);
        }
    };
    // Unversioned: a daemon older than our API version still answers it.
    let version: SystemVersion = match conn.get_json("/version", t).await {
        Ok(v) => v,
        Err(f) => {
            report.error = Some(f);
            return Probe::failed(report);
        }
    };
    report.reachable = true;
    report.docker_version = version.version.clone();
    report.api_version = version.api_version.clone();
    let api = api_prefix(&client_version(version.api_version.as_deref()));
    match conn
        .get_json::<SystemInfo>(&format!("/{api}/info"), t)
        .await
    {
        Ok(info) => apply_info(&mut report, &info),
        Err(f) => report.error = Some(f),
    }
    Probe {
        report,
        conn: Some(conn),
        api,
    }
}

fn api_prefix(v: &ClientVersion) -> String {
    format!("v{}.{}", v.major_version, v.minor_version)
}

/// A probe that is cut short: the steps have their own time limits, this bounds their sum.
pub(super) async fn probe_within(target: Target, tls: ClientTls, t: Duration) -> Probe {
    let budget = t.saturating_mul(4);
    match tokio::time::timeout(budget, probe(target.clone(), tls, t)).await {
        Ok(p) => p,
        Err(_) => Probe::failed(NodeReport {
            error: Some(timeout("asking the node", budget)),
            ..NodeReport::new(&target)
        }),
    }
}

/// `1.41` → 1.41, capped at what bollard knows.
fn client_version(api: Option<&str>) -> ClientVersion {
    let parsed = api.and_then(|v| {
        let (a, b) = v.split_once('.')?;
        Some(ClientVersion {
            major_version: a.parse().ok()?,
            minor_version: b.parse().ok()?,
        })
    });
    match parsed {
        Some(v)
            if (v.major_version, v.minor_version)
                < (
                    API_DEFAULT_VERSION.major_version,
                    API_DEFAULT_VERSION.minor_version,
                ) =>
        {
            v
        }
        _ => ClientVersion {
            major_version: API_DEFAULT_VERSION.major_version,
            minor_version: API_DEFAULT_VERSION.minor_version,
        },
    }
}

fn swarm_state(s: LocalNodeState) -> SwarmState {
    match s {
        LocalNodeState::EMPTY | LocalNodeState::INACTIVE => SwarmState::Inactive,
        LocalNodeState::PENDING => SwarmState::Pending,
        LocalNodeState::ACTIVE => SwarmState::Active,
        LocalNodeState::ERROR => SwarmState::Error,
        LocalNodeState::LOCKED => SwarmState::Locked,
    }
}

fn apply_info(report: &mut NodeReport, info: &SystemInfo) {
    report.hostname = info.name.clone();
    if let Some(swarm) = &info.swarm {
        let state = swarm_state(swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY));
        report.swarm_state = Some(state);
        if state == SwarmState::Active {
            report.swarm_role = Some(if swarm.control_available == Some(true) {
                Role::Manager
            } else {
                Role::Worker
            });
        }
    }
}

/// Marks each report with the state the manager's node list gives it (matched by host name).
pub(super) fn apply_nodes(reports: &mut [NodeReport], listed: &[Node]) {
    for r in reports {
        let host = r.hostname.clone().unwrap_or_else(|| r.name.clone());
        let state = listed
            .iter()
            .find(|n| {
                n.description.as_ref().and_then(|d| d.hostname.as_deref()) == Some(host.as_str())
            })
            .map(|n| {
                n.status
                    .as_ref()
                    .and_then(|s| s.state)
                    .unwrap_or(NodeState::UNKNOWN)
            });
        r.manager_state = state.map(|s| s.to_string());
        r.ready = Some(state == Some(NodeState::READY));
    }
}

/// The node list of the first manager that gives one: managers by the config first, then
/// any node that says it can control the swarm. When none does, the first refusal is kept
/// in that node's report.
pub(super) async fn ask_a_manager(
    probes: &mut [Probe],
    t: Duration,
) -> Option<(String, Vec<Node>)> {
    let mut order: Vec<usize> = (0..probes.len()).collect();
    order.sort_by_key(|&i| probes[i].report.role != Role::Manager);
    let mut first_error = None;
    for i in order {
        let p = &mut probes[i];
        let Some(conn) = p.conn.as_mut() else {
            continue;
        };
        if p.report.swarm_role != Some(Role::Manager) {
            continue;
        }
        let path = format!("/{}/nodes", p.api);
        match conn.get_json(&path, t).await {
            Ok(list) => return Some((p.report.name.clone(), list)),
            Err(f) => {
                first_error.get_or_insert((i, f));
            }
        }
    }
    if let Some((i, f)) = first_error {
        probes[i].report.error.get_or_insert(f);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::node;
    use super::*;
    use bollard::models::{NodeDescription, NodeStatus, SwarmInfo};

    #[test]
    fn versions_are_capped() {
        let v = client_version(Some("1.41"));
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let v = client_version(Some("1.99"));
        assert_eq!(v.minor_version, API_DEFAULT_VERSION.minor_version);
        let v = client_version(None);
        assert_eq!(v.minor_version, API_DEFAULT_VERSION.minor_version);
        assert_eq!(api_prefix(&client_version(Some("1.41"))), "v1.41");
    }

    #[test]
    fn info_gives_the_swarm_state_and_role() {
        let info = |state, control| SystemInfo {
            name: Some("rpi1".into()),
            swarm: Some(SwarmInfo {
                local_node_state: state,
                control_available: control,
                ..SwarmInfo::default()
            }),
            ..SystemInfo::default()
        };
        let mut r = node("rpi1");
        r.swarm_role = None;
        apply_info(&mut r, &info(Some(LocalNodeState::ACTIVE), Some(true)));
        assert_eq!(
            (r.swarm_state, r.swarm_role),
            (Some(SwarmState::Active), Some(Role::Manager))
        );
        let mut r = node("rpi1");
        r.swarm_role = None;
        apply_info(&mut r, &info(None, None));
        assert_eq!(
            (r.swarm_state, r.swarm_role),
            (Some(SwarmState::Inactive), None)
        );
        apply_info(&mut r, &info(Some(LocalNodeState::ACTIVE), None));
        assert_eq!(r.swarm_role, Some(Role::Worker));
    }

    #[test]
    fn the_manager_list_is_matched_by_host_name() {
        let listed = |host: &str, state| Node {
            description: Some(NodeDescription {
                hostname: Some(host.into()),
                ..NodeDescription::default()
            }),
            status: Some(NodeStatus {
                state: Some(state),
                ..NodeStatus::default()
            }),
            ..Node::default()
        };
        let mut reports = [node("rpi1"), node("rpi2"), node("rpi3")];
        let list = [
            listed("rpi1", NodeState::READY),
            listed("rpi2", NodeState::DOWN),
        ];
        apply_nodes(&mut reports, &list);
        assert_eq!(reports[0].ready, Some(true));
        assert_eq!(
            (reports[1].ready, reports[1].manager_state.as_deref()),
            (Some(false), Some("down"))
        );
        assert_eq!(
            (reports[2].ready, reports[2].manager_state.as_deref()),
            (Some(false), None)
        );
    }
}
