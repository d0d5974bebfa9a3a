//! What sysfs says of a disk: its name, size, bus, model and every device number on it.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::{BlockDevError, DeviceInfo, SystemView};

pub(super) fn read_trim(p: &Path) -> Option<String> {
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
