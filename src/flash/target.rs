//! The card (or file) being written and read back: O_DIRECT where it is taken, with a
//! cached fallback, plus creating a new target file and the corruption test seam.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::alignbuf::{AlignedBuf, ALIGN};
use super::{FlashError, CHUNK};

/// The card (or file) being written, with O_DIRECT when it takes it.
pub(super) struct Target {
    path: PathBuf,
    pub(super) file: File,
    direct: bool,
    /// O_DIRECT carried the bulk of the I/O (only a short tail, if anything, went cached).
    pub(super) mostly_direct: bool,
}

impl Target {
    pub(super) fn open_write(path: &Path, is_file: bool) -> Result<Target, FlashError> {
        // No truncation of a file: with a bmap, unmapped ranges of an existing file keep their
        // bytes. O_EXCL on a block device fails if the kernel has it mounted or claimed.
        let extra = if is_file { 0 } else { libc::O_EXCL };
        Target::open_with(path, true, extra, "open for writing")
    }

    pub(super) fn open_read(path: &Path) -> Result<Target, FlashError> {
        let t = Target::open_with(path, false, 0, "open for verifying")?;
        if !t.direct {
            t.drop_cache();
        }
        Ok(t)
    }

    fn open_with(
        path: &Path,
        write: bool,
        extra: i32,
        op: &'static str,
    ) -> Result<Target, FlashError> {
        let options = |flags: i32| {
            let mut o = OpenOptions::new();
            if write {
                o.write(true).create(extra & libc::O_EXCL == 0);
            } else {
                o.read(true);
            }
            o.custom_flags(flags);
            o
        };
        let err = |source| FlashError::Target {
            path: path.to_owned(),
            op,
            offset: 0,
            source,
        };
        match options(extra | libc::O_DIRECT).open(path) {
            Ok(file) => Ok(Target {
                path: path.to_owned(),
                file,
                direct: true,
                mostly_direct: true,
            }),
            // tmpfs and some FUSE file systems refuse O_DIRECT at open.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(Target {
                path: path.to_owned(),
                file: options(extra).open(path).map_err(err)?,
                direct: false,
                mostly_direct: false,
            }),
            Err(source) => Err(err(source)),
        }
    }

    fn set_direct(&mut self, on: bool) {
        use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
        // Best effort, as before: a flag that does not change shows up as EINVAL on the next
        // I/O, which falls back to the cache.
        if let Ok(mut fl) = fcntl_getfl(&self.file) {
            fl.set(OFlags::DIRECT, on);
            let _ = fcntl_setfl(&self.file, fl);
        }
        self.direct = on;
    }

    fn give_up_direct(&mut self) {
        self.set_direct(false);
        self.mostly_direct = false;
    }

    /// Forgets cached pages so reads come from the medium (the fallback without O_DIRECT).
    fn drop_cache(&self) {
        // Advice only: where it is not taken, verification still compares what it reads.
        let _ = rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::DontNeed);
    }

    pub(super) fn write_at(&mut self, buf: &[u8], off: u64) -> Result<(), FlashError> {
        let aligned = off.is_multiple_of(ALIGN as u64) && buf.len().is_multiple_of(ALIGN);
        if self.direct && !aligned {
            // The tail of an image need not be sector-sized; write it through the cache
            // (the final fsync still covers it).
            self.set_direct(false);
        }
        match self.file.write_all_at(buf, off) {
            Ok(()) => Ok(()),
            // Some file systems accept O_DIRECT at open and refuse it on write.
            Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                self.give_up_direct();
                self.file
                    .write_all_at(buf, off)
                    .map_err(|source| self.err("write", off, source))
            }
            Err(source) => Err(self.err("write", off, source)),
        }
    }

    pub(super) fn read_at(&mut self, off: u64, buf: &mut [u8]) -> Result<(), FlashError> {
        if self.direct && (!off.is_multiple_of(ALIGN as u64) || !buf.len().is_multiple_of(ALIGN)) {
            if off.is_multiple_of(ALIGN as u64) && buf.len() <= CHUNK {
                // O_DIRECT wants whole sectors: read a rounded-up length into an aligned
                // scratch buffer and keep the part asked for.
                let mut tmp = AlignedBuf::new(buf.len().next_multiple_of(ALIGN));
                let got = self.read_some(off, &mut tmp)?;
                if got < buf.len() {
                    return Err(self.err(
                        "read",
                        off + got as u64,
                        io::ErrorKind::UnexpectedEof.into(),
                    ));
                }
                buf.copy_from_slice(&tmp[..buf.len()]);
                return Ok(());
            }
            self.give_up_direct();
            self.drop_cache();
        }
        let got = match self.read_some(off, buf) {
            Err(FlashError::Target { source, .. })
                if self.direct && source.raw_os_error() == Some(libc::EINVAL) =>
            {
                self.give_up_direct();
                self.drop_cache();
                self.read_some(off, buf)?
            }
            r => r?,
        };
        if got < buf.len() {
            return Err(self.err(
                "read",
                off + got as u64,
                io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        Ok(())
    }

    fn read_some(&self, off: u64, buf: &mut [u8]) -> Result<usize, FlashError> {
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], off + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(self.err("read", off + got as u64, source)),
            }
        }
        Ok(got)
    }

    pub(super) fn set_len(&self, len: u64) -> Result<(), FlashError> {
        self.file
            .set_len(len)
            .map_err(|source| self.err("resize", len, source))
    }

    pub(super) fn sync(&self) -> Result<(), FlashError> {
        self.file
            .sync_all()
            .map_err(|source| self.err("fsync", 0, source))
    }

    pub(super) fn err(&self, op: &'static str, offset: u64, source: io::Error) -> FlashError {
        FlashError::Target {
            path: self.path.clone(),
            op,
            offset,
            source,
        }
    }
}

/// Creates `path` (it must not exist) with exactly `mode`'s permission bits: opened 0600,
/// which a umask can only narrow, then set with fchmod, which no umask touches, before any
/// byte of the image is in it.
pub(super) fn create_with_mode(path: &Path, mode: u32) -> Result<(), FlashError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |op, source| FlashError::Target {
        path: path.to_owned(),
        op,
        offset: 0,
        source,
    };
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| err("create", e))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| err("chmod", e))
}

/// The test seam: flips the byte at `off` so verification must find it.
pub(super) fn corrupt_byte(path: &Path, off: u64) -> Result<(), FlashError> {
    let err = |op, source| FlashError::Target {
        path: path.to_owned(),
        op,
        offset: off,
        source,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| err("open (test seam)", e))?;
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(off))
        .map_err(|e| err("seek (test seam)", e))?;
    f.read_exact(&mut b)
        .map_err(|e| err("read (test seam)", e))?;
    f.write_all_at(&[!b[0]], off)
        .map_err(|e| err("write (test seam)", e))?;
    f.sync_all().map_err(|e| err("fsync (test seam)", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_error_names_the_path_and_step_and_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no-such-dir/card.img");
        let e = Target::open_write(&p, true).err().expect("no parent dir");
        let text = crate::error::chain(&e);
        assert!(
            text.starts_with(&format!(
                "{}: open for writing failed at offset 0: ",
                p.display()
            )),
            "{text}"
        );
        assert_eq!(text.matches("No such file").count(), 1, "{text}");
    }

    #[test]
    fn writes_go_through_and_a_new_file_gets_exactly_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.img");
        create_with_mode(&p, 0o640).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let mut t = Target::open_write(&p, true).unwrap();
        // One aligned block and an unaligned tail (which turns O_DIRECT off where it was on).
        let block = AlignedBuf::new(ALIGN);
        t.write_at(&block, 0).unwrap();
        t.write_at(b"tail", ALIGN as u64).unwrap();
        t.sync().unwrap();
        let mut r = Target::open_read(&p).unwrap();
        let mut back = vec![1u8; ALIGN + 4];
        r.read_at(0, &mut back).unwrap();
        assert!(back[..ALIGN].iter().all(|&b| b == 0));
        assert_eq!(&back[ALIGN..], b"tail");
        assert!(
            create_with_mode(&p, 0o600).is_err(),
            "an existing file is refused"
        );
    }
}
