//! What to do about a node that failed, in one sentence: the failure says what happened,
//! the hint what the operator can try next.

use std::path::Path;

use super::failure::{Failure, FailureKind};

/// What the hint may mention about the node.
pub struct HintContext<'a> {
    pub node: &'a str,
    /// Where it was asked (`host:port`).
    pub endpoint: &'a str,
    /// Whether the config gave it an address or `--endpoint` a place to connect to.
    pub located: bool,
    /// The CA certificate the operator's side trusts.
    pub ca: &'a Path,
}

/// The hint for `failure`, if there is one to give.
pub fn hint(failure: &Failure, cx: &HintContext) -> Option<String> {
    let node = cx.node;
    let ca = cx.ca.display();
    Some(match failure.kind {
        FailureKind::ConnectionRefused | FailureKind::Timeout => format!(
            "{node} may not have booted yet: a first boot takes a few minutes (more while \
             docker is installed); watch it come up with `clem-image status --wait 10m`"
        ),
        FailureKind::Resolve if !cx.located => format!(
            "nothing says where {node} is: give it an `address` in cluster.toml, or \
             connect with `--endpoint {node}=HOST:PORT`"
        ),
        FailureKind::Resolve => format!(
            "check the host in {}: this computer cannot look it up",
            cx.endpoint
        ),
        FailureKind::UnknownCa | FailureKind::ClientCertificateRejected => format!(
            "the card was built with another cluster directory (another CA): this status \
             trusts {ca}; give `--cluster-dir` (or `--config`) of the directory the card was \
             built with, or rebuild and reflash {node} from this one"
        ),
        FailureKind::BadCertificateName => format!(
            "the docker answering at {} is not {node}'s: check the node's address",
            cx.endpoint
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_say_what_to_do() {
        let cx = HintContext {
            node: "rpi1",
            endpoint: "rpi1:2376",
            located: false,
            ca: Path::new("/c/tls/ca.pem"),
        };
        let f = |kind| Failure::new(kind, "x");
        let h = hint(&f(FailureKind::ConnectionRefused), &cx).unwrap();
        assert!(h.contains("--wait 10m") && h.contains("few minutes"), "{h}");
        let h = hint(&f(FailureKind::Resolve), &cx).unwrap();
        assert!(
            h.contains("`address`") && h.contains("--endpoint rpi1=HOST:PORT"),
            "{h}"
        );
        let located = HintContext {
            located: true,
            ..cx
        };
        assert!(!hint(&f(FailureKind::Resolve), &located)
            .unwrap()
            .contains("--endpoint rpi1="));
        let h = hint(&f(FailureKind::UnknownCa), &located).unwrap();
        assert!(h.contains("/c/tls/ca.pem") && h.contains("another cluster directory"));
        assert_eq!(hint(&f(FailureKind::Api), &located), None);
    }
}
