//! The two-thread pipeline under writing and verifying: a reader thread fills aligned
//! buffers while the calling thread consumes them, so decoding and hashing use two cores.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use super::alignbuf::AlignedBuf;
use super::plan::Chunk;
use super::{FlashError, CHUNK};

/// Runs `read` on a helper thread and `consume` on this one, chunk by chunk, in order, with
/// three buffers in flight. The first error from either side wins.
pub(super) fn pipeline<R, C>(
    chunks: &[Chunk],
    cancel: &AtomicBool,
    target: &Path,
    mut read: R,
    mut consume: C,
) -> Result<(), FlashError>
where
    R: FnMut(&Chunk, &mut [u8]) -> Result<(), FlashError> + Send,
    C: FnMut(&Chunk, &[u8]) -> Result<(), FlashError>,
{
    let (full_tx, full_rx) = mpsc::sync_channel::<(Chunk, AlignedBuf)>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<AlignedBuf>();
    for _ in 0..3 {
        // Cannot fail: the receiver is alive.
        let _ = empty_tx.send(AlignedBuf::new(CHUNK));
    }
    let interrupted = || FlashError::Interrupted {
        path: target.to_owned(),
    };
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> Result<(), FlashError> {
            for c in chunks {
                if cancel.load(Ordering::Relaxed) {
                    return Ok(());
                }
                // A closed channel means the consumer stopped; its error is the one to report.
                let Ok(mut buf) = empty_rx.recv() else {
                    return Ok(());
                };
                read(c, &mut buf[..c.len])?;
                if full_tx.send((*c, buf)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        let mut result = Ok(());
        let mut done = 0usize;
        for (c, buf) in full_rx.iter() {
            if cancel.load(Ordering::Relaxed) {
                result = Err(interrupted());
                break;
            }
            if let Err(e) = consume(&c, &buf[..c.len]) {
                result = Err(e);
                break;
            }
            done += 1;
            let _ = empty_tx.send(buf);
        }
        // Unblock the producer if it waits for a buffer or for room in the channel.
        drop(full_rx);
        drop(empty_tx);
        let produced = producer.join().unwrap_or_else(|_| {
            Err(FlashError::Image {
                path: PathBuf::from("<reader thread>"),
                source: io::Error::other("the reader thread panicked"),
            })
        });
        result?;
        produced?;
        if done < chunks.len() {
            // The producer stopped early without an error: only cancellation does that.
            return Err(interrupted());
        }
        Ok(())
    })
}
