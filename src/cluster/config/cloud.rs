//! The extra cloud-config a `[cluster]` or `[[node]]` section points at: a file next to the
//! config, or inline text whose findings are reported at their lines in the config.

use std::path::{Path, PathBuf};

use super::checks::existing;
use super::error::ConfigError;
use super::file::line_of;
use crate::cloudinit::{Fragment, Origin};

/// Reads the extra cloud-config a section points at (`file` or `inline`, not both).
pub(super) fn load_cloud_config(
    file: Option<&toml::Spanned<PathBuf>>,
    inline: Option<&toml::Spanned<String>>,
    cfg_path: &Path,
    base: &Path,
    text: &str,
) -> Result<Option<Fragment>, ConfigError> {
    match (file, inline) {
        (Some(p), Some(_)) => Err(ConfigError::Invalid {
            path: cfg_path.to_owned(),
            line: line_of(text, p.span().start),
            message: "cloud_config (a file) and cloud_config_inline (text): give one".into(),
        }),
        (Some(p), None) => {
            let path = existing("cloud_config", p, text, cfg_path, base)?;
            Ok(Some(Fragment::read(&path)?))
        }
        (None, Some(inline)) => {
            let raw = &text[inline.span()];
            // A multi-line string's first line break is not part of its value.
            let skip = usize::from(
                ["\"\"\"\n", "'''\n", "\"\"\"\r\n", "'''\r\n"]
                    .iter()
                    .any(|q| raw.starts_with(q)),
            );
            let origin = Origin {
                file: cfg_path.display().to_string(),
                first_line: line_of(text, inline.span().start) + skip,
            };
            Ok(Some(Fragment::parse(inline.get_ref(), origin)?))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::file::ConfigFile;
    use super::*;

    #[test]
    fn file_and_inline_together_are_refused_at_the_file_key() {
        let text =
            "[cluster]\ncloud_config = \"x.yaml\"\ncloud_config_inline = \"#cloud-config\"\n";
        let cfg = Path::new("c.toml");
        let f = ConfigFile::parse(cfg, text).unwrap();
        let e = load_cloud_config(
            f.cluster.cloud_config.as_ref(),
            f.cluster.cloud_config_inline.as_ref(),
            cfg,
            Path::new("."),
            text,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("c.toml:2: cloud_config (a file)"),
            "{e}"
        );
        assert!(load_cloud_config(None, None, cfg, Path::new("."), text)
            .unwrap()
            .is_none());
    }
}
