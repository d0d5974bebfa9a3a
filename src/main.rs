//! Thin entry point: parse arguments, dispatch, print errors with their context.

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            1
        }
    };
    std::process::exit(code);
}

/// The error and its causes, skipping a cause whose text the message already holds (our
/// error types print their source inline, so `{:#}` would say it twice).
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
