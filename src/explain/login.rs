//! Can anybody log in to the node? Whether SSH takes passwords (cloud-config `ssh_pwauth`,
//! else the image's sshd config), which accounts have a usable password (cloud-config
//! `password`, `chpasswd`, a user's `passwd`/`hashed_passwd`/`plain_text_passwd` with
//! `lock_passwd: false`, the image's own shadow files), and an error when there is no SSH
//! key and no password login at all. Password hashes are only tested for being usable,
//! never copied.

use super::image::Img;
use super::yaml::Doc;
use super::{Finding, FirstBoot, Password};

/// The error finding's words (tests and users search for them).
pub const NOBODY: &str = "nobody can log in to this node: no SSH key and password login is off";

fn truthy(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Fills `fb`'s login facts: `ssh_password_auth` (and where from), `passwords` and
/// `password_login`.
pub(super) fn login(img: &Img<'_>, user: &Doc, seeded: bool, default: &str, fb: &mut FirstBoot) {
    let pwauth = user
        .get("ssh_pwauth")
        .filter(|_| seeded)
        .and_then(|v| truthy(&v));
    let (auth, from) = match pwauth {
        Some(on) => (on, "ssh_pwauth in user-data".to_string()),
        None => sshd_password_auth(img),
    };
    fb.ssh_password_auth = auth;
    fb.ssh_password_auth_from = from;
    if seeded {
        seed_passwords(user, default, &mut fb.passwords);
    }
    shadow_passwords(img, &mut fb.passwords);
    fb.password_login = fb.ssh_password_auth && !fb.passwords.is_empty();
}

fn push(out: &mut Vec<Password>, user: &str, from: &str) {
    if !user.is_empty() && !out.iter().any(|p| p.user == user) {
        out.push(Password {
            user: user.to_string(),
            from: from.to_string(),
        });
    }
}

/// Passwords the seed sets: `password` (the default user's), `chpasswd` (`list` as a
/// string or a list of `name:password`, or `users`), and each user's own with
/// `lock_passwd: false` (cloud-init locks it otherwise).
fn seed_passwords(user: &Doc, default: &str, out: &mut Vec<Password>) {
    if user.get("password").is_some_and(|p| !p.is_empty()) {
        push(out, default, "user-data password");
    }
    for line in user.list("chpasswd.list").unwrap_or_default() {
        for l in line.lines() {
            if let Some((name, pw)) = l.trim().split_once(':') {
                if !pw.is_empty() {
                    push(out, name, "user-data chpasswd");
                }
            }
        }
    }
    for i in 0.. {
        let base = format!("chpasswd.users.{i}");
        if !user.has(&base) {
            break;
        }
        if let Some(name) = user.get(&format!("{base}.name")) {
            push(out, &name, "user-data chpasswd");
        }
    }
    for i in 0.. {
        let base = format!("users.{i}");
        if !user.has(&base) {
            break;
        }
        let get = |k: &str| user.get(&format!("{base}.{k}"));
        let has_pw = ["passwd", "hashed_passwd", "plain_text_passwd"]
            .iter()
            .any(|k| get(k).is_some_and(|v| !v.is_empty()));
        let unlocked = get("lock_passwd").and_then(|v| truthy(&v)) == Some(false);
        if let (true, true, Some(name)) = (has_pw, unlocked, get("name")) {
            push(out, &name, "user-data users");
        }
    }
}

/// Accounts whose hash in the image's shadow file is usable (not empty, `*` or `!…`).
fn shadow_passwords(img: &Img<'_>, out: &mut Vec<Password>) {
    for path in ["/etc/shadow", "/var/lib/extrausers/shadow"] {
        let Some(text) = img.read(path) else {
            continue;
        };
        for line in text.lines() {
            let mut f = line.split(':');
            let (Some(name), Some(hash)) = (f.next(), f.next()) else {
                continue;
            };
            if !hash.is_empty() && !hash.starts_with('*') && !hash.starts_with('!') {
                push(out, name, path);
            }
        }
    }
}

/// `PasswordAuthentication` as sshd reads it: the first value wins, `Include`d files
/// count where they are included, a `Match` block ends the global part; OpenSSH's default
/// is yes.
fn sshd_password_auth(img: &Img<'_>) -> (bool, String) {
    let main = "/etc/ssh/sshd_config";
    let Some(text) = img.read(main) else {
        return (true, format!("OpenSSH's default (no {main})"));
    };
    match scan(img, main, &text, 0) {
        Scan::Found(v, path) => (
            truthy(&v) == Some(true),
            format!("PasswordAuthentication {v} in {path}"),
        ),
        _ => (true, format!("OpenSSH's default (not set in {main})")),
    }
}

enum Scan {
    Found(String, String),
    /// A `Match` line: nothing after it is global.
    Stop,
    NotSet,
}

fn scan(img: &Img<'_>, path: &str, text: &str, depth: u32) -> Scan {
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [k, v, ..] if k.eq_ignore_ascii_case("passwordauthentication") => {
                return Scan::Found(v.to_string(), path.to_string());
            }
            [k, ..] if k.eq_ignore_ascii_case("match") => return Scan::Stop,
            [k, pats @ ..] if k.eq_ignore_ascii_case("include") && depth < 8 => {
                for (p, t) in pats.iter().flat_map(|p| expand(img, p)) {
                    match scan(img, &p, &t, depth + 1) {
                        Scan::NotSet => {}
                        done => return done,
                    }
                }
            }
            _ => {}
        }
    }
    Scan::NotSet
}

/// An Include pattern's files, in name order: relative to /etc/ssh, `*` in the last part.
fn expand(img: &Img<'_>, pattern: &str) -> Vec<(String, String)> {
    let abs = if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        format!("/etc/ssh/{pattern}")
    };
    let (dir, name) = abs.rsplit_once('/').unwrap_or(("", &abs));
    let (pre, post) = name.split_once('*').unwrap_or((name, ""));
    let mut names: Vec<String> = if name.contains('*') {
        img.list(dir)
            .into_iter()
            .map(|c| c.name)
            .filter(|n| {
                n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len()
            })
            .collect()
    } else {
        vec![name.to_string()]
    };
    names.sort();
    names
        .into_iter()
        .filter_map(|n| {
            let p = format!("{dir}/{n}");
            img.read(&p).map(|t| (p, t))
        })
        .collect()
}

/// The no-login error: no user has an SSH key (or a key imported at boot) and no
/// password works over SSH.
pub(super) fn check(fb: &FirstBoot) -> Option<Finding> {
    if fb.users.iter().any(|u| !u.ssh_keys.is_empty()) || fb.password_login {
        return None;
    }
    let why = match fb.passwords.first() {
        None => String::new(),
        Some(p) => format!(
            " (SSH refuses passwords: {}; only a console login with {}'s password)",
            fb.ssh_password_auth_from, p.user
        ),
    };
    Some(Finding::error(format!("{NOBODY}{why}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::User;

    #[test]
    fn no_key_and_no_password_is_an_error() {
        let mut fb = FirstBoot::default();
        assert_eq!(check(&fb).unwrap().reason, NOBODY);
        fb.passwords.push(Password {
            user: "pi".into(),
            from: "user-data password".into(),
        });
        fb.ssh_password_auth_from = "PasswordAuthentication no in /etc/ssh/sshd_config".into();
        let r = check(&fb).unwrap().reason;
        assert!(
            r.starts_with(NOBODY) && r.contains("only a console login with pi's"),
            "{r}"
        );
        fb.password_login = true;
        assert!(check(&fb).is_none());
        fb.password_login = false;
        fb.users.push(User {
            name: "pi".into(),
            from: "user-data".into(),
            ssh_keys: vec!["ssh-ed25519 a@b".into()],
        });
        assert!(check(&fb).is_none());
        assert_eq!(truthy("Yes"), Some(true));
        assert_eq!(truthy("off"), Some(false));
        assert_eq!(truthy("unchanged"), None);
    }
}
