//! Offline readers for Debian package formats, for images we never boot: the dpkg
//! database of an image ([`dpkg`]), `.deb` files ([`deb`]) and a directory of them meant
//! for an image ([`bundle`]), and Ubuntu Snappy 15.04 `.snap` files ([`snap`], click debs
//! underneath). [`control`] parses the deb822 text all of them share; `ar` the container.
//!
//! Everything here reads files a user handed us: hostile input is an error naming the
//! file, never a panic, a hang or an unbounded allocation.

mod ar;
pub mod bundle;
pub mod control;
pub mod deb;
pub mod dpkg;
mod member;
pub mod snap;

pub use ar::ArError;
pub use bundle::{check_bundle, Bundle, BundleError, PackageRef};
pub use control::{ControlError, Dep, Stanza, VersionOp};
pub use deb::{read_deb, DebError, DebInfo};
pub use dpkg::{compare_versions, installed, native_arch, DpkgError, Installed};
pub use snap::{read_snap, SnapError, SnapInfo};
