//! `clem-image flash`: the command-line edge of `clem_image::flash`.

mod report;

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context};

use clem_image::blockdev::{human_bytes, target_kind, SystemView, TargetKind};
use clem_image::bmap::Bmap;
use clem_image::flash::{self, FlashError, FlashJob, ENV_CORRUPT_AFTER_WRITE};

/// Write an image to an SD card (or a file), then read it back and check it.
#[derive(Debug, clap::Args)]
pub struct FlashArgs {
    /// `IMAGE DEVICE`, or just `DEVICE` with --node. IMAGE is a raw `.img`, or one compressed
    /// with xz, gzip, zstd or bzip2, or a `.zip` holding one image (streamed, never unpacked
    /// to disk); DEVICE is a whole-disk block device, or a file (an existing one is
    /// overwritten only when confirmed).
    #[arg(value_name = "IMAGE DEVICE", num_args = 1..=2, required = true)]
    pub paths: Vec<PathBuf>,
    /// Flash a node's image from the build output: OUT/NODE.img (and OUT/NODE.img.bmap if present).
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

impl FlashArgs {
    /// (image, device, bmap file) after applying --node.
    fn resolve(&self) -> anyhow::Result<(PathBuf, PathBuf, Option<PathBuf>)> {
        match (&self.node, self.paths.as_slice()) {
            (Some(node), [device]) => {
                if node.is_empty() || node.contains('/') || node.starts_with('.') {
                    bail!("--node {node:?}: not a node name");
                }
                let image = self.out.join(format!("{node}.img"));
                if !image.exists() {
                    bail!(
                        "{}: no image for node {node} (run the build first, or check --out)",
                        image.display()
                    );
                }
                let side = self.out.join(format!("{node}.img.bmap"));
                let bmap = match &self.bmap {
                    Some(b) => Some(b.clone()),
                    None if !self.no_bmap && side.exists() => Some(side),
                    None => None,
                };
                Ok((image, device.clone(), bmap))
            }
            (Some(_), _) => bail!("with --node give only the DEVICE"),
            (None, [image, device]) => Ok((image.clone(), device.clone(), self.bmap.clone())),
            (None, _) => bail!("give IMAGE and DEVICE (or --node NODE DEVICE)"),
        }
    }
}

/// A flag that Ctrl-C sets instead of ending the process, so `flash` can stop between chunks
/// and say what state the card is in.
fn catch_sigint() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&flag))
        .context("installing the Ctrl-C handler")?;
    Ok(flag)
}

pub fn run(args: &FlashArgs) -> anyhow::Result<i32> {
    let (image, device, bmap_path) = args.resolve()?;
    let facts = report::image_facts(&image, args.node.as_deref(), &mut |n| eprintln!("{n}"));
    // Before anything is asked or written: a test image must not be mistaken for a real one.
    if let Some(w) = report::sample_warning(&facts, &image) {
        eprintln!("{w}");
    }
    let bmap = match &bmap_path {
        Some(p) => Some(Bmap::load(p)?),
        None => None,
    };
    let (kind, create_mode, size) = check_target(args, &image, &device, bmap.as_ref())?;
    let is_file = !matches!(kind, TargetKind::BlockDevice { .. });
    // With a bmap, `flash` measures the image itself to hold it against the map's size.
    let known_size = bmap.is_none().then_some(size);

    let corrupt_after_write = match std::env::var(ENV_CORRUPT_AFTER_WRITE) {
        Ok(v) => Some(
            v.parse::<u64>()
                .with_context(|| format!("{ENV_CORRUPT_AFTER_WRITE}={v}: not an offset"))?,
        ),
        Err(_) => None,
    };
    let job = FlashJob {
        image: image.clone(),
        bmap,
        target: device.clone(),
        target_is_file: is_file,
        create_mode,
        image_size: known_size,
        verify: !args.no_verify,
        progress: clem_image::progress::enabled(),
        corrupt_after_write,
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

/// What the target is, after every check and confirmation it needs; the mode to create a
/// new file with; the image's size (measured here, once, after the cheap checks).
fn check_target(
    args: &FlashArgs,
    image: &Path,
    device: &Path,
    bmap: Option<&Bmap>,
) -> anyhow::Result<(TargetKind, Option<u32>, u64)> {
    let kind = target_kind(device)?;
    let mut create_mode = None;
    match kind {
        TargetKind::RegularFile => {
            refuse_same_file(image, device)?;
            if !args.yes {
                eprintln!("Target: {} (an existing file)", device.display());
                confirm(device)?;
            }
        }
        TargetKind::NewFile => {
            // A copy of an image that holds keys must not be readable by more people.
            let meta = std::fs::metadata(image)
                .with_context(|| format!("reading the mode of {}", image.display()))?;
            create_mode = Some(meta.permissions().mode() & 0o777);
        }
        TargetKind::BlockDevice { .. } => {}
    }
    // Without a bmap this may decode a whole gzip/zstd/bzip2/zip stream.
    let size = match bmap {
        Some(b) => b.image_size,
        None => flash::image_size(image)?,
    };
    if let TargetKind::BlockDevice { major, minor } = kind {
        let view = SystemView::from_env();
        let info = view.inspect(device, major, minor)?;
        view.check(&info, size, args.force)?;
        eprintln!("Target: {}", info.describe());
        eprintln!(
            "Image:  {} ({}{})",
            image.display(),
            human_bytes(size),
            match bmap {
                Some(b) => format!(", {} mapped", human_bytes(b.mapped_bytes())),
                None => String::new(),
            }
        );
        if !args.yes {
            confirm(device)?;
        }
    }
    Ok((kind, create_mode, size))
}

/// Writing an image onto itself would destroy it half way.
fn refuse_same_file(image: &Path, device: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(a), Ok(b)) = (std::fs::metadata(image), std::fs::metadata(device)) {
        if a.dev() == b.dev() && a.ino() == b.ino() {
            bail!(
                "{}: the target is the image itself ({})",
                device.display(),
                image.display()
            );
        }
    }
    Ok(())
}

fn confirm(device: &Path) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "{}: refusing to overwrite without confirmation: stdin is not a terminal (pass --yes to confirm)",
            device.display()
        );
    }
    eprint!(
        "Everything on {} will be overwritten. Type 'yes' to continue: ",
        device.display()
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim() != "yes" {
        bail!("{}: not confirmed; nothing was written", device.display());
    }
    Ok(())
}
