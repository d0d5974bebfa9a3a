//! Making a map: the data ranges of a sparse file, as block spans, each hashed; and deriving
//! a node's map from its base image's by rehashing only the chunks a patch touched.

use std::fs::File;
use std::io;
use std::path::Path;

use super::model::{Bmap, BmapRange};
use super::{BmapError, BLOCK_SIZE, CHUNK_BLOCKS};
use crate::io::sparse::{data_ranges, data_ranges_in};
use crate::io::tracked::Written;

/// Byte ranges of data as inclusive block spans, merged where they touch.
fn block_spans(ranges: &[(u64, u64)], blocks_count: u64) -> Vec<(u64, u64)> {
    let bs = BLOCK_SIZE;
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for &(data, hole) in ranges {
        let first = data / bs;
        let last = (hole.div_ceil(bs) - 1).min(blocks_count - 1);
        match spans.last_mut() {
            // Holes smaller than a block can leave neighbouring spans touching.
            Some(prev) if prev.1 + 1 >= first => prev.1 = prev.1.max(last),
            _ => spans.push((first, last)),
        }
    }
    spans
}

/// Spans cut at every chunk boundary.
fn split_at_chunks(spans: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(mut first, last) in spans {
        while first / CHUNK_BLOCKS != last / CHUNK_BLOCKS {
            let end = (first / CHUNK_BLOCKS + 1) * CHUNK_BLOCKS - 1;
            out.push((first, end));
            first = end + 1;
        }
        out.push((first, last));
    }
    out
}

impl Bmap {
    /// Maps the data of a sparse file (`io::sparse::data_ranges`) and hashes each range.
    ///
    /// On a file system without hole tracking the whole file is one range, which is still a
    /// correct (if unhelpful) map.
    pub fn from_sparse_file(path: &Path) -> Result<Bmap, BmapError> {
        Bmap::map_file(path, false)
    }

    /// Like [`Bmap::from_sparse_file`], with ranges cut at every [`CHUNK_BLOCKS`]: the map
    /// of a base image whose digests [`Bmap::derive`] reuses for its node images.
    pub fn chunked_from_file(path: &Path) -> Result<Bmap, BmapError> {
        Bmap::map_file(path, true)
    }

    fn map_file(path: &Path, chunked: bool) -> Result<Bmap, BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let size = file.metadata().map_err(io_err)?.len();
        let ranges = data_ranges(&file, size).map_err(io_err)?;
        let mut bmap = Bmap::empty(size);
        let mut spans = block_spans(&ranges, bmap.blocks_count);
        if chunked {
            spans = split_at_chunks(&spans);
        }
        bmap.push_hashed(&file, &spans).map_err(io_err)?;
        Ok(bmap)
    }

    /// The map of `file`, a copy of the image `self` maps (made by
    /// [`Bmap::chunked_from_file`]) in which only the bytes in `written` may differ. Ranges
    /// of untouched chunks keep their digests; touched chunks are mapped and hashed anew.
    pub fn derive(&self, file: &File, path: &Path, written: &Written) -> Result<Bmap, BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let size = file.metadata().map_err(io_err)?.len();
        if size != self.image_size {
            return Err(BmapError::Invalid(format!(
                "{}: {size} bytes, but its base image has {}",
                path.display(),
                self.image_size
            )));
        }
        let chunk_bytes = CHUNK_BLOCKS * self.block_size;
        let dirty = written.chunks(chunk_bytes);
        let mut out = Bmap::empty(size);
        // Touched chunks: whatever the file now holds there.
        let mut fresh = Vec::new();
        for &c in &dirty {
            let from = c * chunk_bytes;
            let to = (from + chunk_bytes).min(size);
            if from >= to {
                continue;
            }
            let ranges = data_ranges_in(file, from, to).map_err(io_err)?;
            fresh.extend(block_spans(&ranges, out.blocks_count));
        }
        out.push_hashed(file, &fresh).map_err(io_err)?;
        out.ranges.extend(
            self.ranges
                .iter()
                .filter(|r| !dirty.contains(&(r.first / CHUNK_BLOCKS)))
                .cloned(),
        );
        out.ranges.sort_by_key(|r| r.first);
        out.mapped_blocks = out.ranges.iter().map(|r| r.last - r.first + 1).sum();
        Ok(out)
    }

    /// Appends a hashed range per block span (inclusive block numbers).
    fn push_hashed(&mut self, file: &File, spans: &[(u64, u64)]) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        for &(first, last) in spans {
            let mut r = BmapRange {
                first,
                last,
                checksum: None,
            };
            r.checksum = Some(self.hash_range(file, &r, &mut buf)?);
            self.mapped_blocks += last - first + 1;
            self.ranges.push(r);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ChecksumType, Hasher};
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn spans_merge_touching_data_and_stop_at_the_last_block() {
        let bs = BLOCK_SIZE;
        // A hole smaller than a block leaves two data runs in neighbouring blocks.
        let ranges = [(0, 100), (bs + 10, bs + 20), (5 * bs, 9 * bs + 1)];
        assert_eq!(block_spans(&ranges, 9), vec![(0, 1), (5, 8)]);
        assert_eq!(block_spans(&[], 9), vec![]);
    }

    #[test]
    fn chunk_cuts_fall_on_chunk_boundaries() {
        let c = CHUNK_BLOCKS;
        assert_eq!(
            split_at_chunks(&[(5, 2 * c + 3), (3 * c, 3 * c)]),
            vec![
                (5, c - 1),
                (c, 2 * c - 1),
                (2 * c, 2 * c + 3),
                (3 * c, 3 * c)
            ]
        );
    }

    /// A derived map equals one made from scratch (same ranges, same digests) when the
    /// ranges are cut alike; `check_file` accepts it and names a changed range.
    #[test]
    fn derived_maps_reuse_untouched_chunks_and_check_out() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = CHUNK_BLOCKS * BLOCK_SIZE;
        let base = dir.path().join("base");
        let f = File::create(&base).unwrap();
        f.set_len(5 * chunk + 300).unwrap();
        for (off, byte) in [
            (10, 1u8),
            (chunk - 1, 2),
            (2 * chunk + 4096 * 7, 3),
            (5 * chunk + 5, 4),
        ] {
            f.write_all_at(&[byte; 100], off).unwrap();
        }
        let base_map = Bmap::chunked_from_file(&base).unwrap();
        // The node: the base plus writes in chunk 2 (data) and chunk 3 (a hole before).
        let node = dir.path().join("node");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&node)
            .unwrap();
        // As the build copies: holes stay holes.
        crate::io::sparse::copy_sparse(&File::open(&base).unwrap(), &f).unwrap();
        let mut written = Written::default();
        for (off, len) in [(2 * chunk + 4096 * 7 + 50, 10u64), (3 * chunk + 8192, 4096)] {
            f.write_all_at(&vec![9u8; len as usize], off).unwrap();
            written.add(off, len);
        }
        let derived = base_map.derive(&f, &node, &written).unwrap();
        let fresh = Bmap::chunked_from_file(&node).unwrap();
        assert_eq!(derived, fresh);
        derived.check_file(&f, &node).unwrap();
        // Unchanged chunks kept the base's digests; the written chunk did not.
        let in_chunk = |m: &Bmap, c: u64| -> Vec<Option<String>> {
            m.ranges
                .iter()
                .filter(|r| r.first / CHUNK_BLOCKS == c)
                .map(|r| r.checksum.clone())
                .collect()
        };
        assert_eq!(in_chunk(&derived, 0), in_chunk(&base_map, 0));
        assert_ne!(in_chunk(&derived, 2), in_chunk(&base_map, 2));
        // A map of the base does not describe the node.
        let err = base_map.check_file(&f, &node).unwrap_err().to_string();
        assert!(err.contains("do not match"), "{err}");
    }

    #[test]
    fn maps_a_sparse_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        let f = crate::bmap::scratch_file(&path);
        f.set_len(64 << 20).unwrap();
        f.write_all_at(&[1u8; 5000], 8 << 20).unwrap();
        f.write_all_at(&[2u8; 10], (64 << 20) - 10).unwrap();
        f.sync_all().unwrap();
        let b = Bmap::from_sparse_file(&path).unwrap();
        assert_eq!(b.image_size, 64 << 20);
        assert_eq!(b.blocks_count, (64 << 20) / 4096);
        // Only the written areas are mapped (file systems may round to their own block).
        assert!(b.mapped_blocks >= 3 && b.mapped_blocks < 64, "{b:?}");
        let (s, e) = b.byte_span(&b.ranges[0]);
        assert!(s <= 8 << 20 && e >= (8 << 20) + 5000);
        let mut data = vec![0u8; (e - s) as usize];
        f.read_exact_at(&mut data, s).unwrap();
        let mut h = Hasher::new(ChecksumType::Sha256);
        h.update(&data);
        assert_eq!(
            b.ranges[0].checksum.as_deref(),
            Some(h.finish_hex().as_str())
        );
    }
}
