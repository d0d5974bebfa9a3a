//! Unpacking an image to a sparse file: the one place a compressed image becomes the raw
//! disk that the partition readers and `build` work on. Runs of zeros become holes, so a
//! mostly empty 4 GiB image costs only its data on disk.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{split_io_error, Compression, Source, SourceError};
use crate::io::sparse::write_sparse;

/// Decodes `source` into `dst` (named `dst_path` in errors) from offset 0, leaving zero
/// blocks as holes. `tick` sees each chunk and the bytes produced so far (progress,
/// hashing). Returns the image's size; `dst` is sized to exactly that.
pub fn unpack_into(
    source: &mut Source,
    dst: &File,
    dst_path: &Path,
    tick: impl FnMut(&[u8], u64),
) -> Result<u64, SourceError> {
    write_sparse(source, dst, tick).map_err(|e| match split_io_error(e) {
        Ok(se) => se,
        Err(source) => SourceError::Unpack {
            path: dst_path.to_owned(),
            source,
        },
    })
}

/// A raw image to read: the file itself, or a sparse temporary copy of a compressed one.
/// The copy lives as long as this value.
pub struct RawImage {
    path: PathBuf,
    _tmp: Option<File>,
}

impl RawImage {
    /// The image at `path`, unpacked first when it is compressed.
    pub fn open(path: &Path) -> Result<RawImage, SourceError> {
        let mut src = Source::open(path)?;
        if src.compression() == Compression::None {
            return Ok(RawImage {
                path: path.to_owned(),
                _tmp: None,
            });
        }
        let tmp_err = |source| SourceError::Unpack {
            path: std::env::temp_dir(),
            source,
        };
        // An unlinked file, reached through /proc: a crash or kill leaves nothing behind.
        let tmp = tempfile::tempfile().map_err(tmp_err)?;
        unpack_into(&mut src, &tmp, &std::env::temp_dir(), |_, _| {})?;
        Ok(RawImage {
            path: PathBuf::from(format!("/proc/self/fd/{}", tmp.as_raw_fd())),
            _tmp: Some(tmp),
        })
    }

    /// Where the raw bytes are: the image itself, or its unpacked copy.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_image_unpacks_sparse_and_equal() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![0u8; 1 << 20];
        data[..5].copy_from_slice(b"head\n");
        data[(1 << 20) - 5..].copy_from_slice(b"tail\n");
        let raw = dir.path().join("d.img");
        std::fs::write(&raw, &data).unwrap();
        let st = std::process::Command::new("xz")
            .args(["-k", "-0"])
            .arg(&raw)
            .status()
            .unwrap();
        assert!(st.success());
        let same = RawImage::open(&raw).unwrap();
        assert_eq!(same.path(), raw);
        let img = RawImage::open(&dir.path().join("d.img.xz")).unwrap();
        assert_eq!(std::fs::read(img.path()).unwrap(), data);
        // Holes: far fewer 512-byte blocks than the size needs.
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(img.path()).unwrap();
        assert!(md.blocks() * 512 < md.len() / 2, "not sparse: {md:?}");
    }

    #[test]
    fn a_missing_image_is_named() {
        let e = RawImage::open(Path::new("/nonexistent/x.img.xz"))
            .err()
            .unwrap();
        assert!(crate::error::chain(&e).starts_with("/nonexistent/x.img.xz: cannot open: "));
    }
}
