//! What `flash` knows about the image beyond its bytes (the node it was built for, whether
//! it is the bundled test sample), and what it says when done: the facts, as text or
//! `--json`, and the next step.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use clem_image::blockdev::human_bytes;
use clem_image::flash::FlashReport;
use clem_image::io::regular::{read_user_file, SIDECAR};
use clem_image::node::NodeName;

use crate::cli::sample::is_sample;

/// Whether the image is a test image that does not boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sample {
    No,
    /// The bundled sample itself (by path or by content).
    Bundled,
    /// Built from it: the manifest beside the image says `"sample": true`.
    BuiltFrom,
}

pub struct ImageFacts {
    pub node: Option<NodeName>,
    pub sample: Sample,
    /// The manifest read, if there was one beside the image.
    pub manifest: Option<PathBuf>,
}

/// The few manifest fields flash uses; everything else in it is ignored, and a missing
/// field is its default (older manifests have no `sample`).
#[derive(Deserialize)]
struct ManifestFacts {
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    sample: bool,
}

/// `DIR/rpi1.img`, `DIR/rpi1.img.xz`, … → `DIR/rpi1.manifest.json`, where `build` puts it.
fn manifest_beside(image: &Path) -> Option<PathBuf> {
    let name = image.file_name()?.to_str()?;
    let stem = &name[..name.find(".img")?];
    if stem.is_empty() {
        return None;
    }
    Some(image.with_file_name(format!("{stem}.manifest.json")))
}

/// Reads what is known about `image`; `node` is the one given with `--node`. A manifest
/// that cannot be read is only a note: flashing does not need it.
pub fn image_facts(image: &Path, node: Option<&str>, note: &mut dyn FnMut(String)) -> ImageFacts {
    let mut facts = ImageFacts {
        node: node.and_then(|n| NodeName::new(n).ok()),
        sample: if is_sample(image) {
            Sample::Bundled
        } else {
            Sample::No
        },
        manifest: None,
    };
    let Some(path) = manifest_beside(image).filter(|p| p.exists()) else {
        return facts;
    };
    let parsed = read_user_file(&path, SIDECAR)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<ManifestFacts>(&b).map_err(|e| e.to_string()));
    match parsed {
        Ok(m) => {
            if facts.node.is_none() {
                facts.node = m.node.as_deref().and_then(|n| NodeName::new(n).ok());
            }
            if m.sample && facts.sample == Sample::No {
                facts.sample = Sample::BuiltFrom;
            }
            facts.manifest = Some(path);
        }
        Err(e) => note(format!("note: {}: not read ({e})", path.display())),
    }
    facts
}

/// The warning for a test image, printed before anything is written.
pub fn sample_warning(facts: &ImageFacts, image: &Path) -> Option<String> {
    let what = match facts.sample {
        Sample::No => return None,
        Sample::Bundled => "is clem-image's bundled test sample",
        Sample::BuiltFrom => {
            "was built from clem-image's bundled test sample (its manifest says so)"
        }
    };
    Some(format!(
        "warning: {} {what}, a scaled-down image for the tests: a Pi will NOT boot from it. \
         Build from your upstream image (`clem-image build --image UPSTREAM.img.xz`) and flash that",
        image.display()
    ))
}

/// What to do after a successful flash; only what is true for this image and target.
pub fn next_step(facts: &ImageFacts, target: &Path, device: bool, verified: bool) -> String {
    let unverified = if verified {
        ""
    } else {
        " It was NOT read back (--no-verify)."
    };
    if facts.sample != Sample::No {
        return format!("Next: nothing to boot: this is a test image.{unverified}");
    }
    if !device {
        return format!(
            "Next: {} holds the image; write it to a card with `clem-image flash {} /dev/sdX`.{unverified}",
            target.display(),
            target.display()
        );
    }
    let Some(node) = &facts.node else {
        return format!(
            "Next: remove the card from {} and power on a Pi with it.{unverified}",
            target.display()
        );
    };
    format!(
        "Next: remove the card from {dev}, insert it in {node} and power it on.{unverified} \
         Its first boot takes a few minutes (longer when it installs docker); with docker \
         on TLS (the default), `clem-image status --config CLUSTER.toml --wait 15m` shows \
         when {node} has joined.",
        dev = target.display()
    )
}

/// `--json`'s object: what was flashed where, and how it went.
#[derive(Serialize)]
pub struct FlashJson<'a> {
    pub image: &'a Path,
    pub target: &'a Path,
    pub target_is_device: bool,
    pub node: Option<&'a str>,
    pub sample: Sample,
    pub manifest: Option<&'a Path>,
    pub bmap: Option<&'a Path>,
    pub image_size: u64,
    pub bytes_written: u64,
    pub verified: bool,
    pub image_sha256: Option<&'a str>,
    pub direct_io: bool,
    pub write_seconds: f64,
    pub verify_seconds: Option<f64>,
    pub next: String,
}

/// The human summary of a finished flash.
pub fn summary(r: &FlashReport, target: &Path) -> String {
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let mut s = format!(
        "Wrote {} to {} in {:.1} s{}{}",
        human_bytes(r.bytes_written),
        target.display(),
        secs(r.write_time),
        if r.direct_io { "" } else { " (cached I/O)" },
        if r.verified {
            format!("; verified in {:.1} s", secs(r.verify_time))
        } else {
            "; NOT verified (--no-verify)".to_string()
        }
    );
    if let Some(h) = &r.image_sha256 {
        s.push_str(&format!("\nImage SHA-256: {h}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_sits_beside_the_image_under_the_node_name() {
        let m = |p: &str| manifest_beside(Path::new(p)).map(|p| p.display().to_string());
        assert_eq!(m("out/rpi1.img").as_deref(), Some("out/rpi1.manifest.json"));
        assert_eq!(m("/x/n01.img.xz").as_deref(), Some("/x/n01.manifest.json"));
        assert_eq!(m("disk.raw"), None);
        assert_eq!(m(".img"), None);
    }

    fn facts(node: Option<&str>, sample: Sample) -> ImageFacts {
        ImageFacts {
            node: node.map(|n| NodeName::new(n).unwrap()),
            sample,
            manifest: None,
        }
    }

    #[test]
    fn the_next_step_fits_the_image_and_the_target() {
        let dev = Path::new("/dev/sdz");
        let built = next_step(&facts(Some("rpi3"), Sample::No), dev, true, true);
        assert!(
            built.contains("insert it in rpi3 and power it on"),
            "{built}"
        );
        assert!(built.contains("clem-image status --config"), "{built}");
        assert!(!built.contains("NOT"), "{built}");
        // An image not built by clem-image: no node, no cluster to watch.
        let stock = next_step(&facts(None, Sample::No), dev, true, false);
        assert!(!stock.contains("status"), "{stock}");
        assert!(stock.contains("NOT read back"), "{stock}");
        // A test image boots nowhere, whatever the target.
        for s in [Sample::Bundled, Sample::BuiltFrom] {
            let t = next_step(&facts(Some("rpi1"), s), dev, true, true);
            assert!(!t.contains("power"), "{t}");
        }
        let file = next_step(
            &facts(Some("rpi1"), Sample::No),
            Path::new("x.img"),
            false,
            true,
        );
        assert!(file.contains("clem-image flash x.img"), "{file}");
    }
}
