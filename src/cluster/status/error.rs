//! What stops `status` before it asks any node: the operator's TLS files, an `--endpoint`
//! that does not parse or names no node, a cluster whose docker API is not on TLS.

use thiserror::Error;

use super::tls::ClientTlsError;

#[derive(Debug, Error)]
pub enum StatusError {
    #[error(transparent)]
    Tls(#[from] ClientTlsError),
    #[error("--endpoint {0:?}: expected NODE=HOST:PORT (e.g. rpi1=127.0.0.1:22376)")]
    EndpointSyntax(String),
    #[error("--endpoint {0}: {1} is not a node of this cluster")]
    EndpointNode(String, String),
    #[error("status needs docker = \"tls\" (the cluster's docker API is {0})")]
    NotTls(&'static str),
}
