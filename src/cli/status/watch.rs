//! `status --wait`'s display of the nodes' states as they change: on a terminal one live
//! line per node under a line with the time left; otherwise one line per change on stderr
//! (`[12s] rpi2: connection refused`), and nothing drawn.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use clem_image::cluster::status::{humanize, Report};

pub struct Watch {
    live: Option<Live>,
    /// Each node's last state, in report order.
    last: Vec<Option<String>>,
    start: Instant,
}

struct Live {
    multi: MultiProgress,
    header: ProgressBar,
    nodes: Vec<ProgressBar>,
}

impl Watch {
    pub fn new(nodes: usize) -> Watch {
        let live = std::io::stderr().is_terminal().then(|| Live::new(nodes));
        Watch {
            live,
            last: vec![None; nodes],
            start: Instant::now(),
        }
    }

    /// Shows `report`, asked with `left` of the wait remaining.
    pub fn update(&mut self, report: &Report, left: Duration) {
        let w = report.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
        if let Some(live) = &self.live {
            live.header.set_message(format!(
                "waiting for {} node(s) ({} left)",
                report.nodes.len(),
                humanize(Duration::from_secs(left.as_secs()))
            ));
        }
        for (i, n) in report.nodes.iter().enumerate() {
            let state = n.state();
            if self.last[i].as_deref() == Some(state.as_str()) {
                continue;
            }
            match &self.live {
                Some(live) => {
                    let mark = if n.healthy { "ok  " } else { "...." };
                    live.nodes[i].set_message(format!("{:<w$}  {mark}  {state}", n.name));
                }
                None => eprintln!("[{}] {}: {state}", self.elapsed(), n.name),
            }
            self.last[i] = Some(state);
        }
    }

    /// `0s`, `12s`, `1m5s` since the wait began.
    fn elapsed(&self) -> String {
        match self.start.elapsed().as_secs() {
            0 => "0s".into(),
            s => humanize(Duration::from_secs(s)),
        }
    }

    /// Removes the live lines before the report is printed.
    pub fn finish(self) {
        if let Some(live) = self.live {
            for b in &live.nodes {
                b.finish_and_clear();
            }
            live.header.finish_and_clear();
            let _ = live.multi.clear();
        }
    }
}

impl Live {
    fn new(nodes: usize) -> Live {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let header = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
        header.enable_steady_tick(Duration::from_millis(120));
        header.set_message(format!("asking {nodes} node(s)…"));
        let line = ProgressStyle::with_template("  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let nodes = (0..nodes)
            .map(|_| multi.add(ProgressBar::new_spinner().with_style(line.clone())))
            .collect();
        Live {
            multi,
            header,
            nodes,
        }
    }
}
