//! The handle over small file systems made by the standard tools (mkfs.vfat and mtools,
//! mkfs.ext4 -d), judged against the tree they were made from.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::*;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The whole file as partition 1.
fn whole(path: &Path) -> Partition {
    Partition {
        number: 1,
        start: 0,
        size: std::fs::metadata(path).unwrap().len(),
        type_id: "83".into(),
        name: None,
        bootable: false,
    }
}

fn open(path: &Path) -> Result<PartFs, PartFsError> {
    PartFs::open(path, Path::new("disk.img"), &whole(path))
}

/// A FAT holding /CONFIG.TXT and /OVERLAYS/A.DTBO, labelled BOOT.
fn fat(dir: &Path) -> std::path::PathBuf {
    let img = dir.join("fat.img");
    run(Command::new("mkfs.vfat")
        .args(["-n", "BOOT", "-C"])
        .arg(&img)
        .arg("2048"));
    std::fs::write(dir.join("config.txt"), "arm_64bit=1\n").unwrap();
    std::fs::write(dir.join("a.dtbo"), [0u8, 1, 2, 3]).unwrap();
    run(Command::new("mmd").arg("-i").arg(&img).arg("::/OVERLAYS"));
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&img)
        .arg(dir.join("config.txt"))
        .arg("::/CONFIG.TXT"));
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&img)
        .arg(dir.join("a.dtbo"))
        .arg("::/OVERLAYS/A.DTBO"));
    img
}

/// An ext4 made from a tree with /etc/hostname (0640), /etc/link -> hostname, /var/empty.
fn ext4(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/empty")).unwrap();
    let host = root.join("etc/hostname");
    std::fs::write(&host, "rpi1\n").unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o640)).unwrap();
    symlink("hostname", root.join("etc/link")).unwrap();
    let img = dir.join("ext4.img");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-d"])
        .arg(&root)
        .arg(&img)
        .arg("4M"));
    (img, root)
}

#[test]
fn fat_reads_lists_and_has_no_owners() {
    let dir = tempfile::tempdir().unwrap();
    let fs = open(&fat(dir.path())).unwrap();
    assert_eq!(fs.kind(), FsKind::Vfat);
    assert_eq!(fs.label(), "BOOT");
    assert_eq!(fs.read("/config.txt").unwrap(), b"arm_64bit=1\n");
    assert_eq!(fs.read("/OVERLAYS/A.DTBO").unwrap(), [0, 1, 2, 3]);
    assert!(fs.exists("/overlays/a.dtbo") && !fs.exists("/nothing"));
    let names: Vec<String> = fs.list("/").unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(names, ["/CONFIG.TXT", "/OVERLAYS"]);
    let sub = fs.list("/OVERLAYS").unwrap();
    assert_eq!((sub[0].path.as_str(), sub[0].size), ("/OVERLAYS/A.DTBO", 4));
    assert_eq!(fs.owner("/CONFIG.TXT").unwrap(), None);
    assert_eq!(fs.walk().unwrap().len(), 3);
}

#[test]
fn fat_errors_name_partition_path_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let fs = open(&fat(dir.path())).unwrap();
    let e = fs.read("/missing.txt").unwrap_err();
    assert!(matches!(e.cause, FsCause::Missing), "{e:?}");
    assert_eq!(
        crate::error::chain(&e),
        "disk.img: partition 1: /missing.txt: no such file"
    );
    let e = fs.read("/OVERLAYS").unwrap_err();
    assert!(matches!(e.cause, FsCause::IsDir), "{e:?}");
    assert!(matches!(
        fs.read_link("/CONFIG.TXT").unwrap_err().cause,
        FsCause::NotLink
    ));
    assert!(matches!(
        fs.list("/CONFIG.TXT").unwrap_err().cause,
        FsCause::NotDir
    ));
    assert!(matches!(
        fs.owner("/nope").unwrap_err().cause,
        FsCause::Missing
    ));
}

#[test]
fn ext4_matches_the_tree_it_was_made_from() {
    let dir = tempfile::tempdir().unwrap();
    let (img, root) = ext4(dir.path());
    let fs = open(&img).unwrap();
    assert_eq!((fs.kind(), fs.label().as_str()), (FsKind::Ext4, "root"));
    let host = root.join("etc/hostname");
    assert_eq!(
        fs.read("/etc/hostname").unwrap(),
        std::fs::read(&host).unwrap()
    );
    // A symlink: followed by read, reported by read_link and stat.
    assert_eq!(fs.read("/etc/link").unwrap(), b"rpi1\n");
    let target = std::fs::read_link(root.join("etc/link")).unwrap();
    assert_eq!(fs.read_link("/etc/link").unwrap(), target.to_str().unwrap());
    assert_eq!(fs.stat("/etc/link").unwrap().kind, EntryKind::Symlink);
    let md = std::fs::metadata(&host).unwrap();
    let want = Owner {
        mode: (md.mode() & 0o7777) as u16,
        uid: md.uid(),
        gid: md.gid(),
    };
    assert_eq!(fs.owner("/etc/hostname").unwrap(), Some(want));
    let names: Vec<String> = fs
        .list("/etc")
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(names, ["/etc/hostname", "/etc/link"]);
    assert!(fs.list("/var/empty").unwrap().is_empty());
    assert!(fs.exists("/etc/link") && !fs.exists("/etc/nope"));
}

#[test]
fn ext4_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let fs = open(&ext4(dir.path()).0).unwrap();
    let e = fs.read("/etc/nope").unwrap_err();
    assert!(matches!(e.cause, FsCause::Missing), "{e:?}");
    assert_eq!((e.partition, e.path.as_str()), (1, "/etc/nope"));
    assert!(matches!(fs.read("/etc").unwrap_err().cause, FsCause::IsDir));
    assert!(matches!(
        fs.read_link("/etc/hostname").unwrap_err().cause,
        FsCause::NotLink
    ));
    assert!(matches!(
        fs.owner("/nope").unwrap_err().cause,
        FsCause::Missing
    ));
    assert!(matches!(
        fs.list("/nope").unwrap_err().cause,
        FsCause::Missing
    ));
}

/// Overwrites `len` bytes at `at` with 0xff.
fn smash(path: &Path, at: u64, len: usize) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&vec![0xff; len], at).unwrap();
}

#[test]
fn damaged_or_unknown_file_systems_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // FAT: bytes per sector (offset 11) and the sector counts after it.
    let img = fat(dir.path());
    smash(&img, 11, 2);
    let e = open(&img).err().expect("a damaged FAT opened");
    assert!(matches!(e.cause, FsCause::Fat(_)), "{e:?}");
    assert!(crate::error::chain(&e).starts_with("disk.img: partition 1: /: "));
    // ext4: the superblock's block-size and group fields (magic kept, so detected).
    let (img, _) = ext4(dir.path());
    smash(&img, 1024 + 24, 16);
    let e = open(&img).err().expect("a damaged ext4 opened");
    assert!(matches!(e.cause, FsCause::Ext4(_)), "{e:?}");
    let zero = dir.path().join("zero.img");
    std::fs::write(&zero, vec![0u8; 8192]).unwrap();
    assert!(matches!(open(&zero).err().unwrap().cause, FsCause::NoFs));
    let absent = dir.path().join("absent.img");
    let e = PartFs::open(&absent, &absent, &whole(&zero)).err().unwrap();
    assert!(matches!(e.cause, FsCause::Image(_)));
}
