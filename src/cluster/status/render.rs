//! The report as text: one line per node and a verdict (`status`), or one short line of
//! every node's state (`status --wait`).

use super::report::{NodeReport, Report, SwarmState};
use crate::cluster::config::SwarmSetup;

/// What the line of a reachable node tells: docker, host name, swarm, readiness.
fn facts(n: &NodeReport) -> Vec<String> {
    let mut facts = Vec::new();
    if !n.reachable {
        return facts;
    }
    if let Some(v) = &n.docker_version {
        facts.push(format!("docker {v}"));
    }
    if let Some(h) = &n.hostname {
        facts.push(format!("hostname {h}"));
    }
    if let Some(s) = n.swarm_state {
        match n.swarm_role {
            Some(r) if s == SwarmState::Active => facts.push(format!("swarm {s} ({r})")),
            _ => facts.push(format!("swarm {s}")),
        }
    }
    if n.ready == Some(true) {
        facts.push("ready".into());
    }
    facts
}

impl Report {
    /// One line per node, then a summary line.
    pub fn render_text(&self) -> String {
        let w = self.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for n in &self.nodes {
            let mut facts = facts(n);
            facts.extend(n.problems.iter().cloned());
            out.push_str(&format!(
                "{:<w$}  {:<4}  {}  [{}]\n",
                n.name,
                if n.healthy { "ok" } else { "FAIL" },
                facts.join(", "),
                n.endpoint,
            ));
            if let Some(h) = &n.hint {
                out.push_str(&format!("{:<w$}  hint: {h}\n", ""));
            }
        }
        let bad = self.nodes.iter().filter(|n| !n.healthy).count();
        if self.healthy {
            out.push_str(&format!(
                "cluster healthy: {} node(s){}\n",
                self.nodes.len(),
                if matches!(self.swarm, SwarmSetup::SwarmMode | SwarmSetup::ZeroTouch) {
                    " up and ready in the swarm"
                } else {
                    " reachable"
                }
            ));
        } else {
            out.push_str(&format!(
                "cluster not healthy: {bad} of {} node(s) failing\n",
                self.nodes.len()
            ));
        }
        out
    }

    /// A short per-node summary for a progress line: `rpi1 ok · rpi2 connection refused`.
    pub fn progress_line(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{} {}", n.name, n.state()))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::super::failure::{Failure, FailureKind};
    use super::super::report::tests::node;
    use super::*;

    #[test]
    fn rendering_and_health() {
        let mut r = Report {
            format: 1,
            healthy: false,
            swarm: SwarmSetup::SwarmMode,
            manager: Some("rpi1".into()),
            nodes: vec![node("rpi1"), node("rpi2"), node("rpi3")],
        };
        r.evaluate(true);
        assert!(r.healthy);
        let text = r.render_text();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.starts_with(
            "rpi1  ok    docker 28.5.1, hostname rpi1, swarm active (worker), ready  [rpi1:2376]\n"
        ), "{text}");
        assert!(text.ends_with("cluster healthy: 3 node(s) up and ready in the swarm\n"));

        r.nodes[1].reachable = false;
        r.nodes[1].error = Some(Failure {
            kind: FailureKind::ConnectionRefused,
            message: "connection refused".into(),
        });
        r.nodes[2].manager_state = Some("down".into());
        r.nodes[2].ready = Some(false);
        r.evaluate(true);
        assert!(!r.healthy);
        let text = r.render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "rpi2  FAIL  unreachable: connection refused  [rpi2:2376]"
        );
        assert!(lines[2].contains("the manager lists it as down"), "{text}");
        assert_eq!(lines[3], "cluster not healthy: 2 of 3 node(s) failing");
        assert_eq!(
            r.progress_line(),
            "rpi1 ok · rpi2 connection refused · rpi3 the manager lists it as down"
        );
        // Without swarm mode, reachable is enough.
        r.evaluate(false);
        assert!(r.nodes[2].healthy && !r.nodes[1].healthy);

        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["format"], 1);
        assert_eq!(json["nodes"][1]["error"]["kind"], "connection-refused");
        assert_eq!(json["nodes"][0]["swarm_role"], "worker");
        assert_eq!(json["swarm"], "swarm-mode");
    }

    #[test]
    fn without_swarm_mode_healthy_means_reachable() {
        let mut r = Report {
            format: 1,
            healthy: false,
            swarm: SwarmSetup::None,
            manager: None,
            nodes: vec![node("rpi1")],
        };
        r.nodes[0].swarm_state = Some(SwarmState::Inactive);
        r.evaluate(false);
        let text = r.render_text();
        assert!(text.contains(", swarm inactive, ready  ["), "{text}");
        assert!(
            text.ends_with("cluster healthy: 1 node(s) reachable\n"),
            "{text}"
        );
    }
}
