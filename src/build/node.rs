//! One node: copy the base, patch, verify, check the seed will be read, then hash, map and
//! publish the image with its sidecars as a set.

use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::apply::apply;
use super::{io_err, BuildError, BuildOptions, NodeOutput};
use crate::bmap::Bmap;
use crate::explain::{self, Level};
use crate::io::checkpoint::Checkpoints;
use crate::io::sparse::copy_sparse;
use crate::io::tracked::Written;
use crate::manifest::Manifest;
use crate::node::NodeName;
use crate::outdir::{OutDir, Staged, SIDECAR_MODE};
use crate::plan::NodePlan;
use crate::probe::ImageInfo;
use crate::progress::{Phase, PhaseBar};
use crate::testhook;
use crate::verify;

/// A node image, patched and verified under its temporary name, not yet hashed.
pub(super) struct Patched {
    node: NodeName,
    name: String,
    tmp: NamedTempFile,
    manifest: Manifest,
    /// Where the patch wrote: the image equals the base everywhere else.
    written: Written,
}

pub(super) fn patch_node(
    opts: &BuildOptions,
    out: &OutDir,
    info: &ImageInfo,
    base: &File,
    plan: &NodePlan,
    bar: &PhaseBar,
    log: &mut dyn FnMut(String),
) -> Result<Patched, BuildError> {
    let name = format!("{}.img", plan.node);
    let tmp = out.temp_file(&name)?;
    bar.phase(Phase::Copy);
    copy_sparse(base, tmp.as_file()).map_err(io_err(tmp.path()))?;
    bar.phase(Phase::Patch);
    let written = apply(tmp.path(), info, plan, opts.epoch)?;

    let mut manifest = Manifest::new(plan, &name, &info.table);
    manifest.sample = opts.sample;
    bar.phase(Phase::Verify);
    verify::verify_image(tmp.path(), &manifest.table, &manifest.injected).map_err(|source| {
        BuildError::Verify {
            node: plan.node.clone(),
            source,
        }
    })?;
    bar.phase(Phase::Seed);
    check_seed(opts, info, tmp.path(), &plan.node, log)?;
    testhook::point("patched");
    Ok(Patched {
        node: plan.node.clone(),
        name,
        tmp,
        manifest,
        written,
    })
}

/// Will what we wrote be read? A seed that would be ignored is an error, never a silent
/// success; doubtful cases are warnings (errors with --strict).
fn check_seed(
    opts: &BuildOptions,
    info: &ImageInfo,
    image: &Path,
    node: &NodeName,
    log: &mut dyn FnMut(String),
) -> Result<(), BuildError> {
    let mut errors = Vec::new();
    for f in explain::check_seed(info, image) {
        match f.level {
            Level::Error => errors.push(f.reason),
            Level::Warning if opts.strict => errors.push(format!("{} (--strict)", f.reason)),
            Level::Warning => log(format!("warning: {node}: {}", f.reason)),
            Level::Note => log(format!("note: {node}: {}", f.reason)),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(BuildError::Seed {
        node: node.clone(),
        reasons: errors.join("; "),
    })
}

/// Hashes a patched node (its block map from the base's, and with `--sha256` the whole
/// image from the base's checkpoints), writes its sidecars, and publishes them with the
/// image as a set ([`OutDir::publish`]).
pub(super) fn publish_node<'m>(
    out: &OutDir,
    checkpoints: Option<&Checkpoints>,
    base_bmap: &dyn Fn() -> Result<&'m Bmap, BuildError>,
    p: Patched,
    bar: &PhaseBar,
) -> Result<NodeOutput, BuildError> {
    let Patched {
        node,
        name,
        tmp,
        manifest,
        written,
    } = p;
    let sha256 = match checkpoints {
        Some(cps) => {
            bar.phase(Phase::Hash);
            Some(whole_image_sha256(cps, &tmp, &written)?)
        }
        None => None,
    };
    // The base's map may still be in the making.
    bar.phase(Phase::Map);
    let bmap = base_bmap()?
        .derive(tmp.as_file(), tmp.path(), &written)
        .map_err(|source| BuildError::Bmap {
            path: tmp.path().to_owned(),
            source,
        })?;
    let mut xml = Vec::new();
    bmap.write_xml(&mut xml).map_err(io_err(tmp.path()))?;
    bar.phase(Phase::Publish);
    let bmap_path = out.join(&format!("{name}.bmap"));
    let manifest_path = out.join(&format!("{node}.manifest.json"));
    let (sidecars, remove) = stage_sidecars(out, &node, &name, &xml, &manifest, sha256.as_deref())?;
    let final_path = out.join(&name);
    out.publish(tmp, &final_path, &sidecars, &remove)?;
    Ok(NodeOutput {
        node,
        image: final_path,
        sha256,
        bmap: bmap_path,
        manifest: manifest_path,
    })
}

/// The whole image's SHA-256, resumed from the base's checkpoints before the first write.
fn whole_image_sha256(
    cps: &Checkpoints,
    tmp: &NamedTempFile,
    written: &Written,
) -> Result<String, BuildError> {
    let len = tmp.as_file().metadata().map_err(io_err(tmp.path()))?.len();
    let first_change = written.lowest().unwrap_or(len);
    cps.sha256_of(tmp.as_file(), first_change)
        .map_err(io_err(tmp.path()))
}

/// The sidecars written beside `name` (block map, manifest, and with a hash the sums file),
/// staged under temporary names; and the stale files publishing removes.
fn stage_sidecars(
    out: &OutDir,
    node: &NodeName,
    name: &str,
    bmap_xml: &[u8],
    manifest: &Manifest,
    sha256: Option<&str>,
) -> Result<(Vec<Staged>, Vec<PathBuf>), BuildError> {
    let stage = |file: String, data: &[u8]| -> Result<Staged, BuildError> {
        Ok(Staged {
            tmp: out.temp_with(&file, data, SIDECAR_MODE)?,
            dest: out.join(&file),
        })
    };
    let mut sidecars = vec![
        stage(format!("{name}.bmap"), bmap_xml)?,
        stage(format!("{node}.manifest.json"), &manifest_json(manifest))?,
    ];
    let sums_file = format!("{name}.sha256");
    let Some(sha256) = sha256 else {
        // A sums file from an earlier build would not describe this image.
        return Ok((sidecars, vec![out.join(&sums_file)]));
    };
    let sums = stage(sums_file, format!("{sha256}  {name}\n").as_bytes())?;
    // Check the sums file says what we hashed before it goes live.
    let recorded = verify::read_sums(&sums.tmp, name).map_err(|source| BuildError::Verify {
        node: node.clone(),
        source,
    })?;
    debug_assert_eq!(recorded, sha256);
    sidecars.push(sums);
    Ok((sidecars, Vec::new()))
}

fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    (serde_json::to_string_pretty(manifest).expect("manifests serialize") + "\n").into_bytes()
}
