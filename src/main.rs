//! Temporary entry point for the `flash` branch; the lead's CLI dispatcher replaces it.

use clap::{Parser, Subcommand};
use clem_image::cli::flash::{self, FlashArgs};

#[derive(Parser)]
#[command(name = "clem-image", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Flash(FlashArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match &cli.cmd {
        Cmd::Flash(a) => flash::run(a).unwrap_or_else(|e| {
            eprintln!("clem-image: {e:#}");
            1
        }),
    };
    std::process::exit(code);
}
