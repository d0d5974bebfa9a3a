//! A byte window over a larger `Read + Write + Seek`: one partition of a disk image.
//!
//! Everything a file-system driver does goes through this type, so a bug in a driver
//! can at worst corrupt its own partition, never its neighbours or the partition table.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// `[start, start + len)` of `inner`, addressed from 0. Reads stop at the end of the
/// window (short read, as at end of file); writes past it fail with `WriteZero`-like errors.
#[derive(Debug)]
pub struct Window<T> {
    inner: T,
    start: u64,
    len: u64,
    pos: u64,
}

impl<T: Seek> Window<T> {
    pub fn new(inner: T, start: u64, len: u64) -> Self {
        Window {
            inner,
            start,
            len,
            pos: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn into_inner(self) -> T {
        self.inner
    }

    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// How many bytes of a `want`-byte transfer fit before the end of the window.
    fn room(&self, want: usize) -> usize {
        let left = self.len.saturating_sub(self.pos);
        want.min(usize::try_from(left).unwrap_or(usize::MAX))
    }

    fn seek_inner(&mut self) -> io::Result<()> {
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        Ok(())
    }
}

impl<T: Read + Seek> Read for Window<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.seek_inner()?;
        let got = self.inner.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl<T: Write + Seek> Write for Window<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.room(buf.len());
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write at offset {} is past the end of the partition ({} bytes)",
                    self.pos, self.len
                ),
            ));
        }
        self.seek_inner()?;
        let put = self.inner.write(&buf[..n])?;
        self.pos += put as u64;
        Ok(put)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Seek> Seek for Window<T> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn disk() -> Cursor<Vec<u8>> {
        Cursor::new((0..100u8).collect())
    }

    #[test]
    fn reads_stop_at_the_window_end() {
        let mut w = Window::new(disk(), 10, 20);
        let mut buf = vec![0; 50];
        let mut all = Vec::new();
        loop {
            let n = w.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(all, (10..30u8).collect::<Vec<_>>());
    }

    #[test]
    fn writes_cannot_cross_the_window() {
        let mut w = Window::new(disk(), 10, 20);
        w.seek(SeekFrom::Start(15)).unwrap();
        // A 10-byte write only has room for 5 bytes; write_all must then fail.
        let err = w.write_all(&[0xEE; 10]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        let inner = w.into_inner().into_inner();
        assert_eq!(&inner[25..30], &[0xEE; 5]);
        assert_eq!(inner[30], 30, "byte after the window was touched");
        assert_eq!(inner[9], 9, "byte before the window was touched");
    }

    #[test]
    fn seeks_before_start_fail_and_end_is_relative_to_window() {
        let mut w = Window::new(disk(), 10, 20);
        assert!(w.seek(SeekFrom::Current(-1)).is_err());
        assert_eq!(w.seek(SeekFrom::End(-2)).unwrap(), 18);
        let mut b = [0u8; 4];
        let n = w.read(&mut b).unwrap();
        assert_eq!(&b[..n], &[28, 29]);
    }

    #[test]
    fn write_past_end_writes_nothing() {
        let mut w = Window::new(disk(), 10, 20);
        w.seek(SeekFrom::Start(25)).unwrap();
        assert!(w.write(&[1, 2, 3]).is_err());
        let inner = w.into_inner().into_inner();
        assert_eq!(inner, (0..100u8).collect::<Vec<_>>());
    }
}
