//! Progress for the write and verify passes: a bar (or none) and a counter that updates it
//! in steps of a MiB.

use indicatif::ProgressBar;

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

pub(super) fn progress_bar(show: bool, total: u64, what: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    crate::progress::bytes_bar(Some(total), what)
}
