//! The cloud-init NoCloud seed (`meta-data` + `user-data`), rendered from `overlays/`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{Flavour, NodeInputs, PlanError};
use crate::cloudinit;
use crate::overlay;
use crate::plan::{FileOp, NodePlan};
use crate::probe::ImageInfo;
use crate::sshkey::PublicKey;

/// The login user each flavour's users expect.
pub(super) fn default_user(flavour: Flavour) -> &'static str {
    match flavour {
        Flavour::UbuntuPi | Flavour::SnappyCore15 => "ubuntu",
        _ => "pi",
    }
}

/// The user cloud-init creates and the keys go to: `[cluster] user`, else the flavour's.
pub(super) fn login_user(flavour: Flavour, inp: &NodeInputs<'_>) -> String {
    cluster_login_user(flavour, inp.cluster)
}

/// [`login_user`] for a whole cluster (the same on every node).
pub fn cluster_login_user(flavour: Flavour, cluster: &crate::cluster::config::Cluster) -> String {
    cluster
        .user
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| default_user(flavour).to_string())
}

/// Rendered `(meta-data, user-data)` for a node: clem-image's own user-data from
/// `overlays/`, with the user's extra cloud-config (cluster, then node) merged under it.
/// What the merge decided goes into the plan's notes.
pub(super) fn render(
    flavour: Flavour,
    inp: &NodeInputs<'_>,
    plan: &mut NodePlan,
) -> Result<(String, String), PlanError> {
    let node = &inp.node.name;
    let key_lines: Vec<String> = inp.keys.iter().map(PublicKey::line).collect();
    let mut vars = BTreeMap::new();
    vars.insert("hostname", overlay::yaml_str(node.as_str()));
    // Safe unquoted: a validated host name is only [a-z0-9.-].
    vars.insert("node", node.to_string());
    vars.insert("ssh_authorized_keys", overlay::yaml_list(&key_lines));
    let user = login_user(flavour, inp);
    vars.insert("user", overlay::yaml_str(&user));
    let user_data = match flavour {
        Flavour::SnappyCore15 => overlay::SNAPPY_USER_DATA.render(&vars)?,
        _ => overlay::SEED_USER_DATA.render(&vars)?,
    };
    let mut extra = Vec::new();
    if let Some(f) = &inp.cluster.cloud_config {
        extra.push(("the cluster's cloud-config", f));
    }
    if let Some(f) = &inp.node.cloud_config {
        extra.push(("this node's cloud-config", f));
    }
    let user_data = if extra.is_empty() {
        user_data
    } else {
        let (text, notes) = cloudinit::compose(node.as_str(), &user_data, &extra)?;
        plan.notes
            .extend(notes.into_iter().map(|n| format!("cloud-config: {n}")));
        if flavour == Flavour::SnappyCore15 {
            plan.notes.push(format!(
                "cloud-config: Snappy 15.04 carries cloud-init 0.7.x, older than the {} schema your additions were checked against; modules it lacks are ignored",
                cloudinit::schema::version()
            ));
        }
        text
    };
    // A new instance-id whenever what we seed changes, so cloud-init applies it again;
    // derived from the inputs, so the same inputs give the same id.
    let digest = Sha256::digest(format!("{node}\n{user_data}").as_bytes());
    let instance_id = format!("clem-{node}-{}", &hex::encode(digest)[..12]);
    vars.insert("instance_id", overlay::yaml_str(&instance_id));
    let meta_data = overlay::SEED_META_DATA.render(&vars)?;
    Ok((meta_data, user_data))
}

/// The seed at the root of the FAT boot partition, where Raspberry Pi OS (trixie) and
/// Ubuntu for Pi read it.
pub(super) fn fat_seed(
    info: &ImageInfo,
    inp: &NodeInputs<'_>,
    plan: &mut NodePlan,
) -> Result<(), PlanError> {
    let boot = info.boot_fat().ok_or(PlanError::NoBootFat)?;
    let (meta_data, user_data) = render(info.flavour, inp, plan)?;
    let n = boot.partition.number;
    plan.push(FileOp::fat(
        n,
        "/meta-data",
        meta_data.into_bytes(),
        inp.epoch,
    ));
    plan.push(FileOp::fat(
        n,
        "/user-data",
        user_data.into_bytes(),
        inp.epoch,
    ));
    if let Some(net) = network_config(inp)? {
        plan.push(FileOp::fat(
            n,
            "/network-config",
            net.into_bytes(),
            inp.epoch,
        ));
    }
    Ok(())
}

/// cloud-init network-config (version 2) for the cluster interface, when the node has a
/// static address; with none, the image's own setup (DHCP) stays.
pub(super) fn network_config(inp: &NodeInputs<'_>) -> Result<Option<String>, PlanError> {
    let Some(addr) = &inp.node.address else {
        return Ok(None);
    };
    let c = inp.cluster;
    let mut vars = BTreeMap::new();
    vars.insert("node", inp.node.name.to_string());
    // A key, quoted: cloud-init reads a bare `on` as true, `0777` as a number, `null` as null.
    vars.insert("interface", overlay::yaml_str(c.interface.as_str()));
    vars.insert("addresses", overlay::yaml_list(&[addr.to_string()]));
    let routes = match c.gateway {
        Some(gw) => format!(
            "[{{\"to\": \"default\", \"via\": {}}}]",
            overlay::yaml_str(&gw.to_string())
        ),
        None => "[]".into(),
    };
    vars.insert("routes", routes);
    let dns: Vec<String> = c.dns.iter().map(ToString::to_string).collect();
    vars.insert("dns", overlay::yaml_list(&dns));
    Ok(Some(overlay::NETWORK_CONFIG.render(&vars)?))
}
