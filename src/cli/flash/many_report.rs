//! What `flash` with several targets says: the list to confirm, the summary of which target
//! holds which node and which failed (and why), the next step, the exit status, `--json`;
//! and the check that no two pairs name the same target.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use clem_image::blockdev::human_bytes;
use clem_image::flash::{FlashError, Outcome};

use super::pairs::Pair;
use super::report::{ImageFacts, Sample};

/// One target in the confirmation's list.
pub struct Listed<'a> {
    pub node: &'a str,
    /// The card (path, kernel name, model, size) or the file.
    pub target: String,
    /// The image, its size, and what the bmap maps.
    pub image: String,
}

/// The list shown before the one confirmation.
pub fn listing(items: &[Listed]) -> String {
    let width = items.iter().map(|l| l.node.len()).max().unwrap_or(0);
    let mut s = format!("Targets ({}):", items.len());
    for l in items {
        s.push_str(&format!(
            "\n  {:width$}  {}\n  {:width$}  image {}",
            l.node, l.target, "", l.image
        ));
    }
    s
}

/// One target after its worker ended.
pub struct Settled<'a> {
    pub node: &'a str,
    pub target: &'a Path,
    pub device: bool,
    pub outcome: &'a Outcome,
}

/// One line per target, then the count.
pub fn summary(items: &[Settled]) -> String {
    let mut lines = Vec::new();
    for it in items {
        let t = it.target.display();
        lines.push(match it.outcome {
            Ok(r) => format!(
                "{t} holds {}: wrote {} in {:.1} s{}",
                it.node,
                human_bytes(r.bytes_written),
                r.write_time.as_secs_f64(),
                if r.verified {
                    format!("; verified in {:.1} s", r.verify_time.as_secs_f64())
                } else {
                    "; NOT verified (--no-verify)".to_string()
                }
            ),
            Err(e) => format!("{t} FAILED ({}): {}", it.node, clem_image::error::chain(e)),
        });
    }
    let failed = items.iter().filter(|i| i.outcome.is_err()).count();
    let verified = items
        .iter()
        .all(|i| i.outcome.as_ref().map_or(true, |r| r.verified));
    let done = if verified {
        "written and verified"
    } else {
        "written"
    };
    lines.push(match failed {
        0 => format!("All {} targets {done}.", items.len()),
        n => format!(
            "{} of {} targets {done}; {n} failed: {}",
            items.len() - n,
            items.len(),
            failed_names(items)
        ),
    });
    lines.join("\n")
}

fn failed_names(items: &[Settled]) -> String {
    items
        .iter()
        .filter(|i| i.outcome.is_err())
        .map(|i| format!("{} ({})", i.node, i.target.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line for stderr when any target failed.
pub fn failed_line(items: &[Settled]) -> Option<String> {
    let n = items.iter().filter(|i| i.outcome.is_err()).count();
    (n > 0).then(|| {
        format!(
            "{n} of {} targets failed: {}",
            items.len(),
            failed_names(items)
        )
    })
}

/// 0 when all were written; 130 when interrupted (as the one-target form); else 1.
pub fn exit_code(outcomes: &[Outcome]) -> i32 {
    let interrupted = outcomes.iter().any(|o| {
        matches!(
            o,
            Err(FlashError::Interrupted { .. } | FlashError::VerifyInterrupted { .. })
        )
    });
    match () {
        _ if interrupted => 130,
        _ if outcomes.iter().any(Result::is_err) => 1,
        _ => 0,
    }
}

/// What to do after every target was written: only what is true for these images and targets.
pub fn next_step(facts: &[&ImageFacts], items: &[Settled]) -> String {
    let verified = items
        .iter()
        .all(|i| matches!(i.outcome, Ok(r) if r.verified));
    let unverified = if verified {
        ""
    } else {
        " They were NOT read back (--no-verify)."
    };
    if facts.iter().any(|f| f.sample != Sample::No) {
        return format!("Next: nothing to boot: these are test images.{unverified}");
    }
    if items.iter().all(|i| !i.device) {
        return format!(
            "Next: each file holds its node's image; write one to a card with \
             `clem-image flash FILE /dev/sdX`.{unverified}"
        );
    }
    format!(
        "Next: insert each card in the node it holds (named above) and power it on.{unverified} \
         The first boot takes a few minutes (longer when it installs docker); with docker on \
         TLS (the default), `clem-image status --config CLUSTER.toml --wait 15m` shows when \
         they have joined."
    )
}

/// `--json` with several targets: one object per target, in the order given.
#[derive(Serialize)]
pub struct ManyJson<'a> {
    pub targets: Vec<TargetJson<'a>>,
    pub failed: usize,
}

#[derive(Serialize)]
pub struct TargetJson<'a> {
    pub node: &'a str,
    pub target: &'a Path,
    pub target_is_device: bool,
    pub ok: bool,
    pub error: Option<String>,
    pub bytes_written: Option<u64>,
    pub verified: bool,
    pub write_seconds: Option<f64>,
    pub verify_seconds: Option<f64>,
}

pub fn json<'a>(items: &'a [Settled<'a>]) -> ManyJson<'a> {
    let targets: Vec<TargetJson> = items
        .iter()
        .map(|i| {
            let r = i.outcome.as_ref().ok();
            TargetJson {
                node: i.node,
                target: i.target,
                target_is_device: i.device,
                ok: r.is_some(),
                error: i
                    .outcome
                    .as_ref()
                    .err()
                    .map(|e| clem_image::error::chain(e)),
                bytes_written: r.map(|r| r.bytes_written),
                verified: r.is_some_and(|r| r.verified),
                write_seconds: r.map(|r| r.write_time.as_secs_f64()),
                verify_seconds: r
                    .filter(|r| r.verified)
                    .map(|r| r.verify_time.as_secs_f64()),
            }
        })
        .collect();
    let failed = targets.iter().filter(|t| !t.ok).count();
    ManyJson { targets, failed }
}

/// What a target is, whatever path names it: a device by its number, a file by its inode,
/// a file still to be created by its resolved path.
#[derive(PartialEq, Eq)]
enum Identity {
    Device(u64),
    File(u64, u64),
    New(PathBuf),
}

fn identity(p: &Path) -> Identity {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(p) {
        Ok(m) if m.file_type().is_block_device() => Identity::Device(m.rdev()),
        Ok(m) => Identity::File(m.dev(), m.ino()),
        Err(_) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = dir.map_or_else(|| PathBuf::from("."), Path::to_owned);
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            Identity::New(dir.join(p.file_name().unwrap_or_default()))
        }
    }
}

/// The first two pairs (by node) whose targets are one and the same, if any.
pub fn same_target<'a>(pairs: impl Iterator<Item = &'a Pair>) -> Option<(String, String)> {
    let mut seen: Vec<(Identity, &Pair)> = Vec::new();
    for p in pairs {
        let id = identity(&p.target);
        if let Some((_, first)) = seen.iter().find(|(i, _)| *i == id) {
            return Some((
                format!("{} ({})", first.node, first.target.display()),
                format!("{} ({})", p.node, p.target.display()),
            ));
        }
        seen.push((id, p));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use clem_image::flash::FlashReport;
    use std::time::Duration;

    fn report(verified: bool) -> Outcome {
        Ok(FlashReport {
            image_size: 10,
            bytes_written: 10,
            verified,
            image_sha256: None,
            direct_io: true,
            write_time: Duration::from_millis(1500),
            verify_time: Duration::from_millis(500),
        })
    }

    fn failed() -> Outcome {
        Err(FlashError::Verify {
            path: "/dev/sdc".into(),
            image: "out/rpi2.img".into(),
            offset: 7,
        })
    }

    #[test]
    fn the_summary_says_which_target_holds_which_node_and_which_failed() {
        let outcomes = [report(true), failed(), report(true)];
        let names = [
            ("rpi1", "/dev/sdb"),
            ("rpi2", "/dev/sdc"),
            ("rpi3", "/dev/sdd"),
        ];
        let items: Vec<Settled> = names
            .iter()
            .zip(&outcomes)
            .map(|((node, t), o)| Settled {
                node,
                target: Path::new(t),
                device: true,
                outcome: o,
            })
            .collect();
        let text = summary(&items);
        assert!(text.contains("/dev/sdb holds rpi1: wrote 10 B in 1.5 s; verified in 0.5 s"));
        assert!(
            text.contains("/dev/sdc FAILED (rpi2): verification failed: /dev/sdc differs"),
            "{text}"
        );
        assert!(
            text.ends_with("2 of 3 targets written and verified; 1 failed: rpi2 (/dev/sdc)"),
            "{text}"
        );
        assert_eq!(
            failed_line(&items).as_deref(),
            Some("1 of 3 targets failed: rpi2 (/dev/sdc)")
        );
        assert_eq!(exit_code(&outcomes), 1);
        let j = json(&items);
        assert_eq!(j.failed, 1);
        assert!(j.targets[1].error.as_deref().unwrap().contains("offset 7"));
    }

    #[test]
    fn exit_codes_follow_the_one_target_form() {
        assert_eq!(exit_code(&[report(true), report(false)]), 0);
        let stopped = Err(FlashError::Interrupted {
            path: "/dev/sdb".into(),
        });
        assert_eq!(exit_code(&[report(true), failed(), stopped]), 130);
    }

    #[test]
    fn the_listing_names_node_target_and_image() {
        let l = listing(&[Listed {
            node: "rpi10",
            target: "/dev/sdb (sdb): Acme SD Reader, 1.0 GiB".into(),
            image: "out/rpi10.img (4 MiB)".into(),
        }]);
        assert_eq!(
            l,
            "Targets (1):\n  rpi10  /dev/sdb (sdb): Acme SD Reader, 1.0 GiB\n         image out/rpi10.img (4 MiB)"
        );
    }

    #[test]
    fn two_paths_to_one_file_are_the_same_target() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("card");
        std::fs::write(&f, b"x").unwrap();
        let pair = |node: &str, target: PathBuf| Pair {
            node: clem_image::node::NodeName::new(node).unwrap(),
            image: "i".into(),
            bmap: None,
            target,
        };
        let a = pair("rpi1", f.clone());
        let b = pair("rpi2", d.path().join(".").join("card"));
        let c = pair("rpi3", d.path().join("new"));
        assert!(same_target([&a, &c].into_iter()).is_none());
        let (x, y) = same_target([&a, &c, &b].into_iter()).unwrap();
        assert!(x.starts_with("rpi1") && y.starts_with("rpi2"), "{x} {y}");
        let c2 = pair("rpi4", d.path().join("sub/../new"));
        std::fs::create_dir(d.path().join("sub")).unwrap();
        assert!(same_target([&c, &c2].into_iter()).is_some());
    }
}
