//! Undo log of the data blocks an operation overwrites.
//!
//! File data is streamed straight to the device (it is never cached), so a failure
//! after the first data block would otherwise leave new bytes in blocks that the
//! rolled-back bitmaps call free. Before each overwrite the old bytes are saved
//! here (in memory up to a few MiB, then in an anonymous temporary file); a
//! rollback writes them back, so a failed operation leaves every byte unchanged.

use std::io::{Read, Seek, SeekFrom, Write};

use tempfile::SpooledTempFile;

/// Saved bytes kept in memory before spilling to a temporary file.
const IN_MEMORY: usize = 8 << 20;

pub(crate) struct Undo {
    /// (device byte offset, length) of each saved range, in the order saved.
    ranges: Vec<(u64, usize)>,
    saved: SpooledTempFile,
    len: u64,
}

impl Undo {
    pub(crate) fn new() -> Self {
        Undo {
            ranges: Vec::new(),
            saved: SpooledTempFile::new(IN_MEMORY),
            len: 0,
        }
    }

    /// Saves the current device bytes at `off..off + n` before they are overwritten.
    pub(crate) fn save<D: Read + Seek>(
        &mut self,
        dev: &mut D,
        off: u64,
        buf: &mut [u8],
    ) -> std::io::Result<()> {
        dev.seek(SeekFrom::Start(off))?;
        dev.read_exact(buf)?;
        self.saved.seek(SeekFrom::Start(self.len))?;
        self.saved.write_all(buf)?;
        self.len += buf.len() as u64;
        self.ranges.push((off, buf.len()));
        Ok(())
    }

    /// Writes every saved range back, newest first; empties the log.
    pub(crate) fn restore<D: Write + Seek>(&mut self, dev: &mut D) -> std::io::Result<()> {
        let mut end = self.len;
        let mut buf = Vec::new();
        for (off, n) in std::mem::take(&mut self.ranges).into_iter().rev() {
            end -= n as u64;
            buf.resize(n, 0);
            self.saved.seek(SeekFrom::Start(end))?;
            self.saved.read_exact(&mut buf)?;
            dev.seek(SeekFrom::Start(off))?;
            dev.write_all(&buf)?;
        }
        self.clear();
        Ok(())
    }

    /// Forgets the log (the operation committed).
    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
        self.len = 0;
        // Dropping the old spool frees its memory or temporary file.
        self.saved = SpooledTempFile::new(IN_MEMORY);
    }
}
