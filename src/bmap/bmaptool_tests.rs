//! Tests: bmaptool's own formats, laid out as bmaptool lays them out, read back.
//!
//! The files are written here from bmaptool's documented format (its `BmapCreate` template
//! and `BmapCopy` reader): 1.3 with `sha1=` and `BmapFileSHA1`; 1.4 and 2.0 with
//! `ChecksumType`, `chksum=` and `BmapFileChecksum` (1.4 is 2.0 under a mistaken number);
//! comments between the fields (one mentioning tags), blank lines, a `MappedBlocksCount`
//! padded with the spaces bmaptool reserves for it, ranges as "a-b" and as a single "a".

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt;

use super::{Bmap, BmapError, BmapRange, ChecksumType, Hasher};

/// A bmap in bmaptool's layout. `sum_tag` is the file checksum element (None for 1.0–1.2),
/// `attr` the range digest attribute; `@SUM@` stands for the file checksum until [`seal`].
fn layout(version: &str, kind: Option<ChecksumType>, sum_tag: Option<&str>, attr: &str) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" ?>\n\
         <!-- A block map: the blocks of an image that hold data. A flash writes\n     \
         <MappedBlocksCount> blocks, listed in <BlockMap>, not all <BlocksCount>. -->\n\
         \n\
         <bmap version=\"{version}\">\n    \
         <!-- Image size in bytes: 40.1 KiB -->\n    \
         <ImageSize> 41060 </ImageSize>\n\
         \n    \
         <!-- Size of a block in bytes -->\n    \
         <BlockSize> 4096 </BlockSize>\n\
         \n    \
         <!-- Count of blocks in the image file -->\n    \
         <BlocksCount> 11 </BlocksCount>\n\
         \n    \
         <!-- Count of mapped blocks: 16.0 KiB or 36.4%    -->\n    \
         <MappedBlocksCount> 4  </MappedBlocksCount>\n\
         \n"
    );
    if let Some(kind) = kind.filter(|_| attr == "chksum") {
        x += &format!(
            "    <!-- Type of checksum used in this file -->\n    \
             <ChecksumType> {} </ChecksumType>\n\n",
            kind.name()
        );
    }
    if let Some(tag) = sum_tag {
        x += &format!(
            "    <!-- The checksum of this file, computed with its own value as zeros. -->\n    \
             <{tag}> @SUM@ </{tag}>\n\n"
        );
    }
    x += "    <!-- Ranges of blocks, or single blocks; the attribute is their digest. -->\n    \
          <BlockMap>\n";
    let d = |c: char| kind.map_or(String::new(), |k| c.to_string().repeat(k.hex_len()));
    x += &format!("        <Range {attr}=\"{}\"> 0-2 </Range>\n", d('a'));
    x += &format!("        <Range {attr}=\"{}\"> 10 </Range>\n", d('b'));
    x += "    </BlockMap>\n</bmap>\n";
    x
}

/// Fills in the file checksum as bmaptool computes it: the hash of the file with the
/// value written as ASCII zeros.
fn seal(x: &str, kind: ChecksumType) -> String {
    let zeros = "0".repeat(kind.hex_len());
    let with_zeros = x.replace("@SUM@", &zeros);
    let mut h = Hasher::new(kind);
    h.update(with_zeros.as_bytes());
    x.replace("@SUM@", &h.finish_hex())
}

fn ranges(kind: Option<ChecksumType>) -> Vec<BmapRange> {
    let d = |c: char| kind.map(|k| c.to_string().repeat(k.hex_len()));
    vec![
        BmapRange {
            first: 0,
            last: 2,
            checksum: d('a'),
        },
        BmapRange {
            first: 10,
            last: 10,
            checksum: d('b'),
        },
    ]
}

#[test]
fn reads_1_4_with_sha1_and_with_sha256() {
    for kind in [ChecksumType::Sha1, ChecksumType::Sha256] {
        let x = seal(
            &layout("1.4", Some(kind), Some("BmapFileChecksum"), "chksum"),
            kind,
        );
        let b = Bmap::parse(x.as_bytes()).unwrap_or_else(|e| panic!("{kind:?}: {e}\n{x}"));
        assert_eq!(b.checksum_type, kind);
        assert_eq!(
            (b.image_size, b.block_size, b.blocks_count, b.mapped_blocks),
            (41060, 4096, 11, 4)
        );
        assert_eq!(b.ranges, ranges(Some(kind)));
        // The file checksum is checked, not only read.
        let bad = x.replacen("> 10 <", "> 9 <", 1);
        let err = Bmap::parse(bad.as_bytes()).unwrap_err();
        assert!(matches!(err, BmapError::FileChecksum { .. }), "{err}");
    }
}

/// 1.3 names its digests after SHA-1; in 1.4 and later those names mean nothing.
#[test]
fn bmap_file_sha1_belongs_to_1_3_and_bmap_file_checksum_to_1_4() {
    let sha1 = ChecksumType::Sha1;
    let v13 = seal(
        &layout("1.3", Some(sha1), Some("BmapFileSHA1"), "sha1"),
        sha1,
    );
    let b = Bmap::parse(v13.as_bytes()).unwrap();
    assert_eq!(b.checksum_type, sha1);
    assert_eq!(b.ranges, ranges(Some(sha1)));
    let err = Bmap::parse(v13.replacen("> 0-2 <", "> 0-1 <", 1).as_bytes()).unwrap_err();
    assert!(matches!(err, BmapError::FileChecksum { .. }), "{err}");
    // A 1.4 file has ChecksumType and chksum=; its sha1= attributes are not digests.
    let v14 = layout("1.4", Some(sha1), Some("BmapFileSHA1"), "sha1");
    let err = Bmap::parse(v14.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("<ChecksumType> is missing"), "{err}");
    // With ChecksumType, sha1= digests and a BmapFileSHA1 (left unsealed) are ignored.
    let v14 = layout("1.4", Some(sha1), Some("BmapFileSHA1"), "chksum").replace("chksum=", "sha1=");
    let b = Bmap::parse(v14.as_bytes()).unwrap();
    assert_eq!(b.ranges, ranges(None));
}

#[test]
fn reads_2_0_with_sha256_and_checks_the_image_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("img");
    let f = File::create(&path).unwrap();
    f.set_len(41060).unwrap();
    f.write_all_at(&[1u8; 3 * 4096], 0).unwrap();
    f.write_all_at(&[2u8; 100], 10 * 4096).unwrap();
    let f = File::open(&path).unwrap();
    let mut x = seal(
        &layout(
            "2.0",
            Some(ChecksumType::Sha256),
            Some("BmapFileChecksum"),
            "chksum",
        ),
        ChecksumType::Sha256,
    );
    // The real digests of the two ranges, sealed again.
    let digest = |data: &[u8]| {
        let mut h = Hasher::new(ChecksumType::Sha256);
        h.update(data);
        h.finish_hex()
    };
    let sum_line = x
        .lines()
        .find(|l| l.contains("<BmapFileChecksum>"))
        .unwrap();
    x = x
        .replace(sum_line, "    <BmapFileChecksum> @SUM@ </BmapFileChecksum>")
        .replace(&"a".repeat(64), &digest(&[1u8; 3 * 4096]))
        .replace(&"b".repeat(64), &digest(&[2u8; 100]));
    let x = seal(&x, ChecksumType::Sha256);
    let b = Bmap::parse(x.as_bytes()).unwrap();
    assert_eq!(b.ranges[1].first, b.ranges[1].last);
    // The single block "10" is the image's last, which counts only up to the image's end.
    assert_eq!(b.byte_span(&b.ranges[1]), (40960, 41060));
    b.check_file(&f, &path).unwrap();
}

/// bmaptool 1.0–1.2 have no digests (sha1= in 1.2 is ignored), and the oldest wrote
/// MappedBlocksCount after the block map.
#[test]
fn reads_1_2_with_the_count_after_the_block_map() {
    let x = layout("1.2", Some(ChecksumType::Sha1), None, "sha1");
    let count = "    <!-- Count of mapped blocks: 16.0 KiB or 36.4%    -->\n    \
                 <MappedBlocksCount> 4  </MappedBlocksCount>\n\n";
    let x = x.replace(count, "").replace(
        "</BlockMap>\n",
        "</BlockMap>\n\n    <MappedBlocksCount> 4 </MappedBlocksCount>\n",
    );
    let b = Bmap::parse(x.as_bytes()).unwrap();
    assert_eq!(b.mapped_blocks, 4);
    assert_eq!(b.ranges, ranges(None));
}

/// Spacing inside the fields varies between bmaptool versions and hand edits: tabs, line
/// breaks, spaces around the dash, upper-case hex, a comment inside a range.
#[test]
fn tolerates_whitespace_and_comment_variants() {
    let x = layout("2.0", Some(ChecksumType::Sha256), None, "chksum")
        .replace(
            "<ImageSize> 41060 </ImageSize>",
            "<ImageSize>\t41060\n    </ImageSize>",
        )
        .replace("> 0-2 <", ">0 - 2<")
        .replace("> 10 <", "><!-- the last block -->\n 10 <")
        .replace(&"b".repeat(64), &"B".repeat(64));
    let b = Bmap::parse(x.as_bytes()).unwrap();
    assert_eq!(b.ranges, ranges(Some(ChecksumType::Sha256)));
    assert_eq!(b.image_size, 41060);
}

/// The refusals of the old hand-written tokenizer, one each, with the same meaning.
#[test]
fn refuses_what_is_not_one_well_formed_document() {
    let cases = [
        ("", "no root element"),
        ("not xml", "text outside the root element"),
        ("<bmap version=\"2.0\">", "<bmap> is not closed"),
        (
            "<bmap version=\"2.0\"></bmap><x/>",
            "content after the root element",
        ),
        (
            "<bmap version=\"2.0\"></bmap>junk",
            "text outside the root element",
        ),
        ("<a></b>", "malformed XML on line 1"),
        ("</a>", "malformed XML on line 1"),
        ("<a x></a>", "malformed XML"),
        ("<a x=1></a>", "malformed XML"),
        ("<a x=\"1></a>", "malformed XML"),
        ("\n<!-- x", "malformed XML on line 2"),
        ("<? x", "malformed XML"),
        ("<a", "malformed XML"),
        ("<>", "empty tag name"),
        ("<a>&bogus;</a>", "unknown entity '&bogus;'"),
        ("<a>&amp</a>", "malformed XML"),
        ("<a x=\"&bogus;\"/>", "malformed XML"),
        ("<other/>", "the root element is <other>"),
        ("<bmap/>", "no version attribute"),
        ("<bmap version=\"x\"/>", "version x is not supported"),
        ("<!DOCTYPE b [<!ENTITY a \"b\">]><bmap/>", "DOCTYPE"),
        ("\u{0}\u{ff}", "text outside the root element"),
    ];
    for (text, want) in cases {
        let err = Bmap::parse(text.as_bytes()).unwrap_err();
        let msg = crate::error::chain(&err);
        assert!(msg.contains(want), "{text:?}: {msg}");
        assert!(
            msg.starts_with("not a valid bmap file") || msg.contains("version"),
            "{msg}"
        );
    }
    let err = Bmap::parse(&[0xff, 0xfe][..]).unwrap_err().to_string();
    assert!(err.contains("not UTF-8"), "{err}");
}

#[test]
fn refuses_deep_nesting_and_oversized_files() {
    let deep = "<bmap version=\"2.0\">".to_string() + &"<a>".repeat(40);
    let err = Bmap::parse(deep.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("nested deeper"), "{err}");
    let big = std::io::repeat(b' ').take((256 << 20) + 1);
    let err = Bmap::parse(big).unwrap_err().to_string();
    assert!(err.contains("larger than 256 MiB"), "{err}");
}
