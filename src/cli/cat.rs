use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use clem_image::cat::{cat, Spec};

#[derive(Debug, Args)]
pub struct CatArgs {
    /// Image to read (raw or compressed: xz, gzip, zstd, bzip2, zip)
    pub image: PathBuf,
    /// PARTITION:PATH: a partition number or label (writable, system-boot, bootfs, rootfs),
    /// then the file's absolute path on that partition
    #[arg(value_name = "PARTITION:PATH")]
    pub file: String,
    /// Print the file even if it is a secret (a private key, a root-only file)
    #[arg(long)]
    pub secret: bool,
}

pub fn run(args: &CatArgs) -> anyhow::Result<i32> {
    let spec = Spec::parse(&args.file)?;
    let data = cat(&args.image, &spec, args.secret)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&data)
        .and_then(|()| out.flush())
        .context("writing to standard output")?;
    Ok(0)
}
