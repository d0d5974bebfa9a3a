//! The project's one error convention: a library error's message says what failed and where
//! (file, partition, path); its cause is exposed as `source`, never repeated in the message.
//! Whoever shows an error to a person prints the whole chain with [`chain`].

use std::error::Error;
use std::fmt::Write;

/// `what failed: cause: cause…`, the message followed by each source in turn.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(out, ": {c}");
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: cannot open")]
    struct Open {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn chain_appends_each_cause_once() {
        let e = Open {
            path: "a.img".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(chain(&e), "a.img: cannot open: gone");
    }
}
