//! Config values that parse but cannot work together: duplicate or reserved addresses, a
//! gateway the nodes cannot reach, nodes in different subnets, two managers that would each
//! start a swarm, host names longer than Linux allows. Each finding names a line.

use std::net::IpAddr;

use super::values::Cidr;

/// Linux's longest host name (`HOST_NAME_MAX`).
pub const MAX_HOST_NAME: usize = 64;

/// What the checks need to know about one `[[node]]`, with the lines of its values.
pub struct NodeFacts<'a> {
    pub name: &'a str,
    pub name_line: usize,
    pub address: Option<(&'a Cidr, usize)>,
    /// The line of `role = "manager"`, when it says so.
    pub manager_line: Option<usize>,
}

/// A finding: the line and what is wrong.
pub type Finding = (usize, String);

/// Checks the nodes and the gateway; `zero_touch` when every manager would `swarm init`.
pub fn check(
    nodes: &[NodeFacts<'_>],
    gateway: Option<(IpAddr, usize)>,
    zero_touch: bool,
) -> Result<(), Finding> {
    for (i, n) in nodes.iter().enumerate() {
        if n.name.len() > MAX_HOST_NAME {
            return Err((
                n.name_line,
                format!(
                    "node name {:?} is {} characters: a Linux host name has at most {MAX_HOST_NAME}",
                    n.name,
                    n.name.len()
                ),
            ));
        }
        let Some((addr, line)) = n.address else {
            continue;
        };
        usable(addr).map_err(|why| (line, format!("{}: address {addr} {why}", n.name)))?;
        for m in &nodes[..i] {
            let Some((other, _)) = m.address else {
                continue;
            };
            if other.addr == addr.addr {
                return Err((
                    line,
                    format!("{}: address {} is also {}'s", n.name, addr.addr, m.name),
                ));
            }
            if network(other) != network(addr) {
                return Err((
                    line,
                    format!(
                        "{}: {addr} is in subnet {}, but {}'s {other} is in {}: the nodes must share one subnet",
                        n.name,
                        show(network(addr)),
                        m.name,
                        show(network(other))
                    ),
                ));
            }
        }
    }
    if let Some(gw) = gateway {
        check_gateway(nodes, gw)?;
    }
    if zero_touch {
        let mut managers = nodes.iter().filter_map(|n| n.manager_line.map(|l| (n, l)));
        if let (Some((first, _)), Some((second, line))) = (managers.next(), managers.next()) {
            return Err((
                line,
                format!(
                    "{} and {} both have role = \"manager\": in zero-touch mode each manager runs \
                     `docker swarm init`, which makes two swarms; give one manager",
                    first.name, second.name
                ),
            ));
        }
    }
    Ok(())
}

fn check_gateway(nodes: &[NodeFacts<'_>], (gw, line): (IpAddr, usize)) -> Result<(), Finding> {
    if gw.is_unspecified() || gw.is_loopback() || gw.is_multicast() {
        return Err((line, format!("gateway {gw} is {}", kind_of(gw))));
    }
    for n in nodes {
        let Some((addr, _)) = n.address else { continue };
        if addr.addr == gw {
            return Err((line, format!("gateway {gw} is {}'s own address", n.name)));
        }
        let gw_net = network(&Cidr {
            addr: gw,
            prefix: addr.prefix,
        });
        if gw_net != network(addr) {
            return Err((
                line,
                format!(
                    "gateway {gw} is outside {}'s subnet {}: the node could not reach it",
                    n.name,
                    show(network(addr))
                ),
            ));
        }
        if let Some(why) = edge_of_subnet(gw, addr.prefix) {
            return Err((
                line,
                format!("gateway {gw} is {why} of {}", show(network(addr))),
            ));
        }
    }
    Ok(())
}

fn kind_of(a: IpAddr) -> &'static str {
    if a.is_unspecified() {
        "the unspecified address"
    } else if a.is_loopback() {
        "a loopback address"
    } else {
        "a multicast address"
    }
}

/// Why a node cannot have this address, if it cannot.
fn usable(c: &Cidr) -> Result<(), String> {
    let a = c.addr;
    if a.is_unspecified() || a.is_loopback() || a.is_multicast() {
        return Err(format!("is {}", kind_of(a)));
    }
    if a == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        return Err("is the broadcast address".into());
    }
    if let Some(why) = edge_of_subnet(a, c.prefix) {
        return Err(format!("is {why} of {}, not a host's", show(network(c))));
    }
    Ok(())
}

/// IPv4 only: the first and last address of a subnet of 4 or more are not a host's.
fn edge_of_subnet(a: IpAddr, prefix: u8) -> Option<&'static str> {
    let IpAddr::V4(v4) = a else { return None };
    if prefix > 30 {
        return None;
    }
    let host_bits = u32::MAX >> prefix;
    let bits = u32::from(v4) & host_bits;
    if bits == 0 {
        Some("the network address")
    } else if bits == host_bits {
        Some("the broadcast address")
    } else {
        None
    }
}

/// The subnet's first address and prefix; addresses of different families never match.
fn network(c: &Cidr) -> (IpAddr, u8) {
    let addr = match c.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(c.prefix))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    (addr, c.prefix)
}

fn show((a, p): (IpAddr, u8)) -> String {
    format!("{a}/{p}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node<'a>(name: &'a str, addr: &'a Cidr, line: usize) -> NodeFacts<'a> {
        NodeFacts {
            name,
            name_line: line,
            address: Some((addr, line + 1)),
            manager_line: None,
        }
    }

    #[test]
    fn subnets_edges_and_gateways() {
        let a: Cidr = "10.0.5.11/24".parse().unwrap();
        let b: Cidr = "10.0.5.12/24".parse().unwrap();
        let ok = [node("rpi1", &a, 1), node("rpi2", &b, 5)];
        assert!(check(&ok, Some(("10.0.5.1".parse().unwrap(), 9)), true).is_ok());
        let e = check(&ok, Some(("10.0.6.1".parse().unwrap(), 9)), false).unwrap_err();
        assert_eq!(e.0, 9);
        assert!(e.1.contains("outside rpi1's subnet 10.0.5.0/24"), "{}", e.1);
        let edge: Cidr = "10.0.5.255/24".parse().unwrap();
        let e = check(&[node("rpi1", &edge, 1)], None, false).unwrap_err();
        assert_eq!(
            e,
            (
                2,
                "rpi1: address 10.0.5.255/24 is the broadcast address of 10.0.5.0/24, not a host's"
                    .into()
            )
        );
        // A /31 or /32 has no network or broadcast address.
        let p2p: Cidr = "10.0.5.0/31".parse().unwrap();
        assert!(check(&[node("rpi1", &p2p, 1)], None, false).is_ok());
        let v6: Cidr = "fd00::1/64".parse().unwrap();
        let v6b: Cidr = "fd00:0:0:1::1/64".parse().unwrap();
        let e = check(&[node("a", &v6, 1), node("b", &v6b, 3)], None, false).unwrap_err();
        assert!(e.1.contains("fd00:0:0:1::/64"), "{}", e.1);
    }
}
