//! The dpkg status database (`/var/lib/dpkg/status`) read offline: which packages an image
//! has installed, its native architecture, and dpkg's version order.
//!
//! Version comparison is hand-written (it is dpkg's `verrevcmp`, some forty lines) rather
//! than the `debversion` crate, which brings `chrono`, `lazy-regex` and `num-bigint`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use thiserror::Error;

use super::control::{self, ControlError};

#[derive(Debug, Error)]
pub enum DpkgError {
    #[error("dpkg status")]
    Control(#[from] ControlError),
    #[error("dpkg status: line {line}: stanza has no Package field")]
    NoPackage { line: usize },
    #[error("dpkg status: line {line}: {package} is installed but has no Version")]
    NoVersion { line: usize, package: String },
    #[error("dpkg status: line {line}: {package}: Provides")]
    Provides {
        line: usize,
        package: String,
        source: ControlError,
    },
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    /// Empty when the stanza has none (status files of dpkg before multiarch).
    pub architecture: String,
    /// Names from `Provides:` (versions dropped).
    pub provides: Vec<String>,
}

/// The packages of a status file that are really installed: `Status:` is
/// `install ok installed` or `hold ok installed` (half-installed, config-files,
/// deinstall… are not). In file order.
pub fn installed(status: &str) -> Result<Vec<Installed>, DpkgError> {
    let mut out = Vec::new();
    for stanza in control::parse(status)? {
        let line = stanza.line();
        let Some(name) = stanza.get("Package") else {
            return Err(DpkgError::NoPackage { line });
        };
        let words: Vec<&str> = stanza
            .get("Status")
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if !matches!(words[..], ["install" | "hold", "ok", "installed"]) {
            continue;
        }
        let Some(version) = stanza.get("Version").filter(|v| !v.is_empty()) else {
            return Err(DpkgError::NoVersion {
                line,
                package: name.to_string(),
            });
        };
        let provides = control::parse_depends(stanza.get("Provides").unwrap_or(""))
            .map_err(|source| DpkgError::Provides {
                line,
                package: name.to_string(),
                source,
            })?
            .into_iter()
            .flatten()
            .map(|d| d.name)
            .collect();
        out.push(Installed {
            name: name.to_string(),
            version: version.to_string(),
            architecture: stanza.get("Architecture").unwrap_or("").to_string(),
            provides,
        });
    }
    Ok(out)
}

/// The image's native architecture: that of the `dpkg` package itself, else the most
/// common architecture other than `all` (ties: the alphabetically first, so the answer
/// does not depend on file order).
pub fn native_arch(pkgs: &[Installed]) -> Option<String> {
    if let Some(dpkg) = pkgs
        .iter()
        .find(|p| p.name == "dpkg" && !p.architecture.is_empty())
    {
        return Some(dpkg.architecture.clone());
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in pkgs {
        if !p.architecture.is_empty() && p.architecture != "all" {
            *counts.entry(&p.architecture).or_default() += 1;
        }
    }
    // max_by_key keeps the last maximum; iterate in reverse so ties go to the first name.
    counts
        .into_iter()
        .rev()
        .max_by_key(|&(_, n)| n)
        .map(|(arch, _)| arch.to_string())
}

/// dpkg's order of two versions `[epoch:]upstream[-revision]`: epochs numerically, then
/// upstream and revision with `verrevcmp` (`~` sorts before anything, even the end).
/// Lenient as `dpkg --compare-versions` is not: an epoch that is not a number counts as 0.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_version(a);
    let (eb, ub, rb) = split_version(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

fn split_version(v: &str) -> (u64, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => (e.parse().unwrap_or(0), rest),
        None => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// Weight of a non-digit character: `~` first, the end next, then letters, then the rest.
fn order(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
        Some(c) => i32::from(*c) + 256,
    }
}

fn verrevcmp(mut a: &[u8], mut b: &[u8]) -> Ordering {
    while !a.is_empty() || !b.is_empty() {
        // The non-digit prefix, character by character.
        while a.first().is_some_and(|c| !c.is_ascii_digit())
            || b.first().is_some_and(|c| !c.is_ascii_digit())
        {
            let (oa, ob) = (order(a.first()), order(b.first()));
            if oa != ob {
                return oa.cmp(&ob);
            }
            a = &a[1.min(a.len())..];
            b = &b[1.min(b.len())..];
        }
        // Then the digit runs, as numbers of any length: no overflow.
        let (da, ra) = digits(a);
        let (db, rb) = digits(b);
        let by_value = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if by_value != Ordering::Equal {
            return by_value;
        }
        a = ra;
        b = rb;
    }
    Ordering::Equal
}

/// The leading digit run without its leading zeros, and what follows it.
fn digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    let (run, rest) = s.split_at(end);
    let first = run.iter().position(|&c| c != b'0').unwrap_or(run.len());
    (&run[first..], rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const STATUS: &str = "\
Package: dpkg
Status: install ok installed
Architecture: armhf
Version: 1.21.22

Package: docker.io
Status: hold ok installed
Architecture: armhf
Version: 26.1.5+dfsg1-9+b1
Provides: docker (= 26.1.5), docker-engine

Package: old-thing
Status: deinstall ok config-files
Architecture: armhf
Version: 1.0

Package: half
Status: install reinstreq half-installed
Architecture: armhf
Version: 2.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-1

Package: libc6
Status: install ok installed
Architecture: arm64
Multi-Arch: same
Version: 2.36-9

Package: never-installed
Status: purge ok not-installed
Architecture: armhf
";

    #[test]
    fn installed_keeps_only_installed_and_held() {
        let pkgs = installed(STATUS).unwrap();
        let names: Vec<_> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dpkg", "docker.io", "tzdata", "libc6"]);
        let docker = &pkgs[1];
        assert_eq!(docker.version, "26.1.5+dfsg1-9+b1");
        assert_eq!(docker.architecture, "armhf");
        assert_eq!(docker.provides, ["docker", "docker-engine"]);
        assert!(pkgs[0].provides.is_empty());
    }

    #[test]
    fn native_arch_prefers_dpkg_then_majority() {
        let pkgs = installed(STATUS).unwrap();
        assert_eq!(native_arch(&pkgs).as_deref(), Some("armhf"));
        let without_dpkg: Vec<_> = pkgs.into_iter().filter(|p| p.name != "dpkg").collect();
        // docker.io armhf vs libc6 arm64: a tie, the alphabetically first wins; `all` never.
        assert_eq!(native_arch(&without_dpkg).as_deref(), Some("arm64"));
        let p = |name: &str, arch: &str| Installed {
            name: name.into(),
            version: "1".into(),
            architecture: arch.into(),
            provides: vec![],
        };
        let v = [
            p("a", "armhf"),
            p("b", "armhf"),
            p("c", "arm64"),
            p("d", "all"),
            p("e", "all"),
        ];
        assert_eq!(native_arch(&v).as_deref(), Some("armhf"));
        assert_eq!(native_arch(&[p("x", "all")]), None);
        assert_eq!(native_arch(&[]), None);
    }

    #[test]
    fn status_errors_name_the_line() {
        let e = installed("Package: a\nStatus: install ok installed\nVersion: 1\n\nStatus: x\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dpkg status: line 5: stanza has no Package field"
        );
        let e = installed("Package: a\nStatus: install ok installed\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dpkg status: line 1: a is installed but has no Version"
        );
        let e = installed("Package: a\n continued\nbroken\n").unwrap_err();
        let shown = crate::error::chain(&e);
        assert!(shown.starts_with("dpkg status: line 3:"), "{shown}");
    }

    const PAIRS: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Ordering::Equal),
        ("1.0~rc1", "1.0", Ordering::Less),
        ("1.0~~", "1.0~", Ordering::Less),
        ("1.0~", "1.0", Ordering::Less),
        ("1.0", "1.0a", Ordering::Less),
        ("1.0a", "1.0+", Ordering::Less),
        ("1.2.3", "1.2.10", Ordering::Less),
        ("1:0.1", "2.0", Ordering::Greater),
        ("0:1.0", "1.0", Ordering::Equal),
        ("1.0-1", "1.0-2", Ordering::Less),
        ("1.0-10", "1.0-9", Ordering::Greater),
        ("1.0", "1.0-0", Ordering::Equal),
        ("1.001", "1.1", Ordering::Equal),
        ("26.1.5+dfsg1-9+b1", "26.1.5+dfsg1-9", Ordering::Greater),
        ("20.10.24+dfsg1-1", "20.10.5+dfsg1-1", Ordering::Greater),
        ("1.2-3-4", "1.2-3", Ordering::Greater),
        (
            "99999999999999999999999",
            "99999999999999999999998",
            Ordering::Greater,
        ),
        ("1.0.0", "1.0", Ordering::Greater),
    ];

    #[test]
    fn compare_versions_known_pairs() {
        for &(a, b, want) in PAIRS {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// The same pairs through dpkg itself, the judge of what the order is.
    #[test]
    fn compare_versions_agrees_with_dpkg() {
        for &(a, b, want) in PAIRS {
            let op = match want {
                Ordering::Less => "lt",
                Ordering::Equal => "eq",
                Ordering::Greater => "gt",
            };
            let ok = Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .status()
                .expect("dpkg runs")
                .success();
            assert!(ok, "dpkg disagrees: {a} {op} {b}");
        }
    }
}
