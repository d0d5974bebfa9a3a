//! Small adapters over `Read`/`Write`/`Seek`.
pub mod checkpoint;
pub mod hash;
pub mod readonly;
pub mod sparse;
pub mod tracked;
pub mod window;

pub use hash::hash_reader;
pub use readonly::ReadOnly;
pub use window::Window;
