//! What docker an image already carries, read offline: the dpkg database and the binaries
//! on Debian-family images, the installed docker snap on Snappy 15.04.

use serde::Serialize;

use crate::debian::dpkg;

/// The image's files as the running node would see them (`/etc/...`); the caller maps
/// each path onto a partition.
pub trait NodeView {
    fn read_bytes(&self, path: &str) -> Option<Vec<u8>>;
    fn present(&self, path: &str) -> bool;
    /// The names in a directory (empty when there is none).
    fn names(&self, dir: &str) -> Vec<String>;
}

/// A docker the image carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// `docker.io`, `docker-ce`, `docker` (the snap); `null` for a bare `dockerd` binary.
    pub package: Option<String>,
    pub version: Option<String>,
    /// The package providing the CLI, where it is a package of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cli_package: Option<String>,
    pub dockerd: bool,
    pub cli: bool,
    /// Where this was read.
    pub from: String,
}

impl Installed {
    /// `docker.io 26.1.5+dfsg1-9`, `docker`, or `a dockerd binary`.
    pub fn describe(&self) -> String {
        match (&self.package, &self.version) {
            (Some(p), Some(v)) => format!("{p} {v}"),
            (Some(p), None) => p.clone(),
            _ => "a dockerd binary".into(),
        }
    }
}

const DPKG_STATUS: &str = "/var/lib/dpkg/status";
/// Packages that ship the daemon, most common first.
const DAEMON_PACKAGES: [&str; 4] = ["docker.io", "docker-ce", "moby-engine", "docker-engine"];
const CLI_PACKAGES: [&str; 3] = ["docker-cli", "docker-ce-cli", "moby-cli"];
const DOCKERD: [&str; 2] = ["/usr/sbin/dockerd", "/usr/bin/dockerd"];
const CLI: &str = "/usr/bin/docker";

/// A Debian-family image's packages, as its dpkg database says.
#[derive(Debug, Clone, Default)]
pub struct DebianFacts {
    pub packages: Vec<dpkg::Installed>,
    /// dpkg's native architecture (`armhf`, `arm64`, `amd64`).
    pub arch: Option<String>,
    pub docker: Option<Installed>,
    /// The archives apt would use (`URIs` of the image's sources), in file order.
    pub apt_sources: Vec<String>,
}

/// The image's dpkg database cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{DPKG_STATUS}")]
pub struct DetectError(#[source] dpkg::DpkgError);

/// Reads the dpkg database, the docker binaries and the apt sources.
pub fn debian(view: &dyn NodeView) -> Result<DebianFacts, DetectError> {
    let packages = match view.read_bytes(DPKG_STATUS) {
        Some(b) => dpkg::installed(&String::from_utf8_lossy(&b)).map_err(DetectError)?,
        None => Vec::new(),
    };
    let arch = dpkg::native_arch(&packages);
    let find = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| packages.iter().find(|p| p.name == *n))
    };
    let dockerd = DOCKERD.iter().any(|p| view.present(p));
    let cli = view.present(CLI);
    let daemon = find(&DAEMON_PACKAGES);
    let cli_pkg = find(&CLI_PACKAGES);
    let docker = (daemon.is_some() || dockerd || cli).then(|| Installed {
        package: daemon.map(|p| p.name.clone()),
        version: daemon.map(|p| p.version.clone()),
        cli_package: cli_pkg.map(|p| p.name.clone()),
        dockerd,
        cli,
        from: if daemon.is_some() {
            DPKG_STATUS.into()
        } else {
            "binaries on the image (no docker package in the dpkg database)".into()
        },
    });
    Ok(DebianFacts {
        arch,
        docker,
        apt_sources: apt_sources(view),
        packages,
    })
}

/// The archive URIs of `sources.list` (one-line style) and `sources.list.d/*.list` and
/// `*.sources` (deb822 style), skipping disabled entries.
pub fn apt_sources(view: &dyn NodeView) -> Vec<String> {
    let mut files = vec!["/etc/apt/sources.list".to_string()];
    let mut names = view.names("/etc/apt/sources.list.d");
    names.sort();
    files.extend(
        names
            .into_iter()
            .filter(|n| n.ends_with(".list") || n.ends_with(".sources"))
            .map(|n| format!("/etc/apt/sources.list.d/{n}")),
    );
    let mut uris = Vec::new();
    for f in files {
        let Some(b) = view.read_bytes(&f) else {
            continue;
        };
        let text = String::from_utf8_lossy(&b);
        if f.ends_with(".sources") {
            uris.extend(deb822_uris(&text));
        } else {
            uris.extend(one_line_uris(&text));
        }
    }
    uris
}

fn one_line_uris(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next()?.trim();
            let rest = l.strip_prefix("deb ")?.trim_start();
            // Options in brackets come first: `deb [trusted=yes] http://… ./`.
            let rest = match rest.strip_prefix('[') {
                Some(r) => r.split_once(']')?.1.trim_start(),
                None => rest,
            };
            rest.split_whitespace().next().map(str::to_string)
        })
        .collect()
}

/// The `URIs` of the enabled `Types: deb` stanzas; a file that does not parse yields none
/// (apt would refuse it too).
fn deb822_uris(text: &str) -> Vec<String> {
    let stanzas = crate::debian::control::parse(text).unwrap_or_default();
    stanzas
        .iter()
        .filter(|st| {
            st.get("Enabled")
                .is_none_or(|v| !v.eq_ignore_ascii_case("no"))
        })
        .filter(|st| {
            st.get("Types")
                .is_some_and(|t| t.split_whitespace().any(|t| t == "deb"))
        })
        .filter_map(|st| st.get("URIs"))
        .flat_map(|u| u.split_whitespace().map(str::to_string))
        .collect()
}

/// The docker snap installed on a Snappy 15.04 image (`/apps/docker/<version>/`).
pub fn snappy(view: &dyn NodeView) -> Option<Installed> {
    let mut versions: Vec<String> = view
        .names("/apps/docker")
        .into_iter()
        .filter(|n| n != "current" && !n.starts_with('.'))
        .collect();
    versions.sort();
    let v = versions.pop()?;
    let meta = format!("/apps/docker/{v}/meta/package.yaml");
    let version = view
        .read_bytes(&meta)
        .and_then(|b| snap_yaml_field(&String::from_utf8_lossy(&b), "version"))
        .unwrap_or(v.clone());
    Some(Installed {
        package: Some("docker".into()),
        version: Some(version),
        cli_package: None,
        dockerd: true,
        cli: view.present(&format!("/apps/docker/{v}/bin/docker")),
        from: meta,
    })
}

/// A top-level `key: value` of a snap's flat `package.yaml`.
fn snap_yaml_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?.trim();
        let v = v.trim_matches(|c| c == '"' || c == '\'');
        (!v.is_empty()).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Fake(BTreeMap<String, String>);

    impl NodeView for Fake {
        fn read_bytes(&self, path: &str) -> Option<Vec<u8>> {
            self.0.get(path).map(|s| s.clone().into_bytes())
        }
        fn present(&self, path: &str) -> bool {
            self.0.contains_key(path)
        }
        fn names(&self, dir: &str) -> Vec<String> {
            let pre = format!("{dir}/");
            let mut v: Vec<String> = self
                .0
                .keys()
                .filter_map(|k| k.strip_prefix(&pre))
                .map(|r| r.split('/').next().unwrap().to_string())
                .collect();
            v.dedup();
            v
        }
    }

    fn stanza(name: &str, version: &str, arch: &str) -> String {
        format!("Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\nVersion: {version}\n\n")
    }

    #[test]
    fn debian_with_docker_io_and_separate_cli() {
        let mut f = Fake::default();
        let status = stanza("dpkg", "1.22.21", "armhf")
            + &stanza("docker.io", "26.1.5+dfsg1-9+b9", "armhf")
            + &stanza("docker-cli", "26.1.5+dfsg1-9+b9", "armhf");
        f.0.insert(DPKG_STATUS.into(), status);
        f.0.insert("/usr/sbin/dockerd".into(), String::new());
        f.0.insert(CLI.into(), String::new());
        let d = debian(&f).unwrap();
        assert_eq!(d.arch.as_deref(), Some("armhf"));
        let docker = d.docker.unwrap();
        assert_eq!(docker.package.as_deref(), Some("docker.io"));
        assert_eq!(docker.version.as_deref(), Some("26.1.5+dfsg1-9+b9"));
        assert_eq!(docker.cli_package.as_deref(), Some("docker-cli"));
        assert!(docker.dockerd && docker.cli);
    }

    #[test]
    fn debian_without_docker() {
        let mut f = Fake::default();
        f.0.insert(DPKG_STATUS.into(), stanza("dpkg", "1.22", "arm64"));
        let d = debian(&f).unwrap();
        assert!(d.docker.is_none());
        assert_eq!(d.arch.as_deref(), Some("arm64"));
    }

    #[test]
    fn apt_sources_both_styles() {
        let mut f = Fake::default();
        f.0.insert(
            "/etc/apt/sources.list".into(),
            "# comment\ndeb [trusted=yes] http://10.0.2.100/ ./\ndeb-src http://src/ x\n".into(),
        );
        f.0.insert(
            "/etc/apt/sources.list.d/debian.sources".into(),
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\n\nTypes: deb\nURIs: http://off/\nEnabled: no\n".into(),
        );
        f.0.insert(
            "/etc/apt/sources.list.d/raspi.list".into(),
            "deb http://archive.raspberrypi.com/debian/ trixie main\n".into(),
        );
        assert_eq!(
            apt_sources(&f),
            [
                "http://10.0.2.100/",
                "http://deb.debian.org/debian",
                "http://archive.raspberrypi.com/debian/"
            ]
        );
    }

    #[test]
    fn snappy_installed_snap() {
        let mut f = Fake::default();
        assert!(snappy(&f).is_none());
        f.0.insert(
            "/apps/docker/1.6.1.002/meta/package.yaml".into(),
            "name: docker\nversion: 1.6.1.002\n".into(),
        );
        f.0.insert("/apps/docker/1.6.1.002/bin/docker".into(), String::new());
        let d = snappy(&f).unwrap();
        assert_eq!(d.version.as_deref(), Some("1.6.1.002"));
        assert!(d.cli);
    }
}
