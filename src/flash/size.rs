//! The image's uncompressed size, found before anything is written.

use std::fs::File;
use std::path::Path;

use crate::progress::StreamBar;
use crate::source::{xz_index, Compression, Source};

use super::FlashError;

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
}
