//! Small adapters over `Read`/`Write`/`Seek`.
pub mod window;

pub use window::Window;
