//! A `Write + Seek` wrapper that records where it wrote: what of a patched image can differ
//! from its base. The build resumes hashes from the first change (see `checkpoint`) and
//! reuses the base's block-map digests for every chunk no write touched.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

/// The byte extents written, coalesced as they come (patches write runs of blocks).
#[derive(Debug, Default, Clone)]
pub struct Written {
    extents: Vec<(u64, u64)>,
}

impl Written {
    pub fn add(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = start + len;
        if let Some(last) = self.extents.last_mut() {
            if start >= last.0 && start <= last.1 {
                last.1 = last.1.max(end);
                return;
            }
        }
        self.extents.push((start, end));
    }

    /// The lowest byte written, if any.
    pub fn lowest(&self) -> Option<u64> {
        self.extents.iter().map(|e| e.0).min()
    }

    /// Indices of the `chunk`-byte chunks any write touched.
    pub fn chunks(&self, chunk: u64) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        for &(s, e) in &self.extents {
            out.extend(s / chunk..=(e - 1) / chunk);
        }
        out
    }
}

pub struct Tracked<T> {
    inner: T,
    pos: u64,
    written: Rc<RefCell<Written>>,
}

impl<T: Seek> Tracked<T> {
    /// `written` is shared, so several wrappers (one per partition) report into one record.
    pub fn new(mut inner: T, written: Rc<RefCell<Written>>) -> io::Result<Self> {
        let pos = inner.stream_position()?;
        Ok(Tracked {
            inner,
            pos,
            written,
        })
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
        // Recorded before the write: a failed or short write may still have changed bytes.
        self.written.borrow_mut().add(self.pos, buf.len() as u64);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn records_every_write_and_the_chunks_it_touched() {
        let w = Rc::new(RefCell::new(Written::default()));
        let mut t = Tracked::new(Cursor::new(vec![0u8; 64]), w.clone()).unwrap();
        t.seek(SeekFrom::Start(10)).unwrap();
        t.write_all(&[1; 5]).unwrap();
        t.write_all(&[2; 5]).unwrap(); // contiguous: one extent
        t.seek(SeekFrom::Start(40)).unwrap();
        t.write_all(&[3; 9]).unwrap();
        let mut buf = [0u8; 4];
        t.seek(SeekFrom::Start(0)).unwrap();
        t.read_exact(&mut buf).unwrap(); // reads are not writes
        let w = w.borrow();
        assert_eq!(w.extents, vec![(10, 20), (40, 49)]);
        assert_eq!(w.lowest(), Some(10));
        assert_eq!(
            w.chunks(16).into_iter().collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(Written::default().lowest(), None);
    }
}
