//! A read-only guard for drivers that demand `Write`.

use std::io::{self, Read, Seek, Write};

/// Satisfies fatfs's `Write` bound for read-only mounts: any write is an error, so
/// `inspect` and `verify` can never change an image.
pub struct ReadOnly<T>(pub T);

impl<T: Read> Read for ReadOnly<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<T> Write for ReadOnly<T> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "read-only access: refusing to write",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T: Seek> Seek for ReadOnly<T> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}
