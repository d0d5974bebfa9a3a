//! Writing a map as bmaptool's format 2.0, with the file's own checksum filled in.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::model::{Bmap, Hasher};

impl Bmap {
    /// Writes the map as bmaptool's format 2.0, including the BmapFileChecksum (the hash of
    /// the file as written with that field's value replaced by ASCII zeros).
    pub fn write_xml<W: Write>(&self, w: &mut W) -> io::Result<()> {
        let kind = self.checksum_type;
        let zeros = "0".repeat(kind.hex_len());
        let mut s = String::new();
        // Writing to a String cannot fail; `let _` keeps clippy quiet about the Result.
        let _ = write!(
            s,
            "<?xml version=\"1.0\" ?>\n\
             <!-- Block map written by clem-image: the blocks of the image that hold data.\n     \
             Blocks not listed need not be written to the card. -->\n\
             <bmap version=\"2.0\">\n    \
             <ImageSize> {} </ImageSize>\n    \
             <BlockSize> {} </BlockSize>\n    \
             <BlocksCount> {} </BlocksCount>\n    \
             <MappedBlocksCount> {} </MappedBlocksCount>\n    \
             <ChecksumType> {} </ChecksumType>\n    \
             <BmapFileChecksum> {} </BmapFileChecksum>\n    \
             <BlockMap>\n",
            self.image_size,
            self.block_size,
            self.blocks_count,
            self.mapped_blocks,
            kind.name(),
            zeros
        );
        for r in &self.ranges {
            let attr = match &r.checksum {
                Some(c) => format!(" chksum=\"{c}\""),
                None => String::new(),
            };
            if r.first == r.last {
                let _ = writeln!(s, "        <Range{attr}> {} </Range>", r.first);
            } else {
                let _ = writeln!(s, "        <Range{attr}> {}-{} </Range>", r.first, r.last);
            }
        }
        s.push_str("    </BlockMap>\n</bmap>\n");
        let mut h = Hasher::new(kind);
        h.update(s.as_bytes());
        let sum = h.finish_hex();
        // The zeros appear once: no other field is a run of that many zeros in this template.
        let s = s.replacen(&zeros, &sum, 1);
        w.write_all(s.as_bytes())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{BmapError, BmapRange, ChecksumType};
    use super::*;

    pub fn sample() -> Bmap {
        Bmap {
            image_size: 10 * 4096 + 100,
            block_size: 4096,
            blocks_count: 11,
            mapped_blocks: 4,
            checksum_type: ChecksumType::Sha256,
            ranges: vec![
                BmapRange {
                    first: 0,
                    last: 2,
                    checksum: Some("a".repeat(64)),
                },
                BmapRange {
                    first: 10,
                    last: 10,
                    checksum: Some("b".repeat(64)),
                },
            ],
        }
    }

    /// The bytes are pinned: they were written by the writer before the module was split,
    /// and bmaptool hashes them as they are.
    #[test]
    fn writes_the_same_bytes_as_before() {
        let mut b = sample();
        // A range without a digest, to pin that form too (the order is not checked here).
        b.ranges.push(BmapRange {
            first: 5,
            last: 6,
            checksum: None,
        });
        let mut out = Vec::new();
        b.write_xml(&mut out).unwrap();
        let want = include_str!("testdata/written_sample.bmap");
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn written_xml_parses_back_and_carries_its_checksum() {
        let mut out = Vec::new();
        sample().write_xml(&mut out).unwrap();
        let back = Bmap::parse(&out[..]).unwrap();
        assert_eq!(back, sample());
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("<Range chksum=\"") && text.contains("> 10 </Range>"));
        // One flipped digit in a range must trip the file checksum.
        let bad = text.replacen("> 0-2 <", "> 0-3 <", 1);
        let err = Bmap::parse(bad.as_bytes()).unwrap_err();
        assert!(matches!(err, BmapError::FileChecksum { .. }), "{err}");
    }
}
