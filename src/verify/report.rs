//! `verify`'s checks one by one (partition table, file systems, injected files, block map,
//! SHA-256, seed), each with a verdict and a reason, so the text and `--json` say the same.
//! The image may be a card larger than the image: a card keeps whatever it held beyond the
//! image and in blocks the map skips, so there only the map's ranges are checked.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{check_injected, check_sums, check_table, Manifest};
use crate::bmap::Bmap;
use crate::disk::PartitionTable;
use crate::explain::{Finding, Level};
use crate::probe::{self, ImageInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Not checked: nothing to check against, or an earlier check failed.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    /// A sentence: what passed, why it failed (naming the file), or why it was skipped.
    pub reason: String,
}

/// What the manifest records about the node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    pub node: String,
    pub image: String,
    pub sample: bool,
    pub ca_sha256: Option<String>,
    pub partitions: usize,
    pub injected: usize,
}

/// The whole verdict (`verify --json` prints this).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub image: PathBuf,
    pub manifest: Option<PathBuf>,
    pub bmap: Option<PathBuf>,
    pub sha256_file: Option<PathBuf>,
    pub ok: bool,
    pub checks: Vec<Check>,
    /// The seed checks' findings (as `explain` gives them).
    pub seed_findings: Vec<Finding>,
    pub node: Option<NodeSummary>,
}

/// What to check `image` against. `data` is the raw disk (a decompressed copy of a
/// compressed image, else the image itself).
pub struct Inputs<'a> {
    pub image: &'a Path,
    pub data: &'a Path,
    pub manifest: Option<(&'a Path, &'a Manifest)>,
    pub bmap: Option<(&'a Path, &'a Bmap)>,
    pub sums: Option<&'a Path>,
    pub strict: bool,
}

fn check(name: &'static str, verdict: Verdict, reason: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        reason: reason.into(),
    }
}

/// Runs every check; one that depends on a failed one is skipped.
pub fn run(inp: &Inputs) -> Report {
    let mut checks = Vec::new();
    let table = table_check(inp, &mut checks);
    let info = table.and_then(|_| fs_check(inp, &mut checks));
    if info.is_none() {
        checks.push(check(
            "file systems",
            Verdict::Skipped,
            "the partition table could not be read",
        ));
    }
    checks.push(injected_check(inp, info.as_ref()));
    checks.push(bmap_check(inp));
    checks.push(sums_check(inp));
    let seed_findings = seed_findings(inp, info.is_some(), &mut checks);
    let ok = checks.iter().all(|c| c.verdict != Verdict::Fail);
    Report {
        image: inp.image.to_owned(),
        manifest: inp.manifest.map(|(p, _)| p.to_owned()),
        bmap: inp.bmap.map(|(p, _)| p.to_owned()),
        sha256_file: inp.sums.map(Path::to_owned),
        ok,
        checks,
        seed_findings,
        node: inp.manifest.map(|(_, m)| summary(m)),
    }
}

fn summary(m: &Manifest) -> NodeSummary {
    NodeSummary {
        node: m.node.clone(),
        image: m.image.clone(),
        sample: m.sample,
        ca_sha256: m.ca_sha256.clone(),
        partitions: m.table["partitions"].as_array().map_or(0, Vec::len),
        injected: m.injected.len(),
    }
}

fn table_check(inp: &Inputs, checks: &mut Vec<Check>) -> Option<PartitionTable> {
    let table = match PartitionTable::read_as(inp.data, inp.image) {
        Ok(t) => t,
        Err(e) => {
            checks.push(check(
                "partition table",
                Verdict::Fail,
                crate::error::chain(&e),
            ));
            return None;
        }
    };
    let what = format!(
        "{} with {} partitions",
        table.label.as_str(),
        table.partitions.len()
    );
    checks.push(match inp.manifest {
        Some((path, m)) => match check_table(inp.image, &table, &m.table) {
            Ok(()) => check(
                "partition table",
                Verdict::Pass,
                format!("{what}, as {} records", path.display()),
            ),
            Err(e) => check("partition table", Verdict::Fail, crate::error::chain(&e)),
        },
        None => check(
            "partition table",
            Verdict::Pass,
            format!("{what} (no manifest to compare with)"),
        ),
    });
    Some(table)
}

fn fs_check(inp: &Inputs, checks: &mut Vec<Check>) -> Option<ImageInfo> {
    match probe::probe_as(inp.data, inp.image) {
        Ok(info) => {
            let kinds: Vec<String> = info
                .parts
                .iter()
                .map(|p| format!("{:?}", p.fs).to_lowercase())
                .collect();
            checks.push(check(
                "file systems",
                Verdict::Pass,
                format!("{} partitions readable ({})", kinds.len(), kinds.join(", ")),
            ));
            Some(info)
        }
        Err(e) => {
            checks.push(check(
                "file systems",
                Verdict::Fail,
                crate::error::chain(&e),
            ));
            None
        }
    }
}

fn injected_check(inp: &Inputs, info: Option<&ImageInfo>) -> Check {
    let name = "injected files";
    let Some((_, m)) = inp.manifest else {
        return check(
            name,
            Verdict::Skipped,
            "no manifest (beside the image, or --manifest out/NODE.manifest.json)",
        );
    };
    let Some(info) = info else {
        return check(name, Verdict::Skipped, "the file systems could not be read");
    };
    match check_injected(inp.data, inp.image, info, &m.injected) {
        Ok(()) => check(
            name,
            Verdict::Pass,
            format!("{} injected files read back as recorded", m.injected.len()),
        ),
        Err(e) => check(name, Verdict::Fail, crate::error::chain(&e)),
    }
}

fn bmap_check(inp: &Inputs) -> Check {
    let name = "block map";
    let Some((path, bmap)) = inp.bmap else {
        return check(
            name,
            Verdict::Skipped,
            "no block map (beside the image, or --bmap out/NODE.img.bmap)",
        );
    };
    match check_bmap(bmap, inp.data, inp.image) {
        Ok(rest) => check(
            name,
            Verdict::Pass,
            format!(
                "{} data ranges ({} MiB) match the SHA-256 digests of {}; {rest}",
                bmap.ranges.len(),
                bmap.mapped_bytes() >> 20,
                path.display()
            ),
        ),
        Err(e) => check(
            name,
            Verdict::Fail,
            format!("{}: against {}: {e}", inp.image.display(), path.display()),
        ),
    }
}

/// The map's ranges against `data`; on an image of the map's size also zeros elsewhere.
fn check_bmap(bmap: &Bmap, data: &Path, name: &Path) -> Result<String, String> {
    let mut file = File::open(data).map_err(|e| format!("cannot open: {e}"))?;
    // A block device's metadata says 0 bytes: its end is its size.
    let len = file
        .seek(SeekFrom::End(0))
        .map_err(|e| format!("cannot find its size: {e}"))?;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    if len < bmap.image_size {
        return Err(format!(
            "{len} bytes, shorter than the {} bytes the block map describes",
            bmap.image_size
        ));
    }
    if len == bmap.image_size && regular {
        bmap.check_file(&file, name)
            .map_err(|e| crate::error::chain(&e))?;
        return Ok("zeros elsewhere".into());
    }
    let mut buf = vec![0u8; 1 << 20];
    for r in &bmap.ranges {
        let Some(expected) = &r.checksum else {
            continue;
        };
        let actual = bmap
            .hash_range(&file, r, &mut buf)
            .map_err(|e| format!("reading blocks {}-{}: {e}", r.first, r.last))?;
        if &actual != expected {
            return Err(format!(
                "blocks {}-{} do not match the map's checksum (expected {expected}, got \
                 {actual})",
                r.first, r.last
            ));
        }
    }
    Ok(format!(
        "a card ({len} bytes): unmapped blocks and the {} bytes after the image keep what \
         the card held and are not checked",
        len - bmap.image_size
    ))
}

fn sums_check(inp: &Inputs) -> Check {
    let name = "sha256";
    let Some(sums) = inp.sums else {
        return check(
            name,
            Verdict::Skipped,
            "no .sha256 beside the image (`build --sha256` writes one)",
        );
    };
    match check_sums(inp.image, sums) {
        Ok(sha) => check(
            name,
            Verdict::Pass,
            format!("SHA-256 {sha} as {}", sums.display()),
        ),
        Err(e) => check(name, Verdict::Fail, crate::error::chain(&e)),
    }
}

/// The seed checks (as `explain`): errors fail, and with `strict` warnings too.
fn seed_findings(inp: &Inputs, readable: bool, checks: &mut Vec<Check>) -> Vec<Finding> {
    let name = "seed";
    if !readable {
        checks.push(check(
            name,
            Verdict::Skipped,
            "the file systems could not be read",
        ));
        return Vec::new();
    }
    let findings = match crate::explain::check_built_image(inp.image) {
        Ok(f) => f,
        Err(e) => {
            checks.push(check(name, Verdict::Fail, crate::error::chain(&e)));
            return Vec::new();
        }
    };
    let bad: Vec<&str> = findings
        .iter()
        .filter(|f| f.level == Level::Error || (inp.strict && f.level == Level::Warning))
        .map(|f| f.reason.as_str())
        .collect();
    checks.push(if bad.is_empty() {
        check(name, Verdict::Pass, "cloud-init will read the seed")
    } else {
        check(name, Verdict::Fail, bad.join("; "))
    });
    findings
}
