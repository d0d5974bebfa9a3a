//! ext4: an in-place writer (and, later, a reader).

pub mod write;
