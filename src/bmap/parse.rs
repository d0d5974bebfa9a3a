//! Reading a map: bmaptool's formats 1.0–2.x, checked for sense (geometry, ranges in order
//! and inside the image, digests that look like digests) and against the file's own digest.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::model::{Bmap, BmapRange, ChecksumType, Hasher};
use super::xml::{self, Doc, Text};
use super::BmapError;

/// Largest bmap file read: a sha256 range line is about 100 bytes, so this is millions of
/// ranges, and the whole file has to be in memory for its own checksum.
const MAX_FILE_BYTES: u64 = 256 << 20;

impl Bmap {
    /// Reads a bmap file and checks it (see [`Bmap::parse`]); errors name the file.
    pub fn load(path: &Path) -> Result<Bmap, BmapError> {
        let file = File::open(path).map_err(|source| BmapError::Io {
            path: path.to_owned(),
            source,
        })?;
        Bmap::parse(file).map_err(|e| match e {
            BmapError::Io { source, .. } => BmapError::Io {
                path: path.to_owned(),
                source,
            },
            other => BmapError::InFile {
                path: path.to_owned(),
                source: Box::new(other),
            },
        })
    }

    /// Parses bmaptool's XML (formats 1.0–1.2 without digests, 1.3 with SHA-1 ones, 1.4 and
    /// 2.x with the type they name). The file's own checksum is verified when present.
    pub fn parse<R: Read>(r: R) -> Result<Bmap, BmapError> {
        let mut raw = Vec::new();
        r.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|source| BmapError::Io {
                path: PathBuf::from("<bmap>"),
                source,
            })?;
        if raw.len() as u64 > MAX_FILE_BYTES {
            return Err(BmapError::Invalid(format!(
                "the file is larger than {} MiB",
                MAX_FILE_BYTES >> 20
            )));
        }
        let text = std::str::from_utf8(&raw)
            .map_err(|_| BmapError::Invalid("the file is not UTF-8 text".into()))?;
        let doc = xml::read(text)?;
        let (major, minor) = version(&doc)?;
        let mut bmap = geometry(&doc)?;
        let digests = Digests::of_version(major, minor, &doc)?;
        if let Some(d) = digests {
            bmap.checksum_type = d.kind;
            if let Some(t) = doc.field(d.file_tag) {
                verify_file_checksum(&raw, t, d.kind)?;
            }
        }
        if !doc.has_block_map {
            return Err(BmapError::Invalid("<BlockMap> is missing".into()));
        }
        bmap.ranges = ranges(&doc, digests, &bmap)?;
        let counted: u64 = bmap.ranges.iter().map(|r| r.last - r.first + 1).sum();
        if counted != bmap.mapped_blocks {
            return Err(BmapError::Invalid(format!(
                "MappedBlocksCount says {} but the ranges cover {counted} blocks",
                bmap.mapped_blocks
            )));
        }
        Ok(bmap)
    }
}

/// The root's format version, if it is one this tool reads.
fn version(doc: &Doc) -> Result<(u32, u32), BmapError> {
    if doc.root != "bmap" {
        return Err(BmapError::Invalid(format!(
            "the root element is <{}>, expected <bmap>",
            doc.root
        )));
    }
    let version = doc
        .version
        .clone()
        .ok_or_else(|| BmapError::Invalid("<bmap> has no version attribute".into()))?;
    let (major, minor) = parse_version(&version).ok_or(BmapError::Version(version.clone()))?;
    if major > 2 || major == 0 {
        return Err(BmapError::Version(version));
    }
    Ok((major, minor))
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The image's size and blocks, consistent with each other; no ranges yet.
fn geometry(doc: &Doc) -> Result<Bmap, BmapError> {
    let num = |name: &str| -> Result<u64, BmapError> {
        let t = doc
            .field(name)
            .ok_or_else(|| BmapError::Invalid(format!("<{name}> is missing")))?
            .text
            .trim();
        t.parse::<u64>()
            .map_err(|_| BmapError::Invalid(format!("<{name}> is not a number: '{t}'")))
    };
    let image_size = num("ImageSize")?;
    let block_size = num("BlockSize")?;
    let blocks_count = num("BlocksCount")?;
    let mapped_blocks = num("MappedBlocksCount")?;
    if block_size == 0 || block_size % 512 != 0 {
        return Err(BmapError::Invalid(format!(
            "block size {block_size} is not a positive multiple of 512"
        )));
    }
    if image_size.div_ceil(block_size) != blocks_count {
        return Err(BmapError::Invalid(format!(
            "BlocksCount {blocks_count} does not fit ImageSize {image_size} with {block_size}-byte blocks"
        )));
    }
    Ok(Bmap {
        image_size,
        block_size,
        blocks_count,
        mapped_blocks,
        checksum_type: ChecksumType::Sha256,
        ranges: Vec::new(),
    })
}

/// Where a bmap format keeps its digests.
#[derive(Clone, Copy)]
struct Digests {
    kind: ChecksumType,
    /// The `<Range>` attribute holding a range's digest.
    range_attr: &'static str,
    /// The element holding the digest of the bmap file itself.
    file_tag: &'static str,
}

impl Digests {
    /// None for the formats without digests (1.0–1.2).
    fn of_version(major: u32, minor: u32, doc: &Doc) -> Result<Option<Digests>, BmapError> {
        if major == 1 && minor == 3 {
            return Ok(Some(Digests {
                kind: ChecksumType::Sha1,
                range_attr: "sha1",
                file_tag: "BmapFileSHA1",
            }));
        }
        if major == 1 && minor != 4 {
            return Ok(None);
        }
        let t = doc
            .field("ChecksumType")
            .ok_or_else(|| BmapError::Invalid("<ChecksumType> is missing".into()))?
            .text
            .trim()
            .to_ascii_lowercase();
        let kind = match t.as_str() {
            "sha1" => ChecksumType::Sha1,
            "sha256" => ChecksumType::Sha256,
            "sha512" => ChecksumType::Sha512,
            _ => return Err(BmapError::ChecksumType(t)),
        };
        Ok(Some(Digests {
            kind,
            range_attr: "chksum",
            file_tag: "BmapFileChecksum",
        }))
    }
}

/// The `<Range>`s of the block map: "a-b" or a single block "a", in order, inside the image,
/// with digests of the map's type where the format has them.
fn ranges(doc: &Doc, digests: Option<Digests>, bmap: &Bmap) -> Result<Vec<BmapRange>, BmapError> {
    let blocks_count = bmap.blocks_count;
    let mut ranges: Vec<BmapRange> = Vec::new();
    for el in &doc.ranges {
        let t = el.body.text.trim();
        let bad = || BmapError::Invalid(format!("bad range '{t}'"));
        let (first, last) = match t.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u64>().map_err(|_| bad())?,
                b.trim().parse::<u64>().map_err(|_| bad())?,
            ),
            None => {
                let v = t.parse::<u64>().map_err(|_| bad())?;
                (v, v)
            }
        };
        if first > last || last >= blocks_count {
            return Err(BmapError::Invalid(format!(
                "range '{t}' is empty or beyond the image's {blocks_count} blocks"
            )));
        }
        if ranges.last().is_some_and(|prev| first <= prev.last) {
            return Err(BmapError::Invalid(format!(
                "range '{t}' overlaps or precedes the range before it"
            )));
        }
        let checksum = match digests.and_then(|d| el.attr(d.range_attr)) {
            Some(c) => {
                let c = c.trim().to_ascii_lowercase();
                if c.len() != bmap.checksum_type.hex_len()
                    || !c.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(BmapError::Invalid(format!(
                        "range '{t}' has a malformed checksum '{c}'"
                    )));
                }
                Some(c)
            }
            None => None,
        };
        ranges.push(BmapRange {
            first,
            last,
            checksum,
        });
    }
    Ok(ranges)
}

/// The stored value is replaced by zeros in the raw bytes and the whole file hashed, as
/// bmaptool does.
fn verify_file_checksum(raw: &[u8], field: &Text, kind: ChecksumType) -> Result<(), BmapError> {
    let stored = field.text.trim().to_ascii_lowercase();
    let empty = || BmapError::Invalid("<BmapFileChecksum> is empty".into());
    let (start, end) = field.span.ok_or_else(empty)?;
    let off = raw[start..end]
        .windows(stored.len().max(1))
        .position(|w| w.eq_ignore_ascii_case(stored.as_bytes()))
        .map(|p| start + p)
        .ok_or_else(empty)?;
    if stored.len() != kind.hex_len() {
        return Err(BmapError::Invalid(format!(
            "<BmapFileChecksum> '{stored}' is not a {} checksum",
            kind.name()
        )));
    }
    // Hashed in three pieces rather than from a zeroed copy of the whole file.
    let mut h = Hasher::new(kind);
    h.update(&raw[..off]);
    h.update(&vec![b'0'; stored.len()]);
    h.update(&raw[off + stored.len()..]);
    let computed = h.finish_hex();
    if computed != stored {
        return Err(BmapError::FileChecksum { stored, computed });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::write::tests::sample;
    use super::*;

    #[test]
    fn rejects_malformed_maps() {
        let cases = [
            ("<bmap version=\"3.0\"></bmap>", "version"),
            (
                "<bmap version=\"2.0\"><ImageSize>x</ImageSize></bmap>",
                "ImageSize",
            ),
            ("<bmap version=\"2.0\">", "not closed"),
            ("not xml", "outside"),
        ];
        for (text, want) in cases {
            let err = Bmap::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        // Overlapping ranges.
        let mut b = sample();
        b.ranges[1].first = 2;
        b.ranges[1].last = 2;
        let mut out = Vec::new();
        b.write_xml(&mut out).unwrap();
        let err = Bmap::parse(&out[..]).unwrap_err().to_string();
        assert!(err.contains("overlaps"), "{err}");
    }

    #[test]
    fn reads_old_formats_without_checksums() {
        let v12 = "<?xml version=\"1.0\" ?>\n<bmap version=\"1.2\">\n\
                   <ImageSize> 8192 </ImageSize><BlockSize> 4096 </BlockSize>\n\
                   <BlocksCount> 2 </BlocksCount><MappedBlocksCount> 1 </MappedBlocksCount>\n\
                   <BlockMap><Range sha1=\"ab\"> 1 </Range></BlockMap></bmap>\n";
        let b = Bmap::parse(v12.as_bytes()).unwrap();
        assert_eq!(
            b.ranges,
            vec![BmapRange {
                first: 1,
                last: 1,
                checksum: None
            }]
        );
        // 1.3 keeps its SHA-1 digests in the same attribute, and they must look like ones.
        let v13 = v12.replace("1.2", "1.3");
        let err = Bmap::parse(v13.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("malformed checksum"), "{err}");
        let sha1 = "a".repeat(40);
        let v13 = v13.replace("sha1=\"ab\"", &format!("sha1=\"{sha1}\""));
        let b = Bmap::parse(v13.as_bytes()).unwrap();
        assert_eq!(b.checksum_type, ChecksumType::Sha1);
        assert_eq!(b.ranges[0].checksum.as_deref(), Some(sha1.as_str()));
    }
}
