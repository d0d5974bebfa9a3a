//! The image as the node sees it: a path like `/etc/hostname` mapped onto the partition
//! and path that hold it (Snappy 15.04's writable paths live on `writable`), and the
//! partition an fstab line or a `file://` seed path means.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::disk::Label;
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::{EntryKind, FsKind};
use crate::probe::Flavour;
use crate::probe::{self, ImageInfo};
use crate::secret::redact_keys;

/// Snappy 15.04 writable paths we read (`auto` → `system-data/<path>`; transition ones
/// only once writable has them).
const SNAPPY_AUTO: [&str; 6] = [
    "/var/lib/cloud",
    "/var/lib/apps",
    "/apps",
    "/var/lib/extrausers",
    "/etc/writable",
    "/var/lib/clem-image",
];
const SNAPPY_TRANSITION: [&str; 3] = [
    "/etc/systemd/system",
    "/etc/network/interfaces.d",
    "/etc/ssh",
];

/// The image, read through the node's eyes.
pub(super) struct Img<'a> {
    pub(super) raw: &'a Path,
    pub(super) info: &'a ImageInfo,
    pub(super) ext4: BTreeMap<u32, Ext4Reader>,
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
        let mut ext4 = BTreeMap::new();
        for p in &info.parts {
            if p.fs == FsKind::Ext4 {
                if let Some(r) = probe::open_part(raw, &p.partition)
                    .ok()
                    .and_then(|w| Ext4Reader::open(w).ok())
                {
                    ext4.insert(p.partition.number, r);
                }
            }
        }
        let writable = if info.flavour == Flavour::SnappyCore15 {
            info.by_label("writable").map(|p| p.partition.number)
        } else {
            None
        };
        Img {
            raw,
            info,
            ext4,
            root: info.system_part,
            writable,
        }
    }

    pub(super) fn label(&self, n: u32) -> Option<String> {
        self.info.part(n).and_then(|p| p.fs_label.clone())
    }

    pub(super) fn fat(
        &self,
        n: u32,
    ) -> Option<Fat<crate::io::Window<crate::io::ReadOnly<std::fs::File>>>> {
        let p = self.info.part(n).filter(|p| p.fs == FsKind::Vfat)?;
        Fat::open(probe::open_part(self.raw, &p.partition).ok()?, 0).ok()
    }

    /// A file's bytes with every private key block cut out ([`redact_keys`]): nothing
    /// explain reads off an image can carry key material into its output.
    pub(super) fn p_read(&self, n: u32, path: &str) -> Option<Vec<u8>> {
        let data = match self.ext4.get(&n) {
            Some(r) => r.read(path).ok()?,
            None => self.fat(n)?.read(path).ok()?,
        };
        Some(match redact_keys(&data) {
            Cow::Borrowed(_) => data,
            Cow::Owned(cut) => cut,
        })
    }

    pub(super) fn p_exists(&self, n: u32, path: &str) -> bool {
        match self.ext4.get(&n) {
            Some(r) => r.exists(path),
            None => self.p_read(n, path).is_some(),
        }
    }

    /// Direct children of `dir` on partition `n`.
    pub(super) fn p_list(&self, n: u32, dir: &str) -> Vec<Child> {
        let dir = dir.trim_end_matches('/');
        let entries = if let Some(r) = self.ext4.get(&n) {
            r.list_under(if dir.is_empty() { "/" } else { dir })
                .unwrap_or_default()
        } else if let Some(f) = self.fat(n) {
            f.names()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.path.starts_with(&format!("{dir}/")))
                .collect()
        } else {
            Vec::new()
        };
        entries
            .into_iter()
            .filter_map(|e| {
                let name = e.path.strip_prefix(&format!("{dir}/"))?;
                (!name.contains('/')).then(|| Child {
                    name: name.to_string(),
                    kind: e.kind,
                    target: e.target,
                })
            })
            .collect()
    }

    /// Which partition and path hold the node's `path`.
    pub(super) fn loc(&self, path: &str) -> Option<(u32, String)> {
        if let Some(w) = self.writable {
            if let Some(rest) = path.strip_prefix("/writable/") {
                return Some((w, format!("/{rest}")));
            }
            if let Some(rest) = path.strip_prefix("/home/") {
                return Some((w, format!("/user-data/{rest}")));
            }
            let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
            if SNAPPY_AUTO.iter().any(|p| under(p)) {
                return Some((w, format!("/system-data{path}")));
            }
            if let Some(t) = SNAPPY_TRANSITION.iter().find(|p| under(p)) {
                if self.p_exists(w, &format!("/system-data{t}")) {
                    return Some((w, format!("/system-data{path}")));
                }
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
        self.ext4.get(&n)?.read_link(&p).ok()
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
