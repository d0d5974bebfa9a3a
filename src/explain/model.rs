//! What `explain` reports, as data: each stage of the reading fills one of these pieces.

use serde::Serialize;

use super::{DockerEngine, Finding};
use crate::probe::Flavour;

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
