//! bmap formats 1.2, 1.3, 1.4 and 2.0, as bmaptool reads them: for one image with holes and
//! data ranges, `flash --bmap` writes the same bytes as `bmaptool copy --bmap` (judge: `cmp`
//! of the two outputs, and bmaptool itself accepting each map, digests included).
//!
//! The 2.0 map is made by `bmaptool create`; the older ones are written here from bmaptool's
//! documented format, with the ranges of that 2.0 map (nothing of bmaptool is vendored):
//! 1.2 has no digests; 1.3 has a SHA-1 per range (`sha1="…"`) and `BmapFileSHA1`; 1.4 names
//! its type (`ChecksumType`, `chksum="…"`, `BmapFileChecksum`). A map's own digest is taken
//! over the file with that digest written as zeros.

mod common;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use common::{need_tool, same_bytes};

const BIN: &str = env!("CARGO_BIN_EXE_clem-image");
const MIB: u64 = 1 << 20;
const BLOCK: u64 = 4096;

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

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

/// A sparse image: data at the start, unaligned pieces in the middle, an odd-sized tail;
/// holes everywhere else.
fn image(dir: &Path) -> PathBuf {
    let path = dir.join("disk.img");
    let f = File::create(&path).unwrap();
    f.set_len(24 * MIB + 700).unwrap();
    let data = [
        (0, 70_000),
        (3 * MIB + 123, 9_000),
        (9 * MIB, 2 * MIB as usize),
        (17 * MIB + 5, 1),
        (24 * MIB, 700),
    ];
    for (i, (off, len)) in data.into_iter().enumerate() {
        f.write_all_at(&noise(i as u64 + 3, len), off).unwrap();
    }
    f.sync_all().unwrap();
    path
}

/// The inclusive block ranges of a bmaptool-made map, read from its `<Range>` lines.
fn ranges_of(xml: &str) -> Vec<(u64, u64)> {
    xml.lines()
        .filter_map(|l| {
            let l = l.trim();
            let body = l.strip_prefix("<Range")?;
            let text = body.split('>').nth(1)?.split('<').next()?.trim();
            Some(match text.split_once('-') {
                Some((a, b)) => (a.trim().parse().unwrap(), b.trim().parse().unwrap()),
                None => {
                    let v = text.parse().unwrap();
                    (v, v)
                }
            })
        })
        .collect()
}

fn tag(xml: &str, name: &str) -> u64 {
    let open = format!("<{name}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].trim().parse().unwrap()
}

fn range_bytes(img: &[u8], (first, last): (u64, u64)) -> &[u8] {
    let end = ((last + 1) * BLOCK).min(img.len() as u64);
    &img[(first * BLOCK) as usize..end as usize]
}

/// How an old format spells its digests.
struct Old {
    version: &'static str,
    /// (range attribute, file digest element, ChecksumType text) or none for 1.2.
    digest: Option<(&'static str, &'static str, Option<&'static str>)>,
    hash: fn(&[u8]) -> String,
}

fn sha1_hex(b: &[u8]) -> String {
    hex::encode(Sha1::digest(b))
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Writes a map in an old format with the given ranges of `img`.
fn write_old(fmt: &Old, img: &[u8], ranges: &[(u64, u64)], size: u64, out: &Path) {
    let mapped: u64 = ranges.iter().map(|(a, b)| b - a + 1).sum();
    let zeros = fmt.digest.map(|_| "0".repeat((fmt.hash)(b"").len()));
    let mut x = format!(
        "<?xml version=\"1.0\" ?>\n<bmap version=\"{}\">\n",
        fmt.version
    );
    x += &format!("    <ImageSize> {size} </ImageSize>\n");
    x += &format!("    <BlockSize> {BLOCK} </BlockSize>\n");
    x += &format!(
        "    <BlocksCount> {} </BlocksCount>\n",
        size.div_ceil(BLOCK)
    );
    x += &format!("    <MappedBlocksCount> {mapped} </MappedBlocksCount>\n");
    if let (Some((_, file_tag, kind)), Some(z)) = (fmt.digest, &zeros) {
        if let Some(k) = kind {
            x += &format!("    <ChecksumType> {k} </ChecksumType>\n");
        }
        x += &format!("    <{file_tag}> {z} </{file_tag}>\n");
    }
    x += "    <BlockMap>\n";
    for &r in ranges {
        let attr = match fmt.digest {
            Some((a, _, _)) => format!(" {a}=\"{}\"", (fmt.hash)(range_bytes(img, r))),
            None => String::new(),
        };
        x += &format!("        <Range{attr}> {}-{} </Range>\n", r.0, r.1);
    }
    x += "    </BlockMap>\n</bmap>\n";
    if let Some(z) = zeros {
        let sum = (fmt.hash)(x.as_bytes());
        x = x.replacen(&z, &sum, 1);
    }
    std::fs::write(out, x).unwrap();
}

/// bmaptool and clem-image copy `img` with `bmap` to fresh files; both must agree.
fn both_copy(img: &Path, bmap: &Path, dir: &Path, name: &str) {
    let theirs = dir.join(format!("{name}.bmaptool"));
    let ours = dir.join(format!("{name}.clem"));
    let o = Command::new("bmaptool")
        .args(["copy", "--bmap", p(bmap), p(img), p(&theirs)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bmaptool copy with the {name} map: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(BIN)
        .args(["flash", "--bmap", p(bmap), p(img), p(&ours)])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "flash with the {name} map: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        same_bytes(&theirs, &ours),
        "{name}: flash and bmaptool copy differ"
    );
}

#[test]
fn flash_writes_what_bmaptool_copy_writes_for_formats_1_2_to_2_0() {
    if !need_tool("bmaptool") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let img = image(dir);
    let v20 = dir.join("v2.0.bmap");
    let o = Command::new("bmaptool")
        .args(["create", "-o", p(&v20), p(&img)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let xml = std::fs::read_to_string(&v20).unwrap();
    assert!(xml.contains("<bmap version=\"2.0\""), "{xml}");
    let ranges = ranges_of(&xml);
    let size = tag(&xml, "ImageSize");
    assert!(ranges.len() >= 4, "the image should have holes: {ranges:?}");
    both_copy(&img, &v20, dir, "2.0");

    let bytes = std::fs::read(&img).unwrap();
    let olds = [
        Old {
            version: "1.2",
            digest: None,
            hash: sha1_hex,
        },
        Old {
            version: "1.3",
            digest: Some(("sha1", "BmapFileSHA1", None)),
            hash: sha1_hex,
        },
        Old {
            version: "1.4",
            digest: Some(("chksum", "BmapFileChecksum", Some("sha256"))),
            hash: sha256_hex,
        },
    ];
    for fmt in &olds {
        let path = dir.join(format!("v{}.bmap", fmt.version));
        write_old(fmt, &bytes, &ranges, size, &path);
        both_copy(&img, &path, dir, fmt.version);
    }
}

/// A 1.3 map whose SHA-1 digest of a range does not match the image is refused by flash,
/// as bmaptool refuses it: the digests are checked, not just parsed. Judge: exit codes.
#[test]
fn a_wrong_sha1_digest_in_a_1_3_map_is_caught() {
    if !need_tool("bmaptool") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let img = image(dir);
    let v20 = dir.join("v2.0.bmap");
    let o = Command::new("bmaptool")
        .args(["create", "-o", p(&v20), p(&img)])
        .output()
        .unwrap();
    assert!(o.status.success());
    let xml = std::fs::read_to_string(&v20).unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    let (ranges, size) = (ranges_of(&xml), tag(&xml, "ImageSize"));
    // The map describes other bytes than the image holds.
    bytes[100] ^= 0xFF;
    let fmt = Old {
        version: "1.3",
        digest: Some(("sha1", "BmapFileSHA1", None)),
        hash: sha1_hex,
    };
    let map = dir.join("v1.3.bmap");
    write_old(&fmt, &bytes, &ranges, size, &map);
    let run = |cmd: &mut Command| cmd.output().unwrap().status.success();
    assert!(!run(Command::new("bmaptool").args([
        "copy",
        "--bmap",
        p(&map),
        p(&img),
        p(&dir.join("a"))
    ])));
    let o = Command::new(BIN)
        .args(["flash", "--bmap", p(&map), p(&img), p(&dir.join("b"))])
        .output()
        .unwrap();
    assert!(!o.status.success(), "a wrong SHA-1 was not noticed");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("do not match the bmap's checksum"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
