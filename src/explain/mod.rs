//! `explain`: what an image will do at its first boot, read from the image's own boot
//! configuration (cloud-init's config and seed, systemd links, clem-image's node.env), and
//! the checks that a seed will really be read ([`check_seed`]), shared by `explain`,
//! `verify` and `build` ([`check_built_image`]).
//!
//! Paths are given as the node sees them (`/etc/...`); [`Img::loc`] maps them onto a
//! partition: on Snappy 15.04 the writable paths live on `writable` (`system-data/...`,
//! `/home` is `user-data/`, `/writable/...` is the partition itself).

mod boot;
mod cloud;
mod engine;
mod finding;
mod image;
mod login;
mod model;
mod net;
mod previous;
mod seed;
mod text;
mod yaml;

use std::path::Path;

use thiserror::Error;

use crate::docker::NodeView;
use crate::inspect::InspectError;
use crate::probe::{self, ImageInfo, ProbeError};
use crate::source::RawImage;
pub use engine::{DockerEngine, EngineInstall, EngineStatus};
pub use finding::{report_findings, Finding, Level};
use image::Img;
pub use model::*;
pub use yaml::Doc;

#[derive(Debug, Error)]
pub enum ExplainError {
    #[error(transparent)]
    Inspect(#[from] InspectError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
}

/// Reads `path` (an `.img`, `.img.xz`) and explains its first boot.
pub fn explain_image(path: &Path) -> Result<Explanation, ExplainError> {
    let raw = RawImage::open(path).map_err(InspectError::from)?;
    let info = probe::probe_as(raw.path(), path)?;
    Ok(explain_raw(&info, raw.path(), path))
}

/// The seed checks for a probed raw image: errors mean the seed will not be (fully) read.
/// Runs only the stages that can find something: not the first boot's network, units or
/// narrative.
pub fn check_seed(info: &ImageInfo, image: &Path) -> Vec<Finding> {
    let img = Img::new(info, image);
    let mut r = Reading::seed_stages(&img);
    let fb = boot::access(&img, &r.view());
    r.findings.extend(login::check(&fb));
    r.engine(&img);
    r.findings.sort_by_key(|a| a.level);
    r.findings
}

/// The seed checks on a finished image (`.img` or `.img.xz`), for `build` and `verify`.
pub fn check_built_image(path: &Path) -> Result<Vec<Finding>, ExplainError> {
    let raw = RawImage::open(path).map_err(InspectError::from)?;
    let info = probe::probe_as(raw.path(), path)?;
    Ok(check_seed(&info, raw.path()))
}

/// Runs `f` on the image at `raw` as the node will see it.
pub fn with_view<R>(info: &ImageInfo, raw: &Path, f: impl FnOnce(&dyn NodeView) -> R) -> R {
    f(&Img::new(info, raw))
}

/// The version of cloud-init installed on the image at `raw`, when it can be read.
pub fn cloud_init_version(info: &ImageInfo, raw: &Path) -> Option<String> {
    cloud::installed_version(&Img::new(info, raw))
}

/// The seed-side stages' pieces, and the findings of every stage so far.
struct Reading {
    cloud_init: CloudInit,
    config: cloud::Config,
    seed: Option<Seed>,
    docs: seed::SeedDocs,
    previous: PreviousRun,
    findings: Vec<Finding>,
}

impl Reading {
    /// Stages 1 to 6: cloud-init's state, the datasource, where the seed is, the seed,
    /// stray seeds, and a previous run.
    fn seed_stages(img: &Img<'_>) -> Reading {
        let mut findings = Vec::new();
        let cloud_init = cloud::cloud_init(img, &mut findings);
        let config = cloud::datasource(img, &cloud_init, &mut findings);
        let location = seed::locate(img, &config.datasource, &mut findings);
        let snappy = img.info.flavour == crate::probe::Flavour::SnappyCore15;
        let (seed, docs) = match location {
            Some(loc) => {
                let (s, d) = seed::read(img, loc, snappy, &mut findings);
                (Some(s), d)
            }
            None => (None, seed::SeedDocs::default()),
        };
        seed::stray(img, seed.as_ref(), &mut findings);
        let previous = previous::previous_run(img, seed.as_ref(), &mut findings);
        Reading {
            cloud_init,
            config,
            seed,
            docs,
            previous,
            findings,
        }
    }

    fn view(&self) -> boot::SeedView<'_> {
        boot::SeedView {
            seeded: self.seed.is_some(),
            docs: &self.docs,
            default_user: self.config.default_user.as_deref().unwrap_or("default"),
        }
    }

    /// Docker's engine: on the image, installed at first boot, or missing.
    fn engine(&mut self, img: &Img<'_>) -> DockerEngine {
        let env = engine::node_env(img);
        engine::engine(img, env.as_ref(), &mut self.findings)
    }
}

fn explain_raw(info: &ImageInfo, raw: &Path, name: &Path) -> Explanation {
    let img = Img::new(info, raw);
    let mut r = Reading::seed_stages(&img);
    let first_boot = boot::first_boot(&img, &r.view());
    r.findings.extend(login::check(&first_boot));
    let docker_engine = r.engine(&img);
    r.findings.sort_by_key(|a| a.level);
    let mut ex = Explanation {
        image: name.display().to_string(),
        flavour: info.flavour,
        os: cloud::os(info),
        cloud_init: r.cloud_init,
        datasource: r.config.datasource,
        seed: r.seed,
        previous_run: r.previous,
        docker_engine,
        first_boot,
        findings: r.findings,
    };
    ex.first_boot.summary = text::summary(&ex);
    ex
}

#[cfg(test)]
mod tests {
    use super::boot::{key_summary, parse_env};
    use super::cloud::cmdline_seedfrom;
    use super::seed::misnamed;

    #[test]
    fn names_and_keys() {
        assert_eq!(misnamed("user-data.yaml"), Some("user-data"));
        assert_eq!(misnamed("meta_data"), Some("meta-data"));
        assert_eq!(misnamed("meta-data"), None);
        assert_eq!(misnamed("config.txt"), None);
        assert_eq!(
            key_summary("ssh-ed25519 AAAA x@y").as_deref(),
            Some("ssh-ed25519 x@y")
        );
        assert_eq!(
            cmdline_seedfrom("a ds=nocloud;s=file:///x/ b").as_deref(),
            Some("file:///x/")
        );
        let env = parse_env("A='b c'\nB=\n");
        assert_eq!(env["A"], "b c");
    }
}
