//! What the user watches while `build` and `flash` work: a byte bar for a stream (by
//! decoded bytes, with a percentage only where the total is known) and one line per node
//! naming the phase it is in.
//!
//! Everything here draws on stderr, and only when stderr is a terminal ([`enabled`]):
//! piped or logged output gets the ordinary lines and never a carriage return or an escape
//! sequence.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress is drawn at all: stderr is a terminal that can move its cursor
/// (`TERM` set and not `dumb`, as indicatif itself decides).
pub fn enabled() -> bool {
    let dumb = std::env::var("TERM").map_or(true, |t| t == "dumb");
    std::io::stderr().is_terminal() && !dumb
}

fn draw_target() -> ProgressDrawTarget {
    if enabled() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("static template")
        .progress_chars("=> ")
}

/// A bar over a byte stream of `total` bytes, or a counter with its rate when the total is
/// not known (no percentage is invented).
pub fn bytes_bar(total: Option<u64>, msg: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, draw_target());
    bar.set_style(match total {
        Some(_) => style(
            "{msg:13} [{bar:30}] {percent:>3}% {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ),
        None => style("{msg:13} {bytes} {binary_bytes_per_sec} (size not known in advance)"),
    });
    bar.set_message(msg);
    bar
}

/// Progress over a stream whose length may be known only roughly: the bar follows the
/// bytes produced, grows if the stream runs past its expected length, and ends at exactly
/// 100 % (the final count) when the stream ends.
pub struct StreamBar {
    bar: ProgressBar,
    known: bool,
}

impl StreamBar {
    pub fn new(expected: Option<u64>, msg: &'static str) -> StreamBar {
        StreamBar {
            bar: bytes_bar(expected, msg),
            known: expected.is_some(),
        }
    }

    pub fn set(&self, pos: u64) {
        if self.known && self.bar.length().is_some_and(|len| pos > len) {
            self.bar.set_length(pos);
        }
        self.bar.set_position(pos);
    }

    /// The stream ended after `pos` bytes: the last frame shows them all, then is cleared.
    pub fn finish(self, pos: u64, msg: &'static str) {
        if self.known {
            self.bar.set_length(pos);
        }
        self.bar.set_position(pos);
        self.bar.set_message(msg);
        self.bar.force_draw();
        self.bar.finish_and_clear();
    }

    /// Stopped early (an error): cleared, the error says the rest.
    pub fn abandon(self) {
        self.bar.finish_and_clear();
    }
}

/// What a node (or the base image) is doing; the order is the order a node goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Copy,
    Patch,
    Verify,
    Seed,
    /// The whole image's SHA-256 (`--sha256`), resumed from the base's checkpoints.
    Hash,
    Map,
    Publish,
}

impl Phase {
    /// The word on the node's line while the phase runs.
    fn doing(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Copy => "copying",
            Phase::Patch => "patching",
            Phase::Verify => "verifying",
            Phase::Seed => "checking seed",
            Phase::Map => "mapping",
            Phase::Hash => "hashing",
            Phase::Publish => "publishing",
        }
    }

    /// Its name in the summary of timings.
    fn name(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Copy => "copy",
            Phase::Patch => "patch",
            Phase::Verify => "verify",
            Phase::Seed => "seed",
            Phase::Map => "map",
            Phase::Hash => "hash",
            Phase::Publish => "publish",
        }
    }
}

/// One line per node (and one for the base image's block map), in node order.
pub struct Board {
    multi: MultiProgress,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    pub fn new() -> Board {
        Board {
            multi: MultiProgress::with_draw_target(draw_target()),
        }
    }

    /// A line for `name`, starting in `first`.
    pub fn line(&self, name: &str, first: Phase) -> PhaseBar {
        let width = 8usize.max(name.len());
        let bar = self.multi.add(ProgressBar::no_length());
        bar.set_style(
            style(&format!(
                "{{prefix:{width}}} {{spinner}} {{msg}} {{elapsed}}"
            ))
            .tick_chars("-\\|/ "),
        );
        bar.set_prefix(name.to_string());
        let line = PhaseBar {
            bar,
            done: Mutex::new(Vec::new()),
            current: Mutex::new((first, Instant::now())),
            started: Instant::now(),
        };
        line.show(first);
        line.bar.enable_steady_tick(Duration::from_millis(200));
        line
    }

    /// Runs `f` (which prints lines) with the board out of the way, then redraws it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }
}

/// A node's line: the phase it is in, and when done, how long each phase took.
pub struct PhaseBar {
    bar: ProgressBar,
    done: Mutex<Vec<(Phase, Duration)>>,
    current: Mutex<(Phase, Instant)>,
    started: Instant,
}

impl PhaseBar {
    /// Enters `phase`; the line is redrawn at once, so even a short phase is seen.
    pub fn phase(&self, phase: Phase) {
        self.close_current(phase);
        self.show(phase);
    }

    fn show(&self, phase: Phase) {
        self.bar.set_message(phase.doing());
        self.bar.force_draw();
    }

    fn close_current(&self, next: Phase) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let (phase, since) = *current;
        if phase != Phase::Queued {
            let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            done.push((phase, since.elapsed()));
        }
        *current = (next, Instant::now());
    }

    /// Done: the line stays, with the time each phase took.
    pub fn finish(&self, what: &str) {
        self.close_current(Phase::Queued);
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let times: Vec<String> = done
            .iter()
            .map(|(p, d)| format!("{} {:.1}", p.name(), d.as_secs_f64()))
            .collect();
        let total = self.started.elapsed().as_secs_f64();
        self.end(format!("{what} in {total:.1} s ({})", times.join(", ")));
    }

    /// Stopped by an error (its own or another node's); the error is reported elsewhere.
    pub fn fail(&self, what: &str) {
        self.end(what.to_string());
    }

    fn end(&self, msg: String) {
        let prefix_width = self.bar.prefix().len().max(8);
        self.bar
            .set_style(style(&format!("{{prefix:{prefix_width}}} {{wide_msg}}")));
        self.bar.finish_with_message(msg);
    }
}

impl Drop for PhaseBar {
    /// A line left unfinished (a worker never reached the node) must not keep ticking.
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.end("not built".to_string());
        }
    }
}
