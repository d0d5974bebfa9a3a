//! A zstd reader over every frame of a file (concatenated `.zst` files decode as one, as the
//! `zstd` tool does), with each frame's content checksum checked.
//!
//! ruzstd's `StreamingDecoder` reads one frame and leaves the checksum to the caller, so the
//! frame loop lives here.

use std::io::{self, BufRead, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

pub struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    pub fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame, skipping skippable ones; false at the end of the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let want = u64::from(length);
                    let got = io::copy(&mut (&mut self.source).take(want), &mut io::sink())?;
                    if got < want {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(to_io(e)),
            }
        }
    }

    /// At a frame's end: its content checksum, when it has one, must match.
    fn end_frame(&mut self) -> io::Result<()> {
        self.in_frame = false;
        match (
            self.decoder.get_checksum_from_data(),
            self.decoder.get_calculated_checksum(),
        ) {
            (Some(stored), Some(computed)) if stored != computed => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("content checksum mismatch (stored {stored:08x}, computed {computed:08x})"),
            )),
            _ => Ok(()),
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(to_io)?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() {
                self.end_frame()?;
            }
        }
    }
}

/// A decoder error as an `io::Error`: input that ran out is `UnexpectedEof` (a truncated
/// file), anything else `InvalidData`.
fn to_io(e: FrameDecoderError) -> io::Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::UnexpectedEof {
                return io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string());
            }
        }
        cause = c.source();
    }
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    fn decode(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ZstdFrames::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Concatenated frames decode as one stream, skippable frames are stepped over, and a
    /// cut frame is reported as truncated.
    #[test]
    fn frames_follow_each_other() {
        let a: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let b = vec![7u8; 70_000];
        let mut bytes = compress_to_vec(&a[..], CompressionLevel::Fastest);
        // A skippable frame: magic 0x184D2A50, length 5, five bytes of anything.
        bytes.extend_from_slice(&[0x50, 0x2A, 0x4D, 0x18, 5, 0, 0, 0, 1, 2, 3, 4, 5]);
        bytes.extend(compress_to_vec(&b[..], CompressionLevel::Fastest));
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(decode(&bytes).unwrap(), want);
        let err = decode(&bytes[..bytes.len() - 3]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
        assert_eq!(decode(&[]).unwrap(), Vec::<u8>::new());
    }
}
