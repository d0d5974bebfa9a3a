//! `man [SUBCOMMAND]`: the roff man page, generated from the clap definitions by clap_mangen,
//! so it can never disagree with the options the program accepts. The main page lists every
//! subcommand; each subcommand has its own page with its options (`clem-image-build(1)`).

use std::io::Write;

use anyhow::{bail, Context};
use clap::{Args, CommandFactory};

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's own page (`build`, `status`, …) instead of the main page
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

pub fn run(args: &ManArgs) -> anyhow::Result<i32> {
    let cmd = super::Cli::command();
    let page = match &args.subcommand {
        None => cmd,
        Some(name) => subcommand(&cmd, name)?,
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .context("rendering the man page")?;
    std::io::stdout()
        .write_all(&out)
        .context("writing the man page")?;
    Ok(0)
}

/// The subcommand named `name`, renamed `clem-image-NAME` as the main page refers to it.
fn subcommand(cmd: &clap::Command, name: &str) -> anyhow::Result<clap::Command> {
    let Some(sub) = cmd.find_subcommand(name) else {
        let known: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        bail!("no subcommand {name:?} (one of {})", known.join(", "));
    };
    let full = format!("{}-{}", cmd.get_name(), sub.get_name());
    let version = cmd.get_version().unwrap_or_default().to_string();
    Ok(sub
        .clone()
        .name(full.clone())
        .bin_name(full)
        .version(version))
}
