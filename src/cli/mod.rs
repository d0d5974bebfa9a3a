//! Command-line types (clap), one file per subcommand. Each `run` returns the exit code.

pub mod build;
pub mod cat;
pub mod completions;
pub mod diff;
pub mod env;
pub mod explain;
pub mod flash;
pub mod init;
pub mod inspect;
pub mod man;
mod sample;
pub mod status;
pub mod verify;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "clem-image",
    version,
    about = "Build per-node Raspberry Pi cluster images from one upstream image, in user space"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a cluster directory: a commented cluster.toml, the CA, the operator's certificate.
    Init(init::InitArgs),
    /// Write one verified image per node, with its hostname, SSH keys and first-boot seed.
    Build(build::BuildArgs),
    /// List an image's partition table, file systems and files.
    Inspect(inspect::InspectArgs),
    /// Check a built image: partition table, file systems, injected files, SHA-256.
    Verify(verify::VerifyArgs),
    /// Write an image to an SD card (or file), sparse-aware, then verify it by reading back.
    Flash(flash::FlashArgs),
    /// Print one file of an image (PARTITION:PATH) to standard output; secrets need --secret.
    Cat(cat::CatArgs),
    /// Compare two images: partition table, files, and text file contents (exit 0/1/2 as diff).
    Diff(diff::DiffArgs),
    /// Ask every node's docker API (mutual TLS) whether it is up, in the swarm and Ready.
    Status(status::StatusArgs),
    /// Explain what an image does at first boot, and check that its cloud-init seed will be read.
    Explain(explain::ExplainArgs),
    /// Print the DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH lines for a node.
    Env(env::EnvArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the roff man page (`clem-image man > clem-image.1`).
    Man(man::ManArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Init(a) => init::run(&a),
        Command::Build(a) => build::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Flash(a) => flash::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::Cat(a) => cat::run(&a),
        Command::Status(a) => status::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Env(a) => env::run(&a),
        Command::Completions(a) => completions::run(&a),
        Command::Man(a) => man::run(&a),
    }
}
