//! Raw bytes compared, for images whose tables and listings match: "identical" means
//! byte for byte. Ranges that are holes in both images are equal without being read.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::report::ByteDiff;
use super::{DiffError, Side};
use crate::inspect::Report;
use crate::io::sparse::data_ranges;

/// The first differing byte of `a` (listed as `rep_a`) and `b`, and the partition of `a`
/// holding it; `None` when the images are equal.
pub(super) fn first_byte_diff(
    (a, rep_a): (Side, &Report),
    b: Side,
) -> Result<Option<ByteDiff>, DiffError> {
    let Some(offset) = first_difference(a, b)? else {
        return Ok(None);
    };
    let partition = rep_a
        .partitions
        .iter()
        .map(|p| &p.info.partition)
        .find(|p| (p.start..p.start + p.size).contains(&offset))
        .map(|p| p.number);
    Ok(Some(ByteDiff { offset, partition }))
}

/// One image's raw bytes: the file, its length and where it holds data.
struct Opened<'a> {
    side: Side<'a>,
    file: File,
    len: u64,
    ranges: Vec<(u64, u64)>,
}

impl<'a> Opened<'a> {
    fn open(side: Side<'a>) -> Result<Self, DiffError> {
        let io_err = |source| side.io_err(source);
        let file = File::open(side.raw.path()).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let ranges = data_ranges(&file, len).map_err(io_err)?;
        Ok(Opened {
            side,
            file,
            len,
            ranges,
        })
    }

    fn read(&self, buf: &mut [u8], at: u64) -> Result<(), DiffError> {
        self.file
            .read_exact_at(buf, at)
            .map_err(|e| self.side.io_err(e))
    }
}

impl Side<'_> {
    fn io_err(&self, source: std::io::Error) -> DiffError {
        DiffError::Io {
            path: self.name.to_owned(),
            source,
        }
    }
}

/// The first offset where two raw images differ (the shorter one's end, if lengths do).
fn first_difference(a: Side, b: Side) -> Result<Option<u64>, DiffError> {
    let (a, b) = (Opened::open(a)?, Opened::open(b)?);
    if a.len != b.len {
        return Ok(Some(a.len.min(b.len)));
    }
    const CHUNK: usize = 1 << 20;
    let (mut ba, mut bb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    for (s, e) in merged(a.ranges.iter().chain(&b.ranges).copied().collect()) {
        let mut at = s;
        while at < e {
            let k = ((e - at) as usize).min(CHUNK);
            a.read(&mut ba[..k], at)?;
            b.read(&mut bb[..k], at)?;
            if let Some(i) = ba[..k].iter().zip(&bb[..k]).position(|(x, y)| x != y) {
                return Ok(Some(at + i as u64));
            }
            at += k as u64;
        }
    }
    Ok(None)
}

/// Byte ranges sorted, overlapping ones joined.
fn merged(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in ranges {
        match out.last_mut() {
            Some((_, end)) if s <= *end => *end = (*end).max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_when_they_touch_or_overlap() {
        assert_eq!(
            merged(vec![(10, 20), (0, 5), (5, 8), (15, 30), (40, 41)]),
            [(0, 8), (10, 30), (40, 41)]
        );
    }
}
