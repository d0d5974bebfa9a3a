use std::path::PathBuf;

use clap::Args;

use clem_image::inspect::inspect;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Image to list (raw or compressed: xz, gzip, zstd, bzip2, zip)
    pub image: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &InspectArgs) -> anyhow::Result<i32> {
    let report = inspect(&args.image)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(0)
}
