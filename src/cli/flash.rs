//! `clem-image flash`: the command-line edge of `clem_image::flash`, for one target or several
//! (`multi.rs`).

mod check;
mod many_report;
mod multi;
mod pairs;
mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

use clem_image::blockdev::TargetKind;
use clem_image::bmap::Bmap;
use clem_image::flash::{
    self, FlashError, FlashJob, ENV_CORRUPT_AFTER_WRITE, ENV_CORRUPT_TARGET, ENV_THROTTLE,
};

use pairs::{Request, Spec};

/// Write an image to an SD card (or a file), then read it back and check it.
#[derive(Debug, clap::Args)]
pub struct FlashArgs {
    /// `IMAGE DEVICE`; or just `DEVICE` with --node, one DEVICE per node with several nodes
    /// (paired in order); or `NODE=DEVICE` pairs. IMAGE is a raw `.img`, or one compressed
    /// with xz, gzip, zstd or bzip2, or a `.zip` holding one image (streamed, never unpacked
    /// to disk); DEVICE is a whole-disk block device, or a file (an existing one is
    /// overwritten only when confirmed). Several targets are written at once.
    #[arg(value_name = "IMAGE DEVICE", num_args = 1.., required = true)]
    pub paths: Vec<PathBuf>,
    /// Flash a node's image from the build output: OUT/NODE.img (and OUT/NODE.img.bmap if
    /// present). Several nodes (`rpi1..rpi4`, `rpi1,rpi3`) go to as many DEVICEs, in order.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Build output directory used with --node.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Block map (bmaptool format): write only the ranges it lists.
    #[arg(long, value_name = "FILE")]
    pub bmap: Option<PathBuf>,
    /// Ignore a bmap found next to a --node image.
    #[arg(long, conflicts_with = "bmap")]
    pub no_bmap: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow a device that does not look removable (mounted, system and too-small devices are
    /// still refused).
    #[arg(long)]
    pub force: bool,
    /// Skip reading the card back after writing.
    #[arg(long)]
    pub no_verify: bool,
    /// Print the result as JSON on stdout (target, image, node, bytes written, verified,
    /// timings, next step) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The hidden test and bench seams, read once from the environment.
pub(super) struct Seams {
    corrupt_after_write: Option<u64>,
    /// With several targets, only this one is corrupted.
    corrupt_target: Option<PathBuf>,
    throttle: Option<u64>,
}

impl Seams {
    fn from_env() -> anyhow::Result<Seams> {
        let number = |name: &str, what: &str| -> anyhow::Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) => Ok(Some(
                    v.parse::<u64>()
                        .with_context(|| format!("{name}={v}: not {what}"))?,
                )),
                Err(_) => Ok(None),
            }
        };
        Ok(Seams {
            corrupt_after_write: number(ENV_CORRUPT_AFTER_WRITE, "an offset")?,
            corrupt_target: std::env::var_os(ENV_CORRUPT_TARGET).map(PathBuf::from),
            throttle: number(ENV_THROTTLE, "a rate in bytes per second")?,
        })
    }

    fn corrupt_for(&self, target: &Path) -> Option<u64> {
        match &self.corrupt_target {
            Some(only) if only != target => None,
            _ => self.corrupt_after_write,
        }
    }
}

/// A flag that Ctrl-C sets instead of ending the process, so `flash` can stop between chunks
/// and say what state the card is in.
pub(super) fn catch_sigint() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&flag))
        .context("installing the Ctrl-C handler")?;
    Ok(flag)
}

pub fn run(args: &FlashArgs) -> anyhow::Result<i32> {
    let spec = Spec {
        paths: &args.paths,
        node: args.node.as_deref(),
        out: &args.out,
        bmap: args.bmap.as_deref(),
        no_bmap: args.no_bmap,
    };
    let seams = Seams::from_env()?;
    match spec.resolve()? {
        Request::One {
            node,
            image,
            device,
            bmap,
        } => run_one(args, node.as_deref(), image, device, bmap, &seams),
        Request::Many(pairs) => multi::run(args, pairs, &seams),
    }
}

/// The one-target form, as it always was.
fn run_one(
    args: &FlashArgs,
    node: Option<&str>,
    image: PathBuf,
    device: PathBuf,
    bmap_path: Option<PathBuf>,
    seams: &Seams,
) -> anyhow::Result<i32> {
    let facts = report::image_facts(&image, node, &mut |n| eprintln!("{n}"));
    // Before anything is asked or written: a test image must not be mistaken for a real one.
    if let Some(w) = report::sample_warning(&facts, &image) {
        eprintln!("{w}");
    }
    let bmap = match &bmap_path {
        Some(p) => Some(Bmap::load(p)?),
        None => None,
    };
    let (kind, create_mode, size) =
        check::check_target(args.yes, args.force, &image, &device, bmap.as_ref())?;
    let is_file = !matches!(kind, TargetKind::BlockDevice { .. });
    // With a bmap, `flash` measures the image itself to hold it against the map's size.
    let known_size = bmap.is_none().then_some(size);

    let job = FlashJob {
        image: image.clone(),
        bmap,
        target: device.clone(),
        target_is_file: is_file,
        create_mode,
        image_size: known_size,
        verify: !args.no_verify,
        progress: clem_image::progress::enabled(),
        line: None,
        corrupt_after_write: seams.corrupt_after_write,
        throttle: seams.throttle,
    };
    let interrupted = catch_sigint()?;
    match flash::flash(&job, &interrupted) {
        Ok(r) => {
            let device_target = !is_file;
            let next = report::next_step(&facts, &device, device_target, r.verified);
            if args.json {
                print_json(&report::FlashJson {
                    image: &image,
                    target: &device,
                    target_is_device: device_target,
                    node: facts.node.as_ref().map(|n| n.as_str()),
                    sample: facts.sample,
                    manifest: facts.manifest.as_deref(),
                    bmap: bmap_path.as_deref(),
                    image_size: r.image_size,
                    bytes_written: r.bytes_written,
                    verified: r.verified,
                    image_sha256: r.image_sha256.as_deref(),
                    direct_io: r.direct_io,
                    write_seconds: r.write_time.as_secs_f64(),
                    verify_seconds: r.verified.then_some(r.verify_time.as_secs_f64()),
                    next,
                })?;
            } else {
                println!("{}", report::summary(&r, &device));
                println!("{next}");
            }
            Ok(0)
        }
        Err(e @ (FlashError::Interrupted { .. } | FlashError::VerifyInterrupted { .. })) => {
            eprintln!("clem-image: {e}");
            Ok(130)
        }
        Err(e) => Err(e.into()),
    }
}

fn print_json(j: &report::FlashJson) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(j).context("writing the JSON report")?;
    println!("{text}");
    Ok(())
}
