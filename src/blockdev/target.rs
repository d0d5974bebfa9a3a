//! Classifying a target path: block device, existing file or new file, and a device's size.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::BlockDevError;

/// What a target path is.
#[derive(Debug, PartialEq, Eq)]
pub enum TargetKind {
    BlockDevice {
        major: u32,
        minor: u32,
    },
    /// A regular file that exists: overwriting it needs a confirmation.
    RegularFile,
    /// Nothing there yet: a file will be created.
    NewFile,
}

/// Classifies a target. Under /dev only block devices are accepted: a missing name there is
/// a card not inserted or a typo, and creating a file would fill RAM and "verify" fine.
pub fn target_kind(path: &Path) -> Result<TargetKind, BlockDevError> {
    let in_dev = || under_dev(path);
    match fs::metadata(path) {
        Ok(m) if m.file_type().is_block_device() => {
            let rdev = m.rdev();
            Ok(TargetKind::BlockDevice {
                major: libc::major(rdev),
                minor: libc::minor(rdev),
            })
        }
        Ok(m) if m.is_file() && in_dev() => Err(BlockDevError::FileInDev {
            path: path.to_owned(),
        }),
        Ok(m) if m.is_file() => Ok(TargetKind::RegularFile),
        Ok(_) => Err(BlockDevError::NotFileOrDevice {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound && in_dev() => Err(BlockDevError::NoDevice {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TargetKind::NewFile),
        Err(source) => Err(BlockDevError::Stat {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Whether `path` names something in /dev: its directory resolved (so `cd /dev; flash x sdb`
/// and symlinks count), or, when that directory does not exist, the path as written.
/// /dev/shm is the one place there meant for files, so it does not count.
pub fn under_dev(path: &Path) -> bool {
    let in_dev = |p: &Path| p.starts_with("/dev") && !p.starts_with("/dev/shm");
    let abs = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    match abs.parent().map(fs::canonicalize) {
        Some(Ok(dir)) => in_dev(&dir),
        _ => in_dev(&abs),
    }
}

/// The size in bytes of an open block device, as the kernel sees it now: `BLKGETSIZE64`, or
/// where that ioctl's encoding differs, the offset of the device's end.
pub fn device_size(file: &fs::File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    if let Ok(size) = crate::sys::blkgetsize64(file) {
        return Ok(size);
    }
    // The file position is not used afterwards (all I/O is pread/pwrite).
    let mut f = file;
    f.seek(SeekFrom::End(0))
}
