//! Checks of the primary GPT header and its entry array before the `gpt` crate reads them.
//!
//! The crate asserts on an entry size other than 128 and allocates whatever array size the
//! header claims, so every field it relies on is bounded here first, against the image.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::SECTOR;

/// The entry size the `gpt` crate (and every tool we know) handles.
const ENTRY_SIZE: u64 = 128;
/// More entries than any partitioner writes (sgdisk's default is 128): a bound, not a spec.
const MAX_ENTRIES: u64 = 16_384;

/// The fields of a primary header that passed [`check`].
struct Header {
    first_usable: u64,
    last_usable: u64,
    entries_lba: u64,
    entries: u64,
}

fn le_u32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(
        b[at..at + 4].try_into().expect("4 bytes"),
    ))
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Checks the primary header at LBA 1 and every used entry; `Err` is the problem in words.
pub(super) fn check(file: &mut File, disk_len: u64) -> Result<(), String> {
    let sectors = disk_len / SECTOR;
    let mut raw = [0u8; SECTOR as usize];
    file.seek(SeekFrom::Start(SECTOR))
        .and_then(|_| file.read_exact(&mut raw))
        .map_err(|e| format!("cannot read the primary header at LBA 1: {e}"))?;
    let h = header(&raw, sectors)?;
    let len = h.entries * ENTRY_SIZE;
    let mut array = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(h.entries_lba * SECTOR))
        .and_then(|_| file.read_exact(&mut array))
        .map_err(|e| format!("cannot read the partition entries: {e}"))?;
    for (i, e) in array.chunks_exact(ENTRY_SIZE as usize).enumerate() {
        entry(i as u64 + 1, e, &h)?;
    }
    Ok(())
}

fn header(raw: &[u8], sectors: u64) -> Result<Header, String> {
    if &raw[..8] != b"EFI PART" {
        return Err("no GPT header at LBA 1, though the protective MBR announces one".into());
    }
    let header_size = le_u32(raw, 12);
    if !(92..=SECTOR).contains(&header_size) {
        return Err(format!(
            "header size {header_size} (must be 92 to 512 bytes)"
        ));
    }
    // The gpt crate checks the CRC over the 92 defined bytes; a header failing it would be
    // silently replaced by the backup, so a damaged primary is reported instead.
    let mut crc_input = raw[..92].to_vec();
    crc_input[16..20].fill(0);
    let mut crc = flate2::Crc::new();
    crc.update(&crc_input);
    if crc.sum() as u64 != le_u32(raw, 16) {
        return Err("the primary header's CRC does not match (damaged header)".into());
    }
    let current = le_u64(raw, 24);
    if current != 1 {
        return Err(format!(
            "the primary header says it lies at LBA {current}, not 1"
        ));
    }
    let backup = le_u64(raw, 32);
    if backup <= 1 || backup >= sectors {
        return Err(format!(
            "backup header LBA {backup} lies outside the {sectors}-sector image"
        ));
    }
    let first_usable = le_u64(raw, 40);
    let last_usable = le_u64(raw, 48);
    if first_usable < 2 || first_usable > last_usable || last_usable >= sectors {
        return Err(format!(
            "usable area LBA {first_usable}..{last_usable} does not fit the {sectors}-sector image"
        ));
    }
    entries(raw, first_usable, last_usable)
}

fn entries(raw: &[u8], first_usable: u64, last_usable: u64) -> Result<Header, String> {
    let size = le_u32(raw, 84);
    if size != ENTRY_SIZE {
        return Err(format!(
            "partition entry size {size} is not supported (only {ENTRY_SIZE})"
        ));
    }
    let count = le_u32(raw, 80);
    if count == 0 || count > MAX_ENTRIES {
        return Err(format!(
            "partition entry count {count} (must be 1 to {MAX_ENTRIES})"
        ));
    }
    let entries_lba = le_u64(raw, 72);
    let array_sectors = (count * ENTRY_SIZE).div_ceil(SECTOR);
    // The primary array lies between the header and the first usable sector.
    let fits = entries_lba >= 2
        && entries_lba
            .checked_add(array_sectors)
            .is_some_and(|end| end <= first_usable);
    if !fits {
        return Err(format!(
            "partition entries at LBA {entries_lba} ({array_sectors} sectors) overlap the \
             header or the usable area (from LBA {first_usable})"
        ));
    }
    Ok(Header {
        first_usable,
        last_usable,
        entries_lba,
        entries: count,
    })
}

fn entry(number: u64, e: &[u8], h: &Header) -> Result<(), String> {
    if e[..16].iter().all(|&b| b == 0) {
        return Ok(()); // unused
    }
    let first = le_u64(e, 32);
    let last = le_u64(e, 40);
    if first > last || first < h.first_usable || last > h.last_usable {
        return Err(format!(
            "partition {number} (LBA {first}..{last}) lies outside the usable area \
             LBA {}..{}",
            h.first_usable, h.last_usable
        ));
    }
    Ok(())
}
