//! Mutants of a small FAT made in memory: the check and the listing always end, without a
//! panic, whatever bytes of the boot sector, FAT and root directory are changed.

use std::io::Cursor;

use super::Fat;

/// Seed and count in one place; every run sees the same mutants.
const SEED: u64 = 0x15_fa7;
const MUTANTS: usize = 1500;

fn sample(fat_type: fatfs::FatType, sectors: u32) -> Vec<u8> {
    let mut disk = Cursor::new(vec![0u8; sectors as usize * 512]);
    let opts = fatfs::FormatVolumeOptions::new()
        .fat_type(fat_type)
        .total_sectors(sectors);
    fatfs::format_volume(&mut disk, opts).unwrap();
    disk.set_position(0);
    let fat = Fat::open(&mut disk, 0).unwrap();
    let root = fat.fs.root_dir();
    root.create_dir("a").unwrap().create_dir("b").unwrap();
    drop(root);
    fat.write("/a/b/meta-data", b"instance-id: x\n").unwrap();
    fat.write("/user-data", &vec![b'u'; 5000]).unwrap();
    fat.write("/a/long file name.txt", b"x").unwrap();
    fat.unmount().unwrap();
    disk.into_inner()
}

/// A small xorshift generator: no dependency, same stream everywhere.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The metadata of a FAT: boot sector, the head of the first FAT, and the root directory
/// with the first data clusters (where the sample's directories live).
fn regions(img: &[u8]) -> [(usize, usize); 3] {
    let u16_at = |at: usize| u16::from_le_bytes([img[at], img[at + 1]]) as usize;
    let bps = u16_at(11);
    let spf = match u16_at(22) {
        0 => u32::from_le_bytes(img[36..40].try_into().unwrap()) as usize,
        n => n,
    };
    let fat = u16_at(14) * bps;
    let after_fats = fat + usize::from(img[16]) * spf * bps;
    [(0, 512), (fat, 2048), (after_fats, 16 << 10)]
}

/// Changes a few metadata bytes of `img`, mounts and lists it, then restores them.
fn mutate_and_read(img: &mut [u8], regions: &[(usize, usize); 3], rng: &mut u64) -> bool {
    let mut changed = Vec::new();
    for _ in 0..1 + next(rng) % 4 {
        let (start, len) = regions[(next(rng) % 3) as usize];
        let at = start + (next(rng) as usize) % len;
        changed.push((at, img[at]));
        img[at] = next(rng) as u8;
    }
    // A slice, not a Vec: the image cannot grow, as a partition cannot.
    let mounted = match Fat::open(Cursor::new(&mut *img), 0) {
        Ok(fat) => {
            let _ = fat.list();
            let _ = fat.read("/a/b/meta-data");
            true
        }
        Err(_) => false,
    };
    for (at, old) in changed.into_iter().rev() {
        img[at] = old;
    }
    mounted
}

#[test]
fn mutants_of_fat12_fat16_and_fat32_end_without_panic() {
    let mut rng = SEED;
    for (kind, sectors) in [
        (fatfs::FatType::Fat12, 2048),
        (fatfs::FatType::Fat16, 16_384),
        (fatfs::FatType::Fat32, 70_000),
    ] {
        let mut img = sample(kind, sectors);
        Fat::open(Cursor::new(img.clone()), 0).expect("the clean sample passes");
        let regions = regions(&img);
        let opened = (0..MUTANTS)
            .filter(|_| mutate_and_read(&mut img, &regions, &mut rng))
            .count();
        eprintln!("{kind:?}: {MUTANTS} mutants, {opened} still mounted");
    }
}

#[test]
fn a_directory_pointing_at_its_parent_is_refused() {
    let mut img = sample(fatfs::FatType::Fat16, 16_384);
    let fat = Fat::open(Cursor::new(img.clone()), 0).unwrap();
    let names: Vec<String> = fat.names().unwrap().into_iter().map(|e| e.path).collect();
    assert!(names.contains(&"/a/b/meta-data".to_string()), "{names:?}");
    // Find /a's entry in the fixed root and point "b" (in /a's first cluster) at /a.
    let a = img.windows(11).position(|w| w == b"A          ").unwrap();
    let a_cluster = [img[a + 26], img[a + 27]];
    let b = img.windows(11).position(|w| w == b"B          ").unwrap();
    img[b + 26..b + 28].copy_from_slice(&a_cluster);
    let err = Fat::open(Cursor::new(img), 0)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("/a/b") && err.contains("directory loop"),
        "{err}"
    );
}
