//! Stages 1 and 2 of a reading: is cloud-init there and enabled, and which datasource will
//! it run (cloud.cfg, then cloud.cfg.d/*.cfg in name order, then the kernel command line).

use super::image::Img;
use super::seed::parse_doc;
use super::yaml;
use super::{CloudInit, Datasource, Finding, Os};
use crate::fs::EntryKind;
use crate::probe::ImageInfo;

/// Where cloud-init lives when it is installed.
const INSTALLED: [&str; 4] = [
    "/usr/bin/cloud-init",
    "/usr/lib/python3/dist-packages/cloudinit",
    "/usr/lib/python2.7/dist-packages/cloudinit",
    "/etc/cloud/cloud.cfg",
];
const DISABLED_FILE: &str = "/etc/cloud/cloud-init.disabled";

/// The system partition's os-release, as the report shows it.
pub(super) fn os(info: &ImageInfo) -> Os {
    let get = |k: &str| info.os_release.get(k).cloned();
    Os {
        id: get("ID"),
        name: get("NAME"),
        version: get("VERSION_ID"),
        pretty_name: get("PRETTY_NAME"),
    }
}

/// Stage 1: cloud-init installed, enabled, its version, the kernel command line and the
/// config files it reads (in order; later ones win).
pub(super) fn cloud_init(img: &Img<'_>, findings: &mut Vec<Finding>) -> CloudInit {
    let kernel_cmdline = img.info.boot_fat().and_then(|b| {
        img.p_read(b.partition.number, "/cmdline.txt")
            .map(|t| String::from_utf8_lossy(&t).trim().to_string())
    });
    let installed = INSTALLED.iter().any(|p| img.exists(p));
    let mut disabled_by = Vec::new();
    if img.exists(DISABLED_FILE) {
        disabled_by.push(DISABLED_FILE.to_string());
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
    CloudInit {
        installed,
        version: installed_version(img),
        enabled: installed && disabled_by.is_empty(),
        disabled_by,
        kernel_cmdline,
        config_files: config_files(img),
    }
}

/// cloud.cfg, then cloud.cfg.d/*.cfg in name order.
fn config_files(img: &Img<'_>) -> Vec<String> {
    let mut files = Vec::new();
    if img.exists("/etc/cloud/cloud.cfg") {
        files.push("/etc/cloud/cloud.cfg".to_string());
    }
    let mut dropins: Vec<String> = img
        .list("/etc/cloud/cloud.cfg.d")
        .into_iter()
        .filter(|c| c.name.ends_with(".cfg") && c.kind != EntryKind::Dir)
        .map(|c| format!("/etc/cloud/cloud.cfg.d/{}", c.name))
        .collect();
    dropins.sort();
    files.extend(dropins);
    files
}

/// What the config files set that later stages need beyond the datasource.
pub(super) struct Config {
    pub datasource: Datasource,
    /// `system_info.default_user.name`.
    pub default_user: Option<String>,
}

/// Stage 2: the datasource cloud-init will run, from its config and the command line.
pub(super) fn datasource(img: &Img<'_>, ci: &CloudInit, findings: &mut Vec<Finding>) -> Config {
    let mut ds = Datasource {
        fs_label: "cidata".into(),
        ..Datasource::default()
    };
    let mut default_user = None;
    for f in &ci.config_files {
        let doc = parse_doc(&img.read(f).unwrap_or_default(), f, findings);
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
    if let Some(s) = ci.kernel_cmdline.as_deref().and_then(cmdline_seedfrom) {
        ds.seedfrom = Some(s);
        ds.seedfrom_from = Some("kernel command line".into());
    }
    ds.nocloud_enabled = match &ds.list {
        None => true,
        Some(l) => l
            .iter()
            .any(|d| matches!(d.to_ascii_lowercase().as_str(), "nocloud" | "nocloudnet")),
    };
    if ci.installed {
        check_datasource(&ds, findings);
    }
    Config {
        datasource: ds,
        default_user,
    }
}

fn check_datasource(ds: &Datasource, findings: &mut Vec<Finding>) {
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

/// NoCloud's seed from the kernel command line: `ds=nocloud;s=…` (or `seedfrom=`).
pub(super) fn cmdline_seedfrom(cmdline: &str) -> Option<String> {
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

/// The installed cloud-init's version, from its `version.py`.
pub(super) fn installed_version(img: &Img<'_>) -> Option<String> {
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
