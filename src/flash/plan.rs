//! What to write: the image's ranges (the bmap's, or the whole image) with the checksums
//! they must have, cut into chunks of at most [`CHUNK`] bytes.

use std::path::Path;

use crate::bmap::{Bmap, ChecksumType};

use super::{FlashError, CHUNK};

/// A range to write: `[start, end)` in bytes and the checksum it must have, if known.
pub(super) struct Span {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) first_block: u64,
    pub(super) last_block: u64,
    pub(super) expected: Option<String>,
}

#[derive(Clone, Copy)]
pub(super) struct Chunk {
    pub(super) span: usize,
    pub(super) off: u64,
    pub(super) len: usize,
    /// The last chunk of its span: the span's hash is complete after it.
    pub(super) last: bool,
}

/// The ranges to write and the hash they are checked with: the bmap's (which must describe
/// an image of `size` bytes), or the whole image hashed with SHA-256.
pub(super) fn spans(
    image: &Path,
    bmap: Option<&Bmap>,
    size: u64,
) -> Result<(Vec<Span>, ChecksumType), FlashError> {
    let Some(b) = bmap else {
        let whole = Span {
            start: 0,
            end: size,
            first_block: 0,
            last_block: size.div_ceil(4096).saturating_sub(1),
            expected: None,
        };
        return Ok((vec![whole], ChecksumType::Sha256));
    };
    if size != b.image_size {
        return Err(FlashError::SizeMismatch {
            path: image.to_owned(),
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
    Ok((spans, b.checksum_type))
}

pub(super) fn plan(spans: &[Span]) -> Vec<Chunk> {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn without_a_bmap_the_whole_image_is_one_span() {
        let (s, kind) = spans(Path::new("x.img"), None, 10_000).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].start, s[0].end, s[0].last_block), (0, 10_000, 2));
        assert_eq!(kind, ChecksumType::Sha256);
    }
}
