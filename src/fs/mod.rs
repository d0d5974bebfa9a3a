//! File systems inside partitions: detection, FAT (read/write), ext4 (read; write in `ext4`),
//! and [`part::PartFs`], the one read-only handle on a partition that every reader uses.

pub mod ext4;
pub mod fat;
pub mod part;
pub mod time;

use std::io::{self, Read, Seek, SeekFrom};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Vfat,
    Ext4,
    Unknown,
}

/// One entry of a file system listing, as `inspect` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    pub size: u64,
    /// Permission and type bits (ext4 only; FAT has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// Looks at the magic numbers of the file system at the start of `part`.
pub fn detect<T: Read + Seek>(part: &mut T) -> io::Result<FsKind> {
    let mut head = [0u8; 2048];
    part.seek(SeekFrom::Start(0))?;
    let mut got = 0;
    while got < head.len() {
        match part.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    // ext2/3/4: superblock at 1024, magic 0xEF53 at offset 56 of it.
    if got >= 1024 + 58 && head[1024 + 56..1024 + 58] == [0x53, 0xEF] {
        return Ok(FsKind::Ext4);
    }
    // FAT: boot signature plus a FAT type string in the BPB (FAT12/16 at 54, FAT32 at 82).
    if got >= 512 && head[510..512] == [0x55, 0xAA] {
        let fat16 = &head[54..59] == b"FAT12" || &head[54..59] == b"FAT16";
        let fat32 = &head[82..87] == b"FAT32";
        if fat16 || fat32 {
            return Ok(FsKind::Vfat);
        }
    }
    Ok(FsKind::Unknown)
}
