//! Opening a file that must be a regular file: a FIFO would block the open or the read
//! forever, and a device (`/dev/zero`) never ends.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The largest file of each kind a user may give (README, "Files you give it").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, for the message: "an SSH public key file".
    pub what: &'static str,
    pub max_bytes: u64,
}

const MIB: u64 = 1 << 20;

pub const SSH_KEY: Limit = Limit {
    what: "an SSH public key file",
    max_bytes: MIB,
};
pub const CLOUD_CONFIG: Limit = Limit {
    what: "a cloud-config file",
    max_bytes: MIB,
};
pub const CLUSTER_CONFIG: Limit = Limit {
    what: "a cluster config",
    max_bytes: MIB,
};
pub const PEM: Limit = Limit {
    what: "a PEM certificate or key",
    max_bytes: MIB,
};
pub const SIDECAR: Limit = Limit {
    what: "a manifest, block map or sums file",
    max_bytes: 64 * MIB,
};
/// Packages, snaps and image archives are streamed, never held; the bound only stops a
/// mistaken path (a whole disk image) from being copied onto every card.
pub const PAYLOAD: Limit = Limit {
    what: "a package, snap or image archive",
    max_bytes: 4096 * MIB,
};

/// Why a user's file was refused. Never holds any of the file's contents.
#[derive(Debug, Error)]
#[error("{path}: {problem}")]
pub struct UserFileError {
    pub path: PathBuf,
    pub problem: String,
}

impl UserFileError {
    fn new(path: &Path, problem: impl Into<String>) -> Self {
        UserFileError {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Opens a user's file of kind `limit`: a regular file (after symlinks) no larger than the
/// limit. Returns it with its length.
pub fn open_user_file(path: &Path, limit: Limit) -> Result<(File, u64), UserFileError> {
    let file = open_regular(path).map_err(|e| UserFileError::new(path, e.to_string()))?;
    let len = file
        .metadata()
        .map_err(|e| UserFileError::new(path, e.to_string()))?
        .len();
    if len > limit.max_bytes {
        return Err(too_large(path, limit));
    }
    Ok((file, len))
}

/// Reads a user's small file whole, refusing it (by name, not by contents) when it is not
/// a regular file or grows past the limit while being read.
pub fn read_user_file(path: &Path, limit: Limit) -> Result<Vec<u8>, UserFileError> {
    let (file, len) = open_user_file(path, limit)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit.max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UserFileError::new(path, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit.max_bytes {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

/// [`read_user_file`] for text: UTF-8 is required, and the message says where it breaks.
pub fn read_user_text(path: &Path, limit: Limit) -> Result<String, UserFileError> {
    String::from_utf8(read_user_file(path, limit)?).map_err(|e| {
        UserFileError::new(
            path,
            format!(
                "is not UTF-8 text (invalid byte at offset {}): is this {}?",
                e.utf8_error().valid_up_to(),
                limit.what
            ),
        )
    })
}

fn too_large(path: &Path, limit: Limit) -> UserFileError {
    UserFileError::new(
        path,
        format!(
            "is larger than {} MiB, the limit for {}",
            limit.max_bytes / MIB,
            limit.what
        ),
    )
}

/// Opens `path` for reading if it is a regular file; anything else is an error that says
/// what it is. The open itself does not block on a FIFO (`O_NONBLOCK`), and the check is
/// made on the opened file, so a swap after the check cannot slip another kind in.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_block_device() || kind.is_char_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("is {what}, not a regular file"),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifo_dir_and_device_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        crate::sys::mkfifo(&fifo, 0o600).unwrap();
        let e = open_regular(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        assert!(open_regular(dir.path())
            .unwrap_err()
            .to_string()
            .contains("directory"));
        let e = open_regular(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("device"), "{e}");
        let f = dir.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        assert!(open_regular(&f).is_ok());
    }

    #[test]
    fn user_files_are_bounded_and_errors_hold_no_contents() {
        let dir = tempfile::tempdir().unwrap();
        let small = Limit {
            what: "a test file",
            max_bytes: 8,
        };
        let f = dir.path().join("secret");
        std::fs::write(&f, b"hunter2-and-more").unwrap();
        let e = read_user_file(&f, small).unwrap_err().to_string();
        assert!(
            e.contains("limit for a test file") && !e.contains("hunter2"),
            "{e}"
        );
        std::fs::write(&f, b"hunter2").unwrap();
        assert_eq!(read_user_file(&f, small).unwrap(), b"hunter2");
        let e = read_user_file(Path::new("/dev/zero"), small)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/dev/zero: ") && e.contains("device"), "{e}");
        std::fs::write(&f, b"ab\xffcd").unwrap();
        let e = read_user_text(&f, small).unwrap_err().to_string();
        assert!(e.contains("offset 2"), "{e}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(
            read_user_file(&link, small).is_ok(),
            "symlinks to regular files are followed"
        );
    }
}
