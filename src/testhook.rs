//! Crash and pause points for the tests of what a killed build leaves (debug builds only;
//! in a release build [`point`] is empty).
//!
//! `CLEM_IMAGE_TEST_HOOK` holds `name[@n]=action` entries separated by commas: at the n-th
//! time (default: the first) the build reaches point `name`, `kill` sends the process
//! SIGKILL and `wait:PATH` pauses until PATH exists (at most a minute).

/// Marks a point a test may stop the build at.
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    imp::point(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(debug_assertions)]
mod imp {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static HITS: Mutex<Option<HashMap<String, u32>>> = Mutex::new(None);

    pub fn point(name: &str) {
        let Ok(spec) = std::env::var("CLEM_IMAGE_TEST_HOOK") else {
            return;
        };
        let hit = {
            let mut hits = HITS.lock().unwrap_or_else(|p| p.into_inner());
            let n = hits
                .get_or_insert_with(HashMap::new)
                .entry(name.to_string())
                .or_insert(0);
            *n += 1;
            *n
        };
        for entry in spec.split(',') {
            let Some((at, action)) = entry.split_once('=') else {
                continue;
            };
            let (at_name, nth) = match at.split_once('@') {
                Some((n, k)) => (n, k.parse().unwrap_or(1)),
                None => (at, 1),
            };
            if at_name == name && nth == hit {
                act(action);
            }
        }
    }

    fn act(action: &str) {
        if action == "kill" {
            // Signalling ourselves cannot fail; SIGKILL does not return.
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
        } else if let Some(path) = action.strip_prefix("wait:") {
            let start = Instant::now();
            while !std::path::Path::new(path).exists() && start.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
