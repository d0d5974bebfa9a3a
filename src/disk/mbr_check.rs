//! Checks of an MBR's extended-partition chain before `mbrman` follows it.
//!
//! `mbrman` adds EBR offsets in 32 bits (a panic on overflow) and trusts every link; here
//! each EBR is bounded by the extended partition and the image, links must move forward,
//! and the chain has a length limit, so reading it always ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::SECTOR;

/// More logical partitions than Linux numbers (it stops at 255 minors per disk in practice).
const MAX_LOGICAL: usize = 128;

struct Slot {
    sys: u8,
    start: u64,
    sectors: u64,
}

fn slot(sector: &[u8], i: usize) -> Slot {
    let e = &sector[446 + i * 16..446 + (i + 1) * 16];
    let le = |at: usize| u64::from(u32::from_le_bytes(e[at..at + 4].try_into().expect("4")));
    Slot {
        sys: e[4],
        start: le(8),
        sectors: le(12),
    }
}

fn is_extended(sys: u8) -> bool {
    // The types mbrman follows as extended partitions.
    matches!(sys, 0x05 | 0x0f | 0x85 | 0xc5 | 0xd5)
}

/// Checks the extended partition (if any) of the MBR `sector`, and its chain of EBRs.
pub(super) fn check(file: &mut File, sector: &[u8], disk_len: u64) -> Result<(), String> {
    let sectors = disk_len / SECTOR;
    let mut extended = (0..4)
        .map(|i| (i + 1, slot(sector, i)))
        .filter(|(_, s)| is_extended(s.sys));
    let Some((number, ext)) = extended.next() else {
        return Ok(());
    };
    if extended.next().is_some() {
        return Err("more than one extended partition".into());
    }
    let ext_end = ext.start + ext.sectors;
    if ext.start == 0 || ext.sectors == 0 || ext_end > sectors {
        return Err(format!(
            "extended partition {number} (sectors {}..{ext_end}) lies outside the \
             {sectors}-sector image",
            ext.start
        ));
    }
    chain(file, &ext, sectors)
}

fn chain(file: &mut File, ext: &Slot, sectors: u64) -> Result<(), String> {
    let ext_end = ext.start + ext.sectors;
    let mut rel = 0u64;
    for n in 0..MAX_LOGICAL {
        let at = ext.start + rel;
        let mut ebr = [0u8; SECTOR as usize];
        file.seek(SeekFrom::Start(at * SECTOR))
            .and_then(|_| file.read_exact(&mut ebr))
            .map_err(|e| format!("cannot read the EBR at sector {at}: {e}"))?;
        if ebr[510..512] != [0x55, 0xAA] {
            // An empty extended partition needs no EBR; a later link must lead to one.
            return match n {
                0 => Ok(()),
                _ => Err(format!("the EBR at sector {at} has no boot signature")),
            };
        }
        let logical = slot(&ebr, 0);
        let start = at + logical.start;
        let end = start + logical.sectors;
        // mbrman adds these in 32 bits; the image bound keeps them well inside.
        if logical.sys != 0 && (end > ext_end || end > sectors || start > u64::from(u32::MAX)) {
            return Err(format!(
                "logical partition {} (sectors {start}..{end}) lies outside its extended \
                 partition (sectors {}..{ext_end})",
                n + 5,
                ext.start
            ));
        }
        let next = slot(&ebr, 1).start;
        if next == 0 {
            return Ok(());
        }
        if next <= rel || ext.start + next >= ext_end {
            return Err(format!(
                "the EBR at sector {at} links to relative sector {next}: the chain of logical \
                 partitions loops back or leaves the extended partition"
            ));
        }
        rel = next;
    }
    Err(format!(
        "more than {MAX_LOGICAL} logical partitions (a looping EBR chain?)"
    ))
}
