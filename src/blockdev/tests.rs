//! Tests of the device checks against fake sysfs trees and mount tables.

use super::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// A fake sysfs with disk `name` (major 240, minor 0), partitions 1..=parts, and optional
/// USB parentage.
pub fn fake_disk(root: &Path, name: &str, removable: bool, usb: bool, sectors: u64, parts: u32) {
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
fn a_disk_missing_from_sysfs_names_the_link_and_keeps_the_cause() {
    let t = tempfile::tempdir().unwrap();
    let v = view(t.path(), ROOT_ONLY);
    let e = v.inspect(Path::new("/dev/sdq"), 240, 9).unwrap_err();
    let text = crate::error::chain(&e);
    assert!(
        text.starts_with("/dev/sdq: not found in sysfs (") && text.contains("240:9"),
        "{text}"
    );
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
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
