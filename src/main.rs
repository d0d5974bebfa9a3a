//! Thin entry point: parse arguments, dispatch, print errors with their context.
#![deny(unsafe_code)]

mod cli;

use clap::Parser;

fn main() {
    default_sigpipe();
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

/// Rust starts programs with SIGPIPE ignored, so `inspect IMG | head` made `println!` fail
/// with EPIPE and panic. With the default action a closed pipe ends the program quietly,
/// and the shell reports 141 (128 + SIGPIPE), as for `cat`, `ls` or `grep`. Sockets are not
/// affected: the standard library writes to them with MSG_NOSIGNAL, so a peer that hangs
/// up is still an error for `status`, not a silent death.
fn default_sigpipe() {
    clem_image::sys::default_sigpipe();
}

/// The error and each cause once, as `clem_image::error::chain` prints them. Our own errors
/// never repeat their cause; a foreign one may end with its source's text, and that level is
/// not printed twice.
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    let mut last = msg.clone();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !last.ends_with(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
        last = c;
    }
    msg
}
