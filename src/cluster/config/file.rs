//! `cluster.toml` as serde reads it: every key, with the spans of the values a later check
//! may have to point at. Unknown keys are refused here.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;
use super::kinds::{DockerExposure, Role, SwarmKind};
use crate::cluster::values::{Cidr, Discovery, HostPort, ImageRef, Interface, Token, UserName};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterSection {
    #[serde(default)]
    pub ssh_keys: Vec<toml::Spanned<PathBuf>>,
    /// The upstream image to build from when `--image` is not given.
    pub image: Option<toml::Spanned<PathBuf>>,
    pub docker: Option<DockerExposure>,
    pub interface: Option<Interface>,
    pub gateway: Option<toml::Spanned<IpAddr>>,
    #[serde(default)]
    pub dns: Vec<IpAddr>,
    /// A docker `.snap` to install offline on Snappy 15.04 (the store is gone).
    pub docker_snap: Option<toml::Spanned<PathBuf>>,
    /// A directory of `.deb` files (docker, its CLI, their dependencies) installed at first
    /// boot with no network, on Debian-family images without docker.
    pub docker_debs: Option<toml::Spanned<PathBuf>>,
    /// The login user cloud-init creates (default: `pi` on Raspberry Pi OS, `ubuntu` on
    /// Ubuntu).
    pub user: Option<UserName>,
    /// Extra cloud-config, from a file or inline (not both).
    pub cloud_config: Option<toml::Spanned<PathBuf>>,
    pub cloud_config_inline: Option<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SwarmSection {
    pub mode: Option<SwarmKind>,
    /// Overlay address pool for `swarm init`; chosen automatically when unset.
    pub address_pool: Option<Cidr>,
    pub manager: Option<HostPort>,
    pub token: Option<Token>,
    pub discovery: Option<Discovery>,
    pub image: Option<ImageRef>,
    /// The legacy swarm's image as a `docker save` tarball, loaded at first boot (a 2015
    /// docker may not pull from today's registries).
    pub image_file: Option<toml::Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeSection {
    pub name: toml::Spanned<String>,
    pub address: Option<toml::Spanned<Cidr>>,
    pub role: Option<toml::Spanned<Role>>,
    /// Extra cloud-config, from a file or inline (not both).
    pub cloud_config: Option<toml::Spanned<PathBuf>>,
    pub cloud_config_inline: Option<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    #[serde(default)]
    pub cluster: ClusterSection,
    #[serde(default)]
    pub swarm: SwarmSection,
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeSection>,
}

impl ConfigFile {
    /// `text` (read from `path`) as a config, or the first error at its line.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: parse_message(text, &e),
        })
    }
}

/// The line (from 1) of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A TOML error as `L: message (column C)`, without the quoted source line that
/// toml's own rendering carries (the file may not be a config at all, but a secret).
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            format!("{line}: {message} (column {column})")
        }
        None => format!(" {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_give_line_and_column_but_not_the_text() {
        let text = "[cluster]\nsecret = \"hunter2\"\n";
        let e = ConfigFile::parse(Path::new("c.toml"), text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("c.toml:2: "), "{msg}");
        assert!(msg.contains("(column 1)"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }

    #[test]
    fn an_empty_file_is_all_defaults() {
        let f = ConfigFile::parse(Path::new("c.toml"), "").unwrap();
        assert!(f.nodes.is_empty() && f.swarm.mode.is_none() && f.cluster.docker.is_none());
    }
}
