//! `build`: decompress once, then per node copy, patch, verify, hash, and rename into place.
//!
//! Nothing appears under a final name until it is complete and verified: each output is
//! written as a hidden temporary file in the output directory and renamed at the end.

mod apply;
mod base;
mod engine;
mod node;
mod workers;

pub use apply::apply;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::bmap::BmapError;
use crate::cluster::config::{Cluster, ConfigError, DockerExposure, NodeSpec};
use crate::cluster::oneca;
use crate::cluster::tls::{ClusterCa, TlsError};
use crate::docker::provision::{EnginePlan, ProvisionError};
use crate::flavour::{self, NodeInputs, PlanError};
use crate::fs::ext4::write::Ext4Error;
use crate::fs::fat::FatError;
use crate::fs::FsKind;
use crate::node::NodeName;
use crate::outdir::{OutDir, OutDirError};
use crate::plan::NodePlan;
use crate::probe::Flavour;
use crate::probe::{self, ProbeError};
use crate::source::SourceError;
use crate::sshkey::PublicKey;
use crate::testhook;
use crate::verify::VerifyError;

/// Why a build failed. Each message names the node, file or partition; the cause is the
/// error's source (see [`crate::error`]).
#[derive(Debug, Error)]
pub enum BuildError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node}")]
    Plan { node: NodeName, source: PlanError },
    #[error("{path}: partition {partition}")]
    Fat {
        path: PathBuf,
        partition: u32,
        source: FatError,
    },
    #[error("{path}: partition {partition} is {fs:?}; writing there is not supported yet")]
    Unsupported {
        path: PathBuf,
        partition: u32,
        fs: FsKind,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{path}: partition {partition}: ext4")]
    Ext4 {
        path: PathBuf,
        partition: u32,
        source: Ext4Error,
    },
    #[error("{path}: block map")]
    Bmap { path: PathBuf, source: BmapError },
    #[error("{path}: block map of the base image")]
    BaseMap {
        path: PathBuf,
        source: Arc<BmapError>,
    },
    #[error("node {node}: the image would not use what was written: {reasons}")]
    Seed { node: NodeName, reasons: String },
    #[error("verification of node {node} failed")]
    Verify { node: NodeName, source: VerifyError },
    #[error(transparent)]
    Docker(#[from] ProvisionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Out(#[from] OutDirError),
    #[error("[swarm] image_file {path}: {reason}")]
    SwarmImage { path: PathBuf, reason: String },
}

pub struct BuildOptions {
    pub image: PathBuf,
    pub cluster: Cluster,
    pub keys: Vec<PublicKey>,
    pub out: PathBuf,
    pub epoch: u64,
    /// Treat doubtful seed findings as errors.
    pub strict: bool,
    /// Also hash each whole image (`rpiN.img.sha256`). Off by default: the block map's
    /// per-range SHA-256 covers every byte of data and costs a fraction (see README).
    pub sha256: bool,
    /// The input is the bundled test sample (recorded in each manifest; `flash` warns).
    pub sample: bool,
    /// The config the cluster came from, where another cluster CA may sit beside it.
    pub config: Option<PathBuf>,
    /// The cache of decompressed bases to use and fill ([`crate::cache`]); none: decompress
    /// into the output directory, as before the cache.
    pub cache: Option<PathBuf>,
}

/// What one node's build produced.
#[derive(Debug)]
pub struct NodeOutput {
    pub node: NodeName,
    pub image: PathBuf,
    /// The whole image's SHA-256, when asked for.
    pub sha256: Option<String>,
    pub bmap: PathBuf,
    pub manifest: PathBuf,
}

pub struct Built {
    pub flavour: Flavour,
    pub nodes: Vec<NodeOutput>,
    /// The cluster as built: its swarm fitted to the image's docker.
    pub cluster: Cluster,
    /// How the nodes get docker.
    pub engine: EnginePlan,
    /// The user the keys are authorized for.
    pub login_user: String,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_owned(),
        source,
    }
}
pub fn build(opts: &BuildOptions, log: &mut dyn FnMut(String)) -> Result<Built, BuildError> {
    // 1. Source → one sparse base image, decompressed once for all nodes, in an output
    //    directory this build holds (declared first: dropped last, after the temporaries).
    //    A cached base is used as it is (see `base.rs`).
    let located = base::locate(opts, log)?;
    let out = OutDir::claim(&opts.out)?;
    let base = base::materialize(located, &out, opts.sha256, log)?;
    testhook::point("decompressed");

    // 2. Disk and file systems: what the image is and where things go.
    let info = probe::probe_as(base.path(), &opts.image)?;
    log(format!(
        "image: {} label, {} partitions, flavour {}",
        info.table.label.as_str(),
        info.table.partitions.len(),
        info.flavour.as_str()
    ));

    // 2b. Docker: what the image has, how the nodes get it, and the swarm it can run.
    let (cluster, engine, swarm_image) =
        engine::plan_docker(&opts.cluster, &info, base.path(), log)?;
    for w in &cluster.warnings {
        log(format!("warning: {w}"));
    }
    engine::warn_schema_version(&cluster, &info, base.path(), log);

    // 3. The cluster's TLS material (made once, then reused from the cluster directory).
    let ca = cluster_ca(opts, &cluster, log)?;

    // 4. Plans first, so a node that cannot be planned fails before any image is written.
    let plan = |node: &NodeSpec| {
        let inputs = NodeInputs {
            cluster: &cluster,
            node,
            keys: &opts.keys,
            ca: ca.as_ref(),
            epoch: opts.epoch,
            engine: &engine,
            swarm_image: swarm_image.as_ref(),
        };
        flavour::plan_node(&info, base.path(), &inputs)
    };
    let plans = plan_nodes(&cluster, plan, log)?;

    // 5. Per node: copy, patch, verify, hash and publish.
    let job = workers::Job {
        opts,
        out: &out,
        info: &info,
        base: base.file(),
        base_path: base.path(),
        base_map: base.map(),
        checkpoints: base.checkpoints.as_ref(),
        plans: &plans,
    };
    let (nodes, made_map) = workers::run(&job, log)?;
    base.keep(made_map.as_ref(), &opts.image, log);
    out.finish();
    Ok(Built {
        flavour: info.flavour,
        nodes,
        login_user: flavour::cluster_login_user(info.flavour, &cluster),
        cluster,
        engine,
    })
}

/// The cluster CA when docker is exposed with TLS, with a warning for each other CA
/// nearby (a second CA splits a cluster in two).
fn cluster_ca(
    opts: &BuildOptions,
    cluster: &Cluster,
    log: &mut dyn FnMut(String),
) -> Result<Option<ClusterCa>, BuildError> {
    if cluster.docker != DockerExposure::Tls {
        return Ok(None);
    }
    let ca = ClusterCa::open_or_create(&cluster.dir, log)?;
    ca.operator_client()?;
    for w in oneca::other_cas(cluster, &ca, opts.config.as_deref(), &opts.out) {
        log(format!("WARNING: {w}"));
    }
    Ok(Some(ca))
}

/// Every node's plan, or the first node that cannot be planned; logs the plans' notes.
fn plan_nodes(
    cluster: &Cluster,
    plan: impl Fn(&NodeSpec) -> Result<NodePlan, PlanError>,
    log: &mut dyn FnMut(String),
) -> Result<Vec<NodePlan>, BuildError> {
    let plans = cluster
        .nodes
        .iter()
        .map(|node| {
            plan(node).map_err(|source| BuildError::Plan {
                node: node.name.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for plan in &plans {
        for note in &plan.notes {
            log(format!("note: {}: {note}", plan.node));
        }
    }
    Ok(plans)
}
