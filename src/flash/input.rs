//! The image's bytes by offset, whether raw or compressed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::source::{Compression, Source};

use super::FlashError;

/// Image bytes by offset. Raw images are read in place (so a bmap skips holes for free);
/// compressed images are streamed forward and skipped parts are decoded and dropped.
pub(super) enum Input {
    Raw { path: PathBuf, file: File },
    Stream { src: Source, pos: u64 },
}

impl Input {
    pub(super) fn open(path: &Path) -> Result<Input, FlashError> {
        let src = Source::open(path)?;
        Ok(match src.compression() {
            Compression::None => Input::Raw {
                path: path.to_owned(),
                file: File::open(path).map_err(|source| FlashError::Image {
                    path: path.to_owned(),
                    source,
                })?,
            },
            _ => Input::Stream { src, pos: 0 },
        })
    }

    /// After the last range: a stream is decoded up to `size` and must end exactly there.
    pub(super) fn finish(&mut self, size: u64) -> Result<(), FlashError> {
        let Input::Stream { src, pos } = self else {
            return Ok(());
        };
        let mut buf = vec![0u8; 1 << 20];
        while *pos < size {
            let n = (size - *pos).min(buf.len() as u64) as usize;
            fill(src, &mut buf[..n], *pos, size)?;
            *pos += n as u64;
        }
        match src.read_chunk(&mut buf[..1])? {
            0 => Ok(()),
            _ => Err(FlashError::ImageLong {
                path: src.path().to_owned(),
                expected: size,
            }),
        }
    }

    /// Fills `buf` from `off`; offsets must not go backwards for a stream.
    pub(super) fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<(), FlashError> {
        match self {
            Input::Raw { path, file } => {
                let mut got = 0;
                while got < buf.len() {
                    match file.read_at(&mut buf[got..], off + got as u64) {
                        Ok(0) => {
                            return Err(FlashError::ImageShort {
                                path: path.clone(),
                                at: off + got as u64,
                                expected: off + buf.len() as u64,
                            })
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(source) => {
                            return Err(FlashError::Image {
                                path: path.clone(),
                                source,
                            })
                        }
                    }
                }
                Ok(())
            }
            Input::Stream { src, pos } => {
                debug_assert!(off >= *pos);
                while *pos < off {
                    let n = (off - *pos).min(buf.len() as u64) as usize;
                    fill(src, &mut buf[..n], *pos, off + n as u64)?;
                    *pos += n as u64;
                }
                fill(src, buf, off, off + buf.len() as u64)?;
                *pos += buf.len() as u64;
                Ok(())
            }
        }
    }
}

fn fill(src: &mut Source, buf: &mut [u8], at: u64, expected: u64) -> Result<(), FlashError> {
    let mut got = 0;
    while got < buf.len() {
        match src.read_chunk(&mut buf[got..])? {
            0 => {
                return Err(FlashError::ImageShort {
                    path: src.path().to_owned(),
                    at: at + got as u64,
                    expected,
                })
            }
            n => got += n,
        }
    }
    Ok(())
}
