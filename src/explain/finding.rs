//! What a reading found wrong or worth knowing, and how `verify`, `build` and `explain`
//! report it.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    /// Worth knowing before the first boot; never an error, not even with `--strict`.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub reason: String,
}

impl Finding {
    pub(super) fn error(reason: impl Into<String>) -> Finding {
        Finding {
            level: Level::Error,
            reason: reason.into(),
        }
    }
    pub(super) fn warning(reason: impl Into<String>) -> Finding {
        Finding {
            level: Level::Warning,
            reason: reason.into(),
        }
    }
    pub(super) fn note(reason: impl Into<String>) -> Finding {
        Finding {
            level: Level::Note,
            reason: reason.into(),
        }
    }
}

/// Prints `findings` for `image` (stderr) and returns the exit code: 1 when there is an
/// error (or, with `strict`, a warning), else 0.
pub fn report_findings(image: &Path, findings: &[Finding], strict: bool) -> i32 {
    let mut fail = false;
    for f in findings {
        let bad = f.level == Level::Error || (strict && f.level == Level::Warning);
        fail |= bad;
        let l = match f.level {
            _ if bad => "error",
            Level::Note => "note",
            _ => "warning",
        };
        eprintln!("{l}: {}: seed check: {}", image.display(), f.reason);
    }
    if findings.iter().all(|f| f.level == Level::Note) {
        println!("{}: seed checks OK", image.display());
    }
    i32::from(fail)
}
