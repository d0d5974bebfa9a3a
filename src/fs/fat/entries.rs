//! Raw 32-byte directory entries, long names included, as fatfs would present them.

/// One live entry of a directory (not deleted, not a volume label, not `.`/`..`).
#[derive(Debug)]
pub(super) struct RawEntry {
    /// The long name if a valid one precedes the entry, else the short name.
    pub name: String,
    /// The 8.3 name, `NAME.EXT`.
    pub short: String,
    pub is_dir: bool,
    pub cluster: u32,
    pub size: u64,
}

const ATTR_VOLUME: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;
const ATTR_LFN: u8 = 0x0F;
/// UTF-16 units per long-name entry, at these byte offsets.
const LFN_UNITS: [usize; 13] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];

/// A long name being gathered: entries come last part first, numbered down to 1.
struct LongName {
    next: u8,
    checksum: u8,
    units: Vec<u16>,
}

fn checksum(short: &[u8]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// `NAME.EXT`, lowered where the case bits (byte 12, as Windows NT and Linux set them) say.
fn short_name(raw: &[u8]) -> String {
    let mut base = raw[..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xE5; // 0x05 stands for a leading 0xE5 byte
    }
    let text = |b: &[u8], lower: bool| {
        let t = String::from_utf8_lossy(b).trim_end_matches(' ').to_string();
        if lower {
            t.to_ascii_lowercase()
        } else {
            t
        }
    };
    let (base, ext) = (
        text(&base, raw[12] & 0x08 != 0),
        text(&raw[8..11], raw[12] & 0x10 != 0),
    );
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// Parses directory bytes up to the end marker; `fat32` says whether the high cluster
/// half counts.
pub(super) fn parse(bytes: &[u8], fat32: bool) -> Vec<RawEntry> {
    let mut out = Vec::new();
    let mut long: Option<LongName> = None;
    for e in bytes.chunks_exact(32) {
        match e[0] {
            0x00 => break,
            0xE5 => {
                long = None;
                continue;
            }
            _ => {}
        }
        let attr = e[11];
        if attr & 0x3F == ATTR_LFN {
            long = lfn_part(long.take(), e);
            continue;
        }
        let lfn = long.take();
        if attr & ATTR_VOLUME != 0 || e[..11] == *b".          " || e[..11] == *b"..         " {
            continue;
        }
        let short = short_name(&e[..13]);
        let name = lfn
            .filter(|l| l.next == 0 && l.checksum == checksum(&e[..11]))
            .map(|l| {
                let end = l
                    .units
                    .iter()
                    .position(|&u| u == 0)
                    .unwrap_or(l.units.len());
                String::from_utf16_lossy(&l.units[..end])
            })
            .unwrap_or_else(|| short.clone());
        let hi = if fat32 {
            u16::from_le_bytes([e[20], e[21]])
        } else {
            0
        };
        let lo = u16::from_le_bytes([e[26], e[27]]);
        out.push(RawEntry {
            name,
            short,
            is_dir: attr & ATTR_DIR != 0,
            cluster: u32::from(hi) << 16 | u32::from(lo),
            size: u64::from(u32::from_le_bytes(e[28..32].try_into().expect("4 bytes"))),
        });
    }
    out
}

/// Adds one long-name entry to `long`; an out-of-order part drops the name.
fn lfn_part(long: Option<LongName>, e: &[u8]) -> Option<LongName> {
    let order = e[0];
    let index = order & 0x1F;
    let mut long = if order & 0x40 != 0 {
        LongName {
            next: index,
            checksum: e[13],
            units: vec![0xFFFF; usize::from(index) * 13],
        }
    } else {
        long.filter(|l| l.next == index && l.checksum == e[13])?
    };
    if index == 0 || long.next != index {
        return None;
    }
    let at = usize::from(index - 1) * 13;
    for (k, &o) in LFN_UNITS.iter().enumerate() {
        long.units[at + k] = u16::from_le_bytes([e[o], e[o + 1]]);
    }
    long.next = index - 1;
    Some(long)
}
