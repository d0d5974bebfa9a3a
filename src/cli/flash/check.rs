//! The safety checks every target passes before a byte is written, and the confirmation:
//! what the target is, that it is not the image, that a card is safe to overwrite and big
//! enough; shared by the one-target form and the several-target form.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context};

use clem_image::blockdev::{human_bytes, target_kind, DeviceInfo, SystemView, TargetKind};
use clem_image::bmap::Bmap;
use clem_image::flash;

/// What a target is and how it is written, before any size is known.
pub struct Classified {
    pub kind: TargetKind,
    /// The mode to create a new file with (the image's).
    pub create_mode: Option<u32>,
}

/// Classifies `device`, refuses the image itself, and takes a new file's mode from the image.
pub fn classify(image: &Path, device: &Path) -> anyhow::Result<Classified> {
    let kind = target_kind(device)?;
    let mut create_mode = None;
    match kind {
        TargetKind::RegularFile => refuse_same_file(image, device)?,
        TargetKind::NewFile => {
            // A copy of an image that holds keys must not be readable by more people.
            let meta = std::fs::metadata(image)
                .with_context(|| format!("reading the mode of {}", image.display()))?;
            create_mode = Some(meta.permissions().mode() & 0o777);
        }
        TargetKind::BlockDevice { .. } => {}
    }
    Ok(Classified { kind, create_mode })
}

/// The image's size: the bmap's, or measured (which may decode a whole gzip/zstd/bzip2/zip
/// stream).
pub fn measure(image: &Path, bmap: Option<&Bmap>) -> anyhow::Result<u64> {
    Ok(match bmap {
        Some(b) => b.image_size,
        None => flash::image_size(image)?,
    })
}

/// A card's facts, after the checks that nothing overrides (and `--force`'s one rule).
pub fn check_device(
    device: &Path,
    kind: &TargetKind,
    size: u64,
    force: bool,
) -> anyhow::Result<Option<DeviceInfo>> {
    let TargetKind::BlockDevice { major, minor } = *kind else {
        return Ok(None);
    };
    let view = SystemView::from_env();
    let info = view.inspect(device, major, minor)?;
    view.check(&info, size, force)?;
    Ok(Some(info))
}

/// The image line shown under a card before it is confirmed.
pub fn image_line(image: &Path, size: u64, bmap: Option<&Bmap>) -> String {
    format!(
        "{} ({}{})",
        image.display(),
        human_bytes(size),
        match bmap {
            Some(b) => format!(", {} mapped", human_bytes(b.mapped_bytes())),
            None => String::new(),
        }
    )
}

/// The one-target form: what the target is, after every check and confirmation it needs;
/// the mode to create a new file with; the image's size (measured after the cheap checks, and
/// for an existing file after its confirmation).
pub fn check_target(
    yes: bool,
    force: bool,
    image: &Path,
    device: &Path,
    bmap: Option<&Bmap>,
) -> anyhow::Result<(TargetKind, Option<u32>, u64)> {
    let Classified { kind, create_mode } = classify(image, device)?;
    if kind == TargetKind::RegularFile && !yes {
        eprintln!("Target: {} (an existing file)", device.display());
        confirm(&device.display().to_string())?;
    }
    let size = measure(image, bmap)?;
    if let Some(info) = check_device(device, &kind, size, force)? {
        eprintln!("Target: {}", info.describe());
        eprintln!("Image:  {}", image_line(image, size, bmap));
        if !yes {
            confirm(&device.display().to_string())?;
        }
    }
    Ok((kind, create_mode, size))
}

/// Writing an image onto itself would destroy it half way.
pub fn refuse_same_file(image: &Path, device: &Path) -> anyhow::Result<()> {
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

/// Asks once; `what` names what will be overwritten ("/dev/sdb", "the 4 targets above").
pub fn confirm(what: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "{what}: refusing to overwrite without confirmation: stdin is not a terminal (pass --yes to confirm)"
        );
    }
    eprint!("Everything on {what} will be overwritten. Type 'yes' to continue: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim() != "yes" {
        bail!("{what}: not confirmed; nothing was written");
    }
    Ok(())
}
