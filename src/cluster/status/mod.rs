//! `status`: asks every node's docker API, over mutual TLS with the operator's certificate,
//! whether the cluster is up: reachable, in the swarm, and listed Ready by a manager.
//!
//! The connection is made here (TCP, then rustls with the node's own name as the
//! verification name, then one HTTP/1.1 connection) so that an `--endpoint` override (an SSH
//! tunnel, a qemu port forward) still checks the certificate of the node it stands for, and
//! so that a failure can be told apart: refused, timed out, unknown CA, a certificate the node
//! refused. What a node sends is never trusted: answers are bounded in size and time (see
//! `peer`), and its text is escaped before it is printed (see `text`).
//!
//! This file holds the errors and `check`, which runs the rest: `targets` (whom to ask),
//! `tls` (with what), `probe` (asking), `report` (the verdict), `render` (as text),
//! `duration` (`--wait`).

use std::time::Duration;

use super::config::Swarm;
use hint::{hint, HintContext};
use probe::{apply_nodes, ask_a_manager, probe_within, Probe};

pub use duration::{humanize, parse_duration, parse_wait, DurationError, MAX_WAIT};
pub use error::StatusError;
pub use failure::{Failure, FailureKind};
pub use report::{NodeReport, Report, SwarmState};
pub use targets::{parse_endpoint, targets, Target};
pub use tls::{ClientTls, ClientTlsError};

mod duration;
mod error;
mod failure;
mod hint;
mod peer;
mod probe;
mod render;
mod report;
mod targets;
mod text;
mod tls;

/// How long connecting, the TLS handshake and each API call may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks every node (concurrently), then a manager for its node list; the report is
/// evaluated, and every text a node supplied is escaped and cut.
pub async fn check(
    cluster_swarm: &Swarm,
    targets: &[Target],
    tls: &ClientTls,
    t: Duration,
) -> Report {
    let handles: Vec<_> = targets
        .iter()
        .map(|target| tokio::spawn(probe_within(target.clone(), tls.clone(), t)))
        .collect();
    let mut probes = Vec::new();
    for (h, target) in handles.into_iter().zip(targets) {
        probes.push(h.await.unwrap_or_else(|e| {
            Probe::failed(NodeReport {
                error: Some(Failure::new(
                    FailureKind::Io,
                    format!("internal error: {e}"),
                )),
                ..NodeReport::new(target)
            })
        }));
    }
    let swarm_mode = matches!(cluster_swarm, Swarm::Join { .. } | Swarm::ZeroTouch { .. });
    let mut manager = None;
    if swarm_mode {
        manager = ask_a_manager(&mut probes, t).await;
    }
    let mut nodes: Vec<NodeReport> = probes.into_iter().map(|p| p.report).collect();
    if let Some((_, list)) = &manager {
        apply_nodes(&mut nodes, list);
    }
    for (n, t) in nodes.iter_mut().zip(targets) {
        n.clean();
        n.hint = n.error.as_ref().and_then(|e| {
            let cx = HintContext {
                node: t.name.as_str(),
                endpoint: &t.endpoint,
                located: t.located,
                ca: &tls.ca_path,
            };
            hint(e, &cx)
        });
    }
    let mut report = Report {
        format: 1,
        healthy: false,
        swarm: cluster_swarm.setup(),
        manager: manager.map(|(n, _)| n),
        nodes,
    };
    report.evaluate(swarm_mode);
    report
}
