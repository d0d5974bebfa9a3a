//! Where each flavour keeps the first-boot files on the node, and the unit templates'
//! values, which are these paths and nothing else.

use std::collections::BTreeMap;

use crate::probe::Flavour;

/// Where this flavour keeps the first-boot files on the node.
pub struct Layout {
    /// Directory for node.env, the token and TLS files.
    pub conf_dir: &'static str,
    /// The script.
    pub script: &'static str,
    /// The shell functions both scripts source; next to them, since they find it there.
    pub lib: &'static str,
    /// Extra unit to order after (Snappy's docker unit has a versioned name).
    pub docker_unit: &'static str,
    /// The manager's swarm watch script.
    pub watch_script: &'static str,
    /// Where the done marker lives (must be writable on the node).
    pub state_dir: &'static str,
    /// Where large files for the first boot go (a docker snap, an image tarball).
    pub data_dir: &'static str,
    /// Where an offline docker bundle's `.deb` files go.
    pub debs_dir: &'static str,
}

pub fn layout(flavour: Flavour) -> Layout {
    match flavour {
        // Snappy's /etc and /usr are read-only; /writable is the writable partition itself.
        Flavour::SnappyCore15 => Layout {
            conf_dir: "/writable/clem-image",
            script: "/writable/clem-image/firstboot",
            lib: "/writable/clem-image/lib.sh",
            docker_unit: "snappy-autopilot.service",
            watch_script: "/writable/clem-image/swarm-watch",
            state_dir: "/writable/clem-image/state",
            data_dir: "/writable/clem-image",
            debs_dir: "/writable/clem-image/debs",
        },
        _ => Layout {
            conf_dir: "/etc/clem-image",
            script: "/usr/local/lib/clem-image/firstboot",
            lib: "/usr/local/lib/clem-image/lib.sh",
            docker_unit: "containerd.service",
            watch_script: "/usr/local/lib/clem-image/swarm-watch",
            state_dir: "/var/lib/clem-image",
            data_dir: "/var/lib/clem-image",
            debs_dir: crate::docker::BUNDLE_DIR,
        },
    }
}

impl Layout {
    /// The values of the unit templates (`clem-firstboot.service`, `clem-swarm-watch.service`).
    /// Paths from this table only: validated by construction, so they need no quoting.
    pub fn unit_vars(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("conf_dir", self.conf_dir.to_string()),
            ("script", self.script.to_string()),
            ("docker_unit", self.docker_unit.to_string()),
            ("watch_script", self.watch_script.to_string()),
            ("state_dir", self.state_dir.to_string()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overlay::{FIRSTBOOT_UNIT, SWARM_WATCH_UNIT};

    const FLAVOURS: [Flavour; 3] = [
        Flavour::SnappyCore15,
        Flavour::RaspberryPiOs,
        Flavour::UbuntuPi,
    ];

    #[test]
    fn units_render_with_every_layout_and_use_every_value() {
        for f in FLAVOURS {
            let lay = layout(f);
            let vars = lay.unit_vars();
            let mut used = FIRSTBOOT_UNIT.placeholders();
            used.extend(SWARM_WATCH_UNIT.placeholders());
            let given: std::collections::BTreeSet<&str> = vars.keys().copied().collect();
            assert_eq!(used, given, "{f:?}");
            for t in [FIRSTBOOT_UNIT, SWARM_WATCH_UNIT] {
                let text = t.render(&vars).unwrap();
                assert!(!text.contains("{{"), "{}: {text}", t.name);
            }
            let unit = FIRSTBOOT_UNIT.render(&vars).unwrap();
            assert!(unit.contains(&format!("\nExecStart=/bin/bash {}\n", lay.script)));
        }
    }

    #[test]
    fn the_scripts_and_their_library_share_one_directory() {
        // The scripts source lib.sh from their own directory.
        let dir = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string());
        for f in FLAVOURS {
            let lay = layout(f);
            assert_eq!(dir(lay.lib), dir(lay.script), "{f:?}");
            assert_eq!(dir(lay.lib), dir(lay.watch_script), "{f:?}");
        }
    }
}
