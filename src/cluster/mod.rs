//! The cluster: its config, its TLS material, and what each node does on first boot.

pub mod config;
pub mod firstboot;
pub mod login;
pub mod oneca;
pub mod sanity;
pub mod status;
pub mod tls;
pub mod values;
