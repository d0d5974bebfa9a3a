//! A `Write + Seek` wrapper that remembers the lowest offset ever written: where a patched
//! image first differs from its base (see `checkpoint`).

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

pub struct Tracked<T> {
    inner: T,
    pos: u64,
    lowest: Rc<Cell<u64>>,
}

impl<T: Seek> Tracked<T> {
    /// `lowest` is shared, so several wrappers (one per partition) report into one cell.
    pub fn new(mut inner: T, lowest: Rc<Cell<u64>>) -> io::Result<Self> {
        let pos = inner.stream_position()?;
        Ok(Tracked { inner, pos, lowest })
    }
}

impl<T: Read> Read for Tracked<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<T: Write> Write for Tracked<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !buf.is_empty() && self.pos < self.lowest.get() {
            self.lowest.set(self.pos);
        }
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<T: Seek> Seek for Tracked<T> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}
