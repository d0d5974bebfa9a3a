//! File-system drivers that work on a partition window, without mounting.

pub mod ext4;
