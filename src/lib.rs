//! clem-image: per-node Raspberry Pi cluster images, patched in user space.
//!
//! The data path, top to bottom: [`source`] (open/decompress) → [`disk`] (partition
//! table, partition windows) → [`fs`] (FAT, ext4) → [`flavour`] and [`plan`] (what goes
//! where for a node) → [`build`] (image out) → [`verify`].

pub mod fs;
pub mod io;
pub mod source;
