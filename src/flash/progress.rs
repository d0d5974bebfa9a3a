//! Progress for the write and verify passes: a bar (or none, or the target's line on a board
//! of several) and a counter that updates it in steps of a MiB.

use std::ops::Deref;

use indicatif::ProgressBar;

use super::FlashJob;

/// Counts progress and updates the bar once per MiB, not per chunk or block.
pub(super) struct Ticker<'a> {
    bar: &'a ProgressBar,
    pending: u64,
}

impl<'a> Ticker<'a> {
    pub(super) fn new(bar: &'a ProgressBar) -> Self {
        Ticker { bar, pending: 0 }
    }
    pub(super) fn add(&mut self, n: u64) {
        self.pending += n;
        if self.pending >= 1 << 20 {
            self.bar.inc(self.pending);
            self.pending = 0;
        }
    }
}

impl Drop for Ticker<'_> {
    fn drop(&mut self) {
        self.bar.inc(self.pending);
    }
}

/// The bar one pass draws on: its own (cleared when the pass ends), or the target's line,
/// which outlives the pass so the target keeps one place on the board.
pub(super) enum PassBar {
    Own(ProgressBar),
    Line(ProgressBar),
}

impl PassBar {
    pub(super) fn new(job: &FlashJob, total: u64, what: &'static str) -> PassBar {
        let Some(line) = &job.line else {
            return PassBar::Own(progress_bar(job.progress, total, what));
        };
        line.reset();
        line.set_length(total);
        line.set_message(format!("{} {what:9}", line.prefix()));
        PassBar::Line(line.clone())
    }

    /// The pass is over: an own bar is cleared, a line stays for the next pass.
    pub(super) fn done(&self) {
        if let PassBar::Own(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Deref for PassBar {
    type Target = ProgressBar;
    fn deref(&self) -> &ProgressBar {
        match self {
            PassBar::Own(b) | PassBar::Line(b) => b,
        }
    }
}

fn progress_bar(show: bool, total: u64, what: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    crate::progress::bytes_bar(Some(total), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_line_is_reused_by_both_passes_and_outlives_them() {
        let line = ProgressBar::hidden();
        line.set_prefix("rpi1");
        let job = FlashJob {
            image: "i".into(),
            bmap: None,
            target: "t".into(),
            target_is_file: true,
            create_mode: None,
            image_size: None,
            verify: true,
            progress: true,
            line: Some(line.clone()),
            corrupt_after_write: None,
            throttle: None,
        };
        let bar = PassBar::new(&job, 100, "writing");
        bar.inc(100);
        bar.done();
        assert!(!line.is_finished(), "the caller ends the line");
        let bar = PassBar::new(&job, 50, "verifying");
        assert_eq!((line.position(), line.length()), (0, Some(50)));
        assert_eq!(line.message(), "rpi1 verifying");
        drop(bar);
        assert_eq!(PassBar::new(&job, 1, "writing").message(), "rpi1 writing  ");
    }
}
