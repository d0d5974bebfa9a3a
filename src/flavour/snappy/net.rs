//! A node's static address on Snappy 15.04: an ifupdown file in `interfaces.d`, which is a
//! transition path (copied first).

use std::collections::BTreeMap;

use super::paths::{written, IFACES_DIR};
use super::{transition, NodeInputs, Parts};
use crate::cluster::values::Cidr;
use crate::flavour::PlanError;
use crate::plan::{NodePlan, OpKind, Owner};

/// The dotted netmask of a prefix length.
fn netmask(prefix: u8) -> String {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    std::net::Ipv4Addr::from(bits).to_string()
}

/// The `gateway` and `dns-nameservers` lines of the interface's stanza.
fn options(inp: &NodeInputs<'_>) -> String {
    let c = inp.cluster;
    let mut options = String::new();
    if let Some(gw) = c.gateway {
        options.push_str(&format!("    gateway {gw}\n"));
    }
    if !c.dns.is_empty() {
        let dns: Vec<String> = c.dns.iter().map(ToString::to_string).collect();
        options.push_str(&format!("    dns-nameservers {}\n", dns.join(" ")));
    }
    options
}

/// The interface file for `addr` (IPv4 only: 15.04's ifupdown setup has no IPv6 here).
pub(super) fn static_address(
    parts: &Parts,
    inp: &NodeInputs<'_>,
    addr: &Cidr,
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    if addr.addr.is_ipv6() {
        return Err(PlanError::SnappyIpv6 {
            node: inp.node.name.clone(),
        });
    }
    transition::copy(parts, IFACES_DIR, plan)?;
    let c = inp.cluster;
    let mut vars = BTreeMap::new();
    vars.insert("node", inp.node.name.to_string());
    vars.insert("interface", c.interface.to_string());
    vars.insert("address", addr.addr.to_string());
    vars.insert("netmask", netmask(addr.prefix));
    vars.insert("options", options(inp));
    let body = crate::overlay::SNAPPY_INTERFACES.render(&vars)?;
    plan.push(parts.op(
        &written(&format!("{IFACES_DIR}/{}", c.interface)),
        OpKind::File {
            data: body.into_bytes(),
        },
        Owner::root(0o644),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::netmask;

    #[test]
    fn netmask_of_prefixes() {
        assert_eq!(netmask(24), "255.255.255.0");
        assert_eq!(netmask(0), "0.0.0.0");
        assert_eq!(netmask(32), "255.255.255.255");
        assert_eq!(netmask(40), "255.255.255.255");
    }
}
