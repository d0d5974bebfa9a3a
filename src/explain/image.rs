//! The image as the node sees it: a path like `/etc/hostname` mapped onto the partition
//! and path that hold it (on Snappy 15.04 by the flavour's rules, [`snappy::place`]), and
//! the partition an fstab line or a `file://` seed path means. Every partition is read
//! through [`PartFs`], and everything read has its private keys cut out.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::disk::Label;
use crate::flavour::snappy::{self, Place};
use crate::fs::part::PartFs;
use crate::fs::{EntryKind, FsKind};
use crate::probe::Flavour;
use crate::probe::ImageInfo;
use crate::secret::redact_keys;

/// The image, read through the node's eyes.
pub(super) struct Img<'a> {
    pub(super) info: &'a ImageInfo,
    /// Every FAT and ext4 partition that opened; one that did not reads as empty.
    fs: BTreeMap<u32, PartFs>,
    pub(super) root: Option<u32>,
    pub(super) writable: Option<u32>,
}

pub(super) struct Child {
    pub(super) name: String,
    pub(super) kind: EntryKind,
    pub(super) target: Option<String>,
}

impl<'a> Img<'a> {
    pub(super) fn new(info: &'a ImageInfo, raw: &'a Path) -> Img<'a> {
        let fs = info
            .parts
            .iter()
            .filter(|p| matches!(p.fs, FsKind::Ext4 | FsKind::Vfat))
            .filter_map(|p| {
                let fs = PartFs::open(raw, raw, &p.partition).ok()?;
                Some((p.partition.number, fs))
            })
            .collect();
        let writable = if info.flavour == Flavour::SnappyCore15 {
            info.by_label(snappy::WRITABLE_LABEL)
                .map(|p| p.partition.number)
        } else {
            None
        };
        Img {
            info,
            fs,
            root: info.system_part,
            writable,
        }
    }

    pub(super) fn label(&self, n: u32) -> Option<String> {
        self.info.part(n).and_then(|p| p.fs_label.clone())
    }

    /// A file's bytes with every private key block cut out ([`redact_keys`]): nothing
    /// explain reads off an image can carry key material into its output.
    pub(super) fn p_read(&self, n: u32, path: &str) -> Option<Vec<u8>> {
        let data = self.fs.get(&n)?.read(path).ok()?;
        Some(match redact_keys(&data) {
            Cow::Borrowed(_) => data,
            Cow::Owned(cut) => cut,
        })
    }

    pub(super) fn p_exists(&self, n: u32, path: &str) -> bool {
        self.fs.get(&n).is_some_and(|fs| fs.exists(path))
    }

    /// Direct children of `dir` on partition `n` (none when it is not a directory).
    pub(super) fn p_list(&self, n: u32, dir: &str) -> Vec<Child> {
        let Some(entries) = self.fs.get(&n).and_then(|fs| fs.list(dir).ok()) else {
            return Vec::new();
        };
        entries
            .into_iter()
            .filter_map(|e| {
                let name = e.path.rsplit('/').next()?.to_string();
                Some(Child {
                    name,
                    kind: e.kind,
                    target: e.target,
                })
            })
            .collect()
    }

    /// Which partition and path hold the node's `path` (Snappy's rules are
    /// [`snappy::place`]'s).
    pub(super) fn loc(&self, path: &str) -> Option<(u32, String)> {
        if let Some(w) = self.writable {
            match snappy::place(path) {
                Place::Writable(p) => return Some((w, p)),
                Place::Transition { path: p, copied } if self.p_exists(w, &copied) => {
                    return Some((w, p))
                }
                Place::Transition { .. } | Place::System => {}
            }
        }
        Some((self.root?, path.to_string()))
    }

    pub(super) fn read(&self, path: &str) -> Option<String> {
        let (n, p) = self.loc(path)?;
        self.p_read(n, &p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    pub(super) fn exists(&self, path: &str) -> bool {
        self.loc(path).is_some_and(|(n, p)| self.p_exists(n, &p))
    }

    pub(super) fn list(&self, dir: &str) -> Vec<Child> {
        match self.loc(dir) {
            Some((n, p)) => self.p_list(n, &p),
            None => Vec::new(),
        }
    }

    pub(super) fn read_link(&self, path: &str) -> Option<String> {
        let (n, p) = self.loc(path)?;
        self.fs.get(&n)?.read_link(&p).ok()
    }

    /// The partition mounted at the longest mount point holding `path` (per `/etc/fstab`,
    /// else by convention the boot FAT at `/boot/firmware`), with the rest of the path.
    pub(super) fn mount_of(&self, path: &str) -> Option<(u32, String)> {
        let mut mounts: Vec<(String, u32)> = Vec::new();
        for line in self.read("/etc/fstab").unwrap_or_default().lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 2 || f[0].starts_with('#') || f[1] == "/" {
                continue;
            }
            if let Some(n) = self.device(f[0]) {
                mounts.push((f[1].trim_end_matches('/').to_string(), n));
            }
        }
        if mounts.is_empty() {
            if let Some(b) = self.info.boot_fat() {
                mounts.push(("/boot/firmware".into(), b.partition.number));
            }
        }
        mounts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
        for (m, n) in mounts {
            if path == m || path.starts_with(&format!("{m}/")) {
                let rest = &path[m.len()..];
                return Some((
                    n,
                    if rest.is_empty() {
                        "/".into()
                    } else {
                        rest.into()
                    },
                ));
            }
        }
        None
    }

    /// An fstab device (`PARTUUID=`, `LABEL=`, `/dev/mmcblk0pN`) as a partition number.
    pub(super) fn device(&self, dev: &str) -> Option<u32> {
        if let Some(pu) = dev.strip_prefix("PARTUUID=") {
            let (id, num) = pu.rsplit_once('-')?;
            if self.info.table.label == Label::Mbr && id.eq_ignore_ascii_case(&self.info.table.id) {
                return u32::from_str_radix(num, 16).ok();
            }
            return None;
        }
        if let Some(l) = dev.strip_prefix("LABEL=") {
            return self.info.by_label(l).map(|p| p.partition.number);
        }
        let digits: String = dev
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if dev.starts_with("/dev/") && !digits.is_empty() {
            return digits.parse().ok();
        }
        None
    }
}

impl crate::docker::NodeView for Img<'_> {
    fn read_bytes(&self, path: &str) -> Option<Vec<u8>> {
        let (n, p) = self.loc(path)?;
        self.p_read(n, &p)
    }
    fn present(&self, path: &str) -> bool {
        self.exists(path)
    }
    fn names(&self, dir: &str) -> Vec<String> {
        self.list(dir).into_iter().map(|c| c.name).collect()
    }
}
