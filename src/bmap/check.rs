//! Checking a file against a map: its size, every range's digest, and zeros elsewhere.

use std::fs::File;
use std::path::Path;

use super::model::{read_exact_at, Bmap};
use super::BmapError;
use crate::io::sparse::data_ranges;

impl Bmap {
    /// Checks that `file` is the image this map describes: its size, every range's digest,
    /// and zeros everywhere else (holes are not read).
    pub fn check_file(&self, file: &File, path: &Path) -> Result<(), BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let size = file.metadata().map_err(io_err)?.len();
        if size != self.image_size {
            return Err(BmapError::Size {
                expected: self.image_size,
                actual: size,
            });
        }
        let mut buf = vec![0u8; 1 << 20];
        for r in &self.ranges {
            let Some(expected) = &r.checksum else {
                continue;
            };
            let actual = self.hash_range(file, r, &mut buf).map_err(io_err)?;
            if &actual != expected {
                return Err(BmapError::Mismatch {
                    first: r.first,
                    last: r.last,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        self.check_unmapped_zero(file, path, size, &mut buf)
    }

    /// Data the map does not cover must be zeros, or a flash would lose it.
    fn check_unmapped_zero(
        &self,
        file: &File,
        path: &Path,
        size: u64,
        buf: &mut [u8],
    ) -> Result<(), BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let mut mapped = self.ranges.iter().map(|r| self.byte_span(r)).peekable();
        for (mut start, end) in data_ranges(file, size).map_err(io_err)? {
            while start < end {
                while mapped.peek().is_some_and(|m| m.1 <= start) {
                    mapped.next();
                }
                let stop = match mapped.peek() {
                    Some(&(ms, me)) if ms <= start => {
                        start = me.min(end);
                        continue;
                    }
                    Some(&(ms, _)) => ms.min(end),
                    None => end,
                };
                let mut off = start;
                while off < stop {
                    let n = (stop - off).min(buf.len() as u64) as usize;
                    read_exact_at(file, &mut buf[..n], off).map_err(io_err)?;
                    if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                        return Err(BmapError::Unmapped {
                            offset: off + i as u64,
                        });
                    }
                    off += n as u64;
                }
                start = stop;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn names_the_size_a_digest_and_the_first_unmapped_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        let f = crate::bmap::scratch_file(&path);
        f.set_len(16 << 20).unwrap();
        f.write_all_at(&[1u8; 100], 4 << 20).unwrap();
        f.sync_all().unwrap();
        let map = Bmap::from_sparse_file(&path).unwrap();
        map.check_file(&f, &path).unwrap();
        // A byte written outside every range.
        f.write_all_at(&[5u8], (12 << 20) + 3).unwrap();
        let err = map.check_file(&f, &path).unwrap_err();
        assert!(
            matches!(err, BmapError::Unmapped { offset } if offset == (12 << 20) + 3),
            "{err}"
        );
        // A changed byte inside a range.
        f.write_all_at(&[0u8], (12 << 20) + 3).unwrap();
        f.write_all_at(&[2u8], (4 << 20) + 1).unwrap();
        let err = map.check_file(&f, &path).unwrap_err();
        assert!(matches!(err, BmapError::Mismatch { .. }), "{err}");
        f.set_len(17 << 20).unwrap();
        let err = map.check_file(&f, &path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "the image has {} bytes, the bmap says {}",
                17 << 20,
                16 << 20
            )
        );
    }
}
