//! The config's small vocabularies: how docker is exposed, which swarm, which role. Each
//! has one name, used by the file, the reports and the first-boot files alike.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DockerExposure {
    /// Docker API on 2376 with mutual TLS (the default).
    #[default]
    Tls,
    /// Docker API on plain 2375: root for anyone on the network.
    InsecureTcp,
    /// Leave docker as the image has it.
    None,
}

impl DockerExposure {
    pub fn as_str(self) -> &'static str {
        match self {
            DockerExposure::Tls => "tls",
            DockerExposure::InsecureTcp => "insecure-tcp",
            DockerExposure::None => "none",
        }
    }

    pub fn port(self) -> Option<u16> {
        match self {
            DockerExposure::Tls => Some(2376),
            DockerExposure::InsecureTcp => Some(2375),
            DockerExposure::None => None,
        }
    }
}

/// `[swarm] mode` as the file says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmKind {
    /// No swarm: docker only.
    None,
    /// Docker's built-in swarm mode: `docker swarm join --token … manager:2377`.
    SwarmMode,
    /// The standalone swarm of 2015: an agent container with a discovery URL.
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Manager,
    Worker,
}

impl Role {
    /// The name the config, the reports and the swarm use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the swarm of a resolved config is, by name: the reports and the first-boot files
/// carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwarmSetup {
    None,
    ZeroTouch,
    /// Joining a given manager with a given token.
    SwarmMode,
    Legacy,
}

impl SwarmSetup {
    pub fn as_str(self) -> &'static str {
        match self {
            SwarmSetup::None => "none",
            SwarmSetup::ZeroTouch => "zero-touch",
            SwarmSetup::SwarmMode => "swarm-mode",
            SwarmSetup::Legacy => "legacy",
        }
    }
}

impl fmt::Display for SwarmSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_each_in_json_text_and_toml() {
        for r in [Role::Manager, Role::Worker] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.to_string(), r.as_str());
            let back: Role = serde_json::from_value(r.as_str().into()).unwrap();
            assert_eq!(back, r);
        }
        for s in [
            SwarmSetup::None,
            SwarmSetup::ZeroTouch,
            SwarmSetup::SwarmMode,
            SwarmSetup::Legacy,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
        }
        for d in [
            DockerExposure::Tls,
            DockerExposure::InsecureTcp,
            DockerExposure::None,
        ] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        assert_eq!(DockerExposure::None.port(), None);
    }
}
