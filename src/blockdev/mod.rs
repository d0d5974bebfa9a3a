//! What a target device is and whether it is safe to overwrite.
//!
//! Everything is read from sysfs and mountinfo through a [`SystemView`], so tests can point
//! it at fake trees. The checks are deliberately conservative: a card reader that shows up as
//! a fixed disk needs `--force`, but nothing overrides "mounted", "holds the running system"
//! or "too small".

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Hidden environment variables that redirect the view, for tests.
pub const ENV_SYSFS_ROOT: &str = "CLEM_IMAGE_SYSFS_ROOT";
pub const ENV_MOUNTINFO: &str = "CLEM_IMAGE_MOUNTINFO";
pub const ENV_SWAPS: &str = "CLEM_IMAGE_SWAPS";

/// Where system facts are read from.
#[derive(Debug, Clone)]
pub struct SystemView {
    pub sys_root: PathBuf,
    pub mountinfo: PathBuf,
    /// Active swap areas (`/proc/swaps`): a swap partition is in use but never mounted.
    pub swaps: PathBuf,
}

impl Default for SystemView {
    fn default() -> Self {
        SystemView {
            sys_root: PathBuf::from("/sys"),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            swaps: PathBuf::from("/proc/swaps"),
        }
    }
}

impl SystemView {
    /// The real system, unless the hidden test variables say otherwise.
    pub fn from_env() -> SystemView {
        let mut v = SystemView::default();
        if let Some(p) = std::env::var_os(ENV_SYSFS_ROOT) {
            v.sys_root = p.into();
        }
        if let Some(p) = std::env::var_os(ENV_MOUNTINFO) {
            v.mountinfo = p.into();
        }
        if let Some(p) = std::env::var_os(ENV_SWAPS) {
            v.swaps = p.into();
        }
        v
    }
}

#[derive(Debug, Error)]
pub enum BlockDevError {
    #[error("{path}: cannot tell what it is")]
    Stat { path: PathBuf, source: io::Error },
    #[error("{path}: neither a block device nor a regular file")]
    NotFileOrDevice { path: PathBuf },
    #[error("{path}: cannot read the mount table")]
    Mountinfo { path: PathBuf, source: io::Error },
    #[error("{path}: no such device: is the card inserted? (`lsblk` lists the disks there are)")]
    NoDevice { path: PathBuf },
    #[error("{path} is a regular file under /dev, not a device (left by an earlier write to a card that was not there?); remove it, insert the card and give its device")]
    FileInDev { path: PathBuf },
    #[error("{path}: not found in sysfs ({link})")]
    NotInSysfs {
        path: PathBuf,
        link: PathBuf,
        source: io::Error,
    },
    #[error("{path}: not found in sysfs (no readable {file})")]
    NoSysfsSize { path: PathBuf, file: PathBuf },
    #[error(
        "{path} is partition {name}; give the whole device (e.g. /dev/{parent}), not a partition"
    )]
    Partition {
        path: PathBuf,
        name: String,
        parent: String,
    },
    #[error("{path} ({name}) holds the running system: {what} is mounted from it; refusing to overwrite it")]
    SystemDisk {
        path: PathBuf,
        name: String,
        what: String,
    },
    #[error("{path} ({name}) is in use: {what}; unmount it first")]
    Mounted {
        path: PathBuf,
        name: String,
        what: String,
    },
    #[error(
        "{path} ({name}) is not a removable or USB device; if it really is the card, pass --force"
    )]
    NotRemovable { path: PathBuf, name: String },
    #[error("{path} ({name}) is too small: {size} bytes, the image needs {needed} bytes")]
    TooSmall {
        path: PathBuf,
        name: String,
        size: u64,
        needed: u64,
    },
}

/// Facts about a whole-disk block device, gathered from the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub path: PathBuf,
    /// Kernel name, e.g. `sdb` or `mmcblk0`.
    pub name: String,
    /// Bytes, from sysfs `size` (always in 512-byte units).
    pub size: u64,
    pub removable: bool,
    pub usb: bool,
    pub model: Option<String>,
    pub vendor: Option<String>,
    /// `major:minor` of the disk, its partitions and anything stacked on them.
    pub devnums: BTreeSet<String>,
}

impl DeviceInfo {
    /// One line for the confirmation prompt.
    pub fn describe(&self) -> String {
        let label = [self.vendor.as_deref(), self.model.as_deref()]
            .iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        let label = if label.is_empty() {
            "unknown model".to_string()
        } else {
            label
        };
        format!(
            "{} ({}): {}, {}{}",
            self.path.display(),
            self.name,
            label,
            human_bytes(self.size),
            if self.usb { ", USB" } else { "" }
        )
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {} ({n} bytes)", UNITS[u])
    }
}

mod mounts;
mod sysfs;
mod target;
#[cfg(test)]
mod tests;

pub use target::{device_size, target_kind, under_dev, TargetKind};
