//! What can go wrong making, reading or checking a block map.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BmapError {
    #[error("{path}: cannot read")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("not a valid bmap file: {0}")]
    Invalid(String),
    /// The XML itself is broken (quick-xml's verdict); `line` counts from 1.
    #[error("not a valid bmap file: malformed XML on line {line}")]
    Xml {
        line: usize,
        #[source]
        source: XmlCause,
    },
    #[error("bmap format version {0} is not supported (this tool reads 1.x and 2.x)")]
    Version(String),
    #[error("bmap checksum type '{0}' is not supported (sha1, sha256 and sha512 are)")]
    ChecksumType(String),
    #[error("the bmap file is corrupt: its BmapFileChecksum is {stored} but its contents hash to {computed}")]
    FileChecksum { stored: String, computed: String },
    #[error("blocks {first}-{last} do not match the bmap's checksum (expected {expected}, got {actual})")]
    Mismatch {
        first: u64,
        last: u64,
        expected: String,
        actual: String,
    },
    #[error("byte {offset} holds data outside every range of the bmap")]
    Unmapped { offset: u64 },
    #[error("the image has {actual} bytes, the bmap says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("reading the block map {path}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<BmapError>,
    },
}

/// quick-xml's error, shown once: its message already includes its own cause, so it is
/// not offered again as a source (the chain would print it twice).
#[derive(Debug)]
pub struct XmlCause(pub quick_xml::Error);

impl fmt::Display for XmlCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for XmlCause {}
