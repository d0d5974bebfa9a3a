//! Several flashes at once: one worker thread per target, each running the whole write and
//! verify of its own job, so a card that fails (or is slow) holds up no other.

use std::sync::atomic::AtomicBool;

use super::{flash, FlashError, FlashJob, FlashReport};

/// The outcome of one job of [`flash_many`].
pub type Outcome = Result<FlashReport, FlashError>;

/// Flashes every job in parallel and returns each outcome in job order. `done` is called from
/// the job's worker as soon as that job ends, whatever the others are doing. `cancel` stops
/// them all.
pub fn flash_many(
    jobs: &[FlashJob],
    cancel: &AtomicBool,
    done: &(dyn Fn(usize, &Outcome) + Sync),
) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let workers: Vec<_> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                s.spawn(move || {
                    let outcome = flash(job, cancel);
                    done(i, &outcome);
                    outcome
                })
            })
            .collect();
        workers
            .into_iter()
            .zip(jobs)
            .map(|(w, job)| {
                w.join().unwrap_or_else(|_| {
                    Err(FlashError::Worker {
                        path: job.target.clone(),
                    })
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;
    use std::sync::Mutex;

    fn job(image: &Path, target: &Path) -> FlashJob {
        FlashJob {
            image: image.to_owned(),
            bmap: None,
            target: target.to_owned(),
            target_is_file: true,
            create_mode: Some(0o600),
            image_size: None,
            verify: true,
            progress: false,
            line: None,
            corrupt_after_write: None,
            throttle: None,
        }
    }

    #[test]
    fn every_target_is_written_and_one_failure_stops_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut jobs = Vec::new();
        for i in 0..4u8 {
            let img = dir.path().join(format!("n{i}.img"));
            let bytes: Vec<u8> = (0..3_000_000u32).map(|x| (x % 251) as u8 ^ i).collect();
            fs::write(&img, bytes).unwrap();
            jobs.push(job(&img, &dir.path().join(format!("t{i}"))));
        }
        // The third target's directory does not exist: only that job can fail.
        jobs[2].target = dir.path().join("missing/t2");
        jobs[1].corrupt_after_write = Some(1_000_000);
        let seen = Mutex::new(Vec::new());
        let out = flash_many(&jobs, &AtomicBool::new(false), &|i, o| {
            seen.lock().unwrap().push((i, o.is_ok()));
        });
        assert!(out[0].is_ok() && out[3].is_ok());
        assert!(matches!(
            out[1],
            Err(FlashError::Verify {
                offset: 1_000_000,
                ..
            })
        ));
        let e = crate::error::chain(out[2].as_ref().err().unwrap());
        assert!(e.contains("missing/t2") && e.contains("create"), "{e}");
        for i in [0, 3] {
            assert_eq!(
                fs::read(&jobs[i].image).unwrap(),
                fs::read(&jobs[i].target).unwrap()
            );
        }
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, [(0, true), (1, false), (2, false), (3, true)]);
    }
}
