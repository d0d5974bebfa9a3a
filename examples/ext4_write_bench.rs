//! Drives `Ext4Writer` from a tiny script, for the benchmark and manual checks.
//!
//! Usage: ext4_write_bench IMAGE SCRIPT
//! Script lines: `mkdir PATH`, `write PATH SIZE` (deterministic bytes),
//! `put PATH HOSTFILE`, `symlink PATH TARGET`, `rm PATH`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};

use clem_image::fs::ext4::write::{Ext4Writer, Meta};

/// Deterministic filler bytes (no randomness needed for a benchmark).
struct Pattern(u64);

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for b in buf.iter_mut() {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
        Ok(buf.len())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        return Err("usage: ext4_write_bench IMAGE SCRIPT".into());
    }
    let dev = OpenOptions::new().read(true).write(true).open(&args[1])?;
    let mut w = Ext4Writer::open(dev)?;
    let meta = Meta {
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
    };
    let dmeta = Meta {
        mode: 0o755,
        ..meta
    };
    for line in BufReader::new(File::open(&args[2])?).lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["mkdir", p] => w.mkdir_p(p, dmeta)?,
            ["write", p, n] => {
                let n: u64 = n.parse()?;
                w.write_file(p, &mut Pattern(n), n, meta)?
            }
            ["put", p, host] => {
                let mut f = File::open(host)?;
                let n = f.metadata()?.len();
                w.write_file(p, &mut f, n, meta)?
            }
            ["symlink", p, t] => w.symlink(
                p,
                t,
                Meta {
                    mode: 0o777,
                    ..meta
                },
            )?,
            ["rm", p] => w.remove(p)?,
            [] => {}
            _ => return Err(format!("bad script line: {line}").into()),
        }
    }
    w.finish()?;
    Ok(())
}
