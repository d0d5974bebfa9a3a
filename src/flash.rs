//! Writing an image to a card and proving it arrived: the orchestration behind `flash`.
//!
//! The image is cut into chunks of at most [`CHUNK`] bytes inside the ranges to write (the
//! bmap's ranges, or the whole image). A reader thread fills page-aligned buffers (from the
//! image, or from the card when verifying) while this thread hashes and writes (or hashes and
//! compares), so decompression and hashing run on different cores. Each range's SHA-256 is
//! taken while writing; verification re-reads the card past the page cache and compares range
//! by range, then narrows a mismatch to its first byte by re-reading image and card.

use std::alloc::{self, Layout};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use thiserror::Error;

use crate::bmap::{Bmap, ChecksumType, Hasher};
use crate::progress::StreamBar;
use crate::source::{xz_index, Compression, Source, SourceError};

/// Transfer size: large enough for full-speed sequential I/O, small enough for three of them
/// to sit in memory.
pub const CHUNK: usize = 4 << 20;
/// Alignment for O_DIRECT buffers, offsets and lengths (covers 512 and 4096 sector sizes).
const ALIGN: usize = 4096;
/// Hidden test seam: flip the byte at this offset of the target between write and verify.
pub const ENV_CORRUPT_AFTER_WRITE: &str = "CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE";

#[derive(Debug, Error)]
pub enum FlashError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{path}: cannot read the image: {source}")]
    Image { path: PathBuf, source: io::Error },
    #[error("{path}: the image ends at byte {at}, but {expected} bytes were expected")]
    ImageShort {
        path: PathBuf,
        at: u64,
        expected: u64,
    },
    #[error("{path}: the image goes on past the {expected} bytes expected")]
    ImageLong { path: PathBuf, expected: u64 },
    #[error("{path}: the image is {actual} bytes but the bmap describes {expected} bytes; the bmap belongs to another image")]
    SizeMismatch {
        path: PathBuf,
        actual: u64,
        expected: u64,
    },
    #[error("{path}: cannot tell the image's size from its xz index ({detail}); give a --bmap")]
    UnknownSize { path: PathBuf, detail: String },
    #[error("{path}: blocks {first}-{last} do not match the bmap's checksum (expected {expected}, got {actual}); the bmap belongs to another image or the image is damaged. The target is incomplete")]
    BmapMismatch {
        path: PathBuf,
        first: u64,
        last: u64,
        expected: String,
        actual: String,
    },
    #[error("{path}: {op} failed at offset {offset}: {source}")]
    Target {
        path: PathBuf,
        op: &'static str,
        offset: u64,
        source: io::Error,
    },
    #[error("{path} is too small: {size} bytes, the image needs {needed} bytes")]
    TooSmall {
        path: PathBuf,
        size: u64,
        needed: u64,
    },
    #[error("verification failed: {path} differs from the image {image} at byte offset {offset} (0x{offset:x}); the written card is not usable")]
    Verify {
        path: PathBuf,
        image: PathBuf,
        offset: u64,
    },
    #[error("interrupted: {path} is incomplete and will not boot; flash it again")]
    Interrupted { path: PathBuf },
    #[error("interrupted while verifying: {path} was written completely but not verified")]
    VerifyInterrupted { path: PathBuf },
}

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
    /// Test seam, see [`ENV_CORRUPT_AFTER_WRITE`].
    pub corrupt_after_write: Option<u64>,
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

/// The image's uncompressed size: its length, the sum of the sizes in its xz index, or (for
/// gzip, zstd, bzip2 and zip, whose headers do not say it reliably) the length of the
/// decoded stream. Decoding it all once costs time, but also proves the stream whole
/// before a single byte reaches the card.
pub fn image_size(path: &Path) -> Result<u64, FlashError> {
    let mut src = Source::open(path)?;
    match src.compression() {
        Compression::None => Ok(src.input_len()),
        Compression::Xz => {
            let f = File::open(path).map_err(|source| FlashError::Image {
                path: path.to_owned(),
                source,
            })?;
            xz_index::uncompressed_size(&f).map_err(|detail| FlashError::UnknownSize {
                path: path.to_owned(),
                detail,
            })
        }
        _ => {
            // This pass can take minutes for a large image: show it (a terminal only).
            let bar = StreamBar::new(src.expected_len(), "measuring");
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                match src.read_chunk(&mut buf) {
                    Ok(0) => {
                        bar.finish(total, "measured");
                        return Ok(total);
                    }
                    Ok(n) => total += n as u64,
                    Err(e) => {
                        bar.abandon();
                        return Err(e.into());
                    }
                }
                bar.set(total);
            }
        }
    }
}

/// A range to write: `[start, end)` in bytes and the checksum it must have, if known.
struct Span {
    start: u64,
    end: u64,
    first_block: u64,
    last_block: u64,
    expected: Option<String>,
}

#[derive(Clone, Copy)]
struct Chunk {
    span: usize,
    off: u64,
    len: usize,
    /// The last chunk of its span: the span's hash is complete after it.
    last: bool,
}

fn plan(spans: &[Span]) -> Vec<Chunk> {
    let mut out = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        let mut off = s.start;
        while off < s.end {
            let len = (s.end - off).min(CHUNK as u64) as usize;
            out.push(Chunk {
                span: i,
                off,
                len,
                last: off + len as u64 == s.end,
            });
            off += len as u64;
        }
    }
    out
}

/// Flashes and (unless told not to) verifies. `cancel` is polled between chunks.
pub fn flash(job: &FlashJob, cancel: &AtomicBool) -> Result<FlashReport, FlashError> {
    let size = match job.image_size {
        Some(n) => n,
        None => image_size(&job.image)?,
    };
    let (spans, kind) = match &job.bmap {
        Some(b) => {
            if size != b.image_size {
                return Err(FlashError::SizeMismatch {
                    path: job.image.clone(),
                    actual: size,
                    expected: b.image_size,
                });
            }
            let spans = b
                .ranges
                .iter()
                .map(|r| {
                    let (start, end) = b.byte_span(r);
                    Span {
                        start,
                        end,
                        first_block: r.first,
                        last_block: r.last,
                        expected: r.checksum.clone(),
                    }
                })
                .collect();
            (spans, b.checksum_type)
        }
        None => (
            vec![Span {
                start: 0,
                end: size,
                first_block: 0,
                last_block: size.div_ceil(4096).saturating_sub(1),
                expected: None,
            }],
            ChecksumType::Sha256,
        ),
    };
    let chunks = plan(&spans);
    let total: u64 = spans.iter().map(|s| s.end - s.start).sum();

    if let Some(mode) = job.create_mode {
        create_with_mode(&job.target, mode)?;
    }
    let mut target = Target::open_write(&job.target, job.target_is_file)?;
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
    let t0 = Instant::now();
    let bar = progress_bar(job.progress, total, "writing");
    let mut input = Input::open(&job.image)?;
    let mut hashes: Vec<Option<String>> = vec![None; spans.len()];
    let mut hasher: Option<Hasher> = None;
    let mut ticker = Ticker::new(&bar);
    pipeline(
        &chunks,
        cancel,
        &job.target,
        |c, buf| input.read_at(c.off, buf),
        |c, buf| {
            let h = hasher.get_or_insert_with(|| Hasher::new(kind));
            h.update(buf);
            if c.last {
                let sum = hasher.take().map(Hasher::finish_hex).unwrap_or_default();
                let s = &spans[c.span];
                if let Some(exp) = &s.expected {
                    if !exp.eq_ignore_ascii_case(&sum) {
                        return Err(FlashError::BmapMismatch {
                            path: job.image.clone(),
                            first: s.first_block,
                            last: s.last_block,
                            expected: exp.clone(),
                            actual: sum,
                        });
                    }
                }
                hashes[c.span] = Some(sum);
            }
            target.write_at(buf, c.off)?;
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
    bar.finish_and_clear();
    let write_time = t0.elapsed();
    let direct_io = target.mostly_direct;
    drop(target);

    if let Some(off) = job.corrupt_after_write {
        corrupt_byte(&job.target, off)?;
    }

    let mut report = FlashReport {
        image_size: size,
        bytes_written: total,
        verified: false,
        image_sha256: if job.bmap.is_none() {
            hashes[0].clone()
        } else {
            None
        },
        direct_io,
        write_time,
        verify_time: Duration::ZERO,
    };
    if !job.verify {
        return Ok(report);
    }

    let t1 = Instant::now();
    let bar = progress_bar(job.progress, total, "verifying");
    let mut reader = Target::open_read(&job.target)?;
    let mut ticker = Ticker::new(&bar);
    let mut hasher: Option<Hasher> = None;
    let mut bad_span: Option<usize> = None;
    let checked = pipeline(
        &chunks,
        cancel,
        &job.target,
        |c, buf| reader.read_at(c.off, buf),
        |c, buf| {
            let h = hasher.get_or_insert_with(|| Hasher::new(kind));
            h.update(buf);
            ticker.add(buf.len() as u64);
            if c.last {
                let sum = hasher.take().map(Hasher::finish_hex).unwrap_or_default();
                if hashes[c.span].as_deref() != Some(sum.as_str()) {
                    // Stop at the first bad range: that is the one to report. The offset is
                    // narrowed down below, once the reader is free again.
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
    bar.finish_and_clear();
    match (checked, bad_span) {
        (Ok(()), _) => {}
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
            return Err(FlashError::Verify {
                path,
                image,
                offset: first.unwrap_or(offset),
            });
        }
        (Err(FlashError::Interrupted { path }), _) => {
            return Err(FlashError::VerifyInterrupted { path })
        }
        (Err(e), _) => return Err(e),
    }
    report.verified = true;
    report.verify_time = t1.elapsed();
    Ok(report)
}

/// Creates `path` (it must not exist) with exactly `mode`'s permission bits: opened 0600,
/// which a umask can only narrow, then set with fchmod, which no umask touches, before any
/// byte of the image is in it.
fn create_with_mode(path: &Path, mode: u32) -> Result<(), FlashError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |op, source| FlashError::Target {
        path: path.to_owned(),
        op,
        offset: 0,
        source,
    };
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| err("create", e))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| err("chmod", e))
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

/// Runs `read` on a helper thread and `consume` on this one, chunk by chunk, in order, with
/// three buffers in flight. The first error from either side wins.
fn pipeline<R, C>(
    chunks: &[Chunk],
    cancel: &AtomicBool,
    target: &Path,
    mut read: R,
    mut consume: C,
) -> Result<(), FlashError>
where
    R: FnMut(&Chunk, &mut [u8]) -> Result<(), FlashError> + Send,
    C: FnMut(&Chunk, &[u8]) -> Result<(), FlashError>,
{
    let (full_tx, full_rx) = mpsc::sync_channel::<(Chunk, AlignedBuf)>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<AlignedBuf>();
    for _ in 0..3 {
        // Cannot fail: the receiver is alive.
        let _ = empty_tx.send(AlignedBuf::new(CHUNK));
    }
    let interrupted = || FlashError::Interrupted {
        path: target.to_owned(),
    };
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> Result<(), FlashError> {
            for c in chunks {
                if cancel.load(Ordering::Relaxed) {
                    return Ok(());
                }
                // A closed channel means the consumer stopped; its error is the one to report.
                let Ok(mut buf) = empty_rx.recv() else {
                    return Ok(());
                };
                read(c, &mut buf[..c.len])?;
                if full_tx.send((*c, buf)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        let mut result = Ok(());
        let mut done = 0usize;
        for (c, buf) in full_rx.iter() {
            if cancel.load(Ordering::Relaxed) {
                result = Err(interrupted());
                break;
            }
            if let Err(e) = consume(&c, &buf[..c.len]) {
                result = Err(e);
                break;
            }
            done += 1;
            let _ = empty_tx.send(buf);
        }
        // Unblock the producer if it waits for a buffer or for room in the channel.
        drop(full_rx);
        drop(empty_tx);
        let produced = producer.join().unwrap_or_else(|_| {
            Err(FlashError::Image {
                path: PathBuf::from("<reader thread>"),
                source: io::Error::other("the reader thread panicked"),
            })
        });
        result?;
        produced?;
        if done < chunks.len() {
            // The producer stopped early without an error: only cancellation does that.
            return Err(interrupted());
        }
        Ok(())
    })
}

/// Counts progress and updates the bar once per MiB, not per chunk or block.
struct Ticker<'a> {
    bar: &'a ProgressBar,
    pending: u64,
}

impl<'a> Ticker<'a> {
    fn new(bar: &'a ProgressBar) -> Self {
        Ticker { bar, pending: 0 }
    }
    fn add(&mut self, n: u64) {
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

fn progress_bar(show: bool, total: u64, what: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    crate::progress::bytes_bar(Some(total), what)
}

/// Image bytes by offset. Raw images are read in place (so a bmap skips holes for free);
/// compressed images are streamed forward and skipped parts are decoded and dropped.
enum Input {
    Raw { path: PathBuf, file: File },
    Stream { src: Source, pos: u64 },
}

impl Input {
    fn open(path: &Path) -> Result<Input, FlashError> {
        let src = Source::open(path)?;
        Ok(match src.compression() {
            Compression::None => Input::Raw {
                path: path.to_owned(),
                file: File::open(path).map_err(|source| FlashError::Image {
                    path: path.to_owned(),
                    source,
                })?,
            },
            _ => Input::Stream { src, pos: 0 },
        })
    }

    /// After the last range: a stream is decoded up to `size` and must end exactly there.
    fn finish(&mut self, size: u64) -> Result<(), FlashError> {
        let Input::Stream { src, pos } = self else {
            return Ok(());
        };
        let mut buf = vec![0u8; 1 << 20];
        while *pos < size {
            let n = (size - *pos).min(buf.len() as u64) as usize;
            fill(src, &mut buf[..n], *pos, size)?;
            *pos += n as u64;
        }
        match src.read_chunk(&mut buf[..1])? {
            0 => Ok(()),
            _ => Err(FlashError::ImageLong {
                path: src.path().to_owned(),
                expected: size,
            }),
        }
    }

    /// Fills `buf` from `off`; offsets must not go backwards for a stream.
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<(), FlashError> {
        match self {
            Input::Raw { path, file } => {
                let mut got = 0;
                while got < buf.len() {
                    match file.read_at(&mut buf[got..], off + got as u64) {
                        Ok(0) => {
                            return Err(FlashError::ImageShort {
                                path: path.clone(),
                                at: off + got as u64,
                                expected: off + buf.len() as u64,
                            })
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(source) => {
                            return Err(FlashError::Image {
                                path: path.clone(),
                                source,
                            })
                        }
                    }
                }
                Ok(())
            }
            Input::Stream { src, pos } => {
                debug_assert!(off >= *pos);
                while *pos < off {
                    let n = (off - *pos).min(buf.len() as u64) as usize;
                    fill(src, &mut buf[..n], *pos, off + n as u64)?;
                    *pos += n as u64;
                }
                fill(src, buf, off, off + buf.len() as u64)?;
                *pos += buf.len() as u64;
                Ok(())
            }
        }
    }
}

fn fill(src: &mut Source, buf: &mut [u8], at: u64, expected: u64) -> Result<(), FlashError> {
    let mut got = 0;
    while got < buf.len() {
        match src.read_chunk(&mut buf[got..])? {
            0 => {
                return Err(FlashError::ImageShort {
                    path: src.path().to_owned(),
                    at: at + got as u64,
                    expected,
                })
            }
            n => got += n,
        }
    }
    Ok(())
}

/// The card (or file) being written, with O_DIRECT when it takes it.
struct Target {
    path: PathBuf,
    file: File,
    direct: bool,
    /// O_DIRECT carried the bulk of the I/O (only a short tail, if anything, went cached).
    mostly_direct: bool,
}

impl Target {
    fn open_write(path: &Path, is_file: bool) -> Result<Target, FlashError> {
        // No truncation of a file: with a bmap, unmapped ranges of an existing file keep their
        // bytes. O_EXCL on a block device fails if the kernel has it mounted or claimed.
        let extra = if is_file { 0 } else { libc::O_EXCL };
        Target::open_with(path, true, extra, "open for writing")
    }

    fn open_read(path: &Path) -> Result<Target, FlashError> {
        let t = Target::open_with(path, false, 0, "open for verifying")?;
        if !t.direct {
            t.drop_cache();
        }
        Ok(t)
    }

    fn open_with(
        path: &Path,
        write: bool,
        extra: i32,
        op: &'static str,
    ) -> Result<Target, FlashError> {
        let options = |flags: i32| {
            let mut o = OpenOptions::new();
            if write {
                o.write(true).create(extra & libc::O_EXCL == 0);
            } else {
                o.read(true);
            }
            o.custom_flags(flags);
            o
        };
        let err = |source| FlashError::Target {
            path: path.to_owned(),
            op,
            offset: 0,
            source,
        };
        match options(extra | libc::O_DIRECT).open(path) {
            Ok(file) => Ok(Target {
                path: path.to_owned(),
                file,
                direct: true,
                mostly_direct: true,
            }),
            // tmpfs and some FUSE file systems refuse O_DIRECT at open.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(Target {
                path: path.to_owned(),
                file: options(extra).open(path).map_err(err)?,
                direct: false,
                mostly_direct: false,
            }),
            Err(source) => Err(err(source)),
        }
    }

    fn set_direct(&mut self, on: bool) {
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; only flag bits change.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            if fl >= 0 {
                let fl = if on {
                    fl | libc::O_DIRECT
                } else {
                    fl & !libc::O_DIRECT
                };
                libc::fcntl(fd, libc::F_SETFL, fl);
            }
        }
        self.direct = on;
    }

    fn give_up_direct(&mut self) {
        self.set_direct(false);
        self.mostly_direct = false;
    }

    /// Forgets cached pages so reads come from the medium (the fallback without O_DIRECT).
    fn drop_cache(&self) {
        // SAFETY: advisory call on a descriptor we own.
        unsafe {
            libc::posix_fadvise(self.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }

    fn write_at(&mut self, buf: &[u8], off: u64) -> Result<(), FlashError> {
        let aligned = off.is_multiple_of(ALIGN as u64) && buf.len().is_multiple_of(ALIGN);
        if self.direct && !aligned {
            // The tail of an image need not be sector-sized; write it through the cache
            // (the final fsync still covers it).
            self.set_direct(false);
        }
        match self.file.write_all_at(buf, off) {
            Ok(()) => Ok(()),
            // Some file systems accept O_DIRECT at open and refuse it on write.
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                self.give_up_direct();
                self.file
                    .write_all_at(buf, off)
                    .map_err(|source| self.err("write", off, source))
            }
            Err(source) => Err(self.err("write", off, source)),
        }
    }

    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<(), FlashError> {
        if self.direct && (!off.is_multiple_of(ALIGN as u64) || !buf.len().is_multiple_of(ALIGN)) {
            if off.is_multiple_of(ALIGN as u64) && buf.len() <= CHUNK {
                // O_DIRECT wants whole sectors: read a rounded-up length into an aligned
                // scratch buffer and keep the part asked for.
                let mut tmp = AlignedBuf::new(buf.len().next_multiple_of(ALIGN));
                let got = self.read_some(off, &mut tmp)?;
                if got < buf.len() {
                    return Err(self.err(
                        "read",
                        off + got as u64,
                        io::ErrorKind::UnexpectedEof.into(),
                    ));
                }
                buf.copy_from_slice(&tmp[..buf.len()]);
                return Ok(());
            }
            self.give_up_direct();
            self.drop_cache();
        }
        let got = match self.read_some(off, buf) {
            Err(FlashError::Target { source, .. })
                if self.direct && source.raw_os_error() == Some(libc::EINVAL) =>
            {
                self.give_up_direct();
                self.drop_cache();
                self.read_some(off, buf)?
            }
            r => r?,
        };
        if got < buf.len() {
            return Err(self.err(
                "read",
                off + got as u64,
                io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        Ok(())
    }

    fn read_some(&self, off: u64, buf: &mut [u8]) -> Result<usize, FlashError> {
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], off + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(self.err("read", off + got as u64, source)),
            }
        }
        Ok(got)
    }

    fn set_len(&self, len: u64) -> Result<(), FlashError> {
        self.file
            .set_len(len)
            .map_err(|source| self.err("resize", len, source))
    }

    fn sync(&self) -> Result<(), FlashError> {
        self.file
            .sync_all()
            .map_err(|source| self.err("fsync", 0, source))
    }

    fn err(&self, op: &'static str, offset: u64, source: io::Error) -> FlashError {
        FlashError::Target {
            path: self.path.clone(),
            op,
            offset,
            source,
        }
    }
}

fn corrupt_byte(path: &Path, off: u64) -> Result<(), FlashError> {
    let err = |op, source| FlashError::Target {
        path: path.to_owned(),
        op,
        offset: off,
        source,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| err("open (test seam)", e))?;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(off))
        .map_err(|e| err("seek (test seam)", e))?;
    f.read_exact(&mut b)
        .map_err(|e| err("read (test seam)", e))?;
    f.write_all_at(&[!b[0]], off)
        .map_err(|e| err("write (test seam)", e))?;
    f.sync_all().map_err(|e| err("fsync (test seam)", e))
}

/// A zeroed, page-aligned heap buffer, as O_DIRECT requires.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is plain owned memory with no thread affinity.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let len = len.max(ALIGN);
        let layout = Layout::from_size_align(len, ALIGN).expect("valid layout");
        // SAFETY: the layout has non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised bytes for the buffer's lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len, ALIGN).expect("valid layout");
        // SAFETY: allocated in `new` with this very layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn xz_size_comes_from_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.xz");
        let mut data = vec![0u8; 3 << 20];
        data[12345] = 7;
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&data).unwrap();
        let mut bytes = enc.finish().unwrap();
        // Two concatenated streams with padding count as one image.
        let copy = bytes.clone();
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&copy);
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(image_size(&p).unwrap(), 6 << 20);
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(image_size(&p).is_err());
    }

    #[test]
    fn plan_cuts_ranges_into_chunks() {
        let spans = [Span {
            start: 4096,
            end: 4096 + CHUNK as u64 + 10,
            first_block: 1,
            last_block: 1025,
            expected: None,
        }];
        let c = plan(&spans);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].off, c[0].len, c[0].last), (4096, CHUNK, false));
        assert_eq!((c[1].len, c[1].last), (10, true));
    }
}
