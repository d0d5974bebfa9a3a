//! The safety rules against what is mounted or swapped on a disk (mountinfo, /proc/swaps).

use std::fs;

use super::{BlockDevError, DeviceInfo, SystemView};

impl SystemView {
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
