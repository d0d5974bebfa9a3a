//! A loop device dressed as an SD card: `losetup` attaches a file, and a fake sysfs tree
//! (read through `CLEM_IMAGE_SYSFS_ROOT`) says the disk is removable, of a given size.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mountinfo line with the root file system on /dev/vda1: no card is mounted or holds `/`.
pub const ROOT_ON_VDA: &str = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n";

/// An attached loop device, detached on drop.
pub struct Loop(pub PathBuf);

impl Loop {
    /// None where this machine has no loop devices to give (the caller skips, saying so).
    pub fn attach(backing: &Path) -> Option<Loop> {
        let o = Command::new("losetup")
            .arg("-f")
            .arg("--show")
            .arg(backing)
            .output()
            .ok()?;
        o.status.success().then(|| {
            Loop(PathBuf::from(
                String::from_utf8_lossy(&o.stdout).trim().to_string(),
            ))
        })
    }

    /// A sysfs tree under `root/sys` in which this device is a removable disk of
    /// `size_bytes`; returns the tree's root.
    pub fn fake_card_sysfs(&self, root: &Path, size_bytes: u64) -> PathBuf {
        let rdev = fs::metadata(&self.0).unwrap().rdev();
        let sys = root.join("sys");
        let disk = sys.join("devices/virtual/block/card");
        fs::create_dir_all(&disk).unwrap();
        fs::write(disk.join("removable"), "1\n").unwrap();
        fs::write(disk.join("size"), format!("{}\n", size_bytes / 512)).unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        let link = format!("dev/block/{}:{}", libc::major(rdev), libc::minor(rdev));
        symlink(&disk, sys.join(link)).unwrap();
        sys
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}
