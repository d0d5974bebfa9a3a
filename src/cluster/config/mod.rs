//! The cluster config (`cluster.toml`): what every node shares and what each node owns.
//! Unknown keys and bad values are errors that name the line; CLI flags override it.
//!
//! `file` is the file as serde reads it, `checks` and `cloud` what serde cannot check,
//! `swarm` the choice of swarm, `load` the steps from a path to a `Cluster` (`model`), and
//! `kinds` the small vocabularies (`Role`, `DockerExposure`, …) everything else shares.

mod checks;
mod cloud;
mod error;
mod file;
mod kinds;
mod load;
mod model;
mod swarm;

pub use error::ConfigError;
pub use kinds::{DockerExposure, Role, SwarmKind, SwarmSetup};
pub use model::{Cluster, NodeSpec, Overrides, Swarm, DEFAULT_LEGACY_IMAGE};
pub use swarm::overlay_pool;
