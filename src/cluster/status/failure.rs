//! Why a node could not be asked, in words an operator can act on: from an error chain
//! (rustls, hyper, I/O) to one kind and one sentence.

use std::fmt;
use std::time::Duration;

use rustls::pki_types::UnixTime;
use serde::Serialize;

use super::duration::humanize;
use super::text::{clean, MAX_CHARS};

/// Why a node could not be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The host name did not resolve.
    Resolve,
    ConnectionRefused,
    Timeout,
    /// The node's certificate is not signed by the cluster CA.
    UnknownCa,
    /// The node's certificate does not name the node.
    BadCertificateName,
    /// The node's certificate has expired.
    CertificateExpired,
    /// The node's certificate is not valid yet (or this computer's clock is behind).
    CertificateNotYetValid,
    /// The node presents a certificate that is not for a TLS server (a CA, a client's).
    NotAServerCertificate,
    /// The node refused our client certificate (its daemon trusts another CA, or none).
    ClientCertificateRejected,
    /// Another TLS failure.
    Tls,
    /// Another network failure.
    Io,
    /// The daemon answered, but not as the docker API does.
    Api,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub fn timeout(what: &str, t: Duration) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!("timed out after {} {what}", humanize(t)),
    )
}

fn alert_name(a: &rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match a {
        A::CertificateRequired => "certificate required".into(),
        A::UnknownCA => "unknown CA".into(),
        A::BadCertificate => "bad certificate".into(),
        A::CertificateExpired => "certificate expired".into(),
        A::CertificateUnknown => "certificate unknown".into(),
        A::HandshakeFailure => "handshake failure".into(),
        A::DecryptError => "decrypt error".into(),
        other => format!("{other:?}"),
    }
}

/// `2031-05-04` for a certificate's dates.
fn day(t: &UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(d) => d.date().to_string(),
        Err(_) => format!("{secs} s after 1970"),
    }
}

fn from_certificate(c: &rustls::CertificateError, name: &str) -> (FailureKind, String) {
    use rustls::CertificateError as C;
    use FailureKind as K;
    match c {
        C::UnknownIssuer => (
            K::UnknownCa,
            "unknown CA (the node's certificate is not signed by the cluster CA)".into(),
        ),
        // Every clem-image CA has the same name: a certificate from another cluster's CA
        // finds ours by name and then fails its signature check.
        C::BadSignature => (
            K::UnknownCa,
            "unknown CA (the node's certificate is signed by another CA than this cluster's, \
             perhaps another cluster's)"
                .into(),
        ),
        C::NotValidForName => (
            K::BadCertificateName,
            format!("bad certificate name (the node's certificate is not valid for {name})"),
        ),
        C::NotValidForNameContext { presented, .. } => {
            let names: Vec<&str> = presented.iter().map(|p| bare_name(p)).collect();
            let names = clean(&names.join(", "), MAX_CHARS);
            (
                K::BadCertificateName,
                format!(
                    "bad certificate name (the node's certificate is not valid for {name}: \
                     it names {names})"
                ),
            )
        }
        C::Expired => (
            K::CertificateExpired,
            "the node's certificate has expired".into(),
        ),
        C::ExpiredContext { time, not_after } => (
            K::CertificateExpired,
            format!(
                "the node's certificate expired on {} (today is {})",
                day(not_after),
                day(time)
            ),
        ),
        C::NotValidYet => (
            K::CertificateNotYetValid,
            "the node's certificate is not valid yet (is this computer's clock right?)".into(),
        ),
        C::NotValidYetContext { time, not_before } => (
            K::CertificateNotYetValid,
            format!(
                "the node's certificate is not valid before {} (today is {}; is this \
                 computer's clock right?)",
                day(not_before),
                day(time)
            ),
        ),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => (
            K::NotAServerCertificate,
            "not a server certificate (the node's certificate is not for TLS servers; \
             a client certificate?)"
                .into(),
        ),
        C::Other(other) => from_webpki(&other.to_string()),
        other => (
            K::Tls,
            format!(
                "the node's certificate is refused ({})",
                clean(&format!("{other:?}"), 80)
            ),
        ),
    }
}

/// `evil.example` from rustls's `DnsName("evil.example")`, `10.0.0.1` from `IpAddress(10.0.0.1)`.
fn bare_name(presented: &str) -> &str {
    match presented.split_once('(') {
        Some((kind, rest)) if kind.chars().all(|c| c.is_ascii_alphabetic()) => rest
            .strip_suffix(')')
            .map(|inner| inner.trim_matches('"'))
            .unwrap_or(presented),
        _ => presented,
    }
}

/// rustls passes webpki's own verdicts on as text (`CaUsedAsEndEntity`).
fn from_webpki(what: &str) -> (FailureKind, String) {
    match what {
        "CaUsedAsEndEntity" => (
            FailureKind::NotAServerCertificate,
            "not a server certificate (the node presents a CA certificate as its own; \
             is the daemon's tlscert the CA's ca.pem?)"
                .into(),
        ),
        "EndEntityUsedAsCa" => (
            FailureKind::UnknownCa,
            "unknown CA (the node's certificate is signed by a certificate that is not a CA)"
                .into(),
        ),
        other => (
            FailureKind::Tls,
            format!("the node's certificate is refused ({})", clean(other, 80)),
        ),
    }
}

fn from_rustls(e: &rustls::Error, name: &str) -> Failure {
    let (kind, message) = match e {
        rustls::Error::InvalidCertificate(c) => from_certificate(c, name),
        rustls::Error::AlertReceived(a) => (
            FailureKind::ClientCertificateRejected,
            format!(
                "the node refused our client certificate (alert: {}); does its daemon \
                 trust this cluster's CA?",
                alert_name(a)
            ),
        ),
        rustls::Error::InvalidMessage(_) => (
            FailureKind::Tls,
            "the node does not speak TLS on this port (plain HTTP, or another service?)".into(),
        ),
        rustls::Error::NoCertificatesPresented => {
            (FailureKind::Tls, "the node presented no certificate".into())
        }
        other => (FailureKind::Tls, other.to_string()),
    };
    Failure::new(kind, format!("TLS error: {message}"))
}

fn from_io(e: &std::io::Error) -> Failure {
    use std::io::ErrorKind as K;
    let (kind, message) = match e.kind() {
        K::ConnectionRefused => (FailureKind::ConnectionRefused, "connection refused".into()),
        K::TimedOut => (FailureKind::Timeout, "timed out".into()),
        K::ConnectionReset => (FailureKind::Io, "connection reset".into()),
        K::UnexpectedEof => (
            FailureKind::Io,
            "the connection closed early (is this docker's TLS port?)".into(),
        ),
        _ => (FailureKind::Io, e.to_string()),
    };
    Failure::new(kind, message)
}

/// hyper's own verdicts on what a node sent.
fn from_hyper(e: &hyper::Error) -> Option<Failure> {
    let api = |m: &str| Some(Failure::new(FailureKind::Api, m));
    // hyper tells a too-large head apart only in its text (`is_parse_too_large` is a
    // server-side method).
    if e.is_parse() && e.to_string().contains("too large") {
        return api("the node sent a response head larger than the limit (huge headers)");
    }
    if e.is_parse() {
        return api("the node's answer is not valid HTTP/1.1");
    }
    if e.is_incomplete_message() {
        return Some(Failure::new(
            FailureKind::Io,
            "the connection closed in the middle of an answer",
        ));
    }
    None
}

/// Finds the most telling cause in an error chain: a rustls error, else hyper's verdict on
/// the answer, else an I/O error.
pub fn classify(e: &(dyn std::error::Error + 'static), name: &str) -> Failure {
    let mut io = None;
    let mut hyper_verdict = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return from_rustls(r, name);
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            hyper_verdict = hyper_verdict.or_else(|| from_hyper(h));
        }
        if let Some(i) = err.downcast_ref::<std::io::Error>() {
            // io::Error's `source()` skips the error it wraps: look inside it first.
            if let Some(inner) = i.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return from_rustls(r, name);
                }
                cur = Some(inner);
                io.get_or_insert(i);
                continue;
            }
            io.get_or_insert(i);
        }
        cur = err.source();
    }
    match (hyper_verdict, io) {
        (Some(f), _) => f,
        (None, Some(i)) => from_io(i),
        (None, None) => Failure::new(FailureKind::Api, clean(&e.to_string(), MAX_CHARS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{AlertDescription, CertificateError};

    fn wrap(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn failures_are_told_apart() {
        let f = classify(
            &wrap(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::UnknownCa);
        assert!(f.message.contains("unknown CA"), "{f}");
        let f = classify(
            &wrap(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::BadCertificateName);
        assert!(f.message.contains("not valid for rpi1"), "{f}");
        let f = classify(
            &wrap(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired,
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::ClientCertificateRejected);
        assert!(f.message.contains("certificate required"), "{f}");
        let f = classify(
            &wrap(rustls::Error::InvalidCertificate(
                CertificateError::ExpiredContext {
                    time: UnixTime::since_unix_epoch(Duration::from_secs(1_800_000_000)),
                    not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_000_000_000)),
                },
            )),
            "rpi1",
        );
        assert_eq!(f.kind, FailureKind::CertificateExpired);
        assert!(
            f.message
                .contains("expired on 2001-09-09 (today is 2027-01-15)"),
            "{f}"
        );
        assert_eq!(bare_name("DnsName(\"evil.example\")"), "evil.example");
        assert_eq!(bare_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(bare_name("odd"), "odd");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused, "rpi1").message, "connection refused");
    }
}
