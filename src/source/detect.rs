//! What an image file holds, from its first bytes: raw disk bytes, a compressed stream this
//! tool decodes, or a compressed format it refuses by name.

use super::Compression;

/// How many leading bytes [`detect`] looks at.
pub const MAGIC_LEN: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// Raw disk bytes, or a stream we read.
    Read(Compression),
    /// A compressed or archive format that is not read; the name is for the message.
    Refused(&'static str),
}

/// Formats refused by name: the magic at offset 0, and how a user unpacks it.
const REFUSED: &[(&[u8], &str)] = &[
    (&[b'7', b'z', 0xBC, 0xAF, 0x27, 0x1C], "7z"),
    (&[0x04, 0x22, 0x4D, 0x18], "lz4"),
    (&[0x02, 0x21, 0x4C, 0x18], "lz4 (legacy frame)"),
    (b"LZIP", "lzip"),
    (b"Rar!\x1A\x07", "rar"),
    (
        &[0x89, b'L', b'Z', b'O', 0x00, 0x0D, 0x0A, 0x1A, 0x0A],
        "lzop",
    ),
    (&[0x1F, 0x9D], "compress (.Z)"),
    (&[0x1F, 0xA0], "compress (LZH)"),
    (b"PK\x05\x06", "zip (an empty archive)"),
    (b"PK\x07\x08", "zip (a spanned archive)"),
    (b"MSCF", "cab"),
    (b"xar!", "xar"),
    (b"070707", "cpio"),
    (b"070701", "cpio"),
];

/// Decides from the first bytes of a file (fewer than [`MAGIC_LEN`] only if it is shorter).
pub fn detect(magic: &[u8]) -> Detected {
    let read = |c| Detected::Read(c);
    if magic.starts_with(&[0xFD, b'7', b'z', b'X', b'Z', 0x00]) {
        return read(Compression::Xz);
    }
    // gzip: magic and the only compression method gzip defines (deflate).
    if magic.starts_with(&[0x1F, 0x8B, 0x08]) {
        return read(Compression::Gzip);
    }
    if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        return read(Compression::Zstd);
    }
    // A zstd skippable frame (magic 0x184D2A5?) usually carries metadata before the data.
    if magic.len() >= 4 && magic[0] & 0xF0 == 0x50 && magic[1..4] == [0x2A, 0x4D, 0x18] {
        return read(Compression::Zstd);
    }
    if magic.len() >= 4 && magic.starts_with(b"BZh") && (b'1'..=b'9').contains(&magic[3]) {
        return read(Compression::Bzip2);
    }
    if magic.starts_with(b"PK\x03\x04") {
        return read(Compression::Zip);
    }
    if let Some((_, name)) = REFUSED.iter().find(|(m, _)| magic.starts_with(m)) {
        return Detected::Refused(name);
    }
    if is_lzma_alone(magic) {
        return Detected::Refused("lzma (lzma-alone)");
    }
    read(Compression::None)
}

/// The legacy `.lzma` header has no magic: properties byte, dictionary size, length. Only
/// the common properties (lc=3, lp=0, pb=2) with a power-of-two dictionary and a plausible
/// length count, so a disk image that happens to start with 0x5D is not mistaken for it.
fn is_lzma_alone(m: &[u8]) -> bool {
    if m.len() < 13 || m[0] != 0x5D {
        return false;
    }
    let dict = u32::from_le_bytes([m[1], m[2], m[3], m[4]]);
    let len = u64::from_le_bytes([m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12]]);
    dict.is_power_of_two()
        && (1 << 12..=1 << 30).contains(&dict)
        && (len == u64::MAX || len < 1 << 48)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_are_told_apart() {
        let d = |b: &[u8]| detect(b);
        assert_eq!(d(b"\xFD7zXZ\0rest"), Detected::Read(Compression::Xz));
        assert_eq!(d(b"\x1F\x8B\x08\0"), Detected::Read(Compression::Gzip));
        assert_eq!(
            d(b"\x28\xB5\x2F\xFD\x04"),
            Detected::Read(Compression::Zstd)
        );
        assert_eq!(d(b"BZh91AY&SY"), Detected::Read(Compression::Bzip2));
        assert_eq!(d(b"PK\x03\x04\x14\0"), Detected::Read(Compression::Zip));
        assert_eq!(d(b"7z\xBC\xAF\x27\x1C\0\x04"), Detected::Refused("7z"));
        assert_eq!(d(b"\x04\x22\x4D\x18\x64"), Detected::Refused("lz4"));
        let lzma = [
            0x5D, 0, 0, 0x80, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert_eq!(d(&lzma), Detected::Refused("lzma (lzma-alone)"));
        // A boot sector, a zeroed disk, a short file: raw.
        assert_eq!(d(&[0xEB, 0x3C, 0x90]), Detected::Read(Compression::None));
        assert_eq!(d(&[0; 16]), Detected::Read(Compression::None));
        assert_eq!(d(b"BZ"), Detected::Read(Compression::None));
        assert_eq!(d(&[0x5D, 0, 0, 0x80]), Detected::Read(Compression::None));
    }
}
