//! Stage 6 of a reading: has cloud-init already run on this image? A seed whose
//! instance-id it has seen is treated as applied, so the node would keep its old state.

use super::image::Img;
use super::{Finding, PreviousRun, Seed};

pub(super) fn previous_run(
    img: &Img<'_>,
    seed: Option<&Seed>,
    findings: &mut Vec<Finding>,
) -> PreviousRun {
    let mut previous = PreviousRun {
        instance_id: img
            .read("/var/lib/cloud/data/instance-id")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        instance_link: img.read_link("/var/lib/cloud/instance").map(|t| {
            t.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        }),
        same_as_seed: false,
    };
    let Some(id) = seed.and_then(|s| s.instance_id.as_deref()) else {
        return previous;
    };
    if previous.instance_id.as_deref() == Some(id) || previous.instance_link.as_deref() == Some(id)
    {
        previous.same_as_seed = true;
        findings.push(Finding::error(format!(
            "cloud-init already ran on this image with instance-id {id} (/var/lib/cloud): it will treat the seed as already applied; give the seed a new instance-id"
        )));
    }
    previous
}
