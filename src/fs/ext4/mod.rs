//! ext4: reading through `ext4-view` (`read`); in-place writing (`write`).

pub mod read;
pub mod write;
