//! The `ar` container of `.deb` and 15.04 `.snap` files, and opening such a file safely.
//!
//! Hand-parsed rather than the `ar` crate: that crate (0.9) indexes its GNU name table
//! with offsets from the file and allocates a member-sized buffer for it, so a crafted
//! archive panics it or makes it allocate gigabytes. A deb only uses the common format
//! (deb(5)): the magic `!<arch>\n`, then members, each a 60-byte header (name 16, mtime
//! 12, uid 6, gid 6, mode 8, size 10, "`\n") and its data padded to an even offset.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use thiserror::Error;

pub(crate) const MAGIC: &[u8; 8] = b"!<arch>\n";
const HEADER_LEN: u64 = 60;

#[derive(Debug, Error)]
pub enum ArError {
    #[error("not a regular file")]
    NotRegular,
    #[error("not an ar archive (no ar magic)")]
    NoMagic,
    #[error("ar member header at byte {offset}: {what}")]
    BadHeader { offset: u64, what: &'static str },
    #[error(
        "{name}: truncated (the member says {size} bytes, the file has {left} after its header)"
    )]
    Truncated { name: String, size: u64, left: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Opens `path` for reading only if it is a regular file (following symlinks), without
/// blocking on a FIFO ([`crate::io::open_regular`]); with its length.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), ArError> {
    let file = crate::io::open_regular(path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => ArError::NotRegular,
        _ => ArError::Io(e),
    })?;
    let len = file.metadata()?.len();
    let limit = crate::io::regular::PAYLOAD;
    if len > limit.max_bytes {
        return Err(ArError::Io(io::Error::other(format!(
            "larger than {} MiB, the limit for {}",
            limit.max_bytes >> 20,
            limit.what
        ))));
    }
    Ok((file, len))
}

/// One member: its name (trailing spaces and GNU's `/` removed), where its data starts and
/// how long it is. `size` is checked to lie inside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// Walks the members of an archive of known length `len`.
pub(crate) struct ArReader<R> {
    inner: R,
    len: u64,
    next: u64,
}

impl<R: Read + Seek> ArReader<R> {
    pub fn new(mut inner: R, len: u64) -> Result<Self, ArError> {
        let mut magic = [0u8; 8];
        if len < 8 || inner.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(ArError::NoMagic);
        }
        Ok(ArReader {
            inner,
            len,
            next: 8,
        })
    }

    /// The next member's header, or `None` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<Member>, ArError> {
        let offset = self.next;
        if offset >= self.len {
            return Ok(None);
        }
        let bad = |what| ArError::BadHeader { offset, what };
        if self.len - offset < HEADER_LEN {
            return Err(bad("truncated"));
        }
        let mut h = [0u8; HEADER_LEN as usize];
        self.inner.seek(SeekFrom::Start(offset))?;
        self.inner.read_exact(&mut h)?;
        if &h[58..60] != b"`\n" {
            return Err(bad("no header end marker"));
        }
        let name = std::str::from_utf8(&h[..16])
            .map_err(|_| bad("member name is not text"))?
            .trim_end_matches(' ');
        let name = name.strip_suffix('/').unwrap_or(name).to_string();
        if name.is_empty() || name.contains('/') {
            return Err(bad("bad member name"));
        }
        let size = std::str::from_utf8(&h[48..58])
            .ok()
            .map(|s| s.trim_end_matches(' '))
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("member size is not a decimal number"))?;
        let data = offset + HEADER_LEN;
        let left = self.len - data;
        if size > left {
            return Err(ArError::Truncated { name, size, left });
        }
        self.next = data + size + (size & 1);
        Ok(Some(Member {
            name,
            offset: data,
            size,
        }))
    }

    /// The data of `m`, streamed: at most `m.size` bytes.
    pub fn open(&mut self, m: &Member) -> io::Result<io::Take<&mut R>> {
        self.inner.seek(SeekFrom::Start(m.offset))?;
        Ok((&mut self.inner).take(m.size))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// Builds a common-format archive; for tests here and in the deb and snap readers.
    pub(crate) fn build(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (name, data) in members {
            let header = format!(
                "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                name,
                0,
                0,
                0,
                "100644",
                data.len()
            );
            assert_eq!(header.len(), 60);
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    fn members(bytes: &[u8]) -> Result<Vec<(Member, Vec<u8>)>, ArError> {
        let mut ar = ArReader::new(Cursor::new(bytes), bytes.len() as u64)?;
        let mut out = Vec::new();
        while let Some(m) = ar.next_member()? {
            let mut data = Vec::new();
            ar.open(&m)?.read_to_end(&mut data)?;
            out.push((m, data));
        }
        Ok(out)
    }

    #[test]
    fn reads_members_with_padding_and_gnu_names() {
        let bytes = build(&[("debian-binary", b"2.0\n"), ("odd/", b"abc"), ("x", b"")]);
        let m = members(&bytes).unwrap();
        let names: Vec<_> = m.iter().map(|(m, _)| m.name.as_str()).collect();
        assert_eq!(names, ["debian-binary", "odd", "x"]);
        assert_eq!(m[0].1, b"2.0\n");
        assert_eq!(m[1].1, b"abc");
        assert_eq!(m[2].1, b"");
    }

    #[test]
    fn hostile_archives_are_errors() {
        assert!(matches!(members(b"garbage!"), Err(ArError::NoMagic)));
        assert!(matches!(members(b""), Err(ArError::NoMagic)));
        let mut bytes = build(&[("data.tar", b"0123456789")]);
        // A size that lies: the header claims far more than the file holds.
        bytes[8 + 48..8 + 58].copy_from_slice(b"9999999999");
        let e = members(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "data.tar: truncated (the member says 9999999999 bytes, the file has 10 after its header)"
        );
        let mut bytes = build(&[("a", b"xx")]);
        bytes[8 + 48..8 + 58].copy_from_slice(b"-1        ");
        assert!(matches!(members(&bytes), Err(ArError::BadHeader { .. })));
        let mut bytes = build(&[("a", b"xx")]);
        bytes[8 + 58] = b'!';
        assert!(matches!(members(&bytes), Err(ArError::BadHeader { .. })));
        let bytes = build(&[("a", b"xx")]);
        assert!(matches!(
            members(&bytes[..bytes.len() - 1]),
            Err(ArError::Truncated { .. })
        ));
        assert!(matches!(
            members(&bytes[..30]),
            Err(ArError::BadHeader { .. })
        ));
    }
}
