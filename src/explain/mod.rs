//! `explain`: what an image will do at its first boot, read from the image's own boot
//! configuration (cloud-init's config and seed, systemd links, clem-image's node.env), and
//! the checks that a seed will really be read ([`check_seed`]), shared by `explain`,
//! `verify` and `build` ([`check_built_image`]).
//!
//! Paths are given as the node sees them (`/etc/...`); [`Img::loc`] maps them onto a
//! partition: on Snappy 15.04 the writable paths live on `writable` (`system-data/...`,
//! `/home` is `user-data/`, `/writable/...` is the partition itself).

mod boot;
mod engine;
mod image;
mod login;
mod net;
mod text;
mod yaml;

use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::docker::NodeView;
use crate::flavour::Flavour;
use crate::fs::{EntryKind, FsKind};
use crate::inspect::{InspectError, RawImage};
use crate::probe::{self, ImageInfo, ProbeError};
pub use engine::{DockerEngine, EngineInstall, EngineStatus};
use image::Img;
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
    /// Worth knowing before the first boot; never an error, not even with `--strict`.
    Note,
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
    fn note(reason: impl Into<String>) -> Finding {
        Finding {
            level: Level::Note,
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
    /// Docker's engine: on the image, installed at first boot, or missing.
    pub docker_engine: DockerEngine,
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
    /// The installed cloud-init's version (from its `version.py`), when it can be read.
    pub version: Option<String>,
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
    /// A password works over SSH: sshd takes passwords and some account has one.
    pub password_login: bool,
    /// sshd takes passwords (`ssh_pwauth`, else the image's sshd config, else yes).
    pub ssh_password_auth: bool,
    /// Where [`FirstBoot::ssh_password_auth`] comes from.
    pub ssh_password_auth_from: String,
    /// Accounts with a usable password (never the password itself).
    pub passwords: Vec<Password>,
    pub network: Vec<NetAddress>,
    /// Default gateways (`address` is the gateway).
    pub gateways: Vec<NetAddress>,
    /// DNS servers (`address` is the server).
    pub dns: Vec<NetAddress>,
    pub units: Vec<Unit>,
    pub docker: Option<Docker>,
    pub swarm: Option<SwarmInfo>,
    /// Files user-data writes (`write_files`), as `path (mode)`.
    pub writes: Vec<String>,
    /// Commands user-data runs at the end of the first boot (`runcmd`), one per line.
    pub runs: Vec<String>,
    /// Packages user-data installs.
    pub packages: Vec<String>,
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
pub struct Password {
    pub user: String,
    /// `user-data password`, `user-data chpasswd`, `user-data users`, `/etc/shadow`.
    pub from: String,
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

/// Runs `f` on the image at `raw` as the node will see it.
pub fn with_view<R>(info: &ImageInfo, raw: &Path, f: impl FnOnce(&dyn NodeView) -> R) -> R {
    f(&Img::new(info, raw))
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

/// The installed cloud-init's version, from its `version.py`.
fn installed_version(img: &Img<'_>) -> Option<String> {
    [
        "/usr/lib/python3/dist-packages/cloudinit/version.py",
        "/usr/lib/python2.7/dist-packages/cloudinit/version.py",
    ]
    .iter()
    .find_map(|p| img.read(p))
    .and_then(|text| {
        text.lines().find_map(|l| {
            let v = l.trim().strip_prefix("__VERSION__")?.trim_start();
            Some(yaml::unquote(v.strip_prefix('=')?))
        })
    })
}

/// The version of cloud-init installed on the image at `raw`, when it can be read.
pub fn cloud_init_version(info: &ImageInfo, raw: &Path) -> Option<String> {
    installed_version(&Img::new(info, raw))
}

/// A cloud-init YAML file as a [`Doc`]. One that does not parse is a finding (cloud-init
/// cannot read it either) and reads as empty.
fn parse_doc(text: &str, what: &str, findings: &mut Vec<Finding>) -> Doc {
    Doc::parse(text).unwrap_or_else(|e| {
        findings.push(Finding::error(format!(
            "{what} is not valid YAML (line {}: {}): cloud-init cannot read it",
            e.line, e.message
        )));
        Doc::default()
    })
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
        let doc = parse_doc(&img.read(f).unwrap_or_default(), f, &mut findings);
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
    // Scripts among the user-data's parts: cloud-init runs them at the end of the first boot.
    let mut user_scripts: Vec<String> = Vec::new();
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
        seed_doc_meta = parse_doc(
            meta.as_deref().unwrap_or(""),
            &format!("meta-data on {where_}"),
            &mut findings,
        );
        // Only cloud-config is YAML; a script or an include list is read as itself.
        let user_text = user.as_deref().unwrap_or("");
        seed_doc_user = match crate::cloudinit::userdata::read(user_text) {
            Ok(ud) => {
                user_scripts = ud
                    .parts
                    .iter()
                    .filter(|(_, k)| *k == crate::cloudinit::header::Kind::Script)
                    .map(|(name, _)| format!("the script {name} (a user-data part)"))
                    .collect();
                Doc::from_py(&crate::cloudinit::users::normalized(&ud.config))
            }
            Err(e) => {
                findings.push(Finding::error(format!(
                    "user-data on {where_} is not valid YAML ({e}): cloud-init cannot read it"
                )));
                Doc::default()
            }
        };
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
            let doc = parse_doc(text, &format!("network-config on {where_}"), &mut findings);
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

    let mut first_boot = boot::first_boot(
        &img,
        seed.as_ref(),
        &seed_doc_meta,
        &seed_doc_user,
        network_doc.as_ref(),
        default_user,
    );
    first_boot.runs.extend(user_scripts);
    findings.extend(login::check(&first_boot));
    let docker_engine = engine::engine(&img, engine::node_env(&img).as_ref(), &mut findings);
    let version = installed_version(&img);
    let cloud_init = CloudInit {
        installed,
        version,
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
        docker_engine,
        first_boot,
        findings,
    };
    ex.first_boot.summary = text::summary(&ex);
    ex
}

/// Prints `findings` for `image` (stderr) and returns the exit code: 1 when there is an
/// error (or, with `strict`, a warning), else 0.
pub fn report_findings(image: &Path, findings: &[Finding], strict: bool) -> i32 {
    let mut fail = false;
    for f in findings {
        let bad = f.level == Level::Error || (strict && f.level == Level::Warning);
        fail |= bad;
        let l = match f.level {
            _ if bad => "error",
            Level::Note => "note",
            _ => "warning",
        };
        eprintln!("{l}: {}: seed check: {}", image.display(), f.reason);
    }
    if findings.iter().all(|f| f.level == Level::Note) {
        println!("{}: seed checks OK", image.display());
    }
    i32::from(fail)
}

#[cfg(test)]
mod tests {
    use super::boot::{key_summary, parse_env};
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
