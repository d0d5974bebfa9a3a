//! The bundled test sample: the default input of `build`, and an image no Pi boots from,
//! so `build` and `flash` both warn when they are given it.

use std::path::Path;

/// The bundled sample image, the default input.
pub const SAMPLE_IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/snappy-rpi2-sample.img.xz"
);

/// Whether `image` is the bundled sample: by path, or a copy of it (same length, same
/// bytes; the sample is small, and a file of another length is never read).
pub fn is_sample(image: &Path) -> bool {
    let sample = Path::new(SAMPLE_IMAGE);
    let (Ok(a), Ok(b)) = (std::fs::metadata(image), std::fs::metadata(sample)) else {
        return false;
    };
    if !a.is_file() || a.len() != b.len() {
        return false;
    }
    match (std::fs::read(image), std::fs::read(sample)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
