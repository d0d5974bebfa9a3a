//! Where image bytes come from: a raw `.img` or an `.xz`-compressed one, as a stream.
//!
//! The format is decided by the file's magic bytes, not its name, so a renamed file still
//! works and a file named `.xz` that is not xz gets a clear error from the decoder.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{path}: cannot open: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: read failed at output offset {offset}: {source}")]
    Read {
        path: PathBuf,
        offset: u64,
        source: io::Error,
    },
    #[error("{path}: the xz stream is truncated (ended after {offset} bytes of output)")]
    Truncated { path: PathBuf, offset: u64 },
    #[error("{path}: the xz data is corrupt at output offset {offset}: {detail}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
}

/// An opened image source, streaming the raw disk bytes.
pub struct Source {
    path: PathBuf,
    compression: Compression,
    /// Size of the input file on disk (compressed size for xz), for progress.
    input_len: u64,
    reader: Box<dyn Read + Send>,
    /// Decompressed bytes handed out so far, for error messages.
    offset: u64,
    /// Counts compressed bytes consumed, shared with the progress bar.
    consumed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

struct Counting<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

impl Source {
    pub fn open(path: &Path) -> Result<Source, SourceError> {
        let open_err = |source| SourceError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let input_len = file.metadata().map_err(open_err)?.len();
        let mut magic = [0u8; 6];
        let got = read_up_to(&mut file, &mut magic).map_err(open_err)?;
        let compression = if got == magic.len() && magic == XZ_MAGIC {
            Compression::Xz
        } else {
            Compression::None
        };
        // Re-open rather than seek so the reader starts clean; the input is only ever read.
        let file = File::open(path).map_err(open_err)?;
        let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Counting {
            inner: file,
            count: consumed.clone(),
        };
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(counted),
            Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(
                BufReader::with_capacity(1 << 20, counted),
            )),
        };
        Ok(Source {
            path: path.to_owned(),
            compression,
            input_len,
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

    /// Compressed (input) bytes consumed so far; shared so a progress thread can read it.
    pub fn consumed(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
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
        if self.compression == Compression::Xz {
            // xz2 reports a stream that ends early as UnexpectedEof and bad data as InvalidData.
            match e.kind() {
                io::ErrorKind::UnexpectedEof => return SourceError::Truncated { path, offset },
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
                    return SourceError::Corrupt {
                        path,
                        offset,
                        detail: e.to_string(),
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
