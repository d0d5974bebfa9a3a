//! `explain`: what an image will do at its first boot, read from the image's own boot
//! configuration (cloud-init's config and seed, systemd links, clem-image's node.env), and
//! the checks that a seed will really be read ([`check_seed`]), shared by `explain`,
//! `verify` and `build` ([`check_built_image`]).
//!
//! Paths are given as the node sees them (`/etc/...`); [`Img::loc`] maps them onto a
//! partition: on Snappy 15.04 the writable paths live on `writable` (`system-data/...`,
//! `/home` is `user-data/`, `/writable/...` is the partition itself).

mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::cluster::firstboot::{layout, UNIT_NAME};
use crate::disk::Label;
use crate::flavour::Flavour;
use crate::fs::ext4::read::Ext4Reader;
use crate::fs::fat::Fat;
use crate::fs::{EntryKind, FsKind};
use crate::inspect::{InspectError, RawImage};
use crate::probe::{self, ImageInfo, ProbeError};
pub use yaml::Doc;

#[derive(Debug, Error)]
pub enum ExplainError {
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub reason: String,
}

impl Finding {
    fn error(reason: impl Into<String>) -> Finding {
        Finding {
            level: Level::Error,
            reason: reason.into(),
        }
    }
    fn warning(reason: impl Into<String>) -> Finding {
        Finding {
            level: Level::Warning,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub image: String,
    pub flavour: Flavour,
    pub os: Os,
    pub cloud_init: CloudInit,
    pub datasource: Datasource,
    /// The seed cloud-init's NoCloud datasource will read (`null`: none found).
    pub seed: Option<Seed>,
    pub previous_run: PreviousRun,
    pub first_boot: FirstBoot,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Os {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub pretty_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CloudInit {
    pub installed: bool,
    pub enabled: bool,
    /// What disables it: `/etc/cloud/cloud-init.disabled`, `kernel command line`.
    pub disabled_by: Vec<String>,
    /// The kernel command line (`cmdline.txt` on the boot partition).
    pub kernel_cmdline: Option<String>,
    /// The config files read, in order (later ones win).
    pub config_files: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Datasource {
    /// `datasource_list` (`null`: not set, cloud-init's ds-identify probes all).
    pub list: Option<Vec<String>>,
    /// The file that set `list`.
    pub list_from: Option<String>,
    pub nocloud_enabled: bool,
    /// NoCloud's `seedfrom` (config or kernel command line `ds=nocloud;s=`).
    pub seedfrom: Option<String>,
    pub seedfrom_from: Option<String>,
    /// NoCloud's `fs_label` (default `cidata`).
    pub fs_label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedLocation {
    pub partition: u32,
    pub partition_label: Option<String>,
    /// The directory on that partition.
    pub dir: String,
    /// How cloud-init gets there: `seedfrom`, `fs_label` or `seed-dir`.
    pub via: String,
    /// The directory as the running node sees it, where it has one.
    pub node_path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Seed {
    pub location: SeedLocation,
    /// Files in the seed directory.
    pub files: Vec<String>,
    pub instance_id: Option<String>,
    pub local_hostname: Option<String>,
    /// First line of user-data (`#cloud-config` expected).
    pub user_data_header: Option<String>,
    /// `version` of network-config (1 or 2), `null` without one.
    pub network_config_version: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PreviousRun {
    /// `/var/lib/cloud/data/instance-id`.
    pub instance_id: Option<String>,
    /// `/var/lib/cloud/instance` → `instances/<id>`: the `<id>`.
    pub instance_link: Option<String>,
    /// cloud-init already ran with the seed's instance-id: it will not apply the seed again.
    pub same_as_seed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FirstBoot {
    pub hostname: Option<String>,
    /// `user-data`, `meta-data` or `/etc/hostname`.
    pub hostname_from: Option<String>,
    pub users: Vec<User>,
    /// user-data turns on SSH password login (`ssh_pwauth`) or sets a `password`.
    pub password_login: bool,
    pub network: Vec<NetAddress>,
    pub units: Vec<Unit>,
    pub docker: Option<Docker>,
    pub swarm: Option<SwarmInfo>,
    /// One line per fact, in plain words.
    pub summary: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub name: String,
    /// `user-data`, `authorized_keys` (a file in the image).
    pub from: String,
    /// `type comment` of each key.
    pub ssh_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetAddress {
    pub interface: String,
    /// `10.0.5.25/24` or `dhcp`.
    pub address: String,
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub name: String,
    /// The target whose `.wants` links it.
    pub wanted_by: String,
    /// `ConditionPathExists=` values of the unit.
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Docker {
    pub listen: Vec<String>,
    pub tls: bool,
    pub from: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwarmInfo {
    pub mode: String,
    pub role: Option<String>,
    pub manager: Option<String>,
}

const SEED_DIRS: [&str; 2] = [
    "/var/lib/cloud/seed/nocloud",
    "/var/lib/cloud/seed/nocloud-net",
];
const SEED_NAMES: [&str; 4] = ["meta-data", "user-data", "vendor-data", "network-config"];

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
struct Img<'a> {
    raw: &'a Path,
    info: &'a ImageInfo,
    ext4: BTreeMap<u32, Ext4Reader>,
    root: Option<u32>,
    writable: Option<u32>,
}

struct Child {
    name: String,
    kind: EntryKind,
    target: Option<String>,
}

impl<'a> Img<'a> {
    fn new(info: &'a ImageInfo, raw: &'a Path) -> Img<'a> {
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

    fn label(&self, n: u32) -> Option<String> {
        self.info.part(n).and_then(|p| p.fs_label.clone())
    }

    fn fat(&self, n: u32) -> Option<Fat<crate::io::Window<crate::io::ReadOnly<std::fs::File>>>> {
        let p = self.info.part(n).filter(|p| p.fs == FsKind::Vfat)?;
        Fat::open(probe::open_part(self.raw, &p.partition).ok()?, 0).ok()
    }

    fn p_read(&self, n: u32, path: &str) -> Option<Vec<u8>> {
        if let Some(r) = self.ext4.get(&n) {
            return r.read(path).ok();
        }
        self.fat(n)?.read(path).ok()
    }

    fn p_exists(&self, n: u32, path: &str) -> bool {
        match self.ext4.get(&n) {
            Some(r) => r.exists(path),
            None => self.p_read(n, path).is_some(),
        }
    }

    /// Direct children of `dir` on partition `n`.
    fn p_list(&self, n: u32, dir: &str) -> Vec<Child> {
        let dir = dir.trim_end_matches('/');
        let entries = if let Some(r) = self.ext4.get(&n) {
            r.list_under(if dir.is_empty() { "/" } else { dir })
                .unwrap_or_default()
        } else if let Some(f) = self.fat(n) {
            f.list()
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
    fn loc(&self, path: &str) -> Option<(u32, String)> {
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

    fn read(&self, path: &str) -> Option<String> {
        let (n, p) = self.loc(path)?;
        self.p_read(n, &p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn exists(&self, path: &str) -> bool {
        self.loc(path).is_some_and(|(n, p)| self.p_exists(n, &p))
    }

    fn list(&self, dir: &str) -> Vec<Child> {
        match self.loc(dir) {
            Some((n, p)) => self.p_list(n, &p),
            None => Vec::new(),
        }
    }

    fn read_link(&self, path: &str) -> Option<String> {
        let (n, p) = self.loc(path)?;
        self.ext4.get(&n)?.read_link(&p).ok()
    }

    /// The partition mounted at the longest mount point holding `path` (per `/etc/fstab`,
    /// else by convention the boot FAT at `/boot/firmware`), with the rest of the path.
    fn mount_of(&self, path: &str) -> Option<(u32, String)> {
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
    fn device(&self, dev: &str) -> Option<u32> {
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

/// Reads `path` (an `.img`, `.img.xz`) and explains its first boot.
pub fn explain_image(path: &Path) -> Result<Explanation, ExplainError> {
    let raw = RawImage::open(path)?;
    let info = probe::probe_as(raw.path(), path)?;
    Ok(explain_raw(&info, raw.path(), path))
}

/// The seed checks for a probed raw image: errors mean the seed will not be (fully) read.
pub fn check_seed(info: &ImageInfo, image: &Path) -> Vec<Finding> {
    explain_raw(info, image, image).findings
}

/// The seed checks on a finished image (`.img` or `.img.xz`), for `build` and `verify`.
pub fn check_built_image(path: &Path) -> Result<Vec<Finding>, ExplainError> {
    Ok(explain_image(path)?.findings)
}

/// A line's `key=value` options of the kernel command line, `ds=` parsed for NoCloud.
fn cmdline_seedfrom(cmdline: &str) -> Option<String> {
    for tok in cmdline.split_whitespace() {
        let Some(ds) = tok.strip_prefix("ds=") else {
            continue;
        };
        let mut parts = ds.split(';');
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        if name != "nocloud" && name != "nocloud-net" {
            continue;
        }
        for p in parts {
            if let Some(v) = p.strip_prefix("s=").or_else(|| p.strip_prefix("seedfrom=")) {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// `KEY='value'` lines of a shell env file (values as clem-image quotes them).
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), yaml::unquote(v).replace("'\\''", "'")))
        })
        .collect()
}

/// `type comment` of an authorized_keys line (options before the type are dropped).
fn key_summary(line: &str) -> Option<String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let i = f
        .iter()
        .position(|w| w.starts_with("ssh-") || w.starts_with("ecdsa-") || w.starts_with("sk-"))?;
    let comment = f.get(i + 2..).map(|c| c.join(" ")).unwrap_or_default();
    Some(if comment.is_empty() {
        f[i].to_string()
    } else {
        format!("{} {comment}", f[i])
    })
}

/// A seed file name that looks like one of cloud-init's but is not spelled right.
fn misnamed(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let stem = [".yaml", ".yml", ".txt", ".cfg", ".json"]
        .iter()
        .find_map(|e| lower.strip_suffix(e))
        .unwrap_or(&lower);
    let norm: String = stem.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let right = match norm.as_str() {
        "metadata" => "meta-data",
        "userdata" => "user-data",
        "vendordata" => "vendor-data",
        "networkconfig" => "network-config",
        _ => return None,
    };
    (name != right).then_some(right)
}

fn explain_raw(info: &ImageInfo, raw: &Path, name: &Path) -> Explanation {
    let img = Img::new(info, raw);
    let mut findings = Vec::new();
    let snappy = info.flavour == Flavour::SnappyCore15;

    let os = Os {
        id: info.os_release.get("ID").cloned(),
        name: info.os_release.get("NAME").cloned(),
        version: info.os_release.get("VERSION_ID").cloned(),
        pretty_name: info.os_release.get("PRETTY_NAME").cloned(),
    };

    // cloud-init: installed, enabled.
    let kernel_cmdline = info.boot_fat().and_then(|b| {
        img.p_read(b.partition.number, "/cmdline.txt")
            .map(|t| String::from_utf8_lossy(&t).trim().to_string())
    });
    let installed = [
        "/usr/bin/cloud-init",
        "/usr/lib/python3/dist-packages/cloudinit",
        "/usr/lib/python2.7/dist-packages/cloudinit",
        "/etc/cloud/cloud.cfg",
    ]
    .iter()
    .any(|p| img.exists(p));
    let mut disabled_by = Vec::new();
    if img.exists("/etc/cloud/cloud-init.disabled") {
        disabled_by.push("/etc/cloud/cloud-init.disabled".to_string());
    }
    if kernel_cmdline
        .as_deref()
        .is_some_and(|c| c.split_whitespace().any(|t| t == "cloud-init=disabled"))
    {
        disabled_by.push("kernel command line cloud-init=disabled".to_string());
    }
    if !installed {
        findings.push(Finding::error(
            "cloud-init is not installed on this image (no /usr/bin/cloud-init, no /etc/cloud/cloud.cfg): no seed will be read",
        ));
    }
    for d in &disabled_by {
        findings.push(Finding::error(format!(
            "cloud-init is disabled ({d}): the seed will not be read"
        )));
    }

    // Its configuration: cloud.cfg, then cloud.cfg.d/*.cfg in name order.
    let mut config_files = Vec::new();
    if img.exists("/etc/cloud/cloud.cfg") {
        config_files.push("/etc/cloud/cloud.cfg".to_string());
    }
    let mut dropins: Vec<String> = img
        .list("/etc/cloud/cloud.cfg.d")
        .into_iter()
        .filter(|c| c.name.ends_with(".cfg") && c.kind != EntryKind::Dir)
        .map(|c| format!("/etc/cloud/cloud.cfg.d/{}", c.name))
        .collect();
    dropins.sort();
    config_files.extend(dropins);
    let mut ds = Datasource {
        fs_label: "cidata".into(),
        ..Datasource::default()
    };
    let mut default_user: Option<String> = None;
    for f in &config_files {
        let doc = Doc::parse(&img.read(f).unwrap_or_default());
        if let Some(l) = doc.list("datasource_list") {
            ds.list = Some(l);
            ds.list_from = Some(f.clone());
        }
        for key in ["NoCloud", "nocloud", "NoCloudNet"] {
            if let Some(s) = doc.get(&format!("datasource.{key}.seedfrom")) {
                ds.seedfrom = Some(s);
                ds.seedfrom_from = Some(f.clone());
            }
            if let Some(l) = doc.get(&format!("datasource.{key}.fs_label")) {
                ds.fs_label = l;
            }
        }
        if let Some(u) = doc.get("system_info.default_user.name") {
            default_user = Some(u);
        }
    }
    if let Some(s) = kernel_cmdline.as_deref().and_then(cmdline_seedfrom) {
        ds.seedfrom = Some(s);
        ds.seedfrom_from = Some("kernel command line".into());
    }
    ds.nocloud_enabled = match &ds.list {
        None => true,
        Some(l) => l
            .iter()
            .any(|d| matches!(d.to_ascii_lowercase().as_str(), "nocloud" | "nocloudnet")),
    };
    if installed {
        match &ds.list {
            Some(l) if !ds.nocloud_enabled => findings.push(Finding::error(format!(
                "datasource_list [{}] (set in {}) has no NoCloud: cloud-init will not read a NoCloud seed",
                l.join(", "),
                ds.list_from.as_deref().unwrap_or("?")
            ))),
            None => findings.push(Finding::warning(
                "no datasource_list in /etc/cloud: cloud-init's ds-identify decides which datasource runs; NoCloud is found only if its seed is",
            )),
            _ => {}
        }
    }

    // Where NoCloud looks. A configured seedfrom wins over a cidata file system, which
    // wins over the seed directories (as DataSourceNoCloud merges them).
    let mut location: Option<SeedLocation> = None;
    if let Some(sf) = &ds.seedfrom {
        match sf.strip_prefix("file://") {
            Some(p) => {
                let p = p.trim_end_matches('/');
                let p = if p.is_empty() { "/" } else { p };
                let (n, dir, node_path) = match img.mount_of(p) {
                    Some((n, rest)) => (Some(n), rest, p.to_string()),
                    None => match img.loc(p) {
                        Some((n, rest)) => (Some(n), rest, p.to_string()),
                        None => (None, p.to_string(), p.to_string()),
                    },
                };
                match n {
                    Some(n) => {
                        location = Some(SeedLocation {
                            partition: n,
                            partition_label: img.label(n),
                            dir,
                            via: format!("seedfrom {sf}"),
                            node_path: Some(node_path),
                        })
                    }
                    None => findings.push(Finding::warning(format!(
                        "seedfrom {sf}: no partition of this image holds {p}; cannot tell what cloud-init will read"
                    ))),
                }
            }
            None => findings.push(Finding::warning(format!(
                "seedfrom {sf} is not a file:// path: the seed is fetched at boot and cannot be checked here"
            ))),
        }
    } else {
        let labelled = info.parts.iter().find(|p| {
            p.fs_label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(&ds.fs_label))
        });
        if let Some(p) = labelled {
            location = Some(SeedLocation {
                partition: p.partition.number,
                partition_label: p.fs_label.clone(),
                dir: "/".into(),
                via: format!("fs_label {}", ds.fs_label),
                node_path: None,
            });
        } else {
            let found = SEED_DIRS
                .iter()
                .find(|d| {
                    img.exists(&format!("{d}/meta-data")) || img.exists(&format!("{d}/user-data"))
                })
                .unwrap_or(&SEED_DIRS[1]);
            match img.loc(found) {
                Some((n, dir)) => {
                    location = Some(SeedLocation {
                        partition: n,
                        partition_label: img.label(n),
                        dir,
                        via: "seed-dir".into(),
                        node_path: Some(found.to_string()),
                    })
                }
                None => findings.push(Finding::warning(
                    "no system partition found: cannot tell where cloud-init's seed directory is",
                )),
            }
        }
    }

    // The seed there.
    let mut seed = None;
    let mut seed_doc_meta = Doc::default();
    let mut seed_doc_user = Doc::default();
    let mut network_doc: Option<Doc> = None;
    if let Some(loc) = location.clone() {
        let n = loc.partition;
        let file = |name: &str| {
            let p = if loc.dir == "/" {
                format!("/{name}")
            } else {
                format!("{}/{name}", loc.dir)
            };
            img.p_read(n, &p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let mut files: Vec<String> = img
            .p_list(n, &loc.dir)
            .into_iter()
            .filter(|c| c.kind != EntryKind::Dir)
            .map(|c| c.name)
            .filter(|name| SEED_NAMES.contains(&name.as_str()) || misnamed(name).is_some())
            .collect();
        files.sort();
        let where_ = format!(
            "partition {} ({}) {}",
            n,
            loc.partition_label.as_deref().unwrap_or("?"),
            loc.dir
        );
        for f in &files {
            if let Some(right) = misnamed(f) {
                findings.push(Finding::error(format!(
                    "seed file {f} on {where_}: cloud-init reads only the name {right}"
                )));
            }
        }
        let meta = file("meta-data");
        let user = file("user-data");
        let net = file("network-config");
        if meta.is_none() && user.is_none() {
            findings.push(Finding::error(format!(
                "no seed (meta-data, user-data) on {where_}, where this image's cloud-init reads it ({})",
                loc.via
            )));
        } else {
            if meta.is_none() {
                findings.push(Finding::error(format!(
                    "the seed on {where_} has no meta-data: NoCloud needs both meta-data and user-data"
                )));
            }
            if user.is_none() {
                findings.push(Finding::error(format!(
                    "the seed on {where_} has no user-data: NoCloud needs both meta-data and user-data"
                )));
            }
        }
        seed_doc_meta = Doc::parse(meta.as_deref().unwrap_or(""));
        seed_doc_user = Doc::parse(user.as_deref().unwrap_or(""));
        let instance_id = seed_doc_meta.get("instance-id");
        if meta.is_some() && instance_id.is_none() {
            if let Some(u) = seed_doc_meta.get("instance_id") {
                findings.push(Finding::error(format!(
                    "meta-data spells the key instance_id (underscore, value {u}): cloud-init ignores it and needs instance-id"
                )));
            } else {
                findings.push(Finding::error(
                    "meta-data has no instance-id: cloud-init cannot tell this node's seed from another's",
                ));
            }
        }
        let header = user
            .as_deref()
            .map(|u| u.lines().next().unwrap_or("").trim_end().to_string());
        if let Some(h) = &header {
            let known = [
                "#cloud-config",
                "#!",
                "#include",
                "#cloud-boothook",
                "Content-Type:",
            ];
            if !known.iter().any(|k| h.starts_with(k)) {
                findings.push(Finding::error(format!(
                    "user-data does not start with #cloud-config (first line: {h:?}): cloud-init will not read it as cloud-config"
                )));
            }
        }
        let mut net_version = None;
        if let Some(text) = &net {
            let doc = Doc::parse(text);
            if !doc.is_empty() {
                let v = doc.get("version").or_else(|| doc.get("network.version"));
                match v.as_deref() {
                    Some("1") | Some("2") => {
                        if snappy && v.as_deref() == Some("2") {
                            findings.push(Finding::warning(
                                "network-config version 2 on Snappy 15.04: its cloud-init predates version 2; use /etc/network/interfaces.d",
                            ));
                        }
                    }
                    _ => findings.push(Finding::error(format!(
                        "network-config on {where_} has no version 1 or 2 at the top level or under network: (found {}): cloud-init will not apply it",
                        v.as_deref().unwrap_or("none")
                    ))),
                }
                net_version = v;
                network_doc = Some(doc);
            }
        }
        seed = Some(Seed {
            location: loc,
            files,
            instance_id,
            local_hostname: seed_doc_meta.get("local-hostname"),
            user_data_header: header,
            network_config_version: net_version,
        });
    }

    // A seed elsewhere that cloud-init does not read.
    let effective = location.as_ref().map(|l| (l.partition, l.dir.clone()));
    let mut stray: Vec<(u32, String)> = Vec::new();
    for p in &info.parts {
        if p.fs == FsKind::Vfat {
            stray.push((p.partition.number, "/".into()));
        }
    }
    for d in SEED_DIRS {
        if let Some(l) = img.loc(d) {
            stray.push(l);
        }
        if let (Some(r), true) = (img.root, snappy) {
            stray.push((r, d.to_string()));
        }
    }
    stray.sort();
    stray.dedup();
    for (n, dir) in stray {
        if Some((n, dir.clone())) == effective {
            continue;
        }
        let has = img.p_list(n, &dir).iter().any(|c| {
            c.kind != EntryKind::Dir
                && (c.name == "meta-data" || c.name == "user-data" || misnamed(&c.name).is_some())
        });
        if has {
            let msg = format!(
                "a seed on partition {n} ({}) {dir} is not read by this image's cloud-init{}",
                img.label(n).unwrap_or_default(),
                match &location {
                    Some(l) => format!(
                        ", which reads partition {} ({}) {}",
                        l.partition,
                        l.partition_label.as_deref().unwrap_or("?"),
                        l.dir
                    ),
                    None => String::new(),
                }
            );
            let seed_ok = seed.as_ref().is_some_and(|s| !s.files.is_empty());
            findings.push(if seed_ok {
                Finding::warning(msg)
            } else {
                Finding::error(msg)
            });
        }
    }

    // Has cloud-init already run on this image?
    let mut previous = PreviousRun {
        instance_id: img
            .read("/var/lib/cloud/data/instance-id")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        instance_link: img.read_link("/var/lib/cloud/instance").map(|t| {
            t.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        }),
        same_as_seed: false,
    };
    if let Some(id) = seed.as_ref().and_then(|s| s.instance_id.clone()) {
        if previous.instance_id.as_deref() == Some(id.as_str())
            || previous.instance_link.as_deref() == Some(id.as_str())
        {
            previous.same_as_seed = true;
            findings.push(Finding::error(format!(
                "cloud-init already ran on this image with instance-id {id} (/var/lib/cloud): it will treat the seed as already applied; give the seed a new instance-id"
            )));
        }
    }

    let first_boot = first_boot(
        &img,
        seed.as_ref(),
        &seed_doc_meta,
        &seed_doc_user,
        network_doc.as_ref(),
        default_user,
    );
    let cloud_init = CloudInit {
        installed,
        enabled: installed && disabled_by.is_empty(),
        disabled_by,
        kernel_cmdline,
        config_files,
    };
    findings.sort_by_key(|a| a.level);
    let mut ex = Explanation {
        image: name.display().to_string(),
        flavour: info.flavour,
        os,
        cloud_init,
        datasource: ds,
        seed,
        previous_run: previous,
        first_boot,
        findings,
    };
    ex.first_boot.summary = summary(&ex);
    ex
}

fn first_boot(
    img: &Img<'_>,
    seed: Option<&Seed>,
    meta: &Doc,
    user: &Doc,
    net: Option<&Doc>,
    default_user: Option<String>,
) -> FirstBoot {
    let snappy = img.info.flavour == Flavour::SnappyCore15;
    let mut fb = FirstBoot::default();
    let hostname_file = if snappy {
        "/etc/writable/hostname"
    } else {
        "/etc/hostname"
    };
    let seeded = seed.is_some();
    if let Some(h) = user.get("hostname").filter(|_| seeded) {
        fb.hostname = Some(h);
        fb.hostname_from = Some("user-data".into());
    } else if let Some(h) = meta.get("local-hostname").filter(|_| seeded) {
        fb.hostname = Some(h);
        fb.hostname_from = Some("meta-data".into());
    } else if let Some(h) = img.read(hostname_file) {
        fb.hostname = Some(h.trim().to_string());
        fb.hostname_from = Some(hostname_file.into());
    }

    // Users from user-data.
    let default_name = default_user.unwrap_or_else(|| "default".into());
    let users_list = user.list("users");
    let top_keys = user.list("ssh_authorized_keys").unwrap_or_default();
    let has_default = match &users_list {
        None => true,
        Some(_) => user
            .entries()
            .any(|(k, v)| k.starts_with("users.") && yaml::unquote(v) == "default"),
    };
    if seeded
        && has_default
        && (users_list.is_some() || !top_keys.is_empty() || user.has("password"))
    {
        fb.users.push(User {
            name: default_name.clone(),
            from: "user-data (default user)".into(),
            ssh_keys: top_keys.iter().filter_map(|k| key_summary(k)).collect(),
        });
    }
    if seeded {
        for i in 0.. {
            let base = format!("users.{i}");
            if !user.has(&base) {
                break;
            }
            let Some(name) = user.get(&format!("{base}.name")) else {
                continue;
            };
            let keys = user
                .list(&format!("{base}.ssh_authorized_keys"))
                .unwrap_or_default();
            fb.users.push(User {
                name,
                from: "user-data".into(),
                ssh_keys: keys.iter().filter_map(|k| key_summary(k)).collect(),
            });
        }
        fb.password_login = user
            .get("ssh_pwauth")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1"))
            || user.has("password");
    }
    // authorized_keys files already in homes.
    let mut passwd = img.read("/etc/passwd").unwrap_or_default();
    if snappy {
        passwd.push_str(&img.read("/var/lib/extrausers/passwd").unwrap_or_default());
    }
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || f[5].is_empty() || f[5] == "/" {
            continue;
        }
        if let Some(text) = img.read(&format!("{}/.ssh/authorized_keys", f[5])) {
            let keys: Vec<String> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(key_summary)
                .collect();
            fb.users.push(User {
                name: f[0].to_string(),
                from: format!("{}/.ssh/authorized_keys", f[5]),
                ssh_keys: keys,
            });
        }
    }

    // Network: the seed's network-config, Snappy's interfaces.d.
    if let Some(doc) = net {
        let prefix = if doc.has("network.version") {
            "network."
        } else {
            ""
        };
        let mut ifaces: Vec<String> = Vec::new();
        for (k, _) in doc.entries() {
            if let Some(rest) = k.strip_prefix(&format!("{prefix}ethernets.")) {
                let name = rest.split('.').next().unwrap_or("").to_string();
                if !ifaces.contains(&name) {
                    ifaces.push(name);
                }
            }
        }
        for i in ifaces {
            let base = format!("{prefix}ethernets.{i}");
            for a in doc.list(&format!("{base}.addresses")).unwrap_or_default() {
                fb.network.push(NetAddress {
                    interface: i.clone(),
                    address: a,
                    from: "network-config".into(),
                });
            }
            if doc
                .get(&format!("{base}.dhcp4"))
                .is_some_and(|v| v == "true")
            {
                fb.network.push(NetAddress {
                    interface: i.clone(),
                    address: "dhcp".into(),
                    from: "network-config".into(),
                });
            }
        }
    }
    if snappy {
        let mut names: Vec<String> = img
            .list("/etc/network/interfaces.d")
            .into_iter()
            .filter(|c| c.kind == EntryKind::File)
            .map(|c| c.name)
            .collect();
        names.sort();
        for name in names {
            let path = format!("/etc/network/interfaces.d/{name}");
            let text = img.read(&path).unwrap_or_default();
            let (mut iface, mut addr, mut mask) = (None, None, None);
            for l in text.lines() {
                let w: Vec<&str> = l.split_whitespace().collect();
                match w.as_slice() {
                    ["iface", i, "inet", m, ..] => {
                        iface = Some(i.to_string());
                        if *m == "dhcp" {
                            addr = Some("dhcp".to_string());
                        }
                    }
                    ["address", a, ..] => addr = Some(a.to_string()),
                    ["netmask", m, ..] => mask = Some(m.to_string()),
                    _ => {}
                }
            }
            if let (Some(i), Some(a)) = (iface, addr) {
                let address = match mask.and_then(|m| m.parse::<std::net::Ipv4Addr>().ok()) {
                    Some(m) if a != "dhcp" => format!("{a}/{}", u32::from(m).count_ones()),
                    _ => a,
                };
                fb.network.push(NetAddress {
                    interface: i,
                    address,
                    from: path,
                });
            }
        }
    }

    // Units enabled to start, with their first-boot conditions.
    let mut targets: Vec<String> = img
        .list("/etc/systemd/system")
        .into_iter()
        .filter(|c| c.kind == EntryKind::Dir && c.name.ends_with(".wants"))
        .map(|c| c.name)
        .collect();
    targets.sort();
    for t in targets {
        let dir = format!("/etc/systemd/system/{t}");
        let mut links = img.list(&dir);
        links.sort_by(|a, b| a.name.cmp(&b.name));
        for l in links {
            let target = l
                .target
                .clone()
                .unwrap_or_else(|| format!("{dir}/{}", l.name));
            let text = img
                .read(&target)
                .or_else(|| img.read(&format!("/etc/systemd/system/{}", l.name)))
                .unwrap_or_default();
            let conditions = text
                .lines()
                .filter_map(|x| x.trim().strip_prefix("ConditionPathExists="))
                .map(str::to_string)
                .collect();
            fb.units.push(Unit {
                name: l.name.clone(),
                wanted_by: t.trim_end_matches(".wants").to_string(),
                conditions,
            });
        }
    }

    // Docker and the swarm: clem-image's node.env, else the image's own docker config.
    let lay = layout(img.info.flavour);
    let env = img
        .read(&format!("{}/node.env", lay.conf_dir))
        .map(|t| parse_env(&t));
    let sock = "unix:///var/run/docker.sock".to_string();
    if let Some(env) = &env {
        let mode = env.get("DOCKER_MODE").cloned().unwrap_or_default();
        let port = env.get("DOCKER_PORT").cloned().unwrap_or_default();
        let from = format!("{}/node.env (applied by {UNIT_NAME})", lay.conf_dir);
        fb.docker = Some(match mode.as_str() {
            "tls" | "insecure-tcp" => Docker {
                listen: vec![sock.clone(), format!("tcp://0.0.0.0:{port}")],
                tls: mode == "tls",
                from,
            },
            _ => Docker {
                listen: vec![sock.clone()],
                tls: false,
                from,
            },
        });
        let swarm = env.get("SWARM_MODE").cloned().unwrap_or_default();
        if !swarm.is_empty() {
            fb.swarm = Some(SwarmInfo {
                mode: swarm.clone(),
                role: env.get("ROLE").cloned().filter(|_| swarm != "none"),
                manager: env.get("SWARM_MANAGER").cloned().filter(|s| !s.is_empty()),
            });
        }
    } else {
        fb.docker = stock_docker(img, snappy, &sock);
    }
    fb
}

/// The listen addresses of a docker the image ships configured (no clem-image node.env).
fn stock_docker(img: &Img<'_>, snappy: bool, sock: &str) -> Option<Docker> {
    let from_opts = |opts: &str, from: String| {
        let w: Vec<&str> = opts.split_whitespace().collect();
        let mut listen = Vec::new();
        for (i, x) in w.iter().enumerate() {
            if let Some(h) = x.strip_prefix("--host=").or_else(|| x.strip_prefix("-H=")) {
                listen.push(h.to_string());
            } else if (*x == "-H" || *x == "--host") && i + 1 < w.len() {
                listen.push(w[i + 1].to_string());
            }
        }
        if listen.is_empty() {
            listen.push(sock.to_string());
        }
        let tls = w.iter().any(|x| x.starts_with("--tlsverify"));
        Docker { listen, tls, from }
    };
    if snappy {
        let mut versions: Vec<String> = img
            .list("/var/lib/apps/docker")
            .into_iter()
            .filter(|c| c.kind == EntryKind::Dir)
            .map(|c| c.name)
            .collect();
        versions.sort();
        let v = versions.pop()?;
        let path = format!("/var/lib/apps/docker/{v}/etc/docker.conf");
        let text = img.read(&path)?;
        let opts = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("DOCKER_OPTIONS="))
            .next_back()
            .map(yaml::unquote)
            .unwrap_or_default();
        return Some(from_opts(&opts, path));
    }
    if !img.exists("/usr/sbin/dockerd") && !img.exists("/usr/bin/dockerd") {
        return None;
    }
    if let Some(json) = img.read("/etc/docker/daemon.json") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&json) {
            if let Some(hosts) = v.get("hosts").and_then(|h| h.as_array()) {
                return Some(Docker {
                    listen: hosts
                        .iter()
                        .filter_map(|h| h.as_str().map(str::to_string))
                        .collect(),
                    tls: v.get("tlsverify").and_then(|t| t.as_bool()) == Some(true),
                    from: "/etc/docker/daemon.json".into(),
                });
            }
        }
    }
    let opts = img
        .read("/etc/default/docker")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DOCKER_OPTS="))
        .next_back()
        .map(yaml::unquote)
        .unwrap_or_default();
    let mut d = from_opts(
        &opts,
        "/etc/default/docker and docker.service (-H fd://)".into(),
    );
    if !opts.contains("-H") && !opts.contains("--host") {
        d.listen = vec!["fd:// (docker.socket: unix:///run/docker.sock)".into()];
    }
    Some(d)
}

/// The first boot, in plain words.
fn summary(ex: &Explanation) -> Vec<String> {
    let mut s = Vec::new();
    let fb = &ex.first_boot;
    if !ex.cloud_init.installed {
        s.push("cloud-init is not installed: no seed is applied.".into());
    } else if !ex.cloud_init.enabled {
        s.push(format!(
            "cloud-init is disabled ({}): no seed is applied.",
            ex.cloud_init.disabled_by.join(", ")
        ));
    } else if let Some(seed) = &ex.seed {
        let where_ = format!(
            "partition {} ({}) {}",
            seed.location.partition,
            seed.location.partition_label.as_deref().unwrap_or("?"),
            seed.location.dir
        );
        if seed.files.is_empty() {
            s.push(format!(
                "cloud-init looks for its seed on {where_} and finds none."
            ));
        } else if ex.previous_run.same_as_seed {
            s.push(format!(
                "cloud-init reads the seed on {where_}, but already ran with its instance-id: per-instance settings are not applied again."
            ));
        } else {
            s.push(format!(
                "cloud-init reads the seed on {where_} (instance-id {}).",
                seed.instance_id.as_deref().unwrap_or("missing")
            ));
        }
    }
    if let Some(h) = &fb.hostname {
        s.push(format!(
            "Host name: {h} (from {}).",
            fb.hostname_from.as_deref().unwrap_or("?")
        ));
    }
    for u in &fb.users {
        s.push(format!(
            "User {}: {} SSH key(s) (from {}).",
            u.name,
            u.ssh_keys.len(),
            u.from
        ));
    }
    if fb.password_login {
        s.push("SSH password login is enabled by user-data.".into());
    }
    for n in &fb.network {
        s.push(format!(
            "Network: {} {} (from {}).",
            n.interface, n.address, n.from
        ));
    }
    if fb.network.is_empty() {
        s.push("Network: the image's own setup (no network-config).".into());
    }
    for u in fb.units.iter().filter(|u| !u.conditions.is_empty()) {
        s.push(format!(
            "{} starts only if {}.",
            u.name,
            u.conditions.join(" and ")
        ));
    }
    match &fb.docker {
        Some(d) => s.push(format!(
            "Docker listens on {}{} (from {}).",
            d.listen.join(", "),
            if d.tls { " with TLS (--tlsverify)" } else { "" },
            d.from
        )),
        None => s.push("Docker: not installed or not configured.".into()),
    }
    if let Some(sw) = &fb.swarm {
        s.push(format!(
            "Swarm: {}{}.",
            sw.mode,
            sw.role
                .as_deref()
                .map(|r| format!(", as {r}"))
                .unwrap_or_default()
        ));
    }
    s
}

impl Explanation {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }

    /// A one-screen summary.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let os = self
            .os
            .pretty_name
            .clone()
            .or_else(|| self.os.name.clone())
            .unwrap_or_else(|| "unknown OS".into());
        t.push_str(&format!(
            "{}: {} ({}, version {})\n",
            self.image,
            os,
            self.flavour.as_str(),
            self.os.version.as_deref().unwrap_or("?")
        ));
        t.push_str(&format!(
            "cloud-init: {}, {}\n",
            if self.cloud_init.installed {
                "installed"
            } else {
                "not installed"
            },
            if self.cloud_init.enabled {
                "enabled".to_string()
            } else {
                format!("disabled {}", self.cloud_init.disabled_by.join(", "))
            }
        ));
        t.push_str(&format!(
            "datasources: {} ({}); NoCloud seedfrom {}, fs_label {}\n",
            self.datasource
                .list
                .as_ref()
                .map(|l| l.join(", "))
                .unwrap_or_else(|| "not set".into()),
            self.datasource.list_from.as_deref().unwrap_or("-"),
            self.datasource.seedfrom.as_deref().unwrap_or("-"),
            self.datasource.fs_label
        ));
        if let Some(s) = &self.seed {
            t.push_str(&format!(
                "seed: partition {} ({}) {} via {}: {}; instance-id {}\n",
                s.location.partition,
                s.location.partition_label.as_deref().unwrap_or("?"),
                s.location.dir,
                s.location.via,
                if s.files.is_empty() {
                    "no files".to_string()
                } else {
                    s.files.join(", ")
                },
                s.instance_id.as_deref().unwrap_or("(none)")
            ));
        } else {
            t.push_str("seed: none found\n");
        }
        t.push_str(&format!(
            "previous cloud-init run: {}\n",
            self.previous_run
                .instance_id
                .as_deref()
                .or(self.previous_run.instance_link.as_deref())
                .unwrap_or("none")
        ));
        t.push_str("first boot:\n");
        for l in &self.first_boot.summary {
            t.push_str(&format!("  {l}\n"));
        }
        let enabled: Vec<&str> = self
            .first_boot
            .units
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        t.push_str(&format!("  Units enabled: {}\n", enabled.join(", ")));
        if self.findings.is_empty() {
            t.push_str("findings: none\n");
        } else {
            t.push_str("findings:\n");
            for f in &self.findings {
                let l = match f.level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                };
                t.push_str(&format!("  {l}: {}\n", f.reason));
            }
        }
        t
    }
}

/// Prints `findings` for `image` (stderr) and returns the exit code: 1 when there is an
/// error (or, with `strict`, a warning), else 0.
pub fn report_findings(image: &Path, findings: &[Finding], strict: bool) -> i32 {
    let mut fail = false;
    for f in findings {
        let bad = f.level == Level::Error || strict;
        fail |= bad;
        let l = if bad { "error" } else { "warning" };
        eprintln!("{l}: {}: seed check: {}", image.display(), f.reason);
    }
    if findings.is_empty() {
        println!("{}: seed checks OK", image.display());
    }
    i32::from(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys() {
        assert_eq!(misnamed("user-data.yaml"), Some("user-data"));
        assert_eq!(misnamed("meta_data"), Some("meta-data"));
        assert_eq!(misnamed("meta-data"), None);
        assert_eq!(misnamed("config.txt"), None);
        assert_eq!(
            key_summary("ssh-ed25519 AAAA x@y").as_deref(),
            Some("ssh-ed25519 x@y")
        );
        assert_eq!(
            cmdline_seedfrom("a ds=nocloud;s=file:///x/ b").as_deref(),
            Some("file:///x/")
        );
        let env = parse_env("A='b c'\nB=\n");
        assert_eq!(env["A"], "b c");
    }
}
