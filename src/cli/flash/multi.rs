//! `flash` with several targets: every target checked before anything is written, one
//! confirmation for all, then one worker per target (each on its own progress line), and a
//! summary of which target holds which node and which failed.

use std::path::PathBuf;

use anyhow::bail;
use indicatif::{MultiProgress, ProgressDrawTarget};

use clem_image::blockdev::{DeviceInfo, TargetKind};
use clem_image::bmap::Bmap;
use clem_image::flash::{flash_many, FlashJob, Outcome};

use super::check::{check_device, classify, confirm, image_line, measure, Classified};
use super::many_report::{self, Listed, Settled};
use super::pairs::Pair;
use super::report::{image_facts, sample_warning, ImageFacts};
use super::{catch_sigint, FlashArgs, Seams};

/// A target that passed every check, with what its job needs.
struct Checked {
    pair: Pair,
    facts: ImageFacts,
    bmap: Option<Bmap>,
    kind: TargetKind,
    create_mode: Option<u32>,
    size: u64,
    info: Option<DeviceInfo>,
}

pub fn run(args: &FlashArgs, pairs: Vec<Pair>, seams: &Seams) -> anyhow::Result<i32> {
    let checked = check_all(args, pairs)?;
    let listed: Vec<Listed> = checked.iter().map(listed).collect();
    eprintln!("{}", many_report::listing(&listed));
    let asks = checked
        .iter()
        .any(|c| !matches!(c.kind, TargetKind::NewFile));
    if asks && !args.yes {
        confirm(&format!("the {} targets above", checked.len()))?;
    }
    let board = if clem_image::progress::enabled() {
        Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
    } else {
        None
    };
    let jobs: Vec<FlashJob> = checked
        .iter()
        .map(|c| job(args, c, seams, board.as_ref()))
        .collect();
    let interrupted = catch_sigint()?;
    let outcomes = flash_many(&jobs, &interrupted, &|i, o| end_line(&jobs[i], o));
    let settled: Vec<Settled> = checked
        .iter()
        .zip(&outcomes)
        .map(|(c, o)| Settled {
            node: c.pair.node.as_str(),
            target: &c.pair.target,
            device: c.info.is_some(),
            outcome: o,
        })
        .collect();
    if args.json {
        let text = serde_json::to_string_pretty(&many_report::json(&settled))?;
        println!("{text}");
    } else {
        println!("{}", many_report::summary(&settled));
        if outcomes.iter().all(Result::is_ok) {
            let facts: Vec<&ImageFacts> = checked.iter().map(|c| &c.facts).collect();
            println!("{}", many_report::next_step(&facts, &settled));
        }
    }
    if let Some(line) = many_report::failed_line(&settled) {
        eprintln!("error: {line}");
    }
    Ok(many_report::exit_code(&outcomes))
}

/// Every target through the same checks as a single one; all problems are reported, and if
/// there is one, nothing is written at all.
fn check_all(args: &FlashArgs, pairs: Vec<Pair>) -> anyhow::Result<Vec<Checked>> {
    let total = pairs.len();
    let mut checked = Vec::new();
    let mut problems = 0;
    let images: Vec<PathBuf> = pairs.iter().map(|p| p.image.clone()).collect();
    for pair in pairs {
        let facts = image_facts(&pair.image, Some(pair.node.as_str()), &mut |n| {
            eprintln!("{n}")
        });
        // Before anything is asked or written: a test image must not be mistaken for a real one.
        if let Some(w) = sample_warning(&facts, &pair.image) {
            eprintln!("{w}");
        }
        match check_one(args, &pair, &images) {
            Ok((bmap, Classified { kind, create_mode }, size, info)) => checked.push(Checked {
                pair,
                facts,
                bmap,
                kind,
                create_mode,
                size,
                info,
            }),
            Err(e) => {
                problems += 1;
                eprintln!("error: {} → {}: {e:#}", pair.node, pair.target.display());
            }
        }
    }
    if let Some((a, b)) = many_report::same_target(checked.iter().map(|c| &c.pair)) {
        problems += 1;
        eprintln!("error: {a} and {b} name the same target");
    }
    if problems > 0 {
        bail!("{problems} of {total} targets did not pass the checks; nothing was written");
    }
    Ok(checked)
}

type OneCheck = (Option<Bmap>, Classified, u64, Option<DeviceInfo>);

fn check_one(args: &FlashArgs, pair: &Pair, images: &[PathBuf]) -> anyhow::Result<OneCheck> {
    let bmap = pair.bmap.as_deref().map(Bmap::load).transpose()?;
    let classified = classify(&pair.image, &pair.target)?;
    for image in images {
        // Another node's image is no more a target than this one's.
        super::check::refuse_same_file(image, &pair.target)?;
    }
    let size = measure(&pair.image, bmap.as_ref())?;
    let info = check_device(&pair.target, &classified.kind, size, args.force)?;
    Ok((bmap, classified, size, info))
}

fn listed(c: &Checked) -> Listed<'_> {
    Listed {
        node: c.pair.node.as_str(),
        target: match (&c.info, &c.kind) {
            (Some(info), _) => info.describe(),
            (None, TargetKind::RegularFile) => {
                format!("{} (an existing file)", c.pair.target.display())
            }
            (None, _) => format!("{} (a new file)", c.pair.target.display()),
        },
        image: image_line(&c.pair.image, c.size, c.bmap.as_ref()),
    }
}

fn job(args: &FlashArgs, c: &Checked, seams: &Seams, board: Option<&MultiProgress>) -> FlashJob {
    let is_file = c.info.is_none();
    let line = board.map(|b| {
        let bar = clem_image::progress::bytes_bar(Some(c.size), "queued");
        bar.set_prefix(c.pair.node.to_string());
        bar.set_message(format!("{} queued", c.pair.node));
        b.add(bar)
    });
    FlashJob {
        image: c.pair.image.clone(),
        bmap: c.bmap.clone(),
        target: c.pair.target.clone(),
        target_is_file: is_file,
        create_mode: c.create_mode,
        // With a bmap, `flash` measures the image itself to hold it against the map's size.
        image_size: c.bmap.is_none().then_some(c.size),
        verify: !args.no_verify,
        progress: false,
        line,
        corrupt_after_write: seams.corrupt_for(&c.pair.target),
        throttle: seams.throttle,
    }
}

/// A target's line says how it ended as soon as it does.
fn end_line(job: &FlashJob, outcome: &Outcome) {
    let Some(line) = &job.line else {
        return;
    };
    // Padded as the passes' words are, so the bars stay in one column.
    let word = match outcome {
        Ok(r) if r.verified => "verified",
        Ok(_) => "written",
        Err(_) => "FAILED",
    };
    let msg = format!("{} {word:9}", line.prefix());
    match outcome {
        Ok(_) => line.finish_with_message(msg),
        Err(_) => line.abandon_with_message(msg),
    }
}
