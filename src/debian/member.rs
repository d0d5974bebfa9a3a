//! The streams inside an ar member, shared by the deb and snap readers: the decompressor
//! a member's name asks for, a cap on what it may expand to, and a bounded tar walk.

use std::io::{self, Read};

use flate2::read::GzDecoder;
use ruzstd::decoding::{FrameDecoder, StreamingDecoder};

/// liblzma's decoder memory: xz -9 needs 65 MiB; a header asking for more is refused.
const XZ_MEMLIMIT: u64 = 256 << 20;
/// GNU long names and pax headers are read into memory: cap them.
const LONG_NAME_CAP: u64 = 4096;
const PAX_CAP: u64 = 64 << 10;
/// Zero padding after a tar's end blocks is normal; more than this is not a tar.
const TRAILER_CAP: u64 = 1 << 20;

/// The decompressor for a member named `control.tar.xz`, `data.tar`, … by its suffix.
pub(crate) fn decompress<'a>(
    member: &str,
    r: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, String> {
    let suffix = member.rsplit_once(".tar").map_or("?", |(_, s)| s);
    Ok(match suffix {
        "" => Box::new(r),
        ".gz" => Box::new(GzDecoder::new(r)),
        ".xz" | ".lzma" => {
            let stream = if suffix == ".xz" {
                xz2::stream::Stream::new_stream_decoder(XZ_MEMLIMIT, 0)
            } else {
                xz2::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT)
            };
            let stream = stream.map_err(|e| format!("cannot start the decoder: {e}"))?;
            Box::new(xz2::read::XzDecoder::new_stream(r, stream))
        }
        ".zst" => Box::new(Zstd(
            StreamingDecoder::new(r).map_err(|e| format!("not zstd: {e}"))?,
        )),
        ".bz2" => return Err("bzip2 compression is not supported".into()),
        other => return Err(format!("unknown compression `{other}`")),
    })
}

/// ruzstd does not check the frame's content checksum by itself: do it at the end.
struct Zstd<R: Read>(StreamingDecoder<R, FrameDecoder>);

impl<R: Read> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let d = &self.0.decoder;
            if let (Some(stored), Some(computed)) =
                (d.get_checksum_from_data(), d.get_calculated_checksum())
            {
                if stored != computed {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "zstd checksum mismatch",
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// Refuses a stream that decompresses to more than `left` bytes.
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R: Read> Capped<R> {
    pub(crate) fn new(inner: R, cap: u64) -> Self {
        Capped {
            inner,
            left: cap,
            cap,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            if buf.is_empty() || self.inner.read(&mut [0u8; 1])? == 0 {
                return Ok(0);
            }
            let msg = format!("unpacks to more than {} MiB", self.cap >> 20);
            return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Walks a tar stream, calling `visit` with each entry's path (GNU long names and pax
/// `path` applied, leading `./` and `/` removed) until it says stop. At most
/// `max_entries` headers; after the end blocks the stream is read to its end (bounded),
/// so a truncated or corrupt compressed stream is an error even past the last entry.
pub(crate) fn walk_tar<R: Read>(
    r: R,
    max_entries: usize,
    mut visit: impl FnMut(&str, &mut tar::Entry<'_, R>) -> Result<Flow, String>,
) -> Result<(), String> {
    let mut archive = tar::Archive::new(r);
    {
        // Raw: the crate would read a long name or pax header of any size into memory.
        let entries = archive.entries().map_err(|e| describe(&e))?.raw(true);
        let mut long_name: Option<String> = None;
        for (count, entry) in entries.enumerate() {
            if count >= max_entries {
                return Err(format!("more than {max_entries} tar entries"));
            }
            let mut entry = entry.map_err(|e| describe(&e))?;
            let kind = entry.header().entry_type();
            if kind.is_gnu_longname() {
                long_name = Some(read_capped(&mut entry, LONG_NAME_CAP, "long file name")?);
                continue;
            }
            if kind.is_pax_local_extensions() {
                long_name = pax_path(&mut entry)?.or(long_name);
                continue;
            }
            if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
                continue;
            }
            let raw = match long_name.take() {
                Some(name) => name,
                None => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            };
            if let Flow::Stop = visit(normalise(&raw), &mut entry)? {
                return Ok(());
            }
        }
    }
    let copied = io::copy(
        &mut archive.into_inner().take(TRAILER_CAP + 1),
        &mut io::sink(),
    )
    .map_err(|e| describe(&e))?;
    if copied > TRAILER_CAP {
        return Err("data after the end of the tar archive".into());
    }
    Ok(())
}

fn read_capped(entry: &mut impl Read, cap: u64, what: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    entry
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| describe(&e))?;
    if bytes.len() as u64 > cap {
        return Err(format!("a {what} longer than {cap} bytes"));
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn pax_path<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<String>, String> {
    if entry.size() > PAX_CAP {
        return Err(format!("a pax header longer than {PAX_CAP} bytes"));
    }
    let Some(exts) = entry.pax_extensions().map_err(|e| describe(&e))? else {
        return Ok(None);
    };
    for ext in exts {
        let ext = ext.map_err(|e| describe(&e))?;
        if ext.key() == Ok("path") {
            return Ok(Some(
                String::from_utf8_lossy(ext.value_bytes()).into_owned(),
            ));
        }
    }
    Ok(None)
}

pub(super) fn normalise(path: &str) -> &str {
    let mut p = path;
    loop {
        let next = p.trim_start_matches('/');
        let next = next.strip_prefix("./").unwrap_or(next);
        if next == p {
            break;
        }
        p = next;
    }
    let p = if p == "." { "" } else { p };
    p.trim_end_matches('/')
}

/// An I/O error of a member as words: the decoders and the tar crate each say "the input
/// ended early" their own way (an error kind, a message, or an error deep in a chain);
/// all of them are "truncated".
pub(crate) fn describe(e: &io::Error) -> String {
    let msg = e.to_string();
    let said = [
        "unexpected EOF",
        "premature eof",
        "failed to read entire block",
    ];
    if ended_early(e) || said.iter().any(|m| msg.contains(m)) {
        "truncated".into()
    } else {
        msg
    }
}

fn ended_early(e: &io::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::UnexpectedEof {
                return true;
            }
            // io::Error's own source() skips the error it wraps.
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = err.source();
    }
    false
}
