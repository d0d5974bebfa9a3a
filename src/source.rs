//! Where image bytes come from: a raw `.img`, or one compressed with xz, gzip, zstd or
//! bzip2, or the one image in a `.zip`, as a stream of the raw disk bytes.
//!
//! The format is decided by the file's magic bytes ([`detect`]), not its name, so a renamed
//! file still works, and a compressed format this tool does not read (7z, lz4, …) is refused
//! by name instead of being taken for a disk image. Every decoder streams: memory stays at a
//! few buffers whatever the image's size.

mod detect;
mod unpack;
pub mod xz_index;
mod zipped;
mod zstd_frames;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use thiserror::Error;

pub use detect::{detect, Detected};
pub use unpack::{unpack_into, RawImage};

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path}: cannot open")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: read failed at output offset {offset}")]
    Read {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },
    #[error("{path}: the {format} stream is truncated (ended after {offset} bytes of output)")]
    Truncated {
        path: PathBuf,
        format: &'static str,
        offset: u64,
    },
    #[error("{path}: the {format} data is corrupt at output offset {offset}")]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        offset: u64,
        source: io::Error,
    },
    #[error("{path}: the file is {format}-compressed, which this tool does not read; unpack it first and give the raw image (or an .xz, .gz, .zst, .bz2 or single-image .zip)")]
    Unsupported { path: PathBuf, format: &'static str },
    #[error("{path}")]
    Zip {
        path: PathBuf,
        source: zipped::ZipProblem,
    },
    /// Writing the unpacked image (to `path`: the output, or the temporary directory).
    #[error("{path}: cannot write the unpacked image")]
    Unpack { path: PathBuf, source: io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Gzip,
    Zstd,
    Bzip2,
    Zip,
}

impl Compression {
    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "raw",
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Zip => "zip",
        }
    }
}

/// An opened image source, streaming the raw disk bytes.
pub struct Source {
    path: PathBuf,
    compression: Compression,
    /// Size of the input file on disk (the compressed size).
    input_len: u64,
    /// The decoded size, where the format records it (see [`Source::expected_len`]).
    expected_len: Option<u64>,
    reader: Box<dyn Read + Send>,
    /// Decompressed bytes handed out so far, for error messages.
    offset: u64,
    /// Counts compressed bytes consumed, shared with the progress bar.
    consumed: Arc<AtomicU64>,
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The zip reader seeks to the central directory first; progress counts reads only.
impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Buffer for the compressed side of a decoder.
const IN_BUF: usize = 1 << 20;

impl Source {
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        let open_err = |source| SourceError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let input_len = file.metadata().map_err(open_err)?.len();
        let mut magic = [0u8; detect::MAGIC_LEN];
        let got = read_up_to(&mut file, &mut magic).map_err(open_err)?;
        let compression = match detect(&magic[..got]) {
            Detected::Read(c) => c,
            Detected::Refused(format) => {
                return Err(SourceError::Unsupported {
                    path: path.to_owned(),
                    format,
                })
            }
        };
        file.rewind().map_err(open_err)?;
        let mut expected_len = match compression {
            Compression::None => Some(input_len),
            Compression::Xz => xz_index::uncompressed_size(&file).ok(),
            _ => None,
        };
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = Counting {
            inner: file,
            count: consumed.clone(),
        };
        let buffered = |c| BufReader::with_capacity(IN_BUF, c);
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(counted),
            Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(buffered(counted))),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered(counted))),
            Compression::Zstd => Box::new(zstd_frames::ZstdFrames::new(buffered(counted))),
            Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(buffered(counted))),
            Compression::Zip => {
                let (_name, entry) =
                    zipped::open_single(counted).map_err(|source| SourceError::Zip {
                        path: path.to_owned(),
                        source,
                    })?;
                expected_len = Some(entry.size());
                Box::new(entry)
            }
        };
        Ok(Source {
            path: path.to_owned(),
            compression,
            input_len,
            expected_len,
            reader,
            offset: 0,
            consumed,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub fn input_len(&self) -> u64 {
        self.input_len
    }

    /// How many bytes the stream will decode to, where the format records it: a raw
    /// image's length, the sum of an xz file's indexes (which the decoder checks), a zip
    /// entry's size from the central directory. `None` for gzip (its trailer holds the size
    /// modulo 4 GiB, and only of the last member: a 5 GiB image would claim 1 GiB), zstd and
    /// bzip2 (no size, or one per frame only). Progress only: the decoded stream decides.
    pub fn expected_len(&self) -> Option<u64> {
        self.expected_len
    }

    /// Compressed (input) bytes consumed so far; shared so a progress thread can read it.
    pub fn consumed(&self) -> Arc<AtomicU64> {
        self.consumed.clone()
    }

    /// Reads like `Read::read`, but with errors that name the file and say what went wrong.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        match self.reader.read(buf) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.classify(e)),
        }
    }

    fn classify(&self, e: io::Error) -> SourceError {
        let path = self.path.clone();
        let offset = self.offset;
        if self.compression != Compression::None {
            let format = self.compression.name();
            // The decoders report input that ends early as UnexpectedEof and bad data as
            // InvalidData (or Other, for the pure-Rust ones).
            match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    return SourceError::Truncated {
                        path,
                        format,
                        offset,
                    }
                }
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
                    return SourceError::Corrupt {
                        path,
                        format,
                        offset,
                        source: e,
                    }
                }
                _ => {}
            }
        }
        SourceError::Read {
            path,
            offset,
            source: e,
        }
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_chunk(buf).map_err(io::Error::other)
    }
}

/// Splits an `io::Error` from [`Source`]'s `Read` impl back into the `SourceError` it
/// carries, or returns it unchanged when it came from somewhere else (the writer).
pub fn split_io_error(e: io::Error) -> Result<SourceError, io::Error> {
    if e.get_ref().is_some_and(|inner| inner.is::<SourceError>()) {
        let inner = e.into_inner().expect("checked above");
        Ok(*inner.downcast::<SourceError>().expect("checked above"))
    } else {
        Err(e)
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}
