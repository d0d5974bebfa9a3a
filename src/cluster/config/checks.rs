//! Checks of a parsed config that serde cannot make: values that do not fit together (see
//! `sanity`) and files the config names that are not there, each reported at its line.

use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::file::{line_of, ConfigFile};
use super::kinds::Role;
use crate::cluster::sanity::{self, NodeFacts};

/// The checks of values that parse but do not fit together (see `sanity`), at their lines.
pub(super) fn check_semantics(
    file: &ConfigFile,
    text: &str,
    cfg_path: &Path,
    zero_touch: bool,
) -> Result<(), ConfigError> {
    let facts: Vec<NodeFacts<'_>> = file
        .nodes
        .iter()
        .map(|n| NodeFacts {
            name: n.name.get_ref(),
            name_line: line_of(text, n.name.span().start),
            address: n
                .address
                .as_ref()
                .map(|a| (a.get_ref(), line_of(text, a.span().start))),
            manager_line: n
                .role
                .as_ref()
                .filter(|r| *r.get_ref() == Role::Manager)
                .map(|r| line_of(text, r.span().start)),
        })
        .collect();
    let gateway = file
        .cluster
        .gateway
        .as_ref()
        .map(|g| (*g.get_ref(), line_of(text, g.span().start)));
    sanity::check(&facts, gateway, zero_touch).map_err(|(line, message)| ConfigError::Invalid {
        path: cfg_path.to_owned(),
        line,
        message,
    })
}

/// The files the config names, relative to it, each checked to exist: a missing one is
/// reported at its line now rather than by whatever reads it later.
pub(super) struct NamedFiles {
    pub ssh_keys: Vec<PathBuf>,
    pub image: Option<PathBuf>,
    pub docker_snap: Option<PathBuf>,
    pub docker_debs: Option<PathBuf>,
    pub swarm_image_file: Option<PathBuf>,
}

impl NamedFiles {
    pub fn check(
        file: &ConfigFile,
        text: &str,
        cfg_path: &Path,
        base: &Path,
    ) -> Result<NamedFiles, ConfigError> {
        let resolve =
            |key: &str, p: &toml::Spanned<PathBuf>| existing(key, p, text, cfg_path, base);
        let one = |key: &str, p: &Option<toml::Spanned<PathBuf>>| {
            p.as_ref().map(|p| resolve(key, p)).transpose()
        };
        let c = &file.cluster;
        Ok(NamedFiles {
            ssh_keys: c
                .ssh_keys
                .iter()
                .map(|p| resolve("ssh_keys", p))
                .collect::<Result<_, _>>()?,
            image: one("image", &c.image)?,
            docker_snap: one("docker_snap", &c.docker_snap)?,
            docker_debs: one("docker_debs", &c.docker_debs)?,
            swarm_image_file: one("image_file", &file.swarm.image_file)?,
        })
    }
}

/// A path the config names under `key`, relative to the config: refused at its line when
/// nothing is there.
pub(super) fn existing(
    key: &str,
    p: &toml::Spanned<PathBuf>,
    text: &str,
    cfg_path: &Path,
    base: &Path,
) -> Result<PathBuf, ConfigError> {
    let path = base.join(expand_home(p.get_ref()));
    if path.exists() {
        return Ok(path);
    }
    Err(ConfigError::Invalid {
        path: cfg_path.to_owned(),
        line: line_of(text, p.span().start),
        message: format!(
            "{key}: {}: no such file (paths are relative to the config; ~ is your home)",
            path.display()
        ),
    })
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => p.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_named_file_is_refused_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key.pub"), "ssh-ed25519 AAAA x").unwrap();
        let text = "[cluster]\nssh_keys = [\"key.pub\"]\nimage = \"gone.img\"\n";
        let cfg = dir.path().join("cluster.toml");
        let file = ConfigFile::parse(&cfg, text).unwrap();
        let e = NamedFiles::check(&file, text, &cfg, dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("cluster.toml:3: image: ") && e.contains("gone.img"),
            "{e}"
        );
        let text = "[cluster]\nssh_keys = [\"key.pub\"]\n";
        let file = ConfigFile::parse(&cfg, text).unwrap();
        let named = NamedFiles::check(&file, text, &cfg, dir.path()).unwrap();
        assert_eq!(named.ssh_keys, [dir.path().join("key.pub")]);
        assert_eq!(named.image, None);
    }

    #[test]
    fn two_managers_in_zero_touch_are_refused() {
        let text = "[[node]]\nname = \"a\"\nrole = \"manager\"\n[[node]]\nname = \"b\"\nrole = \"manager\"\n";
        let cfg = Path::new("c.toml");
        let file = ConfigFile::parse(cfg, text).unwrap();
        assert!(check_semantics(&file, text, cfg, true).is_err());
    }
}
