//! The crate's only `unsafe` code: the few system calls that neither the standard library
//! nor rustix wrap safely, each behind a safe function.
//!
//! Safety argument: every block below passes the kernel only descriptors borrowed for the
//! call (so they stay open throughout) and pointers to locals of the calling frame that are
//! valid and correctly typed for what the call writes. Nothing here keeps a pointer past the
//! call or touches memory the borrow checker does not see. Everything else (fcntl, fadvise,
//! seeks, FICLONE, copy_file_range, flock, kill, mkfifo) goes through safe rustix or std
//! calls; SIGINT goes through signal-hook.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// `BLKGETSIZE64`, i.e. `_IOR(0x12, 114, size_t)` in the generic ioctl encoding used by x86
/// and Arm (the Pi).
const BLKGETSIZE64: u64 =
    (2 << 30) | ((std::mem::size_of::<usize>() as u64) << 16) | (0x12 << 8) | 114;

/// The size in bytes of the block device open as `fd`, by `BLKGETSIZE64`.
pub fn blkgetsize64(fd: impl AsFd) -> io::Result<u64> {
    let mut size: u64 = 0;
    // SAFETY: `fd` is borrowed, so open for the call; BLKGETSIZE64 writes exactly one u64
    // through the pointer, which points at a live local u64.
    let r = unsafe {
        libc::ioctl(
            fd.as_fd().as_raw_fd(),
            BLKGETSIZE64 as libc::Ioctl,
            &mut size as *mut u64,
        )
    };
    if r == 0 {
        Ok(size)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives SIGPIPE its default action back (Rust starts programs with it ignored). Call it
/// first thing in `main`, before any thread starts.
pub fn default_sigpipe() {
    // SAFETY: setting a disposition to SIG_DFL installs no handler, so no code of ours
    // runs in signal context; called before other threads exist, it races with nothing.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Makes a FIFO at `path` with permission bits `mode` (less the umask); for tests.
pub fn mkfifo(path: &std::path::Path, mode: u32) -> io::Result<()> {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(mode), 0).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkgetsize64_refuses_a_regular_file() {
        let f = tempfile::tempfile().unwrap();
        assert!(blkgetsize64(&f).is_err());
    }

    #[test]
    fn mkfifo_makes_a_fifo() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        mkfifo(&p, 0o600).unwrap();
        assert!(std::fs::metadata(&p).unwrap().file_type().is_fifo());
        assert!(mkfifo(&p, 0o600).is_err(), "an existing name is refused");
    }
}
