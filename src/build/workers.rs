//! The per-node work of a build on as many workers as there are cores (a node's copy is
//! memory and kernel time: two nodes at once use both), while another thread maps the
//! base, whose block-map digests every node reuses. Reports come back in node order.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, OnceLock};

use super::node::{patch_node, publish_node};
use super::{BuildError, BuildOptions, NodeOutput};
use crate::bmap::{Bmap, BmapError};
use crate::io::checkpoint::Checkpoints;
use crate::outdir::OutDir;
use crate::plan::NodePlan;
use crate::probe::ImageInfo;
use crate::progress::{Board, Phase, PhaseBar};

/// What a worker hands back for one node: its log lines, and the image or the error.
type NodeResult = (Vec<String>, Result<NodeOutput, BuildError>);

/// The base's block map, made once and shared by every worker (so is its error).
type BaseMap = OnceLock<Result<Bmap, Arc<BmapError>>>;

/// Everything the workers share.
pub(super) struct Job<'a> {
    pub opts: &'a BuildOptions,
    pub out: &'a OutDir,
    pub info: &'a ImageInfo,
    pub base: &'a File,
    pub base_path: &'a Path,
    /// The base's map when the cache had it; else it is made here.
    pub base_map: Option<&'a Bmap>,
    pub checkpoints: Option<&'a Checkpoints>,
    pub plans: &'a [NodePlan],
}

/// Runs every plan; returns the nodes built, in order, with the base's map when it was
/// made here, or the first error (after which no further node is started).
pub(super) fn run(
    job: &Job<'_>,
    log: &mut dyn FnMut(String),
) -> Result<(Vec<NodeOutput>, Option<Bmap>), BuildError> {
    let base_map = BaseMap::new();
    if let Some(map) = job.base_map {
        let _ = base_map.set(Ok(map.clone()));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 4)
        .min(job.plans.len());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, NodeResult)>();
    // One line per node on a terminal, saying which phase it is in.
    let board = Board::new();
    let bars: Vec<PhaseBar> = job
        .plans
        .iter()
        .map(|p| board.line(p.node.as_str(), Phase::Queued))
        .collect();
    let base_bar = (job.base_map.is_none()).then(|| board.line("base", Phase::Map));
    let nodes = std::thread::scope(|scope| {
        if let Some(bar) = &base_bar {
            scope.spawn(|| map_base(job.base_path, &base_map, bar));
        }
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, failed, bars, base_map) = (&next, &failed, &bars, &base_map);
            scope.spawn(move || worker(job, base_map, next, failed, bars, tx));
        }
        drop(tx);
        collect(rx, job.plans.len(), &board, log)
    })?;
    let made = match (job.base_map, base_map.into_inner()) {
        (None, Some(Ok(map))) => Some(map),
        _ => None,
    };
    Ok((nodes, made))
}

fn map_base(path: &Path, slot: &BaseMap, bar: &PhaseBar) {
    let map = Bmap::chunked_from_file(path).map_err(Arc::new);
    match map {
        Ok(_) => bar.finish("block map made"),
        Err(_) => bar.fail("block map failed"),
    }
    let _ = slot.set(map);
}

/// Takes the next unbuilt node until none is left or one has failed.
fn worker(
    job: &Job<'_>,
    base_map: &BaseMap,
    next: &AtomicUsize,
    failed: &AtomicBool,
    bars: &[PhaseBar],
    tx: Sender<(usize, NodeResult)>,
) {
    let base_map = || {
        base_map
            .wait()
            .as_ref()
            .map_err(|source| BuildError::BaseMap {
                path: job.base_path.to_owned(),
                source: source.clone(),
            })
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= job.plans.len() || failed.load(Ordering::Relaxed) {
            break;
        }
        let mut lines = Vec::new();
        let bar = &bars[i];
        let (opts, out, info) = (job.opts, job.out, job.info);
        let result = patch_node(opts, out, info, job.base, &job.plans[i], bar, &mut |l| {
            lines.push(l)
        })
        .and_then(|patched| publish_node(out, job.checkpoints, &base_map, patched, bar));
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
    }
}

/// Reports in node order, each as soon as the nodes before it are done.
fn collect(
    rx: Receiver<(usize, NodeResult)>,
    count: usize,
    board: &Board,
    log: &mut dyn FnMut(String),
) -> Result<Vec<NodeOutput>, BuildError> {
    let mut done: Vec<Option<NodeResult>> = (0..count).map(|_| None).collect();
    let mut shown = 0;
    let mut nodes = Vec::new();
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
    first_error.map_or(Ok(nodes), Err)
}
