//! Stages 3 to 5 of a reading: where NoCloud looks for its seed, what that seed holds, and
//! seeds elsewhere on the image that cloud-init will not read.

use super::image::Img;
use super::yaml::Doc;
use super::{Datasource, Finding, Seed, SeedLocation};
use crate::cloudinit::{header, userdata, users};
use crate::fs::{EntryKind, FsKind};

pub(super) const SEED_DIRS: [&str; 2] = [
    "/var/lib/cloud/seed/nocloud",
    "/var/lib/cloud/seed/nocloud-net",
];
const SEED_NAMES: [&str; 4] = ["meta-data", "user-data", "vendor-data", "network-config"];
/// First lines of user-data that cloud-init reads as something.
const KNOWN_HEADERS: [&str; 5] = [
    "#cloud-config",
    "#!",
    "#include",
    "#cloud-boothook",
    "Content-Type:",
];

/// The seed's documents, parsed, for the first-boot stages.
#[derive(Default)]
pub(super) struct SeedDocs {
    pub meta: Doc,
    pub user: Doc,
    pub network: Option<Doc>,
    /// Scripts among the user-data's parts: cloud-init runs them at the end of the first boot.
    pub scripts: Vec<String>,
}

/// A cloud-init YAML file as a [`Doc`]. One that does not parse is a finding (cloud-init
/// cannot read it either) and reads as empty.
pub(super) fn parse_doc(text: &str, what: &str, findings: &mut Vec<Finding>) -> Doc {
    Doc::parse(text).unwrap_or_else(|e| {
        findings.push(Finding::error(format!(
            "{what} is not valid YAML (line {}: {}): cloud-init cannot read it",
            e.line, e.message
        )));
        Doc::default()
    })
}

/// A seed file name that looks like one of cloud-init's but is not spelled right.
pub(super) fn misnamed(name: &str) -> Option<&'static str> {
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

/// Stage 3: where NoCloud looks. A configured seedfrom wins over a file system labelled
/// `fs_label`, which wins over the seed directories (as DataSourceNoCloud merges them).
pub(super) fn locate(
    img: &Img<'_>,
    ds: &Datasource,
    findings: &mut Vec<Finding>,
) -> Option<SeedLocation> {
    if let Some(sf) = &ds.seedfrom {
        return from_seedfrom(img, sf, findings);
    }
    let labelled = img.info.parts.iter().find(|p| {
        p.fs_label
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(&ds.fs_label))
    });
    if let Some(p) = labelled {
        return Some(SeedLocation {
            partition: p.partition.number,
            partition_label: p.fs_label.clone(),
            dir: "/".into(),
            via: format!("fs_label {}", ds.fs_label),
            node_path: None,
        });
    }
    let found = SEED_DIRS
        .iter()
        .find(|d| img.exists(&format!("{d}/meta-data")) || img.exists(&format!("{d}/user-data")))
        .unwrap_or(&SEED_DIRS[1]);
    let Some((n, dir)) = img.loc(found) else {
        findings.push(Finding::warning(
            "no system partition found: cannot tell where cloud-init's seed directory is",
        ));
        return None;
    };
    Some(SeedLocation {
        partition: n,
        partition_label: img.label(n),
        dir,
        via: "seed-dir".into(),
        node_path: Some(found.to_string()),
    })
}

/// The seed a `seedfrom` names, when it is a `file://` path some partition holds.
fn from_seedfrom(img: &Img<'_>, sf: &str, findings: &mut Vec<Finding>) -> Option<SeedLocation> {
    let Some(p) = sf.strip_prefix("file://") else {
        findings.push(Finding::warning(format!(
            "seedfrom {sf} is not a file:// path: the seed is fetched at boot and cannot be checked here"
        )));
        return None;
    };
    let p = p.trim_end_matches('/');
    let p = if p.is_empty() { "/" } else { p };
    let Some((n, dir)) = img.mount_of(p).or_else(|| img.loc(p)) else {
        findings.push(Finding::warning(format!(
            "seedfrom {sf}: no partition of this image holds {p}; cannot tell what cloud-init will read"
        )));
        return None;
    };
    Some(SeedLocation {
        partition: n,
        partition_label: img.label(n),
        dir,
        via: format!("seedfrom {sf}"),
        node_path: Some(p.to_string()),
    })
}

/// `partition N (label) dir`, as findings name a seed.
fn where_(loc: &SeedLocation) -> String {
    format!(
        "partition {} ({}) {}",
        loc.partition,
        loc.partition_label.as_deref().unwrap_or("?"),
        loc.dir
    )
}

/// The seed's raw files at `loc`.
struct SeedFiles {
    names: Vec<String>,
    meta: Option<String>,
    user: Option<String>,
    net: Option<String>,
}

fn seed_files(img: &Img<'_>, loc: &SeedLocation) -> SeedFiles {
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
    let mut names: Vec<String> = img
        .p_list(n, &loc.dir)
        .into_iter()
        .filter(|c| c.kind != EntryKind::Dir)
        .map(|c| c.name)
        .filter(|name| SEED_NAMES.contains(&name.as_str()) || misnamed(name).is_some())
        .collect();
    names.sort();
    SeedFiles {
        names,
        meta: file("meta-data"),
        user: file("user-data"),
        net: file("network-config"),
    }
}

/// Stage 4: the seed at `loc`, its documents, and what keeps cloud-init from reading it.
pub(super) fn read(
    img: &Img<'_>,
    loc: SeedLocation,
    snappy: bool,
    findings: &mut Vec<Finding>,
) -> (Seed, SeedDocs) {
    let files = seed_files(img, &loc);
    let at = where_(&loc);
    check_names(&files, &at, &loc.via, findings);
    let meta = parse_doc(
        files.meta.as_deref().unwrap_or(""),
        &format!("meta-data on {at}"),
        findings,
    );
    let (user, scripts) = user_data(files.user.as_deref().unwrap_or(""), &at, findings);
    let instance_id = meta.get("instance-id");
    if files.meta.is_some() && instance_id.is_none() {
        findings.push(no_instance_id(&meta));
    }
    let header = files
        .user
        .as_deref()
        .map(|u| u.lines().next().unwrap_or("").trim_end().to_string());
    if let Some(h) = header.as_ref().filter(|h| !known_header(h)) {
        findings.push(Finding::error(format!(
            "user-data does not start with #cloud-config (first line: {h:?}): cloud-init will not read it as cloud-config"
        )));
    }
    let (network, net_version) = match &files.net {
        Some(text) => network_config(text, &at, snappy, findings),
        None => (None, None),
    };
    let seed = Seed {
        location: loc,
        files: files.names,
        instance_id,
        local_hostname: meta.get("local-hostname"),
        user_data_header: header,
        network_config_version: net_version,
    };
    let docs = SeedDocs {
        meta,
        user,
        network,
        scripts,
    };
    (seed, docs)
}

fn known_header(h: &str) -> bool {
    KNOWN_HEADERS.iter().any(|k| h.starts_with(k))
}

/// Misspelt seed files, and a seed without meta-data or user-data.
fn check_names(files: &SeedFiles, at: &str, via: &str, findings: &mut Vec<Finding>) {
    for f in &files.names {
        if let Some(right) = misnamed(f) {
            findings.push(Finding::error(format!(
                "seed file {f} on {at}: cloud-init reads only the name {right}"
            )));
        }
    }
    if files.meta.is_none() && files.user.is_none() {
        findings.push(Finding::error(format!(
            "no seed (meta-data, user-data) on {at}, where this image's cloud-init reads it ({via})"
        )));
        return;
    }
    for (missing, name) in [
        (files.meta.is_none(), "meta-data"),
        (files.user.is_none(), "user-data"),
    ] {
        if missing {
            findings.push(Finding::error(format!(
                "the seed on {at} has no {name}: NoCloud needs both meta-data and user-data"
            )));
        }
    }
}

/// user-data as cloud-init reads it: only cloud-config is YAML; a script or an include list
/// is read as itself. Returns the merged config and the scripts among its parts.
fn user_data(text: &str, at: &str, findings: &mut Vec<Finding>) -> (Doc, Vec<String>) {
    match userdata::read(text) {
        Ok(ud) => {
            let scripts = ud
                .parts
                .iter()
                .filter(|(_, k)| *k == header::Kind::Script)
                .map(|(name, _)| format!("the script {name} (a user-data part)"))
                .collect();
            (Doc::from_py(&users::normalized(&ud.config)), scripts)
        }
        Err(e) => {
            findings.push(Finding::error(format!(
                "user-data on {at} is not valid YAML ({e}): cloud-init cannot read it"
            )));
            (Doc::default(), Vec::new())
        }
    }
}

fn no_instance_id(meta: &Doc) -> Finding {
    match meta.get("instance_id") {
        Some(u) => Finding::error(format!(
            "meta-data spells the key instance_id (underscore, value {u}): cloud-init ignores it and needs instance-id"
        )),
        None => Finding::error(
            "meta-data has no instance-id: cloud-init cannot tell this node's seed from another's",
        ),
    }
}

/// network-config parsed, with its version (1 or 2, at the top level or under `network:`).
fn network_config(
    text: &str,
    at: &str,
    snappy: bool,
    findings: &mut Vec<Finding>,
) -> (Option<Doc>, Option<String>) {
    let doc = parse_doc(text, &format!("network-config on {at}"), findings);
    if doc.is_empty() {
        return (None, None);
    }
    let v = doc.get("version").or_else(|| doc.get("network.version"));
    match v.as_deref() {
        Some("2") if snappy => findings.push(Finding::warning(
            "network-config version 2 on Snappy 15.04: its cloud-init predates version 2; use /etc/network/interfaces.d",
        )),
        Some("1") | Some("2") => {}
        _ => findings.push(Finding::error(format!(
            "network-config on {at} has no version 1 or 2 at the top level or under network: (found {}): cloud-init will not apply it",
            v.as_deref().unwrap_or("none")
        ))),
    }
    (Some(doc), v)
}

/// Stage 5: seeds on the image that cloud-init will not read: an error when the real seed
/// is missing or empty (the user likely put it in the wrong place), else a warning.
pub(super) fn stray(img: &Img<'_>, seed: Option<&Seed>, findings: &mut Vec<Finding>) {
    let location = seed.map(|s| &s.location);
    let effective = location.map(|l| (l.partition, l.dir.clone()));
    let seed_ok = seed.is_some_and(|s| !s.files.is_empty());
    for (n, dir) in stray_places(img) {
        if Some((n, dir.clone())) == effective || !holds_seed(img, n, &dir) {
            continue;
        }
        let reads = match location {
            Some(l) => format!(", which reads {}", where_(l)),
            None => String::new(),
        };
        let msg = format!(
            "a seed on partition {n} ({}) {dir} is not read by this image's cloud-init{reads}",
            img.label(n).unwrap_or_default(),
        );
        findings.push(match seed_ok {
            true => Finding::warning(msg),
            false => Finding::error(msg),
        });
    }
}

/// Every FAT root, and the seed directories where the node and Snappy's system partition
/// put them.
fn stray_places(img: &Img<'_>) -> Vec<(u32, String)> {
    let snappy = img.info.flavour == crate::probe::Flavour::SnappyCore15;
    let mut places: Vec<(u32, String)> = img
        .info
        .parts
        .iter()
        .filter(|p| p.fs == FsKind::Vfat)
        .map(|p| (p.partition.number, "/".into()))
        .collect();
    for d in SEED_DIRS {
        places.extend(img.loc(d));
        if let (Some(r), true) = (img.root, snappy) {
            places.push((r, d.to_string()));
        }
    }
    places.sort();
    places.dedup();
    places
}

fn holds_seed(img: &Img<'_>, n: u32, dir: &str) -> bool {
    img.p_list(n, dir).iter().any(|c| {
        c.kind != EntryKind::Dir
            && (c.name == "meta-data" || c.name == "user-data" || misnamed(&c.name).is_some())
    })
}
