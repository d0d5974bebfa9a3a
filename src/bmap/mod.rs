//! Block maps in bmaptool's XML format (version 2.0 written; 1.x–2.x read).
//!
//! A block map lists the blocks of an image that hold data; everything else is "don't care"
//! and need not be written to the card. Each range carries a SHA-256 of its bytes so a flash
//! can check both the image it reads and the card it wrote. Older formats, as bmaptool reads
//! them: 1.0–1.2 have no digests, 1.3 has SHA-1 ones (`sha1` attributes, `BmapFileSHA1`),
//! 1.4 and 2.x name their type in `ChecksumType` (`chksum`, `BmapFileChecksum`).
//!
//! `model.rs` is the map itself and its digests, `map.rs` makes one from a sparse file,
//! `check.rs` checks a file against one, `write.rs` writes the XML and `parse.rs` reads it
//! back (through `xml.rs`, the part of a bmap file that quick-xml hands us).

mod check;
mod error;
mod map;
mod model;
mod parse;
mod write;
mod xml;

#[cfg(test)]
mod bmaptool_tests;

/// A new, empty read-write file at `path`, for tests to lay an image out in.
#[cfg(test)]
fn scratch_file(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

pub use error::{BmapError, XmlCause};
pub use model::{Bmap, BmapRange, ChecksumType, Hasher};

/// The block size we write; bmaptool uses the file system's, which is 4096 in practice.
pub const BLOCK_SIZE: u64 = 4096;

/// Build maps cut their ranges at every 4 MiB, so a node's map can reuse the digests of
/// every chunk its patch did not touch.
pub const CHUNK_BLOCKS: u64 = 1024;
