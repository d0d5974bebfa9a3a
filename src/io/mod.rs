//! Small adapters over `Read`/`Write`/`Seek`.
pub mod checkpoint;
pub mod hash;
pub mod readonly;
pub mod regular;
pub mod sparse;
pub mod tracked;
pub mod window;

pub use hash::{hash_reader, HashingReader};
pub use readonly::ReadOnly;
pub use regular::open_regular;
pub use window::Window;
