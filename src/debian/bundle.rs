//! Checking a directory of `.deb` files (an offline docker bundle) before it goes onto an
//! image: every deb reads, fits the image's architecture, is there once, the bundle has
//! a docker daemon and a CLI, and every dependency is met by the bundle or the image.
//!
//! Versions in dependencies are not compared: the image's database says what is
//! installed, not what an upgrade by the bundle would leave, so only names are checked.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::control::{self, Dep};
use super::deb::{read_deb, DebError, DebInfo};
use super::dpkg::Installed;

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{dir}: {what}")]
    Dir { dir: String, what: String },
    #[error("{dir}: cannot list")]
    List { dir: String, source: io::Error },
    #[error(transparent)]
    Deb(#[from] DebError),
    #[error("{file}: built for {arch}, the image is {image}")]
    Arch {
        file: String,
        arch: String,
        image: String,
    },
    #[error("{first} and {second} are both package {package}")]
    Duplicate {
        package: String,
        first: String,
        second: String,
    },
    #[error("{dir}: no package ships {what}")]
    Missing { dir: String, what: &'static str },
    #[error("{file} {relation} {group}, which neither the bundle nor the image has")]
    Unsatisfied {
        file: String,
        relation: &'static str,
        group: String,
    },
}

/// A package by name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRef {
    pub package: String,
    pub version: String,
}

/// A checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Every deb, sorted by file name.
    pub debs: Vec<(PathBuf, DebInfo)>,
    /// The package shipping `dockerd` and the one shipping `usr/bin/docker` (may be one).
    pub daemon: PackageRef,
    pub cli: PackageRef,
    /// The debs' sizes added up.
    pub total_bytes: u64,
}

const DAEMON: [&str; 2] = ["usr/sbin/dockerd", "usr/bin/dockerd"];
const CLI: &str = "usr/bin/docker";

/// Checks every `*.deb` directly in `dir` against an image of architecture `arch` with
/// `installed` packages. The first problem found is the error.
pub fn check_bundle(
    dir: &Path,
    arch: &str,
    installed: &[Installed],
) -> Result<Bundle, BundleError> {
    let paths = deb_paths(dir)?;
    let mut debs = Vec::with_capacity(paths.len());
    let mut total_bytes = 0;
    for path in paths {
        let info = read_deb(&path)?;
        if info.architecture != arch && info.architecture != "all" {
            return Err(BundleError::Arch {
                file: path.display().to_string(),
                arch: info.architecture,
                image: arch.to_string(),
            });
        }
        // read_deb opened it as a regular file a moment ago.
        total_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        debs.push((path, info));
    }
    check_unique(&debs)?;
    let shipping = |files: &[&str]| {
        debs.iter()
            .find(|(_, d)| d.files.iter().any(|f| files.contains(&f.as_str())))
            .map(|(_, d)| PackageRef {
                package: d.package.clone(),
                version: d.version.clone(),
            })
    };
    let missing = |what| BundleError::Missing {
        dir: dir.display().to_string(),
        what,
    };
    let daemon = shipping(&DAEMON)
        .ok_or_else(|| missing("the docker daemon (usr/sbin/dockerd or usr/bin/dockerd)"))?;
    let cli = shipping(&[CLI]).ok_or_else(|| missing("the docker CLI (usr/bin/docker)"))?;
    check_dependencies(&debs, installed)?;
    Ok(Bundle {
        debs,
        daemon,
        cli,
        total_bytes,
    })
}

/// The `*.deb` entries of `dir`, sorted by name; none is an error.
fn deb_paths(dir: &Path) -> Result<Vec<PathBuf>, BundleError> {
    let shown = dir.display().to_string();
    let meta = std::fs::metadata(dir).map_err(|source| BundleError::List {
        dir: shown.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(BundleError::Dir {
            dir: shown,
            what: "not a directory".into(),
        });
    }
    let list_err = |source| BundleError::List {
        dir: shown.clone(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_err)? {
        let name = entry.map_err(list_err)?.file_name();
        if name.to_string_lossy().ends_with(".deb") {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err(BundleError::Dir {
            dir: shown,
            what: "no .deb files".into(),
        });
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

fn check_unique(debs: &[(PathBuf, DebInfo)]) -> Result<(), BundleError> {
    let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
    for (path, info) in debs {
        if let Some(first) = seen.insert(&info.package, path) {
            return Err(BundleError::Duplicate {
                package: info.package.clone(),
                first: first.display().to_string(),
                second: path.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Every Pre-Depends and Depends group of every deb has an alternative whose name is a
/// package or a Provides of the bundle or the image. Architecture qualifiers are ignored.
fn check_dependencies(
    debs: &[(PathBuf, DebInfo)],
    installed: &[Installed],
) -> Result<(), BundleError> {
    let mut have: HashSet<&str> = HashSet::new();
    for (_, d) in debs {
        have.insert(&d.package);
        have.extend(d.provides.iter().map(String::as_str));
    }
    for p in installed {
        have.insert(&p.name);
        have.extend(p.provides.iter().map(String::as_str));
    }
    for (path, info) in debs {
        for (relation, field) in [
            ("pre-depends on", &info.pre_depends),
            ("depends on", &info.depends),
        ] {
            // read_deb checked that these parse; an error here cannot happen, so no group.
            let groups = control::parse_depends(field).unwrap_or_default();
            let unmet = groups
                .iter()
                .find(|alts| !alts.iter().any(|d| have.contains(d.name.as_str())));
            if let Some(alts) = unmet {
                return Err(BundleError::Unsatisfied {
                    file: path.display().to_string(),
                    relation,
                    group: render(alts),
                });
            }
        }
    }
    Ok(())
}

fn render(alts: &[Dep]) -> String {
    let parts: Vec<String> = alts.iter().map(Dep::to_string).collect();
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::super::deb::tests::{build_deb, docker_pkg, Pkg};
    use super::*;

    fn inst(name: &str, provides: &[&str]) -> Installed {
        Installed {
            name: name.into(),
            version: "1".into(),
            architecture: "armhf".into(),
            provides: provides.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn image() -> Vec<Installed> {
        vec![
            inst("libc6", &[]),
            inst("init-system-helpers", &[]),
            inst("nftables", &[]),
        ]
    }

    fn containerd() -> Pkg<'static> {
        Pkg {
            name: "containerd",
            version: "1.7.24~ds1-6",
            arch: "armhf",
            control: "Depends: runc (>= 1.1) | runc-alt, libc6\nProvides: containerd-runtime\n",
            files: &["usr/bin/containerd", "usr/bin/ctr"],
            links: &[],
        }
    }

    fn runc() -> Pkg<'static> {
        Pkg {
            name: "runc",
            version: "1.1.15+ds1-2",
            arch: "armhf",
            control: "Depends: libc6:any\n",
            files: &["usr/sbin/runc"],
            links: &[],
        }
    }

    #[test]
    fn a_complete_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        build_deb(d, "docker.io_26.1.5_armhf.deb", &docker_pkg(), "xz");
        build_deb(d, "containerd_1.7.24_armhf.deb", &containerd(), "zstd");
        build_deb(d, "runc_1.1.15_armhf.deb", &runc(), "gzip");
        std::fs::write(d.join("README.txt"), "not a deb").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        let b = check_bundle(d, "armhf", &image()).unwrap();
        let names: Vec<_> = b
            .debs
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "containerd_1.7.24_armhf.deb",
                "docker.io_26.1.5_armhf.deb",
                "runc_1.1.15_armhf.deb"
            ]
        );
        let both = PackageRef {
            package: "docker.io".into(),
            version: "26.1.5+dfsg1-9".into(),
        };
        assert_eq!((&b.daemon, &b.cli), (&both, &both));
        let sizes: u64 = names
            .iter()
            .map(|n| std::fs::metadata(d.join(n)).unwrap().len())
            .sum();
        assert_eq!(b.total_bytes, sizes);
    }

    #[test]
    fn split_daemon_and_cli_packages() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ce = Pkg {
            name: "docker-ce",
            version: "5:27.3.1-1~debian.12~bookworm",
            arch: "armhf",
            control: "Depends: containerd.io (>= 1.6.24)\n",
            files: &["usr/bin/dockerd"],
            links: &[],
        };
        let cli = Pkg {
            name: "docker-ce-cli",
            version: "5:27.3.1-1~debian.12~bookworm",
            arch: "armhf",
            control: "",
            files: &["usr/bin/docker"],
            links: &[],
        };
        build_deb(d, "docker-ce.deb", &ce, "xz");
        build_deb(d, "docker-ce-cli.deb", &cli, "xz");
        let image = [inst("containerd", &["containerd.io"])];
        let b = check_bundle(d, "armhf", &image).unwrap();
        assert_eq!(b.daemon.package, "docker-ce");
        assert_eq!(b.cli.package, "docker-ce-cli");
        assert_eq!(b.cli.version, "5:27.3.1-1~debian.12~bookworm");
    }

    #[test]
    fn wrong_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("docker-debs");
        std::fs::create_dir(&d).unwrap();
        let pkg = Pkg {
            arch: "arm64",
            ..docker_pkg()
        };
        build_deb(&d, "docker.io_26.1.5_arm64.deb", &pkg, "xz");
        let e = check_bundle(&d, "armhf", &image()).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!(
                "{}/docker.io_26.1.5_arm64.deb: built for arm64, the image is armhf",
                d.display()
            )
        );
    }

    #[test]
    fn missing_cli_or_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let daemon_only = Pkg {
            files: &["usr/sbin/dockerd"],
            links: &[],
            control: "",
            ..docker_pkg()
        };
        build_deb(d, "docker.io.deb", &daemon_only, "xz");
        let e = check_bundle(d, "armhf", &image()).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!(
                "{}: no package ships the docker CLI (usr/bin/docker)",
                d.display()
            )
        );
        let cli_only = Pkg {
            files: &["usr/bin/docker"],
            links: &[],
            control: "",
            ..docker_pkg()
        };
        build_deb(d, "docker.io.deb", &cli_only, "xz");
        let e = check_bundle(d, "armhf", &image()).unwrap_err();
        assert!(
            crate::error::chain(&e).ends_with(
                "no package ships the docker daemon (usr/sbin/dockerd or usr/bin/dockerd)"
            ),
            "{e}"
        );
    }

    #[test]
    fn unsatisfied_dependency_names_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        build_deb(d, "docker.io_26.1.5_armhf.deb", &docker_pkg(), "xz");
        let e = check_bundle(d, "armhf", &image()).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!(
                "{}/docker.io_26.1.5_armhf.deb depends on containerd (>= 1.7), which neither the bundle nor the image has",
                d.display()
            )
        );
        // A Provides of the image satisfies it; then the OR group and Pre-Depends are checked.
        let image2 = [inst("libc6", &[]), inst("containerd.io", &["containerd"])];
        let e = check_bundle(d, "armhf", &image2).unwrap_err();
        assert!(crate::error::chain(&e).ends_with("pre-depends on init-system-helpers (>= 1.54~), which neither the bundle nor the image has"), "{e}");
        let image3 = [
            inst("libc6", &[]),
            inst("containerd", &[]),
            inst("init-system-helpers", &[]),
        ];
        let e = check_bundle(d, "armhf", &image3).unwrap_err();
        assert!(
            crate::error::chain(&e).ends_with(
                "depends on iptables | nftables, which neither the bundle nor the image has"
            ),
            "{e}"
        );
    }

    #[test]
    fn duplicate_package_and_bad_debs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        build_deb(d, "a.deb", &docker_pkg(), "xz");
        build_deb(d, "b.deb", &docker_pkg(), "gzip");
        let e = check_bundle(d, "armhf", &image()).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!(
                "{0}/a.deb and {0}/b.deb are both package docker.io",
                d.display()
            )
        );
        std::fs::write(d.join("b.deb"), "garbage").unwrap();
        let e = check_bundle(d, "armhf", &image()).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!("{}/b.deb: not a Debian package (no ar magic)", d.display())
        );
    }

    #[test]
    fn directory_problems() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_bundle(dir.path(), "armhf", &[]).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!("{}: no .deb files", dir.path().display())
        );
        let f = dir.path().join("file.deb");
        std::fs::write(&f, "x").unwrap();
        let e = check_bundle(&f, "armhf", &[]).unwrap_err();
        assert_eq!(
            crate::error::chain(&e),
            format!("{}: not a directory", f.display())
        );
        let e = check_bundle(&dir.path().join("nope"), "armhf", &[]).unwrap_err();
        assert!(
            crate::error::chain(&e).contains("nope: cannot list: "),
            "{e}"
        );
    }
}
