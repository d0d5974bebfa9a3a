//! clem-image: per-node Raspberry Pi cluster images, patched in user space.
//!
//! The data path, top to bottom: [`source`] (open/decompress) → [`disk`] (partition
//! table, partition windows) → [`fs`] (FAT, ext4) → [`flavour`] and [`plan`] (what goes
//! where for a node) → [`build`] (image out) → [`verify`].
//!
//! No `unsafe` outside [`sys`], which holds each such call behind a safe function.
#![deny(unsafe_code)]

pub mod blockdev;
pub mod bmap;
pub mod build;
pub mod cache;
pub mod cat;
pub mod cloudinit;
pub mod cluster;
pub mod debian;
pub mod diff;
pub mod disk;
pub mod docker;
pub mod error;
pub mod explain;
pub mod flash;
pub mod flavour;
pub mod fs;
pub mod inspect;
pub mod io;
pub mod manifest;
pub mod node;
pub mod outdir;
pub mod overlay;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod secret;
pub mod source;
pub mod sshkey;
pub mod summary;
pub mod sys;
pub mod testhook;
pub mod verify;
