//! What the first boot does, read from the seed and the image: host name, users and keys,
//! addresses, enabled units and their conditions, docker's listen addresses, the swarm.

use std::collections::BTreeMap;

use super::image::Img;
use super::seed::SeedDocs;
use super::yaml::{self, Doc};
use super::{Docker, FirstBoot, SwarmInfo, Unit, User};
use crate::cluster::firstboot::{layout, UNIT_NAME};
use crate::fs::EntryKind;
use crate::probe::Flavour;
use crate::secret::NOT_SHOWN;

/// `KEY='value'` lines of a shell env file (values as clem-image quotes them).
pub(super) fn parse_env(text: &str) -> BTreeMap<String, String> {
    crate::probe::parse_kv(text, |v| yaml::unquote(v).replace("'\\''", "'"))
}

/// `type comment` of an authorized_keys line (options before the type are dropped).
pub(super) fn key_summary(line: &str) -> Option<String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let i = f
        .iter()
        .position(|w| w.starts_with("ssh-") || w.starts_with("ecdsa-") || w.starts_with("sk-"))?;
    let comment = f.get(i + 2..).map(|c| c.join(" ")).unwrap_or_default();
    Some(if comment.is_empty() {
        f[i].to_string()
    } else {
        format!("{} {comment}", f[i])
    })
}

/// Keys `ssh_import_id` fetches at boot (`gh:name`, `lp:name`), as `ssh_import_id gh:name`.
fn imports(user: &Doc, prefix: &str) -> Vec<String> {
    user.list(&format!("{prefix}ssh_import_id"))
        .unwrap_or_default()
        .into_iter()
        .map(|id| format!("ssh_import_id {id}"))
        .collect()
}

/// What the seed gives the first-boot stages.
pub(super) struct SeedView<'a> {
    /// Whether cloud-init will read a seed at all.
    pub seeded: bool,
    pub docs: &'a SeedDocs,
    /// cloud.cfg's `system_info.default_user.name`, else `default`.
    pub default_user: &'a str,
}

/// Who can log in: users and their keys (user-data, then authorized_keys files in homes)
/// and the password facts. All that [`super::login::check`] needs.
pub(super) fn access(img: &Img<'_>, seed: &SeedView<'_>) -> FirstBoot {
    let mut fb = FirstBoot::default();
    if seed.seeded {
        fb.users = seed_users(&seed.docs.user, seed.default_user);
    }
    super::login::login(
        img,
        &seed.docs.user,
        seed.seeded,
        seed.default_user,
        &mut fb,
    );
    fb.users.extend(home_keys(img));
    fb
}

/// The whole first boot by topic: [`access`], then host name, what user-data does, the
/// network, the enabled units, docker and the swarm.
pub(super) fn first_boot(img: &Img<'_>, seed: &SeedView<'_>) -> FirstBoot {
    let mut fb = access(img, seed);
    (fb.hostname, fb.hostname_from) = hostname(img, seed).unzip();
    if seed.seeded {
        user_data_actions(&seed.docs.user, &mut fb);
        fb.runs.extend(seed.docs.scripts.iter().cloned());
    }
    let snappy = img.info.flavour == Flavour::SnappyCore15;
    super::net::network(img, seed.docs.network.as_ref(), snappy, &mut fb);
    fb.units = units(img);
    docker_and_swarm(img, &mut fb);
    fb
}

/// The host name and where it comes from: as cloud-init's set_hostname, user-data's
/// `hostname` (else the first label of `fqdn`), then meta-data, then the image's file.
fn hostname(img: &Img<'_>, seed: &SeedView<'_>) -> Option<(String, String)> {
    let (user, meta) = (&seed.docs.user, &seed.docs.meta);
    let from_user = user.get("hostname").or_else(|| {
        user.get("fqdn")
            .map(|f| f.split('.').next().unwrap_or("").to_string())
    });
    if let Some(h) = from_user.filter(|h| seed.seeded && !h.is_empty()) {
        return Some((h, "user-data".into()));
    }
    if let Some(h) = meta.get("local-hostname").filter(|_| seed.seeded) {
        return Some((h, "meta-data".into()));
    }
    let file = match img.info.flavour == Flavour::SnappyCore15 {
        true => crate::flavour::snappy::HOSTNAME,
        false => "/etc/hostname",
    };
    img.read(file).map(|h| (h.trim().to_string(), file.into()))
}

/// Users user-data creates or gives keys: the default user, then `users:` entries.
fn seed_users(user: &Doc, default_name: &str) -> Vec<User> {
    let mut out = Vec::new();
    let users_list = user.list("users");
    let top_keys = user.list("ssh_authorized_keys").unwrap_or_default();
    let top_imports = imports(user, "");
    let has_default = match &users_list {
        None => true,
        Some(_) => user
            .entries()
            .any(|(k, v)| k.starts_with("users.") && yaml::unquote(v) == "default"),
    };
    let default_used = users_list.is_some()
        || !top_keys.is_empty()
        || !top_imports.is_empty()
        || user.has("password");
    if has_default && default_used {
        let mut ssh_keys: Vec<String> = top_keys.iter().filter_map(|k| key_summary(k)).collect();
        ssh_keys.extend(top_imports);
        out.push(User {
            name: default_name.to_string(),
            from: "user-data (default user)".into(),
            ssh_keys,
        });
    }
    for i in 0.. {
        let base = format!("users.{i}");
        if !user.has(&base) {
            break;
        }
        let Some(name) = user.get(&format!("{base}.name")) else {
            continue;
        };
        let keys = user
            .list(&format!("{base}.ssh_authorized_keys"))
            .unwrap_or_default();
        let mut ssh_keys: Vec<String> = keys.iter().filter_map(|k| key_summary(k)).collect();
        ssh_keys.extend(imports(user, &format!("{base}.")));
        out.push(User {
            name,
            from: "user-data".into(),
            ssh_keys,
        });
    }
    out
}

/// What else user-data does: files, commands, packages.
fn user_data_actions(user: &Doc, fb: &mut FirstBoot) {
    let items = |key: &'static str| {
        (0..).map_while(move |i| {
            let p = format!("{key}.{i}");
            user.has(&p).then_some(p)
        })
    };
    for p in items("write_files") {
        let Some(path) = user.get(&format!("{p}.path")) else {
            continue;
        };
        // Image reads come with key blocks already cut (Img::p_read): say so.
        let secret = user
            .get(&format!("{p}.content"))
            .is_some_and(|c| c.contains(NOT_SHOWN));
        let mut notes: Vec<String> = user.get(&format!("{p}.permissions")).into_iter().collect();
        if secret {
            notes.push(format!("content {NOT_SHOWN}"));
        }
        fb.writes.push(match notes.is_empty() {
            true => path,
            false => format!("{path} ({})", notes.join(", ")),
        });
    }
    for p in items("runcmd") {
        fb.runs.push(user.list(&p).unwrap_or_default().join(" "));
    }
    for p in items("packages") {
        fb.packages
            .push(user.list(&p).unwrap_or_default().join("="));
    }
}

/// authorized_keys files already in the homes of the image's accounts.
fn home_keys(img: &Img<'_>) -> Vec<User> {
    let mut passwd = img.read("/etc/passwd").unwrap_or_default();
    if img.info.flavour == Flavour::SnappyCore15 {
        passwd.push_str(&img.read("/var/lib/extrausers/passwd").unwrap_or_default());
    }
    let mut out = Vec::new();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || f[5].is_empty() || f[5] == "/" {
            continue;
        }
        if let Some(text) = img.read(&format!("{}/.ssh/authorized_keys", f[5])) {
            let keys: Vec<String> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(key_summary)
                .collect();
            out.push(User {
                name: f[0].to_string(),
                from: format!("{}/.ssh/authorized_keys", f[5]),
                ssh_keys: keys,
            });
        }
    }
    out
}

/// Units enabled to start, with their first-boot conditions.
fn units(img: &Img<'_>) -> Vec<Unit> {
    let mut targets: Vec<String> = img
        .list("/etc/systemd/system")
        .into_iter()
        .filter(|c| c.kind == EntryKind::Dir && c.name.ends_with(".wants"))
        .map(|c| c.name)
        .collect();
    targets.sort();
    let mut out = Vec::new();
    for t in targets {
        let dir = format!("/etc/systemd/system/{t}");
        let mut links = img.list(&dir);
        links.sort_by(|a, b| a.name.cmp(&b.name));
        for l in links {
            let target = l
                .target
                .clone()
                .unwrap_or_else(|| format!("{dir}/{}", l.name));
            let text = img
                .read(&target)
                .or_else(|| img.read(&format!("/etc/systemd/system/{}", l.name)))
                .unwrap_or_default();
            let conditions = text
                .lines()
                .filter_map(|x| x.trim().strip_prefix("ConditionPathExists="))
                .map(str::to_string)
                .collect();
            out.push(Unit {
                name: l.name.clone(),
                wanted_by: t.trim_end_matches(".wants").to_string(),
                conditions,
            });
        }
    }
    out
}

/// Docker and the swarm: clem-image's node.env, else the image's own docker config.
fn docker_and_swarm(img: &Img<'_>, fb: &mut FirstBoot) {
    let lay = layout(img.info.flavour);
    let sock = "unix:///var/run/docker.sock".to_string();
    let Some(env) = img
        .read(&format!("{}/node.env", lay.conf_dir))
        .map(|t| parse_env(&t))
    else {
        let snappy = img.info.flavour == Flavour::SnappyCore15;
        fb.docker = stock_docker(img, snappy, &sock);
        return;
    };
    let mode = env.get("DOCKER_MODE").cloned().unwrap_or_default();
    let port = env.get("DOCKER_PORT").cloned().unwrap_or_default();
    let tcp = mode == "tls" || mode == "insecure-tcp";
    let mut listen = vec![sock];
    if tcp {
        listen.push(format!("tcp://0.0.0.0:{port}"));
    }
    fb.docker = Some(Docker {
        listen,
        tls: mode == "tls",
        from: format!("{}/node.env (applied by {UNIT_NAME})", lay.conf_dir),
    });
    let swarm = env.get("SWARM_MODE").cloned().unwrap_or_default();
    if !swarm.is_empty() {
        fb.swarm = Some(SwarmInfo {
            role: env.get("ROLE").cloned().filter(|_| swarm != "none"),
            manager: env.get("SWARM_MANAGER").cloned().filter(|s| !s.is_empty()),
            mode: swarm,
        });
    }
}

/// The listen addresses of a docker the image ships configured (no clem-image node.env).
fn stock_docker(img: &Img<'_>, snappy: bool, sock: &str) -> Option<Docker> {
    let from_opts = |opts: &str, from: String| {
        let w: Vec<&str> = opts.split_whitespace().collect();
        let mut listen = Vec::new();
        for (i, x) in w.iter().enumerate() {
            if let Some(h) = x.strip_prefix("--host=").or_else(|| x.strip_prefix("-H=")) {
                listen.push(h.to_string());
            } else if (*x == "-H" || *x == "--host") && i + 1 < w.len() {
                listen.push(w[i + 1].to_string());
            }
        }
        if listen.is_empty() {
            listen.push(sock.to_string());
        }
        let tls = w.iter().any(|x| x.starts_with("--tlsverify"));
        Docker { listen, tls, from }
    };
    if snappy {
        let mut versions: Vec<String> = img
            .list("/var/lib/apps/docker")
            .into_iter()
            .filter(|c| c.kind == EntryKind::Dir)
            .map(|c| c.name)
            .collect();
        versions.sort();
        let v = versions.pop()?;
        let path = format!("/var/lib/apps/docker/{v}/etc/docker.conf");
        let text = img.read(&path)?;
        let opts = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("DOCKER_OPTIONS="))
            .next_back()
            .map(yaml::unquote)
            .unwrap_or_default();
        return Some(from_opts(&opts, path));
    }
    if !img.exists("/usr/sbin/dockerd") && !img.exists("/usr/bin/dockerd") {
        return None;
    }
    if let Some(json) = img.read("/etc/docker/daemon.json") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&json) {
            if let Some(hosts) = v.get("hosts").and_then(|h| h.as_array()) {
                return Some(Docker {
                    listen: hosts
                        .iter()
                        .filter_map(|h| h.as_str().map(str::to_string))
                        .collect(),
                    tls: v.get("tlsverify").and_then(|t| t.as_bool()) == Some(true),
                    from: "/etc/docker/daemon.json".into(),
                });
            }
        }
    }
    let opts = img
        .read("/etc/default/docker")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DOCKER_OPTS="))
        .next_back()
        .map(yaml::unquote)
        .unwrap_or_default();
    let mut d = from_opts(
        &opts,
        "/etc/default/docker and docker.service (-H fd://)".into(),
    );
    if !opts.contains("-H") && !opts.contains("--host") {
        d.listen = vec!["fd:// (docker.socket: unix:///run/docker.sock)".into()];
    }
    Some(d)
}
