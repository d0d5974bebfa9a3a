//! One cluster, on purpose: nodes trust only the CA they were built with, so a build that
//! uses a CA other than the one the user clearly has makes nodes that never join the rest.
//! These checks find the signs (another cluster directory close by, node images in the
//! output directory made with another CA) and say so before anything is written.

use std::path::{Path, PathBuf};

use super::config::Cluster;
use super::tls::ClusterCa;
use crate::manifest::Manifest;

/// Warnings about CAs other than `ca` that this build's user probably meant.
pub fn other_cas(
    cluster: &Cluster,
    ca: &ClusterCa,
    config: Option<&Path>,
    out: &Path,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if ca.created() {
        for other in nearby_cas(&cluster.dir, config) {
            warnings.push(format!(
                "{} holds another cluster CA, but this build made a new one in {}: nodes of \
                 different CAs never join each other; to build for that cluster use \
                 --cluster-dir {} (or its cluster.toml with --config)",
                other.display(),
                cluster.dir.display(),
                other
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("."))
                    .display()
            ));
        }
    }
    let ours = ca.sha256();
    for (manifest, node) in manifests_with_other_ca(out, &ours) {
        warnings.push(format!(
            "{} ({node}) was built with another cluster CA than this build's ({}): it will not \
             join these nodes; rebuild it too, or build with the cluster directory it was made with",
            manifest.display(),
            ClusterCa::ca_path(&cluster.dir).display()
        ));
    }
    warnings
}

/// `*/tls/ca.pem` in the working directory and beside the config, other than `ours`.
fn nearby_cas(ours: &Path, config: Option<&Path>) -> Vec<PathBuf> {
    let ours = std::fs::canonicalize(ours).ok();
    let mut roots = vec![PathBuf::from(".")];
    if let Some(dir) = config.and_then(Path::parent) {
        roots.push(if dir.as_os_str().is_empty() {
            ".".into()
        } else {
            dir.to_owned()
        });
    }
    let mut found: Vec<PathBuf> = Vec::new();
    for root in roots {
        let candidates = std::iter::once(root.clone()).chain(subdirs(&root));
        for dir in candidates {
            let ca = ClusterCa::ca_path(&dir);
            let real = std::fs::canonicalize(&dir).ok();
            if ca.is_file() && real != ours && !found.iter().any(|f| f == &ca) {
                found.push(ca);
            }
        }
    }
    found
}

fn subdirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Manifests in `out` that record a CA other than `ours`, with their node.
fn manifests_with_other_ca(out: &Path, ours: &str) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, String)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
        .filter_map(|p| {
            let m = Manifest::read(&p).ok()?;
            let other = m.ca_sha256.as_deref().is_some_and(|sha| sha != ours);
            other.then_some((p, m.node))
        })
        .collect();
    found.sort();
    found
}
