//! The block map itself: its geometry, its ranges, and the digests that vouch for them.

use std::fs::File;
use std::io;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::BLOCK_SIZE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    /// Format 1.3 only; read, never written.
    Sha1,
    Sha256,
    Sha512,
}

impl ChecksumType {
    pub(super) fn name(self) -> &'static str {
        match self {
            ChecksumType::Sha1 => "sha1",
            ChecksumType::Sha256 => "sha256",
            ChecksumType::Sha512 => "sha512",
        }
    }

    pub(super) fn hex_len(self) -> usize {
        match self {
            ChecksumType::Sha1 => 40,
            ChecksumType::Sha256 => 64,
            ChecksumType::Sha512 => 128,
        }
    }
}

/// A running hash of whichever type a bmap uses.
#[derive(Clone)]
pub enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(kind: ChecksumType) -> Hasher {
        match kind {
            ChecksumType::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumType::Sha256 => Hasher::Sha256(Sha256::new()),
            ChecksumType::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Sha1(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// Blocks `first..=last`, with the lower-case hex checksum of their bytes (the last block of
/// the image counts only up to the image size), if the bmap has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmapRange {
    pub first: u64,
    pub last: u64,
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bmap {
    pub image_size: u64,
    pub block_size: u64,
    pub blocks_count: u64,
    pub mapped_blocks: u64,
    pub checksum_type: ChecksumType,
    /// Sorted, non-overlapping, inside the image.
    pub ranges: Vec<BmapRange>,
}

impl Bmap {
    /// Byte span `[start, end)` of a range, clipped to the image size.
    pub fn byte_span(&self, r: &BmapRange) -> (u64, u64) {
        let start = r.first * self.block_size;
        let end = ((r.last + 1) * self.block_size).min(self.image_size);
        (start, end)
    }

    /// Bytes that a flash with this map writes.
    pub fn mapped_bytes(&self) -> u64 {
        self.ranges
            .iter()
            .map(|r| {
                let (s, e) = self.byte_span(r);
                e - s
            })
            .sum()
    }

    /// A map of an image of `size` bytes with no ranges yet, in the format we write.
    pub(super) fn empty(size: u64) -> Bmap {
        Bmap {
            image_size: size,
            block_size: BLOCK_SIZE,
            blocks_count: size.div_ceil(BLOCK_SIZE),
            mapped_blocks: 0,
            checksum_type: ChecksumType::Sha256,
            ranges: Vec::new(),
        }
    }

    /// The digest of range `r`'s bytes in `file`, read through `buf`.
    pub(crate) fn hash_range(
        &self,
        file: &File,
        r: &BmapRange,
        buf: &mut [u8],
    ) -> io::Result<String> {
        let (start, end) = self.byte_span(r);
        let mut h = Hasher::new(self.checksum_type);
        let mut off = start;
        while off < end {
            let n = (end - off).min(buf.len() as u64) as usize;
            read_exact_at(file, &mut buf[..n], off)?;
            h.update(&buf[..n]);
            off += n as u64;
        }
        Ok(h.finish_hex())
    }
}

pub(super) fn read_exact_at(file: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// The last range of an image stops at its size, not at the end of its block.
    #[test]
    fn spans_are_clipped_to_the_image_and_hashed_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        let f = crate::bmap::scratch_file(&path);
        f.write_all_at(&[7u8; 4096 + 100], 0).unwrap();
        let mut b = Bmap::empty(4096 + 100);
        assert_eq!(b.blocks_count, 2);
        b.ranges.push(BmapRange {
            first: 0,
            last: 1,
            checksum: None,
        });
        assert_eq!(b.byte_span(&b.ranges[0]), (0, 4196));
        assert_eq!(b.mapped_bytes(), 4196);
        let mut h = Hasher::new(ChecksumType::Sha256);
        h.update(&[7u8; 4196]);
        let mut buf = vec![0u8; 1000];
        assert_eq!(
            b.hash_range(&f, &b.ranges[0], &mut buf).unwrap(),
            h.finish_hex()
        );
        assert_eq!(ChecksumType::Sha1.hex_len(), 40);
        assert_eq!(ChecksumType::Sha512.name(), "sha512");
    }
}
