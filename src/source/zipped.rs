//! A `.zip` holding one image, read as a stream.
//!
//! The zip crate's entry reader borrows its archive, so the archive moves to a thread that
//! decodes the entry into a bounded channel; the [`Source`](super::Source) reads the other
//! end. Memory stays at a few chunks whatever the image's size, and a reader dropped early
//! stops the thread at its next send.

use std::io::{self, Read, Seek};
use std::sync::mpsc::{sync_channel, Receiver};

use zip::result::ZipError;
use zip::ZipArchive;

const PIECE: usize = 1 << 20;

/// Why a zip cannot be read as an image.
#[derive(Debug)]
pub enum ZipProblem {
    /// The archive itself is damaged or truncated (no central directory, bad header).
    Damaged(ZipError),
    /// Not exactly one file in it.
    Entries(Vec<String>),
    Encrypted(String),
    Unsupported {
        name: String,
        detail: String,
    },
}

/// No `source`: `ZipError` prints its own cause inline (`i/o error: …`) and also exposes
/// it, so it is shown in our message once, whole, instead of chained.
impl std::error::Error for ZipProblem {}

impl std::fmt::Display for ZipProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipProblem::Damaged(e) => write!(f, "the zip archive is damaged or truncated: {e}"),
            ZipProblem::Entries(names) if names.is_empty() => {
                write!(f, "the zip archive holds no file; expected one image")
            }
            ZipProblem::Entries(names) => {
                let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
                let more = if names.len() > 5 { ", …" } else { "" };
                write!(
                    f,
                    "the zip archive holds {} files ({}{more}); expected exactly one image: unzip it and give the image",
                    names.len(),
                    shown.join(", ")
                )
            }
            ZipProblem::Encrypted(name) => write!(
                f,
                "{name} in the zip archive is encrypted; decrypt it with unzip first"
            ),
            ZipProblem::Unsupported { name, detail } => {
                write!(f, "{name} in the zip archive cannot be read: {detail}")
            }
        }
    }
}

fn damaged(e: ZipError) -> ZipProblem {
    ZipProblem::Damaged(e)
}

/// Opens the archive's single file and streams it; returns its name and the reader.
pub fn open_single<R>(reader: R) -> Result<(String, EntryReader), ZipProblem>
where
    R: Read + Seek + Send + 'static,
{
    let mut archive = ZipArchive::new(reader).map_err(damaged)?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(damaged)?;
        if !entry.is_dir() {
            files.push((i, entry.name().map(|n| n.into_owned()).unwrap_or_default()));
        }
    }
    let [(index, name)] = <[_; 1]>::try_from(files)
        .map_err(|f: Vec<_>| ZipProblem::Entries(f.into_iter().map(|(_, n)| n).collect()))?;
    if archive.by_index_raw(index).map_err(damaged)?.encrypted() {
        return Err(ZipProblem::Encrypted(name));
    }
    // Opening it decoded checks the compression method before any thread starts.
    let size = match archive.by_index(index) {
        Ok(entry) => entry.size(),
        Err(e) => {
            return Err(match e {
                ZipError::InvalidArchive(_) | ZipError::Io(_) => damaged(e),
                other => ZipProblem::Unsupported {
                    name,
                    detail: other.to_string(),
                },
            })
        }
    };
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(2);
    std::thread::spawn(move || {
        let mut entry = match archive.by_index(index) {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(Err(io::Error::other(e)));
                return;
            }
        };
        loop {
            let mut piece = vec![0u8; PIECE];
            let msg = match read_full(&mut entry, &mut piece) {
                // An empty piece marks the end, so a thread that dies is not taken for one.
                Ok(0) => {
                    let _ = tx.send(Ok(Vec::new()));
                    return;
                }
                Ok(n) => {
                    piece.truncate(n);
                    Ok(piece)
                }
                Err(e) => Err(e),
            };
            let failed = msg.is_err();
            // A closed channel: the reader is gone, stop decoding.
            if tx.send(msg).is_err() || failed {
                return;
            }
        }
    });
    Ok((
        name,
        EntryReader {
            rx,
            piece: Vec::new(),
            pos: 0,
            done: false,
            size,
        },
    ))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The receiving end: the entry's bytes, in order.
pub struct EntryReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    piece: Vec<u8>,
    pos: usize,
    done: bool,
    size: u64,
}

impl EntryReader {
    /// The entry's uncompressed size as the central directory records it.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Read for EntryReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.piece.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(p)) if p.is_empty() => self.done = true,
                Ok(Ok(p)) => {
                    self.piece = p;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the zip decoder stopped unexpectedly"));
                }
            }
        }
        let n = buf.len().min(self.piece.len() - self.pos);
        buf[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
