//! A write-rate ceiling for one target: the bench's stand-in for a card's write speed, so that
//! timing several targets at once against one means something on a machine whose disk is far
//! faster than a card (no rate-limited block device can be made here without root trouble).

use std::time::{Duration, Instant};

/// Holds a writer to `rate` bytes per second, measured from its first byte.
pub(super) struct Throttle {
    rate: u64,
    start: Instant,
    bytes: u64,
}

impl Throttle {
    pub(super) fn new(rate: u64) -> Throttle {
        Throttle {
            rate: rate.max(1),
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// How long to wait after `n` more bytes so the average stays at the rate.
    fn delay_after(&mut self, n: u64, elapsed: Duration) -> Duration {
        self.bytes += n;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        due.saturating_sub(elapsed)
    }

    /// Counts `n` bytes written and sleeps as long as the rate asks.
    pub(super) fn wrote(&mut self, n: u64) {
        let wait = self.delay_after(n, self.start.elapsed());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_keeps_the_average_at_the_rate() {
        let mut t = Throttle::new(1000);
        // 500 bytes at 1000 B/s are due after half a second.
        assert_eq!(
            t.delay_after(500, Duration::from_millis(100)),
            Duration::from_millis(400)
        );
        // Behind schedule: no wait.
        assert_eq!(t.delay_after(500, Duration::from_secs(2)), Duration::ZERO);
        let start = Instant::now();
        let mut real = Throttle::new(10_000);
        real.wrote(1000);
        assert!(start.elapsed() >= Duration::from_millis(100));
    }
}
