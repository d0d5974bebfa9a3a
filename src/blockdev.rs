//! What a target device is and whether it is safe to overwrite.
//!
//! Everything is read from sysfs and mountinfo through a [`SystemView`], so tests can point
//! it at fake trees. The checks are deliberately conservative: a card reader that shows up as
//! a fixed disk needs `--force`, but nothing overrides "mounted", "holds the running system"
//! or "too small".

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

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

fn read_trim(p: &Path) -> Option<String> {
    fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl SystemView {
    /// Finds the disk behind `major:minor` and reads what we need to judge it.
    pub fn inspect(
        &self,
        path: &Path,
        major: u32,
        minor: u32,
    ) -> Result<DeviceInfo, BlockDevError> {
        let link = self.sys_root.join(format!("dev/block/{major}:{minor}"));
        let real = fs::canonicalize(&link).map_err(|source| BlockDevError::NotInSysfs {
            path: path.to_owned(),
            link: link.clone(),
            source,
        })?;
        let name = file_name(&real);
        if real.join("partition").exists() {
            let parent = real.parent().map(file_name).unwrap_or_default();
            return Err(BlockDevError::Partition {
                path: path.to_owned(),
                name,
                parent,
            });
        }
        let sectors = read_trim(&real.join("size"))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| BlockDevError::NoSysfsSize {
                path: path.to_owned(),
                file: real.join("size"),
            })?;
        let removable = read_trim(&real.join("removable")).as_deref() == Some("1");
        // The resolved sysfs path runs through the bus the disk hangs off; USB card readers
        // often report removable=0 for the reader's LUN, so USB counts as removable too.
        let real_str = real.to_string_lossy();
        let usb = real_str.contains("/usb");
        // Built-in SD slots (mmc bus) report removable=0 as well, yet hold exactly the cards
        // this tool writes; the system-disk check still protects a Pi booted from one.
        let mmc_sd = name.starts_with("mmcblk") && !name.contains("boot") && !name.contains("rpmb");
        let model =
            read_trim(&real.join("device/model")).or_else(|| read_trim(&real.join("device/name")));
        let vendor = read_trim(&real.join("device/vendor"));
        let mut devnums = BTreeSet::new();
        collect_devnums(&real, &mut devnums, 0);
        devnums.insert(format!("{major}:{minor}"));
        Ok(DeviceInfo {
            path: path.to_owned(),
            name,
            size: sectors * 512,
            removable: removable || mmc_sd,
            usb,
            model,
            vendor,
            devnums,
        })
    }

    /// Applies every safety rule; `force` waives only the removable rule.
    pub fn check(
        &self,
        dev: &DeviceInfo,
        image_size: u64,
        force: bool,
    ) -> Result<(), BlockDevError> {
        let mounts = self.mounts()?;
        let in_dev =
            |m: &Mount| dev.devnums.contains(&m.devnum) || self.source_in_dev(&m.source, dev);
        // "/" and the boot partitions: the system running this tool.
        if let Some(m) = mounts
            .iter()
            .find(|m| is_system_mountpoint(&m.mountpoint) && in_dev(m))
        {
            return Err(BlockDevError::SystemDisk {
                path: dev.path.clone(),
                name: dev.name.clone(),
                what: format!("{} ({})", m.mountpoint, m.source),
            });
        }
        let mut mounted: Vec<String> = mounts
            .iter()
            .filter(|m| in_dev(m))
            .map(|m| format!("{} is mounted at {}", m.source, m.mountpoint))
            .collect();
        // A missing swaps file (no swap support) means no swap in use.
        let swaps = fs::read_to_string(&self.swaps).unwrap_or_default();
        for line in swaps.lines().skip(1) {
            let Some(dev_path) = line.split_whitespace().next() else {
                continue;
            };
            let dev_path = unescape_octal(dev_path);
            if self.source_in_dev(&dev_path, dev) {
                mounted.push(format!("{dev_path} is an active swap area"));
            }
        }
        if !mounted.is_empty() {
            return Err(BlockDevError::Mounted {
                path: dev.path.clone(),
                name: dev.name.clone(),
                what: mounted.join(", "),
            });
        }
        if !force && !dev.removable && !dev.usb {
            return Err(BlockDevError::NotRemovable {
                path: dev.path.clone(),
                name: dev.name.clone(),
            });
        }
        if dev.size < image_size {
            return Err(BlockDevError::TooSmall {
                path: dev.path.clone(),
                name: dev.name.clone(),
                size: dev.size,
                needed: image_size,
            });
        }
        Ok(())
    }

    /// A mount source like `/dev/sdb1` names the disk even when its `major:minor` does not
    /// match (btrfs reports anonymous device numbers).
    fn source_in_dev(&self, source: &str, dev: &DeviceInfo) -> bool {
        let Some(base) = source.strip_prefix("/dev/") else {
            return false;
        };
        base == dev.name
            || (base.starts_with(&dev.name)
                && self
                    .sys_root
                    .join("block")
                    .join(&dev.name)
                    .join(base)
                    .exists())
    }

    fn mounts(&self) -> Result<Vec<Mount>, BlockDevError> {
        let text =
            fs::read_to_string(&self.mountinfo).map_err(|source| BlockDevError::Mountinfo {
                path: self.mountinfo.clone(),
                source,
            })?;
        Ok(text.lines().filter_map(parse_mountinfo_line).collect())
    }
}

fn is_system_mountpoint(mp: &str) -> bool {
    matches!(mp, "/" | "/boot" | "/boot/firmware" | "/boot/efi" | "/usr")
}

/// The disk itself, its partitions, and (recursively) devices stacked on any of them, such as
/// dm-crypt or LVM volumes whose mounts show only the stacked device's number.
fn collect_devnums(dir: &Path, out: &mut BTreeSet<String>, depth: u32) {
    if depth > 8 {
        return;
    }
    if let Some(d) = read_trim(&dir.join("dev")) {
        out.insert(d);
    }
    if let Ok(holders) = fs::read_dir(dir.join("holders")) {
        for h in holders.flatten() {
            if let Ok(p) = fs::canonicalize(h.path()) {
                collect_devnums(&p, out, depth + 1);
            }
        }
    }
    if depth == 0 {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.join("partition").exists() {
                    collect_devnums(&p, out, depth + 1);
                }
            }
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[derive(Debug)]
struct Mount {
    devnum: String,
    mountpoint: String,
    source: String,
}

/// `id parent major:minor root mountpoint options [optional...] - fstype source superopts`
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let f: Vec<&str> = left.split_whitespace().collect();
    let r: Vec<&str> = right.split_whitespace().collect();
    Some(Mount {
        devnum: f.get(2)?.to_string(),
        mountpoint: unescape_octal(f.get(4)?),
        source: unescape_octal(r.get(1).unwrap_or(&"")),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let digits = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake sysfs with disk `name` (major 240, minor 0), partitions 1..=parts, and optional
    /// USB parentage.
    pub fn fake_disk(
        root: &Path,
        name: &str,
        removable: bool,
        usb: bool,
        sectors: u64,
        parts: u32,
    ) {
        let bus = if usb {
            "devices/pci0000:00/usb1/1-1/host0/block"
        } else {
            "devices/pci0000:00/ata1/host0/block"
        };
        let dir = root.join(bus).join(name);
        fs::create_dir_all(dir.join("device")).unwrap();
        fs::write(dir.join("dev"), "240:0\n").unwrap();
        fs::write(dir.join("size"), format!("{sectors}\n")).unwrap();
        fs::write(dir.join("removable"), if removable { "1\n" } else { "0\n" }).unwrap();
        fs::write(dir.join("device/model"), "Card Reader    \n").unwrap();
        fs::write(dir.join("device/vendor"), "Generic\n").unwrap();
        fs::create_dir_all(root.join("block")).unwrap();
        fs::create_dir_all(root.join("dev/block")).unwrap();
        symlink(dir.clone(), root.join("block").join(name)).unwrap();
        symlink(dir.clone(), root.join("dev/block/240:0")).unwrap();
        for p in 1..=parts {
            let pd = dir.join(format!("{name}{p}"));
            fs::create_dir_all(&pd).unwrap();
            fs::write(pd.join("partition"), format!("{p}\n")).unwrap();
            fs::write(pd.join("dev"), format!("240:{p}\n")).unwrap();
            symlink(pd.clone(), root.join(format!("dev/block/240:{p}"))).unwrap();
        }
    }

    fn view(dir: &Path, mountinfo: &str) -> SystemView {
        fs::write(dir.join("mountinfo"), mountinfo).unwrap();
        SystemView {
            sys_root: dir.join("sys"),
            mountinfo: dir.join("mountinfo"),
            swaps: dir.join("swaps"),
        }
    }

    const ROOT_ONLY: &str = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n";

    #[test]
    fn removable_unmounted_disk_is_accepted() {
        let t = tempfile::tempdir().unwrap();
        fake_disk(&t.path().join("sys"), "sdz", true, false, 1 << 21, 2);
        let v = view(t.path(), ROOT_ONLY);
        let d = v.inspect(Path::new("/dev/sdz"), 240, 0).unwrap();
        assert_eq!(d.size, 1 << 30);
        assert!(
            d.describe().contains("Generic Card Reader"),
            "{}",
            d.describe()
        );
        v.check(&d, 1 << 30, false).unwrap();
        let err = v.check(&d, (1 << 30) + 1, true).unwrap_err();
        assert!(matches!(err, BlockDevError::TooSmall { .. }), "{err}");
    }

    #[test]
    fn mounted_partition_system_disk_and_fixed_disk_are_refused() {
        let t = tempfile::tempdir().unwrap();
        fake_disk(&t.path().join("sys"), "sdz", false, true, 1 << 21, 2);
        let mounted = format!("{ROOT_ONLY}40 22 240:2 / /media/x\\040y rw - ext4 /dev/sdz2 rw\n");
        let v = view(t.path(), &mounted);
        let d = v.inspect(Path::new("/dev/sdz"), 240, 0).unwrap();
        let err = v.check(&d, 1, true).unwrap_err().to_string();
        assert!(
            err.contains("/media/x y") && err.contains("in use"),
            "{err}"
        );

        fs::write(
            t.path().join("swaps"),
            "Filename\tType\tSize\tUsed\tPriority\n/dev/sdz1 partition 1024 0 -2\n",
        )
        .unwrap();
        let v = view(t.path(), ROOT_ONLY);
        let err = v.check(&d, 1, true).unwrap_err().to_string();
        assert!(err.contains("/dev/sdz1 is an active swap area"), "{err}");
        fs::remove_file(t.path().join("swaps")).unwrap();

        let sys = "22 1 240:1 / / rw - ext4 /dev/sdz1 rw\n";
        let v = view(t.path(), sys);
        let err = v.check(&d, 1, true).unwrap_err().to_string();
        assert!(err.contains("holds the running system"), "{err}");

        let t2 = tempfile::tempdir().unwrap();
        fake_disk(&t2.path().join("sys"), "sdy", false, false, 1 << 21, 0);
        let v = view(t2.path(), ROOT_ONLY);
        let d = v.inspect(Path::new("/dev/sdy"), 240, 0).unwrap();
        let err = v.check(&d, 1, false).unwrap_err().to_string();
        assert!(err.contains("not a removable"), "{err}");
        v.check(&d, 1, true).unwrap();
    }

    #[test]
    fn partitions_are_refused() {
        let t = tempfile::tempdir().unwrap();
        fake_disk(&t.path().join("sys"), "sdz", true, false, 1 << 21, 1);
        let v = view(t.path(), ROOT_ONLY);
        let err = v
            .inspect(Path::new("/dev/sdz1"), 240, 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("partition sdz1") && err.contains("/dev/sdz"),
            "{err}"
        );
    }
}
