//! `build`: decompress once, then per node copy, patch, verify, hash, and rename into place.
//!
//! Nothing appears under a final name until it is complete and verified: each output is
//! written as a hidden temporary file in the output directory and renamed at the end.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

use indicatif::HumanBytes;
use tempfile::NamedTempFile;
use thiserror::Error;

use crate::bmap::Bmap;
use crate::cluster::config::{Cluster, ConfigError, DockerExposure, Swarm};
use crate::cluster::oneca;
use crate::cluster::tls::{ClusterCa, TlsError};
use crate::docker::provision::{self, EnginePlan, ProvisionError, Request};
use crate::docker::{self, Family};
use crate::explain::{self, Level};
use crate::flavour::NodeInputs;
use crate::flavour::{self, Flavour, PlanError};
use crate::fs::ext4::write::{Ext4Error, Ext4Writer, Meta};
use crate::fs::fat::{Fat, FatError};
use crate::fs::FsKind;
use crate::io::checkpoint::{CheckpointHasher, Checkpoints};
use crate::io::sparse::{copy_sparse, write_sparse};
use crate::io::tracked::{Tracked, Written};
use crate::node::NodeName;
use crate::outdir::{OutDir, OutDirError, Staged, SIDECAR_MODE};
use crate::plan::{FileOp, HostFile, NodePlan, OpKind};
use crate::probe::{self, ImageInfo, ProbeError};
use crate::progress::{Board, Phase, PhaseBar, StreamBar};
use crate::source::{split_io_error, Compression, Source, SourceError};
use crate::sshkey::PublicKey;
use crate::testhook;
use crate::verify::{self, Manifest, VerifyError};

#[derive(Debug, Error)]
pub enum BuildError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node}: {source}")]
    Plan { node: NodeName, source: PlanError },
    #[error("{path}: partition {partition}: {source}")]
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
    #[error("{path}: partition {partition}: ext4: {source}")]
    Ext4 {
        path: PathBuf,
        partition: u32,
        source: Ext4Error,
    },
    #[error("node {node}: the image would not use what was written: {reasons}")]
    Seed { node: NodeName, reasons: String },
    #[error("verification of node {node} failed: {source}")]
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
    let mut source = Source::open(&opts.image)?;
    let out = OutDir::claim(&opts.out)?;
    let base = out.temp_file("base")?;
    let (checkpoints, len) = decompress(&mut source, base.as_file(), base.path(), opts.sha256)?;
    log(decoded_note(&source, len));
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
    let (cluster, engine, swarm_image) = plan_docker(&opts.cluster, &info, base.path(), log)?;
    let cluster = &cluster;
    for w in &cluster.warnings {
        log(format!("warning: {w}"));
    }
    let extra_cloud_config =
        cluster.cloud_config.is_some() || cluster.nodes.iter().any(|n| n.cloud_config.is_some());
    if extra_cloud_config {
        // The schema describes one cloud-init release; an older one ignores newer keys.
        let schema = crate::cloudinit::schema::version();
        let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
        match explain::cloud_init_version(&info, base.path()) {
            Some(v) if major(&v) != major(schema) => log(format!(
                "warning: this image runs cloud-init {v}; your cloud-config was checked against cloud-init {schema}'s schema, so keys newer than {v} are ignored on the node"
            )),
            _ => {}
        }
    }

    // 3. The cluster's TLS material (made once, then reused from the cluster directory).
    let ca = match cluster.docker {
        DockerExposure::Tls => {
            let ca = ClusterCa::open_or_create(&cluster.dir, log)?;
            ca.operator_client()?;
            for w in oneca::other_cas(cluster, &ca, opts.config.as_deref(), &opts.out) {
                log(format!("WARNING: {w}"));
            }
            Some(ca)
        }
        _ => None,
    };

    // 4. Plans first, so a node that cannot be planned fails before any image is written.
    let plans = cluster
        .nodes
        .iter()
        .map(|node| {
            let inputs = NodeInputs {
                cluster,
                node,
                keys: &opts.keys,
                ca: ca.as_ref(),
                epoch: opts.epoch,
                engine: &engine,
                swarm_image: swarm_image.as_ref(),
            };
            flavour::plan_node(&info, base.path(), &inputs).map_err(|source| BuildError::Plan {
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

    // 5. Per node: copy, patch, verify, hash and publish, on as many workers as there are
    //    cores (a node's copy is memory and kernel time: two nodes at once use both). The
    //    base's block map, whose digests every node reuses, is made meanwhile.
    let base_bmap: OnceLock<Result<Bmap, String>> = OnceLock::new();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 4)
        .min(plans.len());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, NodeResult)>();
    let mut nodes = Vec::new();
    // One line per node on a terminal, saying which phase it is in.
    let board = Board::new();
    let bars: Vec<PhaseBar> = plans
        .iter()
        .map(|p| board.line(p.node.as_str(), Phase::Queued))
        .collect();
    let base_bar = board.line("base", Phase::Map);
    std::thread::scope(|scope| -> Result<(), BuildError> {
        let base_path = base.path();
        let base_bmap = &base_bmap;
        let base_bar = &base_bar;
        scope.spawn(move || {
            let map = Bmap::chunked_from_file(base_path).map_err(|e| e.to_string());
            match map {
                Ok(_) => base_bar.finish("block map made"),
                Err(_) => base_bar.fail("block map failed"),
            }
            let _ = base_bmap.set(map);
        });
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, failed, plans, info, checkpoints, out, bars) = (
                &next,
                &failed,
                &plans,
                &info,
                checkpoints.as_ref(),
                &out,
                &bars,
            );
            let base_file = base.as_file();
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plans.len() || failed.load(Ordering::Relaxed) {
                    break;
                }
                let mut lines = Vec::new();
                let bar = &bars[i];
                let base_map = || {
                    base_bmap.wait().as_ref().map_err(|e| BuildError::Io {
                        path: base_path.to_owned(),
                        source: std::io::Error::other(e.clone()),
                    })
                };
                let result = patch_node(opts, out, info, base_file, &plans[i], bar, &mut |l| {
                    lines.push(l)
                })
                .and_then(|patched| publish_node(out, checkpoints, &base_map, patched, bar));
                match &result {
                    Ok(_) => bar.finish("written"),
                    Err(_) => bar.fail("failed"),
                }
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                if tx.send((i, (lines, result))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Reports in node order, each as soon as the nodes before it are done.
        let mut done: Vec<Option<NodeResult>> = (0..plans.len()).map(|_| None).collect();
        let mut shown = 0;
        let mut first_error = None;
        for (i, r) in rx {
            done[i] = Some(r);
            while let Some(Some((lines, result))) = done.get_mut(shown).map(Option::take) {
                for l in lines {
                    board.suspend(|| log(l));
                }
                match result {
                    Ok(out) => nodes.push(out),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
                shown += 1;
            }
        }
        first_error.map_or(Ok(()), Err)
    })?;
    out.finish();
    Ok(Built {
        flavour: info.flavour,
        nodes,
        login_user: flavour::cluster_login_user(info.flavour, cluster),
        cluster: cluster.clone(),
        engine,
    })
}

/// Decides how the nodes get docker and fits the swarm to that docker; refuses, before any
/// image is written, what cannot work.
fn plan_docker(
    cluster: &Cluster,
    info: &ImageInfo,
    raw: &Path,
    log: &mut dyn FnMut(String),
) -> Result<(Cluster, EnginePlan, Option<HostFile>), BuildError> {
    let family = match info.flavour {
        Flavour::SnappyCore15 => Family::Snappy15,
        _ => Family::Debian,
    };
    let req = Request {
        family,
        wanted: cluster.wants_docker() && info.flavour != Flavour::Unknown,
        debs: cluster.docker_debs.as_deref(),
        snap: cluster.docker_snap.as_deref(),
    };
    let engine = explain::with_view(info, raw, |v| provision::plan(v, &req))?;
    for n in &engine.notes {
        log(format!("note: {n}"));
    }
    let version = engine
        .version
        .clone()
        .unwrap_or_else(|| "of unknown version".into());
    let mut cluster = match engine.swarm {
        Some(s) => cluster.clone().fit_swarm(s, &version)?,
        None => cluster.clone(),
    };
    let swarm_image = match (&cluster.swarm, &cluster.swarm_image_file) {
        (Swarm::Legacy { .. }, Some(p)) => Some(swarm_image_file(p)?),
        (_, Some(p)) => {
            cluster.warnings.push(format!(
                "[swarm] image_file {} is for the standalone (legacy) swarm; not put on the image",
                p.display()
            ));
            None
        }
        (Swarm::Legacy { image, .. }, None) => {
            let old = engine
                .version
                .as_deref()
                .and_then(docker::Version::from_package)
                .is_none_or(|v| {
                    v < docker::Version {
                        major: 1,
                        minor: 10,
                    }
                });
            if old {
                cluster.warnings.push(format!(
                    "the first boot pulls {image} with docker {version}; a docker older than 1.10 may not pull from today's registries: give the image as a file ([swarm] image_file = \"rpi-swarm.tar\", made with docker save)"
                ));
            }
            None
        }
        _ => None,
    };
    Ok((cluster, engine, swarm_image))
}

/// Checks that `path` is a tar archive (what `docker save` writes) and takes its digest.
fn swarm_image_file(path: &Path) -> Result<HostFile, BuildError> {
    let bad = |reason: String| BuildError::SwarmImage {
        path: path.to_owned(),
        reason,
    };
    let mut head = [0u8; 512];
    let (mut f, _) = crate::io::regular::open_user_file(path, crate::io::regular::PAYLOAD)
        .map_err(|e| bad(e.problem))?;
    std::io::Read::read_exact(&mut f, &mut head)
        .map_err(|_| bad("shorter than one tar header: not a docker save tarball".into()))?;
    if &head[257..262] != b"ustar" {
        return Err(bad(
            "not a tar archive (docker save writes one; a compressed tarball must be decompressed first)".into(),
        ));
    }
    HostFile::digest(path).map_err(|(path, source)| BuildError::Io { path, source })
}

/// What a worker hands back for one node: its log lines, and the image or the error.
type NodeResult = (Vec<String>, Result<NodeOutput, BuildError>);

/// Decompresses into `dst` (sparse). With `hash`, a second thread hashes the stream,
/// keeping checkpoints from which each node's whole-image hash resumes. Progress counts
/// decoded bytes against the size the format records, if it does. Returns the checkpoints
/// and the image's size.
fn decompress(
    source: &mut Source,
    dst: &File,
    dst_path: &Path,
    hash: bool,
) -> Result<(Option<Checkpoints>, u64), BuildError> {
    let raw = source.compression() == Compression::None;
    let bar = StreamBar::new(
        source.expected_len(),
        if raw { "copying" } else { "decompressing" },
    );
    let hasher = hash.then(CheckpointHasher::start);
    let result = write_sparse(source, dst, |chunk, pos| {
        if let Some(h) = &hasher {
            h.feed(chunk.to_vec());
        }
        bar.set(pos)
    });
    match &result {
        Ok(len) => bar.finish(*len, if raw { "copied" } else { "decompressed" }),
        Err(_) => bar.abandon(),
    }
    let checkpoints = hasher.map(CheckpointHasher::finish);
    let len = result.map_err(|e| match split_io_error(e) {
        Ok(se) => BuildError::Source(se),
        Err(source) => BuildError::Io {
            path: dst_path.to_owned(),
            source,
        },
    })?;
    Ok((checkpoints, len))
}

/// The line saying what came out of the input: "decompressed" only when something was.
fn decoded_note(source: &Source, len: u64) -> String {
    let size = format!("{len} bytes ({})", HumanBytes(len));
    match source.compression() {
        Compression::None => format!("copied {}: {size}, a raw image", source.path().display()),
        c => format!(
            "decompressed {}: {size} from {} of {}",
            source.path().display(),
            HumanBytes(source.input_len()),
            c.name()
        ),
    }
}

/// A node image, patched and verified under its temporary name, not yet hashed.
struct Patched {
    node: NodeName,
    name: String,
    tmp: NamedTempFile,
    manifest: Manifest,
    /// Where the patch wrote: the image equals the base everywhere else.
    written: Written,
}

fn patch_node(
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
    // Will what we wrote be read? A seed that would be ignored is an error, never a
    // silent success; doubtful cases are warnings (errors with --strict).
    bar.phase(Phase::Seed);
    let findings = explain::check_seed(info, tmp.path());
    let mut errors = Vec::new();
    for f in findings {
        match f.level {
            Level::Error => errors.push(f.reason),
            Level::Warning if opts.strict => errors.push(format!("{} (--strict)", f.reason)),
            Level::Warning => log(format!("warning: {}: {}", plan.node, f.reason)),
            Level::Note => log(format!("note: {}: {}", plan.node, f.reason)),
        }
    }
    if !errors.is_empty() {
        return Err(BuildError::Seed {
            node: plan.node.clone(),
            reasons: errors.join("; "),
        });
    }
    testhook::point("patched");
    Ok(Patched {
        node: plan.node.clone(),
        name,
        tmp,
        manifest,
        written,
    })
}

/// Hashes a patched node (its block map from the base's, and with `--sha256` the whole
/// image from the base's checkpoints), writes its sidecars, and publishes them with the
/// image as a set ([`OutDir::publish`]).
fn publish_node<'m>(
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
            let len = tmp.as_file().metadata().map_err(io_err(tmp.path()))?.len();
            let first_change = written.lowest().unwrap_or(len);
            Some(
                cps.sha256_of(tmp.as_file(), first_change)
                    .map_err(io_err(tmp.path()))?,
            )
        }
        None => None,
    };
    // The base's map may still be in the making.
    bar.phase(Phase::Map);
    let bmap = base_bmap()?
        .derive(tmp.as_file(), tmp.path(), &written)
        .map_err(|e| BuildError::Io {
            path: tmp.path().to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let mut xml = Vec::new();
    bmap.write_xml(&mut xml).map_err(io_err(tmp.path()))?;
    bar.phase(Phase::Publish);
    let bmap_path = out.join(&format!("{name}.bmap"));
    let manifest_path = out.join(&format!("{node}.manifest.json"));
    let sums_path = out.join(&format!("{name}.sha256"));
    let mut sidecars = vec![
        Staged {
            tmp: out.temp_with(&format!("{name}.bmap"), &xml, SIDECAR_MODE)?,
            dest: bmap_path.clone(),
        },
        Staged {
            tmp: out.temp_with(
                &format!("{node}.manifest.json"),
                &manifest_json(&manifest),
                SIDECAR_MODE,
            )?,
            dest: manifest_path.clone(),
        },
    ];
    // A sums file from an earlier build would not describe this image.
    let mut remove = vec![sums_path.clone()];
    if let Some(sha256) = &sha256 {
        let line = format!("{sha256}  {name}\n");
        let sums_tmp = out.temp_with(&format!("{name}.sha256"), line.as_bytes(), SIDECAR_MODE)?;
        // Check the sums file says what we hashed before it goes live.
        let recorded =
            verify::read_sums(&sums_tmp, &name).map_err(|source| BuildError::Verify {
                node: node.clone(),
                source,
            })?;
        debug_assert_eq!(&recorded, sha256);
        remove.clear();
        sidecars.push(Staged {
            tmp: sums_tmp,
            dest: sums_path,
        });
    }
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

fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    (serde_json::to_string_pretty(manifest).expect("manifests serialize") + "\n").into_bytes()
}

/// Carries out a plan on the image at `path`, partition by partition. Returns where it
/// wrote.
pub fn apply(
    path: &Path,
    info: &ImageInfo,
    plan: &NodePlan,
    epoch: u64,
) -> Result<Written, BuildError> {
    let written = Rc::new(RefCell::new(Written::default()));
    for number in plan.partitions() {
        let part = info
            .part(number)
            .expect("plans name partitions from the probe");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        let file = Tracked::new(file, written.clone()).map_err(io_err(path))?;
        let win = part.partition.window(file);
        let ops = plan.ops.iter().filter(|o| o.partition == number);
        match part.fs {
            FsKind::Vfat => {
                let fat_err = |source| BuildError::Fat {
                    path: path.to_owned(),
                    partition: number,
                    source,
                };
                let fat = Fat::open(win, epoch).map_err(fat_err)?;
                for op in ops {
                    if let OpKind::Copy { source } = &op.kind {
                        // Plans copy host files onto ext4 only (FAT has no permissions).
                        return Err(BuildError::Io {
                            path: source.path.clone(),
                            source: std::io::Error::other("host files are not copied onto FAT"),
                        });
                    }
                    fat.write(&op.path, op.data()).map_err(fat_err)?;
                }
                fat.unmount().map_err(fat_err)?;
            }
            FsKind::Ext4 => {
                let ext_err = |source| BuildError::Ext4 {
                    path: path.to_owned(),
                    partition: number,
                    source,
                };
                let mut w = Ext4Writer::open(win).map_err(ext_err)?;
                for op in ops {
                    apply_ext4(&mut w, op).map_err(ext_err)?;
                }
                w.finish().map_err(ext_err)?;
            }
            fs => {
                return Err(BuildError::Unsupported {
                    path: path.to_owned(),
                    partition: number,
                    fs,
                })
            }
        }
    }
    let written = written.borrow().clone();
    Ok(written)
}

fn apply_ext4<D: std::io::Read + std::io::Write + std::io::Seek>(
    w: &mut Ext4Writer<D>,
    op: &FileOp,
) -> Result<(), Ext4Error> {
    let meta = Meta {
        mode: op.mode,
        uid: op.uid,
        gid: op.gid,
        // ext4 times are 32-bit here; the epoch is validated to fit when read.
        mtime: u32::try_from(op.mtime).unwrap_or(u32::MAX),
    };
    // Parents the plan does not name are created root-owned 0755, as a package would.
    if let Some((parent, _)) = op.path.rsplit_once('/') {
        if !parent.is_empty() {
            w.mkdir_p(
                parent,
                Meta {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    ..meta
                },
            )?;
        }
    }
    match &op.kind {
        OpKind::Dir => w.mkdir_p(&op.path, meta),
        OpKind::File { data } => w.write_file(&op.path, &mut &data[..], data.len() as u64, meta),
        OpKind::Symlink { target } => w.symlink(&op.path, target, meta),
        OpKind::Copy { source } => copy_host_file(w, &op.path, source, meta),
    }
}

/// Streams a host file into the image, checking it is still the file the plan hashed.
fn copy_host_file<D: std::io::Read + std::io::Write + std::io::Seek>(
    w: &mut Ext4Writer<D>,
    path: &str,
    source: &HostFile,
    meta: Meta,
) -> Result<(), Ext4Error> {
    let changed = |what: &str| {
        Ext4Error::Io(std::io::Error::other(format!(
            "{}: {what} since the build began; not copied",
            source.path.display()
        )))
    };
    let file = crate::io::open_regular(&source.path).map_err(|e| {
        Ext4Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", source.path.display()),
        ))
    })?;
    if file.metadata().map_err(Ext4Error::Io)?.len() != source.size {
        return Err(changed("changed size"));
    }
    let mut reader = crate::io::HashingReader::new(std::io::BufReader::new(file));
    w.write_file(path, &mut reader, source.size, meta)?;
    if reader.finish() != source.sha256 {
        return Err(changed("changed"));
    }
    Ok(())
}
