//! ext4: reading through `ext4-view` (`read`); in-place writing lives in `write`.

pub mod read;
