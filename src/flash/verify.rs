//! The verify pass: the card read back past the page cache, range by range against the
//! hashes taken while writing, and a bad range narrowed to its first differing byte.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::bmap::{ChecksumType, Hasher};

use super::alignbuf::AlignedBuf;
use super::input::Input;
use super::pipeline::pipeline;
use super::plan::{Chunk, Span};
use super::progress::{PassBar, Ticker};
use super::target::Target;
use super::{FlashError, FlashJob, CHUNK};

/// One verification of what the write pass wrote.
pub(super) struct Pass<'a> {
    pub(super) job: &'a FlashJob,
    pub(super) spans: &'a [Span],
    pub(super) chunks: &'a [Chunk],
    pub(super) kind: ChecksumType,
    /// Each span's hash as written.
    pub(super) hashes: &'a [Option<String>],
}

impl Pass<'_> {
    /// Reads the card back; returns how long that took.
    pub(super) fn run(&self, cancel: &AtomicBool) -> Result<Duration, FlashError> {
        let (job, spans) = (self.job, self.spans);
        let t1 = Instant::now();
        let total: u64 = spans.iter().map(|s| s.end - s.start).sum();
        let bar = PassBar::new(job, total, "verifying");
        let mut reader = Target::open_read(&job.target)?;
        let mut ticker = Ticker::new(&bar);
        let mut hasher: Option<Hasher> = None;
        let mut bad_span: Option<usize> = None;
        let checked = pipeline(
            self.chunks,
            cancel,
            &job.target,
            |c, buf| reader.read_at(c.off, buf),
            |c, buf| {
                let h = hasher.get_or_insert_with(|| Hasher::new(self.kind));
                h.update(buf);
                ticker.add(buf.len() as u64);
                if c.last {
                    let sum = hasher.take().map(Hasher::finish_hex).unwrap_or_default();
                    if self.hashes[c.span].as_deref() != Some(sum.as_str()) {
                        // Stop at the first bad range: that is the one to report. The offset
                        // is narrowed down below, once the reader is free again.
                        bad_span = Some(c.span);
                        return Err(FlashError::Verify {
                            path: job.target.clone(),
                            image: job.image.clone(),
                            offset: spans[c.span].start,
                        });
                    }
                }
                Ok(())
            },
        );
        drop(ticker);
        if checked.is_ok() {
            bar.force_draw();
        }
        bar.done();
        match (checked, bad_span) {
            (Ok(()), _) => Ok(t1.elapsed()),
            (
                Err(FlashError::Verify {
                    path,
                    image,
                    offset,
                }),
                Some(i),
            ) => {
                let s = &spans[i];
                let first = first_difference(&job.image, &mut reader, s.start, s.end)?;
                // A range whose hash differs must differ somewhere; else keep the range start.
                Err(FlashError::Verify {
                    path,
                    image,
                    offset: first.unwrap_or(offset),
                })
            }
            (Err(FlashError::Interrupted { path }), _) => {
                Err(FlashError::VerifyInterrupted { path })
            }
            (Err(e), _) => Err(e),
        }
    }
}

/// Re-reads `[start, end)` from image and target and returns the first differing offset.
fn first_difference(
    image: &Path,
    target: &mut Target,
    start: u64,
    end: u64,
) -> Result<Option<u64>, FlashError> {
    let mut input = Input::open(image)?;
    let mut a = AlignedBuf::new(CHUNK);
    let mut b = AlignedBuf::new(CHUNK);
    let mut off = start;
    while off < end {
        let len = (end - off).min(CHUNK as u64) as usize;
        input.read_at(off, &mut a[..len])?;
        target.read_at(off, &mut b[..len])?;
        if let Some(p) = a[..len].iter().zip(&b[..len]).position(|(x, y)| x != y) {
            return Ok(Some(off + p as u64));
        }
        off += len as u64;
    }
    Ok(None)
}
