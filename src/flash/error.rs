//! What can go wrong in a flash, each saying which file or card and where.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::source::SourceError;

#[derive(Debug, Error)]
pub enum FlashError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{path}: cannot read the image")]
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
    #[error("{path}: {op} failed at offset {offset}")]
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
    #[error("{path}: the worker writing it stopped unexpectedly; the target is incomplete")]
    Worker { path: PathBuf },
    #[error("interrupted while verifying: {path} was written completely but not verified")]
    VerifyInterrupted { path: PathBuf },
}
