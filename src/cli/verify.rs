use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use clem_image::bmap::Bmap;
use clem_image::inspect::RawImage;
use clem_image::probe;
use clem_image::verify::{check_sums, verify_image, Manifest};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A built image (`out/rpi1.img`); its manifest, `.bmap` and `.sha256` beside it are used
    pub image: PathBuf,
    /// Treat seed-check warnings as errors (the seed checks of `explain`)
    #[arg(long)]
    pub strict: bool,
}

fn sidecar(image: &Path, suffix: &str) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<i32> {
    let image = &args.image;
    // A compressed image is checked as the disk it decompresses to (a sparse temporary copy);
    // for a raw one `data` is the image itself.
    let raw = RawImage::open(image)?;
    let data = raw.path();
    let sums = sidecar(image, ".sha256");
    let manifest_path = image.with_extension("manifest.json");
    if manifest_path.exists() {
        let text = clem_image::io::regular::read_user_text(
            &manifest_path,
            clem_image::io::regular::SIDECAR,
        )?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a clem-image manifest", manifest_path.display()))?;
        verify_image(data, &manifest.table, &manifest.injected)?;
        println!(
            "{}: partition table and {} injected files OK",
            image.display(),
            manifest.injected.len()
        );
    } else {
        // No manifest: still check that the table and every file system read cleanly.
        let info = probe::probe_as(data, image)?;
        println!(
            "{}: {} partitions readable (no manifest, injected files not checked)",
            image.display(),
            info.parts.len()
        );
    }
    let bmap_path = sidecar(image, ".bmap");
    if bmap_path.exists() {
        let bmap = Bmap::load(&bmap_path)?;
        let file =
            std::fs::File::open(data).with_context(|| format!("opening {}", image.display()))?;
        bmap.check_file(&file, image)
            .with_context(|| format!("{}: against {}", image.display(), bmap_path.display()))?;
        println!(
            "{}: {} data ranges ({} MiB) match the SHA-256 digests of {}; zeros elsewhere",
            image.display(),
            bmap.ranges.len(),
            bmap.mapped_bytes() >> 20,
            bmap_path.display()
        );
    }
    if sums.exists() {
        let sha = check_sums(image, &sums)?;
        println!("{}: SHA-256 {sha} OK", image.display());
    }
    if !sums.exists() && !bmap_path.exists() {
        eprintln!(
            "warning: neither {} nor {} found; content digests not checked",
            sums.display(),
            bmap_path.display()
        );
    }
    // Will the image's cloud-init read its seed? (see `explain`)
    Ok(clem_image::explain::report_findings(
        image,
        &clem_image::explain::check_built_image(image)?,
        args.strict,
    ))
}
