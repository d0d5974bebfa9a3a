//! Validated values that reach scripts, units and YAML. Each type checks its input when it
//! is parsed (from TOML or the command line), so a crafted value never gets further.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Implements `Deserialize` through `FromStr`, so TOML errors carry the line of the value.
macro_rules! deserialize_via_from_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// An address with its prefix length: `10.0.5.25/24`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not an address with a prefix (like 10.0.5.25/24)"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| format!("{p:?} is not a prefix length (0..={max})"))?;
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn check(s: &str, what: &str, max: usize, ok: impl Fn(char) -> bool) -> Result<(), String> {
    if s.is_empty() || s.len() > max {
        return Err(format!("{what} {s:?} must be 1 to {max} characters"));
    }
    if let Some(c) = s.chars().find(|&c| !ok(c)) {
        return Err(format!("{what} {s:?} contains {c:?}, which is not allowed"));
    }
    Ok(())
}

/// A network interface name as the kernel allows it (and nothing a shell would interpret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface(String);

impl FromStr for Interface {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // The kernel refuses `.`, `..`, '/', ':' and white space; a leading '-' reads as
        // an option to `ip` and `ifup`. Only a safe alphabet is taken at all.
        check(s, "interface name", 15, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
        })?;
        if s == "." || s == ".." {
            return Err(format!(
                "interface name {s:?} is not a name the kernel allows"
            ));
        }
        if s.starts_with('-') {
            return Err(format!(
                "interface name {s:?} must not start with '-' (it would read as an option)"
            ));
        }
        Ok(Interface(s.to_string()))
    }
}
deserialize_via_from_str!(Interface);

/// A login name as useradd accepts it by default: `[a-z_][a-z0-9_-]*`, at most 32.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl FromStr for UserName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check(s, "user name", 32, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
        })?;
        if s.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            return Err(format!("user name {s:?} must start with a letter or '_'"));
        }
        Ok(UserName(s.to_string()))
    }
}
deserialize_via_from_str!(UserName);

/// A swarm join token (`SWMTKN-1-…`) or a legacy discovery token: letters, digits, `-`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<secret>)")
    }
}

impl FromStr for Token {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check(s, "token", 256, |c| c.is_ascii_alphanumeric() || c == '-').map_err(|_| {
            "a token may only contain letters, digits and '-' (1 to 256 characters)".to_string()
        })?;
        Ok(Token(s.to_string()))
    }
}
deserialize_via_from_str!(Token);

/// A docker image reference: `nimblestratus/rpi-swarm`, `registry:5000/swarm:1.2`, `a@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef(String);

impl FromStr for ImageRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        check(s, "image name", 255, |c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
        })?;
        if s.starts_with(['-', '.', '/', ':', '@']) {
            return Err(format!(
                "image name {s:?} must start with a letter or digit"
            ));
        }
        Ok(ImageRef(s.to_string()))
    }
}
deserialize_via_from_str!(ImageRef);

/// `host:port` where host is an IP address or a host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort(String);

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, Some(p)),
            _ => (s, None),
        };
        let host_ok = host.parse::<IpAddr>().is_ok()
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok()
            || crate::node::NodeName::new(host).is_ok();
        if !host_ok {
            return Err(format!("{host:?} is neither an IP address nor a host name"));
        }
        if let Some(p) = port {
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{p:?} is not a port number"))?;
        }
        Ok(HostPort(s.to_string()))
    }
}
deserialize_via_from_str!(HostPort);

/// Legacy swarm discovery: `token://<id>`, `nodes://<ip:port>,…`, or `file://<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery(String);

impl FromStr for Discovery {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(t) = s.strip_prefix("token://") {
            t.parse::<Token>()?;
        } else if let Some(list) = s.strip_prefix("nodes://") {
            for hp in list.split(',') {
                hp.parse::<HostPort>()?;
            }
        } else if let Some(path) = s.strip_prefix("file://") {
            check(path, "discovery file", 255, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-')
            })?;
        } else {
            return Err(format!(
                "discovery {s:?} must start with token://, nodes:// or file://"
            ));
        }
        Ok(Discovery(s.to_string()))
    }
}
deserialize_via_from_str!(Discovery);

/// A value as a single-quoted POSIX shell word: safe whatever it holds.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_refuse_shell_and_yaml_metacharacters() {
        for bad in ["a;reboot", "$(id)", "a b", "x`id`", "a\nb", "'", "\"q\""] {
            assert!(bad.parse::<Token>().is_err(), "token {bad:?}");
            assert!(bad.parse::<Interface>().is_err(), "iface {bad:?}");
            assert!(bad.parse::<ImageRef>().is_err(), "image {bad:?}");
            assert!(bad.parse::<HostPort>().is_err(), "hostport {bad:?}");
        }
        for bad in [
            ".",
            "..",
            "-eth0",
            "eth0/1",
            "eth0:1",
            "a234567890123456",
            "",
        ] {
            assert!(bad.parse::<Interface>().is_err(), "iface {bad:?}");
        }
        for good in ["eth0", "on", "0777", "null", "enx001122334455", "br-lan.10"] {
            assert!(good.parse::<Interface>().is_ok(), "iface {good:?}");
        }
        assert!("nimblestratus/rpi-swarm".parse::<ImageRef>().is_ok());
        assert!("SWMTKN-1-abc-def".parse::<Token>().is_ok());
        assert!("10.0.5.1:2377".parse::<HostPort>().is_ok());
        assert!("rpi1:2376".parse::<HostPort>().is_ok());
        assert!("10.0.5.1:99999".parse::<HostPort>().is_err());
        assert!("nodes://10.0.5.1:2375,10.0.5.2:2375"
            .parse::<Discovery>()
            .is_ok());
        assert!("token://abc;rm".parse::<Discovery>().is_err());
        assert_eq!(
            "10.0.5.25/24".parse::<Cidr>().unwrap().to_string(),
            "10.0.5.25/24"
        );
        assert!("10.0.5.25/33".parse::<Cidr>().is_err());
        assert!("10.0.5.25".parse::<Cidr>().is_err());
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }
}
