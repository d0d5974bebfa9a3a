//! SHA-256 of many images that share a prefix, for the price of one pass over that prefix.
//!
//! Every node image is the base image with a few blocks changed. SHA-256 is sequential, so
//! the hash state after the first `d` bytes is the same for every image that equals the
//! base up to `d`. While the base is decompressed, a second thread hashes it and keeps the
//! state at every [`STRIDE`]; a node's hash then resumes from the last checkpoint before
//! its first changed byte and reads only the rest of its own image.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::sparse::data_ranges;

/// Distance between saved states: small enough to skip most of a shared prefix, large
/// enough that the states (about 100 bytes each) cost nothing.
pub const STRIDE: u64 = 16 << 20;

/// Hash states of the base image at offsets 0, STRIDE, 2×STRIDE, ….
pub struct Checkpoints {
    states: Vec<Sha256>,
    len: u64,
}

/// Feeds chunks of the base stream to a hashing thread, in order.
pub struct CheckpointHasher {
    tx: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<Checkpoints>>,
}

impl CheckpointHasher {
    pub fn start() -> CheckpointHasher {
        // A few chunks in flight keep both cores busy and memory flat.
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let thread = std::thread::spawn(move || hash_stream(rx));
        CheckpointHasher {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hands the next chunk of the stream to the hashing thread.
    pub fn feed(&self, chunk: Vec<u8>) {
        if let Some(tx) = &self.tx {
            // A send fails only if the thread is gone, which `finish` reports.
            let _ = tx.send(chunk);
        }
    }

    pub fn finish(mut self) -> Checkpoints {
        drop(self.tx.take());
        self.thread
            .take()
            .expect("finish runs once")
            .join()
            .expect("the hashing thread does not panic")
    }
}

fn hash_stream(rx: Receiver<Vec<u8>>) -> Checkpoints {
    let mut h = Sha256::new();
    let mut states = vec![h.clone()];
    let mut len = 0u64;
    for chunk in rx {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let to_next = (STRIDE - len % STRIDE) as usize;
            let n = to_next.min(rest.len());
            h.update(&rest[..n]);
            len += n as u64;
            rest = &rest[n..];
            if len.is_multiple_of(STRIDE) {
                states.push(h.clone());
            }
        }
    }
    Checkpoints { states, len }
}

impl Checkpoints {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// SHA-256 of `file`, which must equal the base before byte `first_change` (pass the
    /// file's length when nothing changed). Holes are hashed as zeros without reading them.
    pub fn sha256_of(&self, file: &File, first_change: u64) -> io::Result<String> {
        let len = file.metadata()?.len();
        let idx = (first_change.min(self.len).min(len) / STRIDE) as usize;
        let idx = idx.min(self.states.len() - 1);
        let mut h = self.states[idx].clone();
        let start = idx as u64 * STRIDE;
        hash_range(&mut h, file, start, len)?;
        Ok(hex::encode(h.finalize()))
    }
}

/// Feeds `[from, to)` of `file` into `h`, zeros for holes.
pub fn hash_range(h: &mut Sha256, file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; 1 << 20];
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = from;
    let feed_zeros = |h: &mut Sha256, mut n: u64| {
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            h.update(&zeros[..k]);
            n -= k as u64;
        }
    };
    for (start, end) in data_ranges(file, to)? {
        if end <= from {
            continue;
        }
        let start = start.max(from);
        feed_zeros(h, start - pos);
        let mut at = start;
        while at < end {
            let k = ((end - at) as usize).min(buf.len());
            file.read_exact_at(&mut buf[..k], at)?;
            h.update(&buf[..k]);
            at += k as u64;
        }
        pos = end;
    }
    feed_zeros(h, to.saturating_sub(pos));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn resuming_from_a_checkpoint_gives_the_whole_file_hash() {
        let len = 3 * STRIDE + 12_345;
        let dir = tempfile::tempdir().unwrap();
        let base: Vec<u8> = (0..len)
            .map(|i| (i % 251) as u8 * u8::from(i % 7 == 0))
            .collect();
        let hasher = CheckpointHasher::start();
        for c in base.chunks(1 << 20) {
            hasher.feed(c.to_vec());
        }
        let cps = hasher.finish();
        assert_eq!(cps.len(), len);

        let mut node = base.clone();
        let change = 2 * STRIDE + 77;
        node[change as usize] ^= 0xFF;
        let p = dir.path().join("node.img");
        File::create(&p).unwrap().write_all(&node).unwrap();
        let f = File::open(&p).unwrap();
        let want = hex::encode(Sha256::digest(&node));
        assert_eq!(cps.sha256_of(&f, change).unwrap(), want);
        // Any earlier claimed change point gives the same answer, just with more reading.
        assert_eq!(cps.sha256_of(&f, 0).unwrap(), want);
        assert_ne!(
            cps.sha256_of(&f, len).unwrap(),
            want,
            "a change before the claimed point must show in the hash"
        );
    }
}
