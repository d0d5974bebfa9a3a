//! The explanation in plain words: the first-boot summary and the one-screen text form.

use super::{Explanation, Level};

/// The first boot, in plain words.
pub(super) fn summary(ex: &Explanation) -> Vec<String> {
    let fb = &ex.first_boot;
    let mut s: Vec<String> = seed_line(ex).into_iter().collect();
    if let Some(h) = &fb.hostname {
        s.push(format!(
            "Host name: {h} (from {}).",
            fb.hostname_from.as_deref().unwrap_or("?")
        ));
    }
    for u in &fb.users {
        s.push(format!(
            "User {}: {} SSH key(s) (from {}).",
            u.name,
            u.ssh_keys.len(),
            u.from
        ));
    }
    s.push(password_line(ex));
    s.extend(user_data_lines(ex));
    s.extend(network_lines(ex));
    s.extend(gateway_dns(ex));
    for u in fb.units.iter().filter(|u| !u.conditions.is_empty()) {
        s.push(format!(
            "{} starts only if {}.",
            u.name,
            u.conditions.join(" and ")
        ));
    }
    let login = fb.users.first().map(|u| u.name.as_str());
    s.extend(ex.docker_engine.summary(login));
    s.extend(docker_lines(ex));
    s
}

/// Whether cloud-init applies a seed, and which.
fn seed_line(ex: &Explanation) -> Option<String> {
    if !ex.cloud_init.installed {
        return Some("cloud-init is not installed: no seed is applied.".into());
    }
    if !ex.cloud_init.enabled {
        return Some(format!(
            "cloud-init is disabled ({}): no seed is applied.",
            ex.cloud_init.disabled_by.join(", ")
        ));
    }
    let seed = ex.seed.as_ref()?;
    let where_ = format!(
        "partition {} ({}) {}",
        seed.location.partition,
        seed.location.partition_label.as_deref().unwrap_or("?"),
        seed.location.dir
    );
    Some(if seed.files.is_empty() {
        format!("cloud-init looks for its seed on {where_} and finds none.")
    } else if ex.previous_run.same_as_seed {
        format!(
            "cloud-init reads the seed on {where_}, but already ran with its instance-id: per-instance settings are not applied again."
        )
    } else {
        format!(
            "cloud-init reads the seed on {where_} (instance-id {}).",
            seed.instance_id.as_deref().unwrap_or("missing")
        )
    })
}

/// Files user-data writes, packages it installs, commands it runs.
fn user_data_lines(ex: &Explanation) -> Vec<String> {
    let fb = &ex.first_boot;
    let mut s = Vec::new();
    if !fb.writes.is_empty() {
        s.push(format!("user-data writes {}.", fb.writes.join(", ")));
    }
    if !fb.packages.is_empty() {
        s.push(format!("user-data installs {}.", fb.packages.join(", ")));
    }
    for r in &fb.runs {
        s.push(format!("user-data runs at the end of the first boot: {r}"));
    }
    s
}

fn network_lines(ex: &Explanation) -> Vec<String> {
    let fb = &ex.first_boot;
    if fb.network.is_empty() {
        return vec!["Network: the image's own setup (no network-config).".into()];
    }
    fb.network
        .iter()
        .map(|n| format!("Network: {} {} (from {}).", n.interface, n.address, n.from))
        .collect()
}

/// Docker's listen addresses and the swarm part.
fn docker_lines(ex: &Explanation) -> Vec<String> {
    let fb = &ex.first_boot;
    let mut s = vec![match &fb.docker {
        Some(d) => format!(
            "Docker listens on {}{} (from {}).",
            d.listen.join(", "),
            if d.tls { " with TLS (--tlsverify)" } else { "" },
            d.from
        ),
        None => "Docker: not installed or not configured.".into(),
    }];
    if let Some(sw) = &fb.swarm {
        s.push(format!(
            "Swarm: {}{}.",
            sw.mode,
            sw.role
                .as_deref()
                .map(|r| format!(", as {r}"))
                .unwrap_or_default()
        ));
    }
    s
}

/// Whether a password gets anyone in over SSH, and why.
fn password_line(ex: &Explanation) -> String {
    let fb = &ex.first_boot;
    let who: Vec<String> = fb
        .passwords
        .iter()
        .map(|p| format!("{} (from {})", p.user, p.from))
        .collect();
    match (fb.ssh_password_auth, who.is_empty()) {
        (true, false) => format!(
            "SSH password login: on ({}); passwords for {}.",
            fb.ssh_password_auth_from,
            who.join(", ")
        ),
        (true, true) => format!(
            "SSH password login: off: no account has a password (sshd would take one: {}).",
            fb.ssh_password_auth_from
        ),
        (false, _) => format!("SSH password login: off ({}).", fb.ssh_password_auth_from),
    }
}

/// The default gateway and DNS servers, per interface; a static address without a
/// gateway is said plainly (the node reaches only its own subnet).
fn gateway_dns(ex: &Explanation) -> Vec<String> {
    let fb = &ex.first_boot;
    let mut s = Vec::new();
    for g in &fb.gateways {
        s.push(format!(
            "Gateway: {} via {} (from {}).",
            g.interface, g.address, g.from
        ));
    }
    let static_only = !fb.network.is_empty() && fb.network.iter().all(|n| n.address != "dhcp");
    if fb.gateways.is_empty() && static_only {
        s.push("Gateway: none set: the node reaches only its own subnet.".into());
    }
    let mut by_iface: Vec<(String, Vec<String>, String)> = Vec::new();
    for d in &fb.dns {
        match by_iface
            .iter_mut()
            .find(|(i, _, f)| *i == d.interface && *f == d.from)
        {
            Some((_, list, _)) => list.push(d.address.clone()),
            None => by_iface.push((d.interface.clone(), vec![d.address.clone()], d.from.clone())),
        }
    }
    for (i, list, from) in by_iface {
        s.push(format!("DNS: {i} {} (from {from}).", list.join(", ")));
    }
    if fb.dns.is_empty() && static_only {
        s.push("DNS: none set for the static address.".into());
    }
    s
}

impl Explanation {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .count()
    }

    /// A one-screen summary.
    pub fn text(&self) -> String {
        let mut t = self.header_text();
        t.push_str(&self.seed_text());
        t.push_str("first boot:\n");
        for l in &self.first_boot.summary {
            t.push_str(&format!("  {l}\n"));
        }
        let enabled: Vec<&str> = self
            .first_boot
            .units
            .iter()
            .map(|u| u.name.as_str())
            .collect();
        t.push_str(&format!("  Units enabled: {}\n", enabled.join(", ")));
        t.push_str(&self.findings_text());
        t
    }

    /// The image, its OS, cloud-init and the datasources.
    fn header_text(&self) -> String {
        let os = self
            .os
            .pretty_name
            .clone()
            .or_else(|| self.os.name.clone())
            .unwrap_or_else(|| "unknown OS".into());
        let ci = &self.cloud_init;
        let ds = &self.datasource;
        format!(
            "{}: {} ({}, version {})\ncloud-init{}: {}, {}\n\
             datasources: {} ({}); NoCloud seedfrom {}, fs_label {}\n",
            self.image,
            os,
            self.flavour.as_str(),
            self.os.version.as_deref().unwrap_or("?"),
            ci.version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            if ci.installed {
                "installed"
            } else {
                "not installed"
            },
            if ci.enabled {
                "enabled".to_string()
            } else {
                format!("disabled {}", ci.disabled_by.join(", "))
            },
            ds.list
                .as_ref()
                .map(|l| l.join(", "))
                .unwrap_or_else(|| "not set".into()),
            ds.list_from.as_deref().unwrap_or("-"),
            ds.seedfrom.as_deref().unwrap_or("-"),
            ds.fs_label
        )
    }

    /// The seed read and the previous cloud-init run.
    fn seed_text(&self) -> String {
        let seed = match &self.seed {
            Some(s) => format!(
                "seed: partition {} ({}) {} via {}: {}; instance-id {}\n",
                s.location.partition,
                s.location.partition_label.as_deref().unwrap_or("?"),
                s.location.dir,
                s.location.via,
                if s.files.is_empty() {
                    "no files".to_string()
                } else {
                    s.files.join(", ")
                },
                s.instance_id.as_deref().unwrap_or("(none)")
            ),
            None => "seed: none found\n".to_string(),
        };
        let prev = &self.previous_run;
        format!(
            "{seed}previous cloud-init run: {}\n",
            prev.instance_id
                .as_deref()
                .or(prev.instance_link.as_deref())
                .unwrap_or("none")
        )
    }

    fn findings_text(&self) -> String {
        if self.findings.is_empty() {
            return "findings: none\n".into();
        }
        let mut t = "findings:\n".to_string();
        for f in &self.findings {
            let l = match f.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Note => "note",
            };
            t.push_str(&format!("  {l}: {}\n", f.reason));
        }
        t
    }
}
