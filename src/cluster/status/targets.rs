//! Which nodes `status` asks, where it connects to each, and which name it verifies.

use crate::cluster::config::{Cluster, DockerExposure, NodeSpec, Role};
use crate::node::NodeName;

use super::error::StatusError;

/// One node to ask: its name (the TLS verification name) and where to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: NodeName,
    pub role: Role,
    /// `host:port` to connect to.
    pub endpoint: String,
    /// The config gives an address or `--endpoint` a place: not just the bare name.
    pub located: bool,
}

/// Parses `NODE=HOST:PORT`.
pub fn parse_endpoint(s: &str) -> Result<(NodeName, String), StatusError> {
    let syntax = || StatusError::EndpointSyntax(s.to_string());
    let (node, hostport) = s.split_once('=').ok_or_else(syntax)?;
    let node = NodeName::new(node).map_err(|_| syntax())?;
    let (host, port) = hostport.rsplit_once(':').ok_or_else(syntax)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(syntax());
    }
    Ok((node, hostport.to_string()))
}

fn default_endpoint(node: &NodeSpec, port: u16) -> String {
    match node.address.as_ref().map(|c| c.addr) {
        Some(std::net::IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Some(a) => format!("{a}:{port}"),
        None => format!("{}:{port}", node.name),
    }
}

/// The nodes to ask and where: the node's address (else its name) on 2376, unless overridden.
pub fn targets(
    cluster: &Cluster,
    endpoints: &[(NodeName, String)],
) -> Result<Vec<Target>, StatusError> {
    if cluster.docker != DockerExposure::Tls {
        return Err(StatusError::NotTls(cluster.docker.as_str()));
    }
    let port = DockerExposure::Tls.port().expect("tls has a port");
    for (name, ep) in endpoints {
        if !cluster.nodes.iter().any(|n| &n.name == name) {
            return Err(StatusError::EndpointNode(
                format!("{name}={ep}"),
                name.to_string(),
            ));
        }
    }
    Ok(cluster
        .nodes
        .iter()
        .map(|n| {
            let given = endpoints.iter().rev().find(|(name, _)| name == &n.name);
            Target {
                name: n.name.clone(),
                role: n.role,
                endpoint: given
                    .map(|(_, ep)| ep.clone())
                    .unwrap_or_else(|| default_endpoint(n, port)),
                located: given.is_some() || n.address.is_some(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let (n, ep) = parse_endpoint("rpi1=127.0.0.1:22376").unwrap();
        assert_eq!((n.as_str(), ep.as_str()), ("rpi1", "127.0.0.1:22376"));
        assert_eq!(parse_endpoint("rpi1=[::1]:2376").unwrap().1, "[::1]:2376");
        for bad in ["rpi1", "rpi1=host", "rpi1=host:0", "RPI_1=h:1", "rpi1=:5"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_endpoints_use_the_address_else_the_name() {
        let spec = |address: Option<&str>| NodeSpec {
            name: NodeName::new("rpi1").unwrap(),
            address: address.map(|a| a.parse().unwrap()),
            role: Role::Worker,
            cloud_config: None,
        };
        assert_eq!(default_endpoint(&spec(None), 2376), "rpi1:2376");
        assert_eq!(
            default_endpoint(&spec(Some("10.0.5.1/24")), 2376),
            "10.0.5.1:2376"
        );
        assert_eq!(
            default_endpoint(&spec(Some("fd00::1/64")), 2376),
            "[fd00::1]:2376"
        );
    }
}
