use std::path::{Path, PathBuf};

use clap::Args;

use clem_image::bmap::Bmap;
use clem_image::source::RawImage;
use clem_image::verify::report::{self, Inputs, Report, Verdict};
use clem_image::verify::Manifest;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A built image (`out/rpi1.img`), or a flashed card (`/dev/sdX`) with --manifest and
    /// --bmap; a manifest, `.bmap` and `.sha256` beside the image are used when present
    pub image: PathBuf,
    /// The node's manifest (`out/rpi1.manifest.json`) [default: the one beside the image]
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The node's block map (`out/rpi1.img.bmap`) [default: the one beside the image]
    #[arg(long, value_name = "FILE")]
    pub bmap: Option<PathBuf>,
    /// Treat seed-check warnings as errors (the seed checks of `explain`)
    #[arg(long)]
    pub strict: bool,
    /// Print every check's verdict as JSON
    #[arg(long)]
    pub json: bool,
}

fn sidecar(image: &Path, suffix: &str) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The given file, else the one beside the image when it exists.
fn given_or_beside(given: &Option<PathBuf>, beside: PathBuf) -> Option<PathBuf> {
    given.clone().or_else(|| beside.exists().then_some(beside))
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<i32> {
    let image = &args.image;
    // A compressed image is checked as the disk it decompresses to (a sparse temporary copy);
    // for a raw one `data` is the image itself.
    let raw = RawImage::open(image)?;
    let manifest_path = given_or_beside(&args.manifest, image.with_extension("manifest.json"));
    let manifest = manifest_path.as_deref().map(Manifest::read).transpose()?;
    let bmap_path = given_or_beside(&args.bmap, sidecar(image, ".bmap"));
    let bmap = bmap_path.as_deref().map(Bmap::load).transpose()?;
    let sums = Some(sidecar(image, ".sha256")).filter(|s| s.exists());
    let report = report::run(&Inputs {
        image,
        data: raw.path(),
        manifest: manifest_path.as_deref().zip(manifest.as_ref()),
        bmap: bmap_path.as_deref().zip(bmap.as_ref()),
        sums: sums.as_deref(),
        strict: args.strict,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report, args.strict);
    }
    Ok(i32::from(!report.ok))
}

/// Passes on stdout, failures and what was not checked on stderr.
fn print_text(report: &Report, strict: bool) {
    let image = report.image.display();
    for c in &report.checks {
        match (c.name, c.verdict) {
            // The seed's findings are printed as `explain` prints them.
            ("seed", Verdict::Pass) => {}
            ("seed", Verdict::Fail) if !report.seed_findings.is_empty() => {}
            (_, Verdict::Pass) => println!("{image}: {}: {}", c.name, c.reason),
            (_, Verdict::Fail) => eprintln!("error: {}", c.reason),
            // A .sha256 is opt-in (`build --sha256`): its absence is no news.
            ("sha256", Verdict::Skipped) => {}
            (_, Verdict::Skipped) => {
                eprintln!("note: {image}: {} not checked: {}", c.name, c.reason)
            }
        }
    }
    let skipped = |name: &str| {
        report
            .checks
            .iter()
            .any(|c| c.name == name && c.verdict == Verdict::Skipped)
    };
    if skipped("block map") && skipped("sha256") {
        eprintln!(
            "warning: {image}: neither a block map nor a .sha256; content digests not checked"
        );
    }
    if report
        .checks
        .iter()
        .any(|c| c.name == "seed" && c.verdict != Verdict::Skipped)
    {
        clem_image::explain::report_findings(&report.image, &report.seed_findings, strict);
    }
}
