//! The node's network at first boot: addresses, default gateway and DNS servers, from the
//! seed's network-config (version 2, or version 1's subnets) and on Snappy 15.04 from
//! `/etc/network/interfaces.d`.

use super::image::Img;
use super::yaml::Doc;
use super::{FirstBoot, NetAddress};
use crate::fs::EntryKind;

fn fact(interface: &str, address: String, from: &str) -> NetAddress {
    NetAddress {
        interface: interface.to_string(),
        address,
        from: from.to_string(),
    }
}

pub(super) fn network(img: &Img<'_>, net: Option<&Doc>, snappy: bool, fb: &mut FirstBoot) {
    if let Some(doc) = net {
        network_config(doc, fb);
    }
    if snappy {
        interfaces_d(img, fb);
    }
}

/// network-config version 2 (`ethernets.<if>`), or version 1 (`config.<n>.subnets`).
fn network_config(doc: &Doc, fb: &mut FirstBoot) {
    let prefix = if doc.has("network.version") {
        "network."
    } else {
        ""
    };
    let from = "network-config";
    let mut ifaces: Vec<String> = Vec::new();
    for (k, _) in doc.entries() {
        if let Some(rest) = k.strip_prefix(&format!("{prefix}ethernets.")) {
            let name = rest.split('.').next().unwrap_or("").to_string();
            if !ifaces.contains(&name) {
                ifaces.push(name);
            }
        }
    }
    for i in &ifaces {
        let base = format!("{prefix}ethernets.{i}");
        let list = |k: &str| doc.list(&format!("{base}.{k}")).unwrap_or_default();
        for a in list("addresses") {
            fb.network.push(fact(i, a, from));
        }
        if doc
            .get(&format!("{base}.dhcp4"))
            .is_some_and(|v| v == "true")
        {
            fb.network.push(fact(i, "dhcp".into(), from));
        }
        if let Some(gw) = doc.get(&format!("{base}.gateway4")) {
            fb.gateways.push(fact(i, gw, from));
        }
        for r in 0.. {
            let route = format!("{base}.routes.{r}");
            if !doc.has(&route) {
                break;
            }
            let to = doc.get(&format!("{route}.to")).unwrap_or_default();
            if matches!(to.as_str(), "default" | "0.0.0.0/0" | "::/0") {
                if let Some(via) = doc.get(&format!("{route}.via")) {
                    fb.gateways.push(fact(i, via, from));
                }
            }
        }
        for d in list("nameservers.addresses") {
            fb.dns.push(fact(i, d, from));
        }
    }
    version1(doc, prefix, fb);
}

/// Version 1: `config: [{type: physical, name, subnets: [{address, gateway, dns_nameservers}]}]`.
fn version1(doc: &Doc, prefix: &str, fb: &mut FirstBoot) {
    let from = "network-config";
    for n in 0.. {
        let base = format!("{prefix}config.{n}");
        if !doc.has(&base) {
            break;
        }
        let name = doc.get(&format!("{base}.name")).unwrap_or_default();
        for s in 0.. {
            let sub = format!("{base}.subnets.{s}");
            if !doc.has(&sub) {
                break;
            }
            let get = |k: &str| doc.get(&format!("{sub}.{k}"));
            match get("type").as_deref() {
                Some("dhcp" | "dhcp4") => fb.network.push(fact(&name, "dhcp".into(), from)),
                _ => {
                    if let Some(a) = get("address") {
                        fb.network.push(fact(&name, a, from));
                    }
                }
            }
            if let Some(gw) = get("gateway") {
                fb.gateways.push(fact(&name, gw, from));
            }
            let dns = doc
                .list(&format!("{sub}.dns_nameservers"))
                .unwrap_or_default();
            for d in dns {
                fb.dns.push(fact(&name, d, from));
            }
        }
    }
}

/// Snappy 15.04's `/etc/network/interfaces.d/*`: `iface`, `address`, `netmask`,
/// `gateway`, `dns-nameservers`.
fn interfaces_d(img: &Img<'_>, fb: &mut FirstBoot) {
    let mut names: Vec<String> = img
        .list("/etc/network/interfaces.d")
        .into_iter()
        .filter(|c| c.kind == EntryKind::File)
        .map(|c| c.name)
        .collect();
    names.sort();
    for name in names {
        let path = format!("/etc/network/interfaces.d/{name}");
        let text = img.read(&path).unwrap_or_default();
        let (mut iface, mut addr, mut mask) = (None, None, None);
        let (mut gateway, mut dns) = (None, Vec::new());
        for l in text.lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["iface", i, "inet", m, ..] => {
                    iface = Some(i.to_string());
                    if *m == "dhcp" {
                        addr = Some("dhcp".to_string());
                    }
                }
                ["address", a, ..] => addr = Some(a.to_string()),
                ["netmask", m, ..] => mask = Some(m.to_string()),
                ["gateway", g, ..] => gateway = Some(g.to_string()),
                ["dns-nameservers", rest @ ..] => dns.extend(rest.iter().map(|d| d.to_string())),
                _ => {}
            }
        }
        let Some(i) = iface else { continue };
        if let Some(a) = addr {
            let address = match mask.and_then(|m| m.parse::<std::net::Ipv4Addr>().ok()) {
                Some(m) if a != "dhcp" => format!("{a}/{}", u32::from(m).count_ones()),
                _ => a,
            };
            fb.network.push(fact(&i, address, &path));
        }
        if let Some(g) = gateway {
            fb.gateways.push(fact(&i, g, &path));
        }
        for d in dns {
            fb.dns.push(fact(&i, d, &path));
        }
    }
}
