use std::path::PathBuf;

use clap::Args;

use clem_image::diff::diff;

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// First image (raw or compressed: xz, gzip, zstd, bzip2, zip)
    pub a: PathBuf,
    /// Second image (raw or compressed)
    pub b: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Exit status as diff(1): 0 identical, 1 different, 2 trouble (the error is printed here,
/// so `main`'s exit code 1 is never used for a failed comparison).
pub fn run(args: &DiffArgs) -> anyhow::Result<i32> {
    let report = match diff(&args.a, &args.b) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}", clem_image::error::chain(&e));
            return Ok(2);
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
    } else {
        print!("{}", report.text());
    }
    Ok(if report.identical { 0 } else { 1 })
}
