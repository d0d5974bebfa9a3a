//! Which image family an image is: part of what the probe finds, so every reader and the
//! patchers in [`crate::flavour`] agree on it.

use serde::Serialize;

use super::ImageInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// Ubuntu Snappy Core 15.04: A/B system partitions plus `writable`.
    #[serde(rename = "snappy-core-15")]
    SnappyCore15,
    /// Raspberry Pi OS: `bootfs` + `rootfs`.
    RaspberryPiOs,
    /// Ubuntu for Raspberry Pi (server/desktop, cloud-init on `system-boot`).
    UbuntuPi,
    Unknown,
}

impl Flavour {
    pub fn detect(info: &ImageInfo, has_writable_paths: bool) -> Flavour {
        let id = info.os_release.get("ID").map(String::as_str).unwrap_or("");
        let id_like = info
            .os_release
            .get("ID_LIKE")
            .map(String::as_str)
            .unwrap_or("");
        if has_writable_paths && info.by_label("writable").is_some() {
            return Flavour::SnappyCore15;
        }
        if id == "raspbian" || (id == "debian" && info.by_label("bootfs").is_some()) {
            return Flavour::RaspberryPiOs;
        }
        if (id == "ubuntu" || id_like.contains("ubuntu")) && info.by_label("system-boot").is_some()
        {
            return Flavour::UbuntuPi;
        }
        Flavour::Unknown
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::SnappyCore15 => "snappy-core-15",
            Flavour::RaspberryPiOs => "raspberry-pi-os",
            Flavour::UbuntuPi => "ubuntu-pi",
            Flavour::Unknown => "unknown",
        }
    }
}
