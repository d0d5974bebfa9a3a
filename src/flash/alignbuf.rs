//! Page-aligned buffers for O_DIRECT, made safely: a zeroed vector one alignment longer
//! than needed, seen through the aligned window inside it.

use std::ops::{Deref, DerefMut};

/// Alignment for O_DIRECT buffers, offsets and lengths (covers 512 and 4096 sector sizes).
pub const ALIGN: usize = 4096;

/// A zeroed heap buffer of at least [`ALIGN`] bytes whose first byte is [`ALIGN`]-aligned.
pub struct AlignedBuf {
    mem: Vec<u8>,
    /// Where the aligned window starts in `mem`; moving the buffer does not move the heap
    /// block, so this stays right.
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let len = len.max(ALIGN);
        let mem = vec![0u8; len + ALIGN];
        let start = mem.as_ptr().align_offset(ALIGN);
        assert!(start < ALIGN, "a u8 buffer can always be aligned");
        AlignedBuf { mem, start, len }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.mem[self.start..self.start + self.len]
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_and_at_least_a_page() {
        for len in [0, 1, ALIGN, ALIGN + 1, 3 << 20] {
            let b = AlignedBuf::new(len);
            assert_eq!(b.len(), len.max(ALIGN));
            assert_eq!(b.as_ptr() as usize % ALIGN, 0, "len {len}");
            assert!(b.iter().all(|&x| x == 0));
        }
        // Moving the buffer keeps its window aligned: the heap block stays put.
        let moved = Box::new(AlignedBuf::new(10));
        assert_eq!(moved.as_ptr() as usize % ALIGN, 0);
    }
}
