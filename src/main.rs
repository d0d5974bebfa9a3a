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
            eprintln!("clem-image: {}", message(&e));
            1
        }),
    };
    std::process::exit(code);
}

/// The error and its causes, skipping a cause whose text the message already contains
/// (our error types print their source inline).
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}
