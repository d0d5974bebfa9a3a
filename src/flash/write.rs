//! The write pass: image ranges onto the target, each range hashed on the way and held
//! against the bmap's checksum, then the stream's end checked and the target synced.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::bmap::{ChecksumType, Hasher};

use super::input::Input;
use super::pipeline::pipeline;
use super::plan::{Chunk, Span};
use super::progress::{PassBar, Ticker};
use super::target::{create_with_mode, Target};
use super::throttle::Throttle;
use super::{FlashError, FlashJob};

/// What the write pass leaves for the report and for verification.
pub(super) struct Written {
    /// Each span's hash as written, in span order.
    pub(super) hashes: Vec<Option<String>>,
    pub(super) direct_io: bool,
    pub(super) time: Duration,
}

/// Writes every chunk of `chunks` from the image onto the target.
pub(super) fn write(
    job: &FlashJob,
    size: u64,
    spans: &[Span],
    chunks: &[Chunk],
    kind: ChecksumType,
    cancel: &AtomicBool,
) -> Result<Written, FlashError> {
    let mut target = open_target(job, size)?;
    let t0 = Instant::now();
    let total: u64 = spans.iter().map(|s| s.end - s.start).sum();
    let bar = PassBar::new(job, total, "writing");
    let mut input = Input::open(&job.image)?;
    let mut hashes: Vec<Option<String>> = vec![None; spans.len()];
    let mut hasher: Option<Hasher> = None;
    let mut ticker = Ticker::new(&bar);
    let mut throttle = job.throttle.map(Throttle::new);
    pipeline(
        chunks,
        cancel,
        &job.target,
        |c, buf| input.read_at(c.off, buf),
        |c, buf| {
            let h = hasher.get_or_insert_with(|| Hasher::new(kind));
            h.update(buf);
            if c.last {
                let sum = hasher.take().map(Hasher::finish_hex).unwrap_or_default();
                check_span(job, &spans[c.span], &sum)?;
                hashes[c.span] = Some(sum);
            }
            target.write_at(buf, c.off)?;
            if let Some(t) = &mut throttle {
                t.wrote(buf.len() as u64);
            }
            ticker.add(buf.len() as u64);
            Ok(())
        },
    )?;
    drop(ticker);
    // Rate limiting may have skipped the last frames: the full bar is shown once.
    bar.force_draw();
    // The stream must end where the image does, its trailer checked: a decoder only reports
    // a bad checksum or trailing garbage when asked for the bytes after the last.
    input.finish(size)?;
    if job.target_is_file {
        target.set_len(size)?;
    }
    target.sync()?;
    bar.done();
    Ok(Written {
        hashes,
        direct_io: target.mostly_direct,
        time: t0.elapsed(),
    })
}

/// Creates the target file if asked, opens the target, and (for a card) makes sure the
/// image fits.
fn open_target(job: &FlashJob, size: u64) -> Result<Target, FlashError> {
    if let Some(mode) = job.create_mode {
        create_with_mode(&job.target, mode)?;
    }
    let target = Target::open_write(&job.target, job.target_is_file)?;
    if !job.target_is_file {
        // sysfs said the card is big enough; the kernel's answer on the open device decides.
        let have = crate::blockdev::device_size(&target.file)
            .map_err(|source| target.err("BLKGETSIZE64", 0, source))?;
        if have < size {
            return Err(FlashError::TooSmall {
                path: job.target.clone(),
                size: have,
                needed: size,
            });
        }
    }
    Ok(target)
}

/// A span's hash must be the bmap's, when the bmap gives one.
fn check_span(job: &FlashJob, s: &Span, sum: &str) -> Result<(), FlashError> {
    match &s.expected {
        Some(exp) if !exp.eq_ignore_ascii_case(sum) => Err(FlashError::BmapMismatch {
            path: job.image.clone(),
            first: s.first_block,
            last: s.last_block,
            expected: exp.clone(),
            actual: sum.to_owned(),
        }),
        _ => Ok(()),
    }
}
