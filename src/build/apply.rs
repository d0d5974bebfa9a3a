//! Carrying out a node's plan on its image copy, partition by partition: FAT through
//! [`Fat`], ext4 through [`Ext4Writer`], recording where the writes land.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::path::Path;
use std::rc::Rc;

use super::{io_err, BuildError};
use crate::fs::ext4::write::{Ext4Error, Ext4Writer, Meta};
use crate::fs::fat::Fat;
use crate::fs::FsKind;
use crate::io::tracked::{Tracked, Written};
use crate::plan::{FileOp, HostFile, NodePlan, OpKind};
use crate::probe::ImageInfo;

/// Carries out a plan on the image at `path`, partition by partition. Returns where it
/// wrote.
pub fn apply(
    path: &Path,
    info: &ImageInfo,
    plan: &NodePlan,
    epoch: u64,
) -> Result<Written, BuildError> {
    let written = Rc::new(RefCell::new(Written::default()));
    for number in plan.partitions() {
        let part = info
            .part(number)
            .expect("plans name partitions from the probe");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        let file = Tracked::new(file, written.clone()).map_err(io_err(path))?;
        let win = part.partition.window(file);
        let ops = plan.ops.iter().filter(|o| o.partition == number);
        match part.fs {
            FsKind::Vfat => {
                let fat_err = |source| BuildError::Fat {
                    path: path.to_owned(),
                    partition: number,
                    source,
                };
                let fat = Fat::open(win, epoch).map_err(fat_err)?;
                for op in ops {
                    if let OpKind::Copy { source } = &op.kind {
                        // Plans copy host files onto ext4 only (FAT has no permissions).
                        return Err(BuildError::Io {
                            path: source.path.clone(),
                            source: std::io::Error::other("host files are not copied onto FAT"),
                        });
                    }
                    fat.write(&op.path, op.data()).map_err(fat_err)?;
                }
                fat.unmount().map_err(fat_err)?;
            }
            FsKind::Ext4 => {
                let ext_err = |source| BuildError::Ext4 {
                    path: path.to_owned(),
                    partition: number,
                    source,
                };
                let mut w = Ext4Writer::open(win).map_err(ext_err)?;
                for op in ops {
                    apply_ext4(&mut w, op).map_err(ext_err)?;
                }
                w.finish().map_err(ext_err)?;
            }
            fs => {
                return Err(BuildError::Unsupported {
                    path: path.to_owned(),
                    partition: number,
                    fs,
                })
            }
        }
    }
    let written = written.borrow().clone();
    Ok(written)
}

fn apply_ext4<D: std::io::Read + std::io::Write + std::io::Seek>(
    w: &mut Ext4Writer<D>,
    op: &FileOp,
) -> Result<(), Ext4Error> {
    let meta = Meta {
        mode: op.mode,
        uid: op.uid,
        gid: op.gid,
        // ext4 times are 32-bit here; the epoch is validated to fit when read.
        mtime: u32::try_from(op.mtime).unwrap_or(u32::MAX),
    };
    // Parents the plan does not name are created root-owned 0755, as a package would.
    if let Some((parent, _)) = op.path.rsplit_once('/') {
        if !parent.is_empty() {
            w.mkdir_p(
                parent,
                Meta {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    ..meta
                },
            )?;
        }
    }
    match &op.kind {
        OpKind::Dir => w.mkdir_p(&op.path, meta),
        OpKind::File { data } => w.write_file(&op.path, &mut &data[..], data.len() as u64, meta),
        OpKind::Symlink { target } => w.symlink(&op.path, target, meta),
        OpKind::Copy { source } => copy_host_file(w, &op.path, source, meta),
    }
}

/// Streams a host file into the image, checking it is still the file the plan hashed.
fn copy_host_file<D: std::io::Read + std::io::Write + std::io::Seek>(
    w: &mut Ext4Writer<D>,
    path: &str,
    source: &HostFile,
    meta: Meta,
) -> Result<(), Ext4Error> {
    let changed = |what: &str| {
        Ext4Error::Io(std::io::Error::other(format!(
            "{}: {what} since the build began; not copied",
            source.path.display()
        )))
    };
    let file = crate::io::open_regular(&source.path).map_err(|e| {
        Ext4Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", source.path.display()),
        ))
    })?;
    if file.metadata().map_err(Ext4Error::Io)?.len() != source.size {
        return Err(changed("changed size"));
    }
    let mut reader = crate::io::HashingReader::new(std::io::BufReader::new(file));
    w.write_file(path, &mut reader, source.size, meta)?;
    if reader.finish() != source.sha256 {
        return Err(changed("changed"));
    }
    Ok(())
}
