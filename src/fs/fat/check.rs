//! The whole-tree check run before fatfs mounts a FAT: every directory reachable from the
//! root is read once (a visited set by cluster ownership), iteratively and to a bounded
//! depth, and every chain is followed once. What it refuses would make a reader loop or a
//! writer damage the file system further.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use super::entries::{self, RawEntry};
use super::geometry::{Bits, Geometry, Root};
use super::table::Table;

/// Deeper than any boot partition nests (and than most tools accept in a path).
pub(super) const MAX_DEPTH: usize = 64;
const MAX_DIR_BYTES: u64 = 65_536 * 32;

/// A directory still to read: its path and where its bytes are.
struct Pending {
    path: String,
    depth: usize,
    place: Place,
}

enum Place {
    Fixed { offset: u64, len: u64 },
    Clusters(Vec<u32>),
}

/// Checks the structures of the FAT in `disk` (a partition of `part_len` bytes).
pub(super) fn check<T: Read + Seek>(disk: &mut T, part_len: u64) -> Result<(), String> {
    let mut boot = [0u8; 512];
    disk.seek(SeekFrom::Start(0))
        .and_then(|_| disk.read_exact(&mut boot))
        .map_err(|e| format!("cannot read the boot sector: {e}"))?;
    let geo = Geometry::parse(&boot, part_len).map_err(|e| format!("bad boot sector: {e}"))?;
    let mut table = Table::read(disk, geo).map_err(|e| format!("cannot read the FAT: {e}"))?;
    let root = match geo.root {
        Root::Fixed { offset, entries } => Place::Fixed {
            offset,
            len: entries * 32,
        },
        Root::Chain(c) => Place::Clusters(table.claim(c, "/")?),
    };
    let mut todo = vec![Pending {
        path: String::new(),
        depth: 0,
        place: root,
    }];
    while let Some(dir) = todo.pop() {
        let bytes = read_dir(disk, &geo, &dir.place)
            .map_err(|e| format!("{}/: cannot read the directory: {e}", dir.path))?;
        let list = entries::parse(&bytes, geo.bits == Bits::Fat32);
        no_duplicates(&dir.path, &list)?;
        for e in list {
            let path = format!("{}/{}", dir.path, e.name);
            if e.is_dir {
                todo.push(subdir(&mut table, &geo, &e, path, dir.depth + 1)?);
            } else {
                file(&mut table, &geo, &e, &path)?;
            }
        }
    }
    Ok(())
}

fn subdir(
    table: &mut Table,
    geo: &Geometry,
    e: &RawEntry,
    path: String,
    depth: usize,
) -> Result<Pending, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{path}: directories nested deeper than {MAX_DEPTH}"
        ));
    }
    if e.cluster == 0 {
        // fatfs would open the root in its place: a loop back to the top.
        return Err(format!("{path}: directory without a first cluster"));
    }
    let chain = table.claim(e.cluster, &path)?;
    // A FAT directory holds at most 65536 entries of 32 bytes.
    if chain.len() > 1 && chain.len() as u64 * geo.cluster_size > MAX_DIR_BYTES {
        return Err(format!("{path}: a directory of {} clusters", chain.len()));
    }
    Ok(Pending {
        path,
        depth,
        place: Place::Clusters(chain),
    })
}

fn file(table: &mut Table, geo: &Geometry, e: &RawEntry, path: &str) -> Result<(), String> {
    if e.cluster == 0 {
        return match e.size {
            0 => Ok(()),
            n => Err(format!("{path}: {n} bytes but no clusters")),
        };
    }
    let chain = table.claim(e.cluster, path)?;
    let room = chain.len() as u64 * geo.cluster_size;
    if e.size > room {
        return Err(format!(
            "{path}: {} bytes but only {} clusters ({room} bytes)",
            e.size,
            chain.len()
        ));
    }
    Ok(())
}

/// Two entries that one name could find (FAT names compare without case).
fn no_duplicates(dir: &str, list: &[RawEntry]) -> Result<(), String> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for e in list {
        let long = e.name.to_lowercase();
        let short = e.short.to_lowercase();
        let keys = if long == short {
            vec![long]
        } else {
            vec![long, short]
        };
        for k in keys {
            if let Some(other) = seen.insert(k, &e.name) {
                return Err(if other == e.name {
                    format!("{dir}/{other}: listed twice in its directory (duplicate entries)")
                } else {
                    format!(
                        "{dir}/: {other:?} and {:?} share a name (duplicate entries)",
                        e.name
                    )
                });
            }
        }
    }
    Ok(())
}

fn read_dir<T: Read + Seek>(
    disk: &mut T,
    geo: &Geometry,
    place: &Place,
) -> std::io::Result<Vec<u8>> {
    match place {
        Place::Fixed { offset, len } => {
            let mut buf = vec![0u8; *len as usize];
            disk.seek(SeekFrom::Start(*offset))?;
            disk.read_exact(&mut buf)?;
            Ok(buf)
        }
        Place::Clusters(chain) => {
            let size = geo.cluster_size as usize;
            let mut buf = vec![0u8; chain.len() * size];
            for (i, &c) in chain.iter().enumerate() {
                disk.seek(SeekFrom::Start(geo.cluster_offset(c)))?;
                disk.read_exact(&mut buf[i * size..(i + 1) * size])?;
            }
            Ok(buf)
        }
    }
}
