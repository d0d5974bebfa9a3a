//! The uncompressed size of an `.xz` file, from the index at the end of each stream: what
//! `xz --list` reports, read without decoding anything. The decoder checks every index
//! against the data it decodes, so a size read here is the size the stream will have (or
//! the stream fails as corrupt).

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Sums the uncompressed sizes in every stream's index, walking the file from its end.
/// This is what `xz --list` reports, read without decoding anything.
pub fn uncompressed_size(f: &File) -> Result<u64, String> {
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let read = |off: u64, n: usize| -> Result<Vec<u8>, String> {
        let mut v = vec![0u8; n];
        f.read_exact_at(&mut v, off).map_err(|e| e.to_string())?;
        Ok(v)
    };
    let mut pos = len;
    let mut total = 0u64;
    while pos > 0 {
        // Stream padding: zero bytes in multiples of four between and after streams.
        while pos >= 4 && read(pos - 4, 4)? == [0, 0, 0, 0] {
            pos -= 4;
        }
        if pos < 24 {
            return Err("file too short for an xz stream".into());
        }
        let footer = read(pos - 12, 12)?;
        if &footer[10..12] != b"YZ" {
            return Err("no xz stream footer".into());
        }
        let backward =
            (u32::from_le_bytes([footer[4], footer[5], footer[6], footer[7]]) as u64 + 1) * 4;
        if backward + 24 > pos {
            return Err("bad index size in the stream footer".into());
        }
        let index = read(pos - 12 - backward, backward as usize)?;
        if index[0] != 0 {
            return Err("bad index indicator".into());
        }
        let mut i = 1;
        let mut varint = || -> Result<u64, String> {
            let mut v = 0u64;
            for shift in 0..9 {
                let b = *index.get(i).ok_or("index truncated")?;
                i += 1;
                v |= ((b & 0x7f) as u64) << (7 * shift);
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err("bad number in the index".into())
        };
        let records = varint()?;
        let mut blocks = 0u64;
        for _ in 0..records {
            let unpadded = varint()?;
            let uncompressed = varint()?;
            blocks = blocks
                .checked_add(unpadded.div_ceil(4) * 4)
                .ok_or("index sizes overflow")?;
            total = total
                .checked_add(uncompressed)
                .ok_or("index sizes overflow")?;
        }
        let stream_len = 12 + blocks + backward + 12;
        if stream_len > pos {
            return Err("index describes more data than the file holds".into());
        }
        pos -= stream_len;
        if read(pos, 6)? != [0xFD, b'7', b'z', b'X', b'Z', 0x00] {
            return Err("no xz stream header where the index says one starts".into());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn size_of(bytes: &[u8]) -> Result<u64, String> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        uncompressed_size(&f)
    }

    #[test]
    fn the_index_gives_the_size_and_damage_is_an_error() {
        let mut enc = xz2::write::XzEncoder::new(Vec::new(), 1);
        enc.write_all(&vec![3u8; 100_000]).unwrap();
        let xz = enc.finish().unwrap();
        assert_eq!(size_of(&xz), Ok(100_000));
        assert!(size_of(&xz[..xz.len() - 1]).is_err());
        assert!(size_of(b"not xz at all, but long enough to have a footer").is_err());
    }
}
