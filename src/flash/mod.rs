//! Writing an image to a card and proving it arrived: the orchestration behind `flash`.
//!
//! The image is cut into chunks of at most [`CHUNK`] bytes inside the ranges to write (the
//! bmap's ranges, or the whole image). A reader thread fills page-aligned buffers (from the
//! image, or from the card when verifying) while this thread hashes and writes (or hashes and
//! compares), so decompression and hashing run on different cores. Each range's SHA-256 is
//! taken while writing; verification re-reads the card past the page cache and compares range
//! by range, then narrows a mismatch to its first byte by re-reading image and card.
//! [`flash_many`] runs several such jobs at once, one worker per target.

mod alignbuf;
mod error;
mod input;
mod many;
mod pipeline;
mod plan;
mod progress;
mod size;
mod target;
mod throttle;
mod verify;
mod write;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::bmap::Bmap;

pub use alignbuf::AlignedBuf;
pub use error::FlashError;
pub use many::{flash_many, Outcome};
pub use size::image_size;

/// Transfer size: large enough for full-speed sequential I/O, small enough for three of them
/// to sit in memory.
pub const CHUNK: usize = 4 << 20;
/// Hidden test seam: flip the byte at this offset of the target between write and verify.
pub const ENV_CORRUPT_AFTER_WRITE: &str = "CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE";
/// Hidden test seam, with several targets: only the target at this path is corrupted.
pub const ENV_CORRUPT_TARGET: &str = "CLEM_IMAGE_TEST_CORRUPT_TARGET";
/// Hidden bench seam: hold each target's writes to this many bytes per second.
pub const ENV_THROTTLE: &str = "CLEM_IMAGE_TEST_THROTTLE_BPS";

/// What to flash where.
#[derive(Debug)]
pub struct FlashJob {
    pub image: PathBuf,
    pub bmap: Option<Bmap>,
    pub target: PathBuf,
    /// A regular file is cut or extended to the image size; a block device is left as is.
    pub target_is_file: bool,
    /// Create the target file, which must not exist yet, with these permission bits (the
    /// image's), whatever the umask.
    pub create_mode: Option<u32>,
    /// The image's uncompressed size when the caller already has it ([`image_size`]).
    pub image_size: Option<u64>,
    pub verify: bool,
    pub progress: bool,
    /// This target's line on a board of several (its prefix names the target): both passes
    /// draw on it and leave it for the caller to end. When set, `progress` is not used.
    pub line: Option<ProgressBar>,
    /// Test seam, see [`ENV_CORRUPT_AFTER_WRITE`].
    pub corrupt_after_write: Option<u64>,
    /// Bench seam, see [`ENV_THROTTLE`].
    pub throttle: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct FlashReport {
    pub image_size: u64,
    pub bytes_written: u64,
    pub verified: bool,
    /// SHA-256 of the whole image, when the whole image was written (no bmap).
    pub image_sha256: Option<String>,
    pub direct_io: bool,
    pub write_time: Duration,
    pub verify_time: Duration,
}

/// Flashes and (unless told not to) verifies. `cancel` is polled between chunks.
pub fn flash(job: &FlashJob, cancel: &AtomicBool) -> Result<FlashReport, FlashError> {
    let size = match job.image_size {
        Some(n) => n,
        None => image_size(&job.image)?,
    };
    let (spans, kind) = plan::spans(&job.image, job.bmap.as_ref(), size)?;
    let chunks = plan::plan(&spans);
    let total: u64 = spans.iter().map(|s| s.end - s.start).sum();

    let written = write::write(job, size, &spans, &chunks, kind, cancel)?;
    if let Some(off) = job.corrupt_after_write {
        target::corrupt_byte(&job.target, off)?;
    }
    let mut report = FlashReport {
        image_size: size,
        bytes_written: total,
        verified: false,
        image_sha256: if job.bmap.is_none() {
            written.hashes[0].clone()
        } else {
            None
        },
        direct_io: written.direct_io,
        write_time: written.time,
        verify_time: Duration::ZERO,
    };
    if job.verify {
        let pass = verify::Pass {
            job,
            spans: &spans,
            chunks: &chunks,
            kind,
            hashes: &written.hashes,
        };
        report.verify_time = pass.run(cancel)?;
        report.verified = true;
    }
    Ok(report)
}
