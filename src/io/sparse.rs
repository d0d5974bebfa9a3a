//! Sparse output: runs of zeros become holes, and copies skip holes (or share extents).
//!
//! Disk images are mostly empty. Writing their zeros costs time and disk; leaving holes
//! keeps a 4 GB image's footprint at the size of its data.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use rustix::fs::SeekFrom;

/// Granularity of hole detection: the common file-system block size.
pub const BLOCK: usize = 4096;
const CHUNK: usize = 1 << 20;

fn is_zero(buf: &[u8]) -> bool {
    // A data block usually shows itself in its first bytes; the rest is checked in slices
    // whose OR the compiler vectorises (no early exit inside a slice).
    let (head, rest) = buf.split_at(buf.len().min(16));
    head.iter().all(|&b| b == 0)
        && rest
            .chunks(256)
            .all(|c| c.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// Copies everything `src` yields into `dst` from offset 0, leaving zero blocks as holes.
/// `tick` sees each chunk and the bytes produced so far (for progress and hashing).
/// Returns the number of bytes; `dst` is sized to exactly that.
pub fn write_sparse(
    src: &mut dyn Read,
    dst: &File,
    mut tick: impl FnMut(&[u8], u64),
) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut offset = 0u64;
    loop {
        let n = read_full(src, &mut buf)?;
        if n == 0 {
            break;
        }
        write_nonzero_runs(dst, &buf[..n], offset)?;
        offset += n as u64;
        tick(&buf[..n], offset);
        if n < buf.len() {
            break;
        }
    }
    // Extends over a trailing hole, and trims nothing: dst started empty.
    dst.set_len(offset)?;
    Ok(offset)
}

/// Writes `data` at `at`, skipping whole zero blocks; runs of data blocks go out in one
/// write each (one syscall per run, not per block).
fn write_nonzero_runs(dst: &File, data: &[u8], at: u64) -> io::Result<()> {
    let mut run: Option<usize> = None;
    for (i, block) in data.chunks(BLOCK).enumerate() {
        match (is_zero(block), run) {
            (false, None) => run = Some(i),
            (true, Some(first)) => {
                dst.write_all_at(&data[first * BLOCK..i * BLOCK], at + (first * BLOCK) as u64)?;
                run = None;
            }
            _ => {}
        }
    }
    if let Some(first) = run {
        dst.write_all_at(&data[first * BLOCK..], at + (first * BLOCK) as u64)?;
    }
    Ok(())
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Truncates `dst` to nothing unless it is empty already. A truncation to zero makes ext4
/// (`auto_da_alloc`) flush the file's data when it is closed, as for a file replaced by
/// rewriting: for a new node image that would be a write of all its data, waited for.
fn empty(dst: &File) -> io::Result<()> {
    if dst.metadata()?.len() != 0 {
        dst.set_len(0)?;
    }
    Ok(())
}

/// Makes `dst` a copy of `src`: a reflink (shared extents) where the file system allows,
/// else a copy of the data ranges only, so holes stay holes.
pub fn copy_sparse(src: &File, dst: &File) -> io::Result<CopyKind> {
    if reflink(src, dst).is_ok() {
        return Ok(CopyKind::Reflink);
    }
    let len = src.metadata()?.len();
    empty(dst)?;
    let ranges = data_ranges(src, len)?;
    // In-kernel copy first: no trip through user space for the data.
    if ranges
        .iter()
        .all(|&(start, end)| kernel_copy(src, dst, start, end).is_ok())
    {
        dst.set_len(len)?;
        return Ok(CopyKind::KernelCopy);
    }
    empty(dst)?;
    let mut buf = vec![0u8; CHUNK];
    for (start, end) in ranges {
        let mut pos = start;
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            src.read_exact_at(&mut buf[..want], pos)?;
            // Data ranges may still hold zero blocks (e.g. preallocated); keep those sparse too.
            write_nonzero_runs(dst, &buf[..want], pos)?;
            pos += want as u64;
        }
    }
    dst.set_len(len)?;
    Ok(CopyKind::DataRanges)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    Reflink,
    KernelCopy,
    DataRanges,
}

/// copy_file_range(2) of `[start, end)` to the same offsets.
fn kernel_copy(src: &File, dst: &File, start: u64, end: u64) -> io::Result<()> {
    let mut off_in = start;
    let mut off_out = start;
    let mut left = end - start;
    while left > 0 {
        let want = left.min(1 << 30) as usize;
        let n = rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source ended early",
            ));
        }
        left -= n as u64;
    }
    Ok(())
}

fn reflink(src: &File, dst: &File) -> io::Result<()> {
    Ok(rustix::fs::ioctl_ficlone(dst, src)?)
}

/// The `[start, end)` ranges of `file` that hold data, by SEEK_DATA/SEEK_HOLE; the whole
/// file as one range where the file system cannot tell.
pub fn data_ranges(file: &File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    data_ranges_in(file, 0, len)
}

/// [`data_ranges`] of `[from, to)` only, clipped to it.
pub fn data_ranges_in(file: &File, from: u64, to: u64) -> io::Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    let mut pos: u64 = from;
    while pos < to {
        let data = match rustix::fs::seek(file, SeekFrom::Data(pos)) {
            Ok(data) => data,
            Err(rustix::io::Errno::NXIO) => return Ok(out), // only a hole remains
            Err(rustix::io::Errno::INVAL) => return Ok(vec![(from, to)]), // SEEK_DATA unsupported
            Err(e) => return Err(e.into()),
        };
        let hole = rustix::fs::seek(file, SeekFrom::Hole(data))?.min(to);
        if hole > data {
            out.push((data, hole));
        }
        pos = hole;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_single_nonzero_byte_anywhere_makes_a_block_data() {
        assert!(is_zero(&[0u8; BLOCK]));
        assert!(is_zero(&[]));
        for at in [0, 15, 16, 17, 255, 271, 272, 2048, BLOCK - 1] {
            let mut b = vec![0u8; BLOCK];
            b[at] = 0x80;
            assert!(!is_zero(&b), "byte {at}");
            assert!(!is_zero(&b[..at + 1]), "short slice ending at {at}");
        }
    }

    #[test]
    fn zeros_become_holes_and_bytes_survive() {
        let mut data = vec![0u8; 8 << 20];
        data[5000] = 7;
        data[(6 << 20) + 1] = 9;
        // A run of data blocks crossing a chunk boundary, and the very last block.
        data[(1 << 20) - 9000..(1 << 20) + 9000].fill(3);
        let last = data.len() - 10;
        data[last] = 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.img");
        let f = File::create(&path).unwrap();
        let n = write_sparse(&mut Cursor::new(&data), &f, |_, _| {}).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(std::fs::read(&path).unwrap(), data);
        // Two 4 KiB blocks of data in an 8 MiB file: allocation must be far below its size.
        assert!(f.metadata().unwrap().blocks() * 512 < 1 << 20);
        assert!(f.metadata().unwrap().blocks() * 512 > 0);

        let copy_path = dir.path().join("copy.img");
        let copy = File::create(&copy_path).unwrap();
        copy_sparse(&File::open(&path).unwrap(), &copy).unwrap();
        assert_eq!(std::fs::read(&copy_path).unwrap(), data);
        assert!(copy.metadata().unwrap().blocks() * 512 < 1 << 20);
    }
}
