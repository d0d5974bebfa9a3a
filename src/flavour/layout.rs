//! Where each flavour keeps the first-boot files on the node (the node's own paths; the
//! flavour's plan maps them onto partitions). Snappy's are all under `/writable`, its
//! `/etc` and `/usr` being read-only.

use crate::cluster::firstboot::Layout;
use crate::probe::Flavour;

/// The first-boot layout of `flavour`.
pub fn layout(flavour: Flavour) -> Layout {
    match flavour {
        Flavour::SnappyCore15 => Layout {
            conf_dir: "/writable/clem-image",
            script: "/writable/clem-image/firstboot",
            docker_unit: "snappy-autopilot.service",
            watch_script: "/writable/clem-image/swarm-watch",
            state_dir: "/writable/clem-image/state",
            data_dir: "/writable/clem-image",
            debs_dir: "/writable/clem-image/debs",
        },
        _ => Layout {
            conf_dir: "/etc/clem-image",
            script: "/usr/local/lib/clem-image/firstboot",
            docker_unit: "containerd.service",
            watch_script: "/usr/local/lib/clem-image/swarm-watch",
            state_dir: "/var/lib/clem-image",
            data_dir: "/var/lib/clem-image",
            debs_dir: crate::docker::BUNDLE_DIR,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::firstboot;
    use crate::flavour::snappy::{place, Place};

    fn paths(l: &Layout) -> [&'static str; 6] {
        [
            l.conf_dir,
            l.script,
            l.watch_script,
            l.state_dir,
            l.data_dir,
            l.debs_dir,
        ]
    }

    #[test]
    fn snappy_keeps_every_first_boot_file_on_writable() {
        for p in paths(&layout(Flavour::SnappyCore15)) {
            assert!(
                matches!(place(p), Place::Writable(_)),
                "{p} is not on writable"
            );
        }
    }

    /// Until cluster::firstboot takes its layout from here, the two must agree.
    #[test]
    fn agrees_with_first_boot() {
        for f in [
            Flavour::SnappyCore15,
            Flavour::RaspberryPiOs,
            Flavour::UbuntuPi,
            Flavour::Unknown,
        ] {
            let (ours, theirs) = (layout(f), firstboot::layout(f));
            assert_eq!(paths(&ours), paths(&theirs), "{f:?}");
            assert_eq!(ours.docker_unit, theirs.docker_unit, "{f:?}");
        }
    }
}
