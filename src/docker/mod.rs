//! Docker on the node: which engine an image carries (read offline from its package
//! database or installed snap), how the first boot gets one where it has none, and which
//! swarm that engine can run.
//!
//! - [`detect`]: what the image has, through a [`NodeView`] of its files.
//! - [`provision`]: the build-time decision (installed, the distribution's packages over
//!   the image's own apt sources, an offline `.deb` bundle, or a 15.04 `.snap`), or a
//!   refusal that says how to give one.

pub mod detect;
pub mod provision;

use std::fmt;

use serde::Serialize;

pub use detect::{Installed, NodeView};
pub use provision::{EnginePlan, Provision, ProvisionError};

/// Docker's own version (major.minor), read from a package or snap version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
}

/// `docker swarm` (swarm mode) arrived in Docker 1.12.
const SWARM_MODE_SINCE: Version = Version {
    major: 1,
    minor: 12,
};

impl Version {
    /// From a Debian or snap version: `26.1.5+dfsg1-9`, `5:27.3.1-1~debian.12~bookworm`,
    /// `20.10.24+dfsg1-1+b3`, `1.6.1.002`.
    pub fn from_package(v: &str) -> Option<Version> {
        let v = v.split_once(':').map_or(v, |(epoch, rest)| {
            if epoch.bytes().all(|b| b.is_ascii_digit()) {
                rest
            } else {
                v
            }
        });
        let mut parts = v.split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Version { major, minor })
    }

    pub fn swarm(self) -> SwarmSupport {
        if self >= SWARM_MODE_SINCE {
            SwarmSupport::SwarmMode
        } else {
            SwarmSupport::LegacyOnly
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Which swarm an engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmSupport {
    /// Docker 1.12 or later: `docker swarm init/join` (and the standalone swarm too).
    SwarmMode,
    /// Older: only the 2015 standalone swarm (agent and manager containers).
    LegacyOnly,
}

impl SwarmSupport {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmSupport::SwarmMode => "swarm-mode",
            SwarmSupport::LegacyOnly => "legacy-only",
        }
    }
}

/// How an image family gets software: the two ways docker reaches a node differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Raspberry Pi OS, Ubuntu for Pi: dpkg and apt.
    Debian,
    /// Ubuntu Snappy Core 15.04: snaps (its store is gone).
    Snappy15,
}

/// How the first boot gets docker: the contract between build, `node.env` and the node's
/// first-boot script (`DOCKER_INSTALL=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallKind {
    /// The image already has it.
    Present,
    /// The distribution's packages through the image's own apt sources.
    Apt,
    /// `.deb` files that build put on the image.
    Bundle,
    /// A 15.04 `.snap` that build put on the image.
    Snap,
    /// Docker is not wanted (`docker = "none"` and no swarm).
    None,
}

impl InstallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallKind::Present => "present",
            InstallKind::Apt => "apt",
            InstallKind::Bundle => "bundle",
            InstallKind::Snap => "snap",
            InstallKind::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<InstallKind> {
        [
            InstallKind::Present,
            InstallKind::Apt,
            InstallKind::Bundle,
            InstallKind::Snap,
            InstallKind::None,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where build puts an offline docker bundle on a Debian-family node.
pub const BUNDLE_DIR: &str = "/var/lib/clem-image/debs";

/// The distribution's docker packages the first boot installs over apt (`docker-cli` only
/// where the archive has it as a package of its own, as Debian trixie does).
pub const APT_PACKAGES: [&str; 2] = ["docker.io", "docker-cli"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_packages() {
        let v = |s| Version::from_package(s).map(|v| v.to_string());
        assert_eq!(v("26.1.5+dfsg1-9+b1").as_deref(), Some("26.1"));
        assert_eq!(v("5:27.3.1-1~debian.12~bookworm").as_deref(), Some("27.3"));
        assert_eq!(v("1.6.1.002").as_deref(), Some("1.6"));
        assert_eq!(v("1.12.0").as_deref(), Some("1.12"));
        assert_eq!(v("latest"), None);
        assert_eq!(v("7"), None);
    }

    #[test]
    fn swarm_mode_from_1_12() {
        let s = |t| Version::from_package(t).unwrap().swarm();
        assert_eq!(s("1.6.1.002"), SwarmSupport::LegacyOnly);
        assert_eq!(s("1.11.2"), SwarmSupport::LegacyOnly);
        assert_eq!(s("1.12.0"), SwarmSupport::SwarmMode);
        assert_eq!(s("20.10.24+dfsg1-1"), SwarmSupport::SwarmMode);
    }

    #[test]
    fn install_kinds_round_trip() {
        for k in ["present", "apt", "bundle", "snap", "none"] {
            assert_eq!(InstallKind::parse(k).map(InstallKind::as_str), Some(k));
        }
        assert_eq!(InstallKind::parse("store"), None);
    }
}
