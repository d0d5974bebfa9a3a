//! The allocation table, read once, and cluster chains followed with an owner per cluster:
//! a chain that meets a cluster it already holds loops, one that meets another's crosses.

use std::io::{self, Read, Seek, SeekFrom};

use super::geometry::{Bits, Geometry};

/// One FAT entry, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Free,
    Next(u32),
    End,
    Bad,
    /// A value that is neither a cluster of this file system nor a marker.
    Invalid(u32),
}

pub(super) struct Table {
    geo: Geometry,
    raw: Vec<u8>,
    /// For each cluster, the 1-based index of the chain that holds it (0: none yet).
    owner: Vec<u32>,
    owners: Vec<String>,
}

impl Table {
    pub fn read<T: Read + Seek>(disk: &mut T, geo: Geometry) -> io::Result<Table> {
        let len = (u64::from(geo.clusters) + 2) * geo.entry_bits() / 8 + 1;
        let mut raw = vec![0u8; len as usize];
        disk.seek(SeekFrom::Start(geo.fat_offset))?;
        disk.read_exact(&mut raw)?;
        Ok(Table {
            geo,
            raw,
            owner: vec![0; geo.clusters as usize + 2],
            owners: Vec::new(),
        })
    }

    fn link(&self, n: u32) -> Link {
        let i = n as usize;
        let (v, bad) = match self.geo.bits {
            Bits::Fat12 => {
                let o = i * 3 / 2;
                let w = u32::from(u16::from_le_bytes([self.raw[o], self.raw[o + 1]]));
                (
                    if i.is_multiple_of(2) {
                        w & 0xFFF
                    } else {
                        w >> 4
                    },
                    0xFF7,
                )
            }
            Bits::Fat16 => (
                u32::from(u16::from_le_bytes([self.raw[i * 2], self.raw[i * 2 + 1]])),
                0xFFF7,
            ),
            Bits::Fat32 => {
                let b: [u8; 4] = self.raw[i * 4..i * 4 + 4].try_into().expect("4 bytes");
                (u32::from_le_bytes(b) & 0x0FFF_FFFF, 0x0FFF_FFF7)
            }
        };
        match v {
            0 => Link::Free,
            v if v == bad => Link::Bad,
            v if v > bad => Link::End,
            v if self.in_range(v) => Link::Next(v),
            v => Link::Invalid(v),
        }
    }

    pub fn in_range(&self, n: u32) -> bool {
        n >= 2 && u64::from(n) < u64::from(self.geo.clusters) + 2
    }

    /// Follows the chain from `start` for `who` (a path), claiming each cluster.
    pub fn claim(&mut self, start: u32, who: &str) -> Result<Vec<u32>, String> {
        if !self.in_range(start) {
            return Err(format!("{who}: first cluster {start} is out of range"));
        }
        self.owners.push(who.to_owned());
        let me = self.owners.len() as u32;
        let mut chain = Vec::new();
        let mut cur = start;
        loop {
            match self.owner[cur as usize] {
                0 => self.owner[cur as usize] = me,
                o if o == me => return Err(format!("{who}: its cluster chain loops")),
                o => return Err(shared(who, &self.owners[o as usize - 1], cur)),
            }
            chain.push(cur);
            cur = match self.link(cur) {
                Link::Next(n) => n,
                Link::End => return Ok(chain),
                Link::Free => {
                    return Err(format!("{who}: cluster {cur} of its chain is marked free"))
                }
                Link::Bad => {
                    return Err(format!("{who}: cluster {cur} of its chain is marked bad"))
                }
                Link::Invalid(v) => {
                    return Err(format!(
                        "{who}: cluster {cur} links to {v}, outside the file system"
                    ))
                }
            };
        }
    }
}

/// Words a cluster claimed twice: a loop when the first holder is an ancestor directory.
fn shared(who: &str, other: &str, cluster: u32) -> String {
    let ancestor = other == "/" || who.starts_with(&format!("{other}/"));
    if ancestor {
        format!(
            "{who}: points back into its ancestor {other} at cluster {cluster} (a directory loop)"
        )
    } else {
        format!("{who} and {other} share cluster {cluster} (crossed chains)")
    }
}
