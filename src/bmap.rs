//! Block maps in bmaptool's XML format (version 2.0 written; 1.x–2.x read).
//!
//! A block map lists the blocks of an image that hold data; everything else is "don't care"
//! and need not be written to the card. Each range carries a SHA-256 of its bytes so a flash
//! can check both the image it reads and the card it wrote. Older formats, as bmaptool reads
//! them: 1.0–1.2 have no digests, 1.3 has SHA-1 ones (`sha1` attributes, `BmapFileSHA1`),
//! 1.4 and 2.x name their type in `ChecksumType` (`chksum`, `BmapFileChecksum`).
//!
//! The XML is small and fixed in shape, so it is read by a minimal tokenizer here rather than
//! pulling in an XML crate; anything outside that shape is rejected with the reason.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

use crate::io::sparse::{data_ranges, data_ranges_in};
use crate::io::tracked::Written;

/// The block size we write; bmaptool uses the file system's, which is 4096 in practice.
pub const BLOCK_SIZE: u64 = 4096;

/// Build maps cut their ranges at every 4 MiB, so a node's map can reuse the digests of
/// every chunk its patch did not touch.
pub const CHUNK_BLOCKS: u64 = 1024;

/// Byte ranges of data as inclusive block spans, merged where they touch.
fn block_spans(ranges: &[(u64, u64)], blocks_count: u64) -> Vec<(u64, u64)> {
    let bs = BLOCK_SIZE;
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for &(data, hole) in ranges {
        let first = data / bs;
        let last = (hole.div_ceil(bs) - 1).min(blocks_count - 1);
        match spans.last_mut() {
            // Holes smaller than a block can leave neighbouring spans touching.
            Some(prev) if prev.1 + 1 >= first => prev.1 = prev.1.max(last),
            _ => spans.push((first, last)),
        }
    }
    spans
}

/// Spans cut at every chunk boundary.
fn split_at_chunks(spans: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(mut first, last) in spans {
        while first / CHUNK_BLOCKS != last / CHUNK_BLOCKS {
            let end = (first / CHUNK_BLOCKS + 1) * CHUNK_BLOCKS - 1;
            out.push((first, end));
            first = end + 1;
        }
        out.push((first, last));
    }
    out
}

#[derive(Debug, Error)]
pub enum BmapError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("not a valid bmap file: {0}")]
    Invalid(String),
    #[error("bmap format version {0} is not supported (this tool reads 1.x and 2.x)")]
    Version(String),
    #[error("bmap checksum type '{0}' is not supported (sha1, sha256 and sha512 are)")]
    ChecksumType(String),
    #[error("the bmap file is corrupt: its BmapFileChecksum is {stored} but its contents hash to {computed}")]
    FileChecksum { stored: String, computed: String },
    #[error("blocks {first}-{last} do not match the bmap's checksum (expected {expected}, got {actual})")]
    Mismatch {
        first: u64,
        last: u64,
        expected: String,
        actual: String,
    },
    #[error("byte {offset} holds data outside every range of the bmap")]
    Unmapped { offset: u64 },
    #[error("the image has {actual} bytes, the bmap says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        source: Box<BmapError>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    /// Format 1.3 only; read, never written.
    Sha1,
    Sha256,
    Sha512,
}

impl ChecksumType {
    fn name(self) -> &'static str {
        match self {
            ChecksumType::Sha1 => "sha1",
            ChecksumType::Sha256 => "sha256",
            ChecksumType::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            ChecksumType::Sha1 => 40,
            ChecksumType::Sha256 => 64,
            ChecksumType::Sha512 => 128,
        }
    }
}

/// A running hash of whichever type a bmap uses.
#[derive(Clone)]
pub enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(kind: ChecksumType) -> Hasher {
        match kind {
            ChecksumType::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumType::Sha256 => Hasher::Sha256(Sha256::new()),
            ChecksumType::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }
    pub fn finish_hex(self) -> String {
        match self {
            Hasher::Sha1(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// Blocks `first..=last`, with the lower-case hex checksum of their bytes (the last block of
/// the image counts only up to the image size), if the bmap has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmapRange {
    pub first: u64,
    pub last: u64,
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bmap {
    pub image_size: u64,
    pub block_size: u64,
    pub blocks_count: u64,
    pub mapped_blocks: u64,
    pub checksum_type: ChecksumType,
    /// Sorted, non-overlapping, inside the image.
    pub ranges: Vec<BmapRange>,
}

impl Bmap {
    /// Byte span `[start, end)` of a range, clipped to the image size.
    pub fn byte_span(&self, r: &BmapRange) -> (u64, u64) {
        let start = r.first * self.block_size;
        let end = ((r.last + 1) * self.block_size).min(self.image_size);
        (start, end)
    }

    /// Bytes that a flash with this map writes.
    pub fn mapped_bytes(&self) -> u64 {
        self.ranges
            .iter()
            .map(|r| {
                let (s, e) = self.byte_span(r);
                e - s
            })
            .sum()
    }

    /// Maps the data of a sparse file (`io::sparse::data_ranges`) and hashes each range.
    ///
    /// On a file system without hole tracking the whole file is one range, which is still a
    /// correct (if unhelpful) map.
    pub fn from_sparse_file(path: &Path) -> Result<Bmap, BmapError> {
        Bmap::map_file(path, false)
    }

    /// Like [`Bmap::from_sparse_file`], with ranges cut at every [`CHUNK_BLOCKS`]: the map
    /// of a base image whose digests [`Bmap::derive`] reuses for its node images.
    pub fn chunked_from_file(path: &Path) -> Result<Bmap, BmapError> {
        Bmap::map_file(path, true)
    }

    fn map_file(path: &Path, chunked: bool) -> Result<Bmap, BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let size = file.metadata().map_err(io_err)?.len();
        let ranges = data_ranges(&file, size).map_err(io_err)?;
        let mut bmap = Bmap::empty(size);
        let mut spans = block_spans(&ranges, bmap.blocks_count);
        if chunked {
            spans = split_at_chunks(&spans);
        }
        bmap.push_hashed(&file, &spans).map_err(io_err)?;
        Ok(bmap)
    }

    /// The map of `file`, a copy of the image `self` maps (made by
    /// [`Bmap::chunked_from_file`]) in which only the bytes in `written` may differ. Ranges
    /// of untouched chunks keep their digests; touched chunks are mapped and hashed anew.
    pub fn derive(&self, file: &File, path: &Path, written: &Written) -> Result<Bmap, BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let size = file.metadata().map_err(io_err)?.len();
        if size != self.image_size {
            return Err(BmapError::Invalid(format!(
                "{}: {size} bytes, but its base image has {}",
                path.display(),
                self.image_size
            )));
        }
        let chunk_bytes = CHUNK_BLOCKS * self.block_size;
        let dirty = written.chunks(chunk_bytes);
        let mut out = Bmap::empty(size);
        // Touched chunks: whatever the file now holds there.
        let mut fresh = Vec::new();
        for &c in &dirty {
            let from = c * chunk_bytes;
            let to = (from + chunk_bytes).min(size);
            if from >= to {
                continue;
            }
            let ranges = data_ranges_in(file, from, to).map_err(io_err)?;
            fresh.extend(block_spans(&ranges, out.blocks_count));
        }
        out.push_hashed(file, &fresh).map_err(io_err)?;
        out.ranges.extend(
            self.ranges
                .iter()
                .filter(|r| !dirty.contains(&(r.first / CHUNK_BLOCKS)))
                .cloned(),
        );
        out.ranges.sort_by_key(|r| r.first);
        out.mapped_blocks = out.ranges.iter().map(|r| r.last - r.first + 1).sum();
        Ok(out)
    }

    /// Checks that `file` is the image this map describes: its size, every range's digest,
    /// and zeros everywhere else (holes are not read).
    pub fn check_file(&self, file: &File, path: &Path) -> Result<(), BmapError> {
        let io_err = |source| BmapError::Io {
            path: path.to_owned(),
            source,
        };
        let size = file.metadata().map_err(io_err)?.len();
        if size != self.image_size {
            return Err(BmapError::Size {
                expected: self.image_size,
                actual: size,
            });
        }
        let mut buf = vec![0u8; 1 << 20];
        for r in &self.ranges {
            let Some(expected) = &r.checksum else {
                continue;
            };
            let actual = self.hash_range(file, r, &mut buf).map_err(io_err)?;
            if &actual != expected {
                return Err(BmapError::Mismatch {
                    first: r.first,
                    last: r.last,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        // Data the map does not cover must be zeros, or a flash would lose it.
        let mut mapped = self.ranges.iter().map(|r| self.byte_span(r)).peekable();
        for (mut start, end) in data_ranges(file, size).map_err(io_err)? {
            while start < end {
                while mapped.peek().is_some_and(|m| m.1 <= start) {
                    mapped.next();
                }
                let stop = match mapped.peek() {
                    Some(&(ms, me)) if ms <= start => {
                        start = me.min(end);
                        continue;
                    }
                    Some(&(ms, _)) => ms.min(end),
                    None => end,
                };
                let mut off = start;
                while off < stop {
                    let n = (stop - off).min(buf.len() as u64) as usize;
                    read_exact_at(file, &mut buf[..n], off).map_err(io_err)?;
                    if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
                        return Err(BmapError::Unmapped {
                            offset: off + i as u64,
                        });
                    }
                    off += n as u64;
                }
                start = stop;
            }
        }
        Ok(())
    }

    /// The digest of range `r`'s bytes in `file`, read through `buf`.
    fn hash_range(&self, file: &File, r: &BmapRange, buf: &mut [u8]) -> io::Result<String> {
        let (start, end) = self.byte_span(r);
        let mut h = Hasher::new(self.checksum_type);
        let mut off = start;
        while off < end {
            let n = (end - off).min(buf.len() as u64) as usize;
            read_exact_at(file, &mut buf[..n], off)?;
            h.update(&buf[..n]);
            off += n as u64;
        }
        Ok(h.finish_hex())
    }

    fn empty(size: u64) -> Bmap {
        Bmap {
            image_size: size,
            block_size: BLOCK_SIZE,
            blocks_count: size.div_ceil(BLOCK_SIZE),
            mapped_blocks: 0,
            checksum_type: ChecksumType::Sha256,
            ranges: Vec::new(),
        }
    }

    /// Appends a hashed range per block span (inclusive block numbers).
    fn push_hashed(&mut self, file: &File, spans: &[(u64, u64)]) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        for &(first, last) in spans {
            let mut r = BmapRange {
                first,
                last,
                checksum: None,
            };
            r.checksum = Some(self.hash_range(file, &r, &mut buf)?);
            self.mapped_blocks += last - first + 1;
            self.ranges.push(r);
        }
        Ok(())
    }

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
    pub fn parse<R: Read>(mut r: R) -> Result<Bmap, BmapError> {
        let mut raw = Vec::new();
        r.read_to_end(&mut raw).map_err(|source| BmapError::Io {
            path: PathBuf::from("<bmap>"),
            source,
        })?;
        let text = std::str::from_utf8(&raw)
            .map_err(|_| BmapError::Invalid("the file is not UTF-8 text".into()))?;
        let doc = xml::parse(text).map_err(BmapError::Invalid)?;
        if doc.name != "bmap" {
            return Err(BmapError::Invalid(format!(
                "the root element is <{}>, expected <bmap>",
                doc.name
            )));
        }
        let version = doc
            .attr("version")
            .ok_or_else(|| BmapError::Invalid("<bmap> has no version attribute".into()))?
            .to_string();
        let (major, minor) = parse_version(&version).ok_or(BmapError::Version(version.clone()))?;
        if major > 2 || major == 0 {
            return Err(BmapError::Version(version));
        }
        let num = |name: &str| -> Result<u64, BmapError> {
            let el = doc
                .child(name)
                .ok_or_else(|| BmapError::Invalid(format!("<{name}> is missing")))?;
            el.text.trim().parse::<u64>().map_err(|_| {
                BmapError::Invalid(format!("<{name}> is not a number: '{}'", el.text.trim()))
            })
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
        let digests = Digests::of_version(major, minor, &doc)?;
        let checksum_type = digests.map_or(ChecksumType::Sha256, |d| d.kind);
        if let Some(d) = digests {
            if let Some(el) = doc.child(d.file_tag) {
                verify_file_checksum(&raw, el, d.kind)?;
            }
        }
        let map = doc
            .child("BlockMap")
            .ok_or_else(|| BmapError::Invalid("<BlockMap> is missing".into()))?;
        let mut ranges: Vec<BmapRange> = Vec::new();
        let mut counted = 0u64;
        for el in map.children.iter().filter(|c| c.name == "Range") {
            let t = el.text.trim();
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
            if let Some(prev) = ranges.last() {
                if first <= prev.last {
                    return Err(BmapError::Invalid(format!(
                        "range '{t}' overlaps or precedes the range before it"
                    )));
                }
            }
            let checksum = digests.and_then(|d| el.attr(d.range_attr));
            let checksum = match checksum {
                Some(c) => {
                    let c = c.trim().to_ascii_lowercase();
                    if c.len() != checksum_type.hex_len()
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
            counted += last - first + 1;
            ranges.push(BmapRange {
                first,
                last,
                checksum,
            });
        }
        if counted != mapped_blocks {
            return Err(BmapError::Invalid(format!(
                "MappedBlocksCount says {mapped_blocks} but the ranges cover {counted} blocks"
            )));
        }
        Ok(Bmap {
            image_size,
            block_size,
            blocks_count,
            mapped_blocks,
            checksum_type,
            ranges,
        })
    }
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
    fn of_version(
        major: u32,
        minor: u32,
        doc: &xml::Element,
    ) -> Result<Option<Digests>, BmapError> {
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
            .child("ChecksumType")
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

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The stored value is replaced by zeros in the raw bytes and the whole file hashed, as
/// bmaptool does.
fn verify_file_checksum(
    raw: &[u8],
    el: &xml::Element,
    kind: ChecksumType,
) -> Result<(), BmapError> {
    let stored = el.text.trim().to_ascii_lowercase();
    let (start, end) = el.text_span;
    let off = raw[start..end]
        .windows(stored.len().max(1))
        .position(|w| w.eq_ignore_ascii_case(stored.as_bytes()))
        .map(|p| start + p)
        .ok_or_else(|| BmapError::Invalid("<BmapFileChecksum> is empty".into()))?;
    if stored.len() != kind.hex_len() {
        return Err(BmapError::Invalid(format!(
            "<BmapFileChecksum> '{stored}' is not a {} checksum",
            kind.name()
        )));
    }
    let mut copy = raw.to_vec();
    copy[off..off + stored.len()].fill(b'0');
    let mut h = Hasher::new(kind);
    h.update(&copy);
    let computed = h.finish_hex();
    if computed != stored {
        return Err(BmapError::FileChecksum { stored, computed });
    }
    Ok(())
}

fn read_exact_at(file: &File, buf: &mut [u8], off: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, off)
}

/// Just enough XML for bmap files: elements, attributes, text, comments, declarations.
mod xml {
    #[derive(Debug, Default)]
    pub struct Element {
        pub name: String,
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Element>,
        /// Concatenated direct text content, entities decoded.
        pub text: String,
        /// Byte span of the direct text in the source (first to last text byte).
        pub text_span: (usize, usize),
    }

    impl Element {
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        pub fn child(&self, name: &str) -> Option<&Element> {
            self.children.iter().find(|c| c.name == name)
        }
    }

    pub fn parse(s: &str) -> Result<Element, String> {
        let b = s.as_bytes();
        let mut i = 0;
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let line = |i: usize| s[..i].bytes().filter(|&c| c == b'\n').count() + 1;
        while i < b.len() {
            if b[i] == b'<' {
                if s[i..].starts_with("<!--") {
                    let end = s[i..]
                        .find("-->")
                        .ok_or_else(|| format!("line {}: unterminated comment", line(i)))?;
                    i += end + 3;
                } else if s[i..].starts_with("<?") || s[i..].starts_with("<!") {
                    let end = s[i..]
                        .find('>')
                        .ok_or_else(|| format!("line {}: unterminated declaration", line(i)))?;
                    i += end + 1;
                } else if s[i..].starts_with("</") {
                    let end = s[i..]
                        .find('>')
                        .ok_or_else(|| format!("line {}: unterminated end tag", line(i)))?;
                    let name = s[i + 2..i + end].trim();
                    let el = stack.pop().ok_or_else(|| {
                        format!("line {}: </{name}> without a start tag", line(i))
                    })?;
                    if el.name != name {
                        return Err(format!("line {}: </{name}> closes <{}>", line(i), el.name));
                    }
                    i += end + 1;
                    close(el, &mut stack, &mut root)?;
                } else {
                    let (el, self_closing, next) =
                        start_tag(s, i).map_err(|e| format!("line {}: {e}", line(i)))?;
                    i = next;
                    if root.is_some() {
                        return Err(format!("line {}: content after the root element", line(i)));
                    }
                    if self_closing {
                        close(el, &mut stack, &mut root)?;
                    } else {
                        stack.push(el);
                    }
                }
            } else {
                let end = s[i..].find('<').map(|e| i + e).unwrap_or(b.len());
                let raw = &s[i..end];
                match stack.last_mut() {
                    Some(el) => {
                        if !raw.trim().is_empty() {
                            let lead = raw.len() - raw.trim_start().len();
                            let tail = raw.len() - raw.trim_end().len();
                            if el.text.is_empty() {
                                el.text_span = (i + lead, end - tail);
                            } else {
                                el.text_span.1 = end - tail;
                            }
                            el.text.push_str(&unescape(raw)?);
                        }
                    }
                    None if raw.trim().is_empty() => {}
                    None => return Err(format!("line {}: text outside the root element", line(i))),
                }
                i = end;
            }
        }
        if let Some(el) = stack.last() {
            return Err(format!("<{}> is not closed", el.name));
        }
        root.ok_or_else(|| "no root element".to_string())
    }

    fn close(el: Element, stack: &mut [Element], root: &mut Option<Element>) -> Result<(), String> {
        match stack.last_mut() {
            Some(parent) => parent.children.push(el),
            None => *root = Some(el),
        }
        Ok(())
    }

    /// Parses `<name a="v" ...>` starting at `i`; returns the element, whether it is
    /// self-closing, and the index after `>`.
    fn start_tag(s: &str, mut i: usize) -> Result<(Element, bool, usize), String> {
        let b = s.as_bytes();
        i += 1;
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
            i += 1;
        }
        let mut el = Element {
            name: s[name_start..i].to_string(),
            ..Default::default()
        };
        if el.name.is_empty() {
            return Err("empty tag name".into());
        }
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            match b.get(i) {
                None => return Err(format!("<{}> is not terminated", el.name)),
                Some(b'>') => return Ok((el, false, i + 1)),
                Some(b'/') if b.get(i + 1) == Some(&b'>') => return Ok((el, true, i + 2)),
                Some(_) => {
                    let k0 = i;
                    while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() && b[i] != b'>'
                    {
                        i += 1;
                    }
                    let key = s[k0..i].to_string();
                    while i < b.len() && b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    if b.get(i) != Some(&b'=') {
                        return Err(format!("attribute '{key}' of <{}> has no value", el.name));
                    }
                    i += 1;
                    while i < b.len() && b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    let q = *b.get(i).ok_or("unterminated attribute")?;
                    if q != b'"' && q != b'\'' {
                        return Err(format!("attribute '{key}' of <{}> is not quoted", el.name));
                    }
                    let v0 = i + 1;
                    let v1 = s[v0..]
                        .find(q as char)
                        .map(|e| v0 + e)
                        .ok_or_else(|| format!("attribute '{key}' is not terminated"))?;
                    el.attrs.push((key, unescape(&s[v0..v1])?));
                    i = v1 + 1;
                }
            }
        }
    }

    fn unescape(s: &str) -> Result<String, String> {
        if !s.contains('&') {
            return Ok(s.to_string());
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(p) = rest.find('&') {
            out.push_str(&rest[..p]);
            let end = rest[p..].find(';').ok_or("unterminated entity")? + p;
            let ent = &rest[p + 1..end];
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = if let Some(h) = ent.strip_prefix("#x") {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = ent.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                        .ok_or_else(|| format!("unknown entity '&{ent};'"))?
                }
            };
            out.push(c);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// A derived map equals one made from scratch (same ranges, same digests) when the
    /// ranges are cut alike; `check_file` accepts it and names a changed range.
    #[test]
    fn derived_maps_reuse_untouched_chunks_and_check_out() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = CHUNK_BLOCKS * BLOCK_SIZE;
        let base = dir.path().join("base");
        let f = File::create(&base).unwrap();
        f.set_len(5 * chunk + 300).unwrap();
        for (off, byte) in [
            (10, 1u8),
            (chunk - 1, 2),
            (2 * chunk + 4096 * 7, 3),
            (5 * chunk + 5, 4),
        ] {
            f.write_all_at(&[byte; 100], off).unwrap();
        }
        let base_map = Bmap::chunked_from_file(&base).unwrap();
        // The node: the base plus writes in chunk 2 (data) and chunk 3 (a hole before).
        let node = dir.path().join("node");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&node)
            .unwrap();
        // As the build copies: holes stay holes.
        crate::io::sparse::copy_sparse(&File::open(&base).unwrap(), &f).unwrap();
        let mut written = Written::default();
        for (off, len) in [(2 * chunk + 4096 * 7 + 50, 10u64), (3 * chunk + 8192, 4096)] {
            f.write_all_at(&vec![9u8; len as usize], off).unwrap();
            written.add(off, len);
        }
        let derived = base_map.derive(&f, &node, &written).unwrap();
        let fresh = Bmap::chunked_from_file(&node).unwrap();
        assert_eq!(derived, fresh);
        derived.check_file(&f, &node).unwrap();
        // Unchanged chunks kept the base's digests; the written chunk did not.
        let in_chunk = |m: &Bmap, c: u64| -> Vec<Option<String>> {
            m.ranges
                .iter()
                .filter(|r| r.first / CHUNK_BLOCKS == c)
                .map(|r| r.checksum.clone())
                .collect()
        };
        assert_eq!(in_chunk(&derived, 0), in_chunk(&base_map, 0));
        assert_ne!(in_chunk(&derived, 2), in_chunk(&base_map, 2));
        // A map of the base does not describe the node.
        let err = base_map.check_file(&f, &node).unwrap_err().to_string();
        assert!(err.contains("do not match"), "{err}");
    }

    fn sample() -> Bmap {
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

    #[test]
    fn maps_a_sparse_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(64 << 20).unwrap();
        f.write_all_at(&[1u8; 5000], 8 << 20).unwrap();
        f.write_all_at(&[2u8; 10], (64 << 20) - 10).unwrap();
        f.sync_all().unwrap();
        let b = Bmap::from_sparse_file(&path).unwrap();
        assert_eq!(b.image_size, 64 << 20);
        assert_eq!(b.blocks_count, (64 << 20) / 4096);
        // Only the written areas are mapped (file systems may round to their own block).
        assert!(b.mapped_blocks >= 3 && b.mapped_blocks < 64, "{b:?}");
        let (s, e) = b.byte_span(&b.ranges[0]);
        assert!(s <= 8 << 20 && e >= (8 << 20) + 5000);
        let mut data = vec![0u8; (e - s) as usize];
        f.read_exact_at(&mut data, s).unwrap();
        let mut h = Hasher::new(ChecksumType::Sha256);
        h.update(&data);
        assert_eq!(
            b.ranges[0].checksum.as_deref(),
            Some(h.finish_hex().as_str())
        );
    }
}
