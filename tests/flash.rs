//! End-to-end tests of `clem-image flash`, run through the real binary.

mod common;

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{symlink, FileExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clem_image::bmap::Bmap;
use common::card::{Loop, ROOT_ON_VDA};
use common::same_bytes;

const BIN: &str = env!("CARGO_BIN_EXE_clem-image");
const MIB: u64 = 1 << 20;

/// Deterministic bytes that do not compress away.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A sparse image of `size` bytes with data at the given (offset, length) places.
fn sparse_image(path: &Path, size: u64, data: &[(u64, usize)]) {
    let f = File::create(path).unwrap();
    f.set_len(size).unwrap();
    for (i, &(off, len)) in data.iter().enumerate() {
        f.write_all_at(&noise(i as u64 + 7, len), off).unwrap();
    }
    f.sync_all().unwrap();
}

fn standard_image(dir: &Path) -> PathBuf {
    let p = dir.join("disk.img");
    // Data at the start (like a partition table), a block-unaligned piece in the middle,
    // and an odd tail so the image size is not a multiple of the block size.
    sparse_image(
        &p,
        16 * MIB + 1000,
        &[(0, 70_000), (5 * MIB + 123, 300_000), (16 * MIB, 1000)],
    );
    p
}

fn flash(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.arg("flash").args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(o));
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn raw_image_to_a_file_is_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let out = t.path().join("card");
    // A longer pre-existing file is cut to the image size.
    fs::write(&out, vec![0xA5u8; 20 << 20]).unwrap();
    let o = flash(&["--yes", s(&img), s(&out)], &[]);
    ok(&o);
    assert_eq!(fs::read(&img).unwrap(), fs::read(&out).unwrap());
    // The summary is the command's output (stdout); stderr is for warnings.
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("verified in"), "{out}");
}

#[test]
fn xz_image_to_a_file_is_byte_identical() {
    if !have("xz") {
        eprintln!("skipped: xz is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let st = Command::new("xz")
        .args(["-k", "-1", "-T1", s(&img)])
        .status()
        .unwrap();
    assert!(st.success());
    let xz = t.path().join("disk.img.xz");
    let out = t.path().join("card");
    ok(&flash(&[s(&xz), s(&out)], &[]));
    assert_eq!(fs::read(&img).unwrap(), fs::read(&out).unwrap());
}

/// Fills a target with a pattern, flashes with a bmap, and checks the unmapped bytes kept it.
fn check_bmap_flash(image: &Path, bmap_path: &Path, dir: &Path) {
    let bmap = Bmap::load(bmap_path).unwrap();
    let size = fs::metadata(dir.join("disk.img")).unwrap().len();
    let out = dir.join("card");
    fs::write(&out, vec![0x5Au8; size as usize]).unwrap();
    let o = flash(&["--yes", "--bmap", s(bmap_path), s(image), s(&out)], &[]);
    ok(&o);
    let want = fs::read(dir.join("disk.img")).unwrap();
    let got = fs::read(&out).unwrap();
    assert_eq!(got.len(), want.len());
    let mut mapped = vec![false; got.len()];
    for r in &bmap.ranges {
        let (a, b) = bmap.byte_span(r);
        mapped[a as usize..b as usize].fill(true);
    }
    assert!(
        mapped.iter().any(|m| !m),
        "the map should leave something out"
    );
    for (i, m) in mapped.iter().enumerate() {
        let expect = if *m { want[i] } else { 0x5A };
        assert_eq!(got[i], expect, "byte {i} (mapped: {m})");
    }
}

#[test]
fn with_a_bmap_only_mapped_ranges_are_written() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let bmap = Bmap::from_sparse_file(&img).unwrap();
    let bp = t.path().join("disk.img.bmap");
    bmap.write_xml(&mut File::create(&bp).unwrap()).unwrap();
    check_bmap_flash(&img, &bp, t.path());
    if have("xz") {
        let st = Command::new("xz")
            .args(["-k", "-1", "-T1", s(&img)])
            .status()
            .unwrap();
        assert!(st.success());
        check_bmap_flash(&t.path().join("disk.img.xz"), &bp, t.path());
    }
}

#[test]
fn node_option_uses_the_build_output_and_its_bmap() {
    let t = tempfile::tempdir().unwrap();
    let outdir = t.path().join("build");
    fs::create_dir(&outdir).unwrap();
    let img = outdir.join("rpi1.img");
    sparse_image(&img, 8 * MIB, &[(0, 5000), (4 * MIB, 5000)]);
    let bmap = Bmap::from_sparse_file(&img).unwrap();
    bmap.write_xml(&mut File::create(outdir.join("rpi1.img.bmap")).unwrap())
        .unwrap();
    let card = t.path().join("card");
    fs::write(&card, vec![0x77u8; (8 * MIB) as usize]).unwrap();
    ok(&flash(
        &["--yes", "--node", "rpi1", "--out", s(&outdir), s(&card)],
        &[],
    ));
    let got = fs::read(&card).unwrap();
    assert_eq!(&got[..5000], &fs::read(&img).unwrap()[..5000]);
    // An unmapped byte keeps the old content: the side-car bmap was used.
    assert_eq!(got[2 * MIB as usize], 0x77);

    let o = flash(&["--node", "rpi9", "--out", s(&outdir), s(&card)], &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rpi9.img"), "{}", stderr(&o));
}

#[test]
fn our_bmap_is_accepted_by_bmaptool() {
    if !have("bmaptool") {
        eprintln!("skipped: bmaptool is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let bp = t.path().join("ours.bmap");
    Bmap::from_sparse_file(&img)
        .unwrap()
        .write_xml(&mut File::create(&bp).unwrap())
        .unwrap();
    let out = t.path().join("copy");
    let o = Command::new("bmaptool")
        .args(["copy", "--bmap", s(&bp), s(&img), s(&out)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(&img).unwrap(), fs::read(&out).unwrap());
}

#[test]
fn bmaptool_bmap_is_accepted_by_us() {
    if !have("bmaptool") {
        eprintln!("skipped: bmaptool is not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let bp = t.path().join("theirs.bmap");
    let o = Command::new("bmaptool")
        .args(["create", "-o", s(&bp), s(&img)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Same file system, same holes: FIEMAP and SEEK_DATA must agree on the map.
    let theirs = Bmap::load(&bp).unwrap();
    let ours = Bmap::from_sparse_file(&img).unwrap();
    assert_eq!(theirs, ours);
    check_bmap_flash(&img, &bp, t.path());

    // A bmap edited by hand no longer matches its BmapFileChecksum.
    let text = fs::read_to_string(&bp).unwrap();
    let edited = t.path().join("edited.bmap");
    fs::write(
        &edited,
        text.replacen("<BlockSize> 4096", "<BlockSize>  4096", 1),
    )
    .unwrap();
    let o = flash(
        &["--bmap", s(&edited), s(&img), s(&t.path().join("x"))],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("edited.bmap") && stderr(&o).contains("BmapFileChecksum"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_bmap_of_another_image_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let bp = t.path().join("disk.img.bmap");
    Bmap::from_sparse_file(&img)
        .unwrap()
        .write_xml(&mut File::create(&bp).unwrap())
        .unwrap();
    // Change one mapped byte of the image after the map was made.
    let f = OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xEE, 0xEF], 5 * MIB + 200).unwrap();
    let o = flash(&["--bmap", s(&bp), s(&img), s(&t.path().join("card"))], &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("do not match the bmap's checksum") && e.contains("disk.img"),
        "{e}"
    );
}

#[test]
fn corruption_between_write_and_verify_is_reported_with_its_offset() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let out = t.path().join("card");
    let off = (5 * MIB + 4567).to_string();
    let o = flash(
        &[s(&img), s(&out)],
        &[("CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE", &off)],
    );
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("verification failed") && e.contains(&format!("offset {off}")),
        "{e}"
    );

    // The same with a bmap: the bad range is found, then narrowed to the byte.
    let bp = t.path().join("disk.img.bmap");
    Bmap::from_sparse_file(&img)
        .unwrap()
        .write_xml(&mut File::create(&bp).unwrap())
        .unwrap();
    let o = flash(
        &["--yes", "--bmap", s(&bp), s(&img), s(&out)],
        &[("CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE", &off)],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!("offset {off}")),
        "{}",
        stderr(&o)
    );

    // --no-verify does not notice (that is what it is for).
    let o = flash(
        &["--yes", "--no-verify", s(&img), s(&out)],
        &[("CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE", &off)],
    );
    ok(&o);
    // The result is the command's output: stdout, not a diagnostic.
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("NOT verified"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn a_write_failure_part_way_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let out = t.path().join("card");
    // RLIMIT_FSIZE of 4 MiB (sh counts 512-byte blocks, bash 1024; either stops the write
    // well before the image's 16 MiB). SIGXFSZ ignored so write() returns EFBIG instead.
    let script = format!(
        "trap '' XFSZ; ulimit -f 8192 && exec '{BIN}' flash '{}' '{}'",
        s(&img),
        s(&out)
    );
    let o = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("card") && e.contains("write failed at offset") && e.contains("too large"),
        "{e}"
    );
}

#[test]
fn sigint_stops_and_says_the_card_is_incomplete() {
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("big.img");
    sparse_image(&img, 1 << 30, &[(0, 4096)]);
    let out = t.path().join("card");
    let child = Command::new(BIN)
        .args(["flash", s(&img), s(&out)])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until writing has visibly started, then interrupt.
    let start = std::time::Instant::now();
    while fs::metadata(&out).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(start.elapsed().as_secs() < 20, "writing never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("incomplete"), "{}", stderr(&o));
}

// ---- safety checks against fake sysfs/mountinfo trees ----

const MAJOR: u32 = 240; // "local/experimental use": no driver behind it here.

/// A device node plus a fake sysfs describing it; None when nodes cannot be made (not root).
struct FakeDisk {
    _dir: tempfile::TempDir,
    node: PathBuf,
    sys: PathBuf,
    mountinfo: PathBuf,
}

impl FakeDisk {
    fn new(removable: bool, sectors: u64, mountinfo: &str) -> Option<FakeDisk> {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("sdz");
        let c = std::ffi::CString::new(s(&node)).unwrap();
        let dev = libc::makedev(MAJOR, 0);
        // SAFETY: plain syscall with a valid C string.
        if unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o600, dev) } != 0 {
            return None;
        }
        let sys = dir.path().join("sys");
        let disk = sys.join("devices/pci0000:00/ata1/host0/block/sdz");
        fs::create_dir_all(disk.join("device")).unwrap();
        fs::write(disk.join("dev"), format!("{MAJOR}:0\n")).unwrap();
        fs::write(disk.join("size"), format!("{sectors}\n")).unwrap();
        fs::write(
            disk.join("removable"),
            if removable { "1\n" } else { "0\n" },
        )
        .unwrap();
        fs::write(disk.join("device/model"), "SD Reader\n").unwrap();
        fs::write(disk.join("device/vendor"), "Acme\n").unwrap();
        fs::create_dir_all(sys.join("dev/block")).unwrap();
        fs::create_dir_all(sys.join("block")).unwrap();
        symlink(&disk, sys.join("block/sdz")).unwrap();
        symlink(&disk, sys.join(format!("dev/block/{MAJOR}:0"))).unwrap();
        for p in 1..=2 {
            let pd = disk.join(format!("sdz{p}"));
            fs::create_dir_all(&pd).unwrap();
            fs::write(pd.join("partition"), format!("{p}\n")).unwrap();
            fs::write(pd.join("dev"), format!("{MAJOR}:{p}\n")).unwrap();
            symlink(&pd, sys.join(format!("dev/block/{MAJOR}:{p}"))).unwrap();
        }
        let mi = dir.path().join("mountinfo");
        fs::write(&mi, mountinfo).unwrap();
        Some(FakeDisk {
            node,
            sys,
            mountinfo: mi,
            _dir: dir,
        })
    }

    fn flash(&self, extra: &[&str], image: &Path) -> Output {
        let mut args: Vec<&str> = extra.to_vec();
        args.push(s(image));
        args.push(s(&self.node));
        flash(
            &args,
            &[
                ("CLEM_IMAGE_SYSFS_ROOT", s(&self.sys)),
                ("CLEM_IMAGE_MOUNTINFO", s(&self.mountinfo)),
            ],
        )
    }
}

fn refused(o: &Output, want: &str) {
    assert!(!o.status.success());
    let e = stderr(o);
    assert!(e.contains(want), "expected '{want}' in: {e}");
    assert!(
        !e.contains("No such device or address"),
        "got past the checks: {e}"
    );
}

#[test]
fn safety_checks_refuse_unsafe_devices() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let Some(d) = FakeDisk::new(true, 1 << 21, ROOT_ON_VDA) else {
        eprintln!("skipped: cannot create device nodes (not root?)");
        return;
    };
    let mounted = format!("{ROOT_ON_VDA}50 22 {MAJOR}:2 / /media/card rw - ext4 /dev/sdz2 rw\n");
    fs::write(&d.mountinfo, mounted).unwrap();
    refused(&d.flash(&["--yes", "--force"], &img), "/media/card");

    let system = format!("22 1 {MAJOR}:2 / / rw - ext4 /dev/sdz2 rw\n");
    fs::write(&d.mountinfo, system).unwrap();
    refused(
        &d.flash(&["--yes", "--force"], &img),
        "holds the running system",
    );

    fs::write(&d.mountinfo, ROOT_ON_VDA).unwrap();
    fs::write(d.sys.join("block/sdz/removable"), "0\n").unwrap();
    refused(&d.flash(&["--yes"], &img), "not a removable");
    // --force waives exactly that rule.
    let o = d.flash(&["--yes", "--force"], &img);
    assert!(
        stderr(&o).contains("No such device or address"),
        "{}",
        stderr(&o)
    );

    fs::write(d.sys.join("block/sdz/removable"), "1\n").unwrap();
    fs::write(d.sys.join("block/sdz/size"), "16\n").unwrap();
    refused(&d.flash(&["--yes", "--force"], &img), "too small");

    let o = flash(
        &[s(&img), s(&d.sys.join("dev/block/240:1")), "--yes"],
        &[("CLEM_IMAGE_SYSFS_ROOT", s(&d.sys))],
    );
    assert!(!o.status.success(), "a sysfs directory is not a target");
}

#[test]
fn removable_unmounted_device_is_accepted_but_needs_confirmation() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let Some(d) = FakeDisk::new(true, 1 << 21, ROOT_ON_VDA) else {
        eprintln!("skipped: cannot create device nodes (not root?)");
        return;
    };
    // Without --yes and without a terminal: refused before anything is opened.
    let o = d.flash(&[], &img);
    refused(&o, "not a terminal");
    assert!(stderr(&o).contains("Acme SD Reader") && stderr(&o).contains("1.0 GiB"));

    // With --yes every check passes; the node has no driver, so opening it is what fails.
    let o = d.flash(&["--yes"], &img);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("open for writing") && e.contains("No such device or address"),
        "{e}"
    );
}

#[test]
fn flashes_a_real_block_device() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let backing = t.path().join("backing");
    File::create(&backing).unwrap().set_len(20 * MIB).unwrap();
    let Some(dev) = Loop::attach(&backing) else {
        eprintln!("skipped: no loop devices here");
        return;
    };
    // The real sysfs says a loop device is not removable; a fake one says it is a card.
    let sys = dev.fake_card_sysfs(t.path(), 20 * MIB);
    let mi = t.path().join("mountinfo");
    fs::write(&mi, ROOT_ON_VDA).unwrap();
    let env = [
        ("CLEM_IMAGE_SYSFS_ROOT", s(&sys)),
        ("CLEM_IMAGE_MOUNTINFO", s(&mi)),
    ];
    ok(&flash(&["--yes", s(&img), s(&dev.0)], &env));
    let want = fs::read(&img).unwrap();
    let got = fs::read(&dev.0).unwrap();
    assert_eq!(&got[..want.len()], &want[..]);

    let off = (16 * MIB + 10).to_string();
    let o = flash(
        &["--yes", s(&img), s(&dev.0)],
        &[
            env[0],
            env[1],
            ("CLEM_IMAGE_TEST_CORRUPT_AFTER_WRITE", &off),
        ],
    );
    assert!(
        stderr(&o).contains(&format!("offset {off}")),
        "{}",
        stderr(&o)
    );

    // sysfs can be wrong (here: on purpose); the size of the open device decides.
    let disk = sys.join("devices/virtual/block/card");
    fs::write(disk.join("size"), format!("{}\n", 40 * MIB / 512)).unwrap();
    let big = t.path().join("big.img");
    sparse_image(&big, 30 * MIB, &[(0, 100)]);
    let o = flash(&["--yes", s(&big), s(&dev.0)], &env);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("too small: 20971520 bytes"),
        "{}",
        stderr(&o)
    );
}

// ---- targets that are not what they seem ----

/// A missing name under /dev is a card not inserted (or a typo): refused, and nothing is
/// created there. Judges: exit code, the message, and the path's absence.
#[test]
fn a_missing_device_under_dev_is_refused_and_nothing_is_created() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let dev = Path::new("/dev/clem-nonexistent-sdz");
    assert!(!dev.exists(), "{} exists before the test", dev.display());
    for extra in [&[][..], &["--yes"][..]] {
        let mut args = extra.to_vec();
        args.extend([s(&img), s(dev)]);
        let o = flash(&args, &[]);
        assert!(!o.status.success(), "flash to a missing device succeeded");
        let e = stderr(&o);
        assert!(
            e.contains("/dev/clem-nonexistent-sdz") && e.contains("is the card inserted"),
            "{e}"
        );
        assert!(!dev.exists(), "flash created {}", dev.display());
    }
}

/// An existing file is overwritten only when confirmed: with no terminal and no --yes it
/// is refused and left as it was. Judges: exit code, the message, `cmp` of the target with
/// a copy taken before.
#[test]
fn an_existing_file_is_not_overwritten_without_confirmation() {
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    let target = t.path().join("precious");
    fs::write(&target, noise(99, 3 << 20)).unwrap();
    let before = t.path().join("precious.before");
    fs::copy(&target, &before).unwrap();
    let o = flash(&[s(&img), s(&target)], &[]);
    assert!(!o.status.success(), "overwrote a file without confirmation");
    assert!(
        stderr(&o).contains("not a terminal") && stderr(&o).contains("--yes"),
        "{}",
        stderr(&o)
    );
    assert!(same_bytes(&before, &target), "the target was changed");
    // With --yes it is written.
    ok(&flash(&["--yes", s(&img), s(&target)], &[]));
    assert_eq!(fs::read(&img).unwrap(), fs::read(&target).unwrap());
}

/// A new file target gets the image's permission bits whatever the umask: a 0600 image
/// with keys in it does not become a world-readable copy. Judge: `stat -c %a`.
#[test]
fn a_new_file_target_gets_the_image_mode_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let img = standard_image(t.path());
    for mode in [0o600, 0o640, 0o644] {
        fs::set_permissions(&img, fs::Permissions::from_mode(mode)).unwrap();
        let out = t.path().join(format!("copy-{mode:o}"));
        let script = format!(
            "umask 000 && exec '{BIN}' flash '{}' '{}'",
            s(&img),
            s(&out)
        );
        let o = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        ok(&o);
        let st = Command::new("stat")
            .args(["-c", "%a", s(&out)])
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&st.stdout).trim().to_string();
        assert_eq!(
            got,
            format!("{mode:o}"),
            "mode of the copy of a {mode:o} image"
        );
    }
}
