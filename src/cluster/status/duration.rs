//! Durations on the command line (`--wait 5m`) and back in words (`1m30s`): humantime reads
//! them, after a bare number (seconds) and the forms it is laxer about than we promise are
//! settled here.

use std::time::Duration;

use thiserror::Error;

/// The longest `--wait`: a week is already more than any boot takes.
pub const MAX_WAIT: Duration = Duration::from_secs(7 * 86400);

#[derive(Debug, Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration (like 30s, 5m, 1h, 1h30m)")]
    Syntax(String),
    #[error("{given:?} is not a duration (like 30s, 5m, 1h, 1h30m)")]
    Units {
        given: String,
        #[source]
        source: humantime::DurationError,
    },
    #[error("{given:?} is longer than the longest wait, {longest} (7d)")]
    TooLong { given: String, longest: String },
}

impl DurationError {
    fn units(given: &str, source: humantime::DurationError) -> DurationError {
        DurationError::Units {
            given: given.to_string(),
            source,
        }
    }
}

/// Parses a duration like `30s`, `5m`, `1h`, `1h30m`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let t = s.trim();
    let syntax = || DurationError::Syntax(s.to_string());
    // humantime also takes `1.5h`, `5 m` and `1h 30m`: we promise only digits and units run
    // together, so a stray space or dot stays a typo to point out rather than a guess.
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(syntax());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map(Duration::from_secs).map_err(|_| syntax());
    }
    humantime::parse_duration(t).map_err(|e| DurationError::units(s, e))
}

/// A `--wait` duration: as `parse_duration`, at most `MAX_WAIT`.
pub fn parse_wait(s: &str) -> Result<Duration, DurationError> {
    let d = parse_duration(s)?;
    if d > MAX_WAIT {
        return Err(DurationError::TooLong {
            given: s.to_string(),
            longest: humanize(MAX_WAIT),
        });
    }
    Ok(d)
}

/// `5s`, `1m30s`, `250ms`.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        return format!("{}ms", d.subsec_millis());
    }
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).unwrap();
        assert_eq!(d("30s"), Duration::from_secs(30));
        assert_eq!(d("5m"), Duration::from_secs(300));
        assert_eq!(d("1h"), Duration::from_secs(3600));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("90"), Duration::from_secs(90));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("2d"), Duration::from_secs(2 * 86400));
        for bad in ["", "s", "5x", "m5", "-5s", "1.5h", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(5)), "5s");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn what_humantime_would_take_is_refused_first() {
        // humantime reads these; the old parser refused them, and so do we.
        for lax in ["1.5h", "5 m", "1h 30m", "2µs"] {
            assert!(humantime::parse_duration(lax).is_ok(), "{lax}");
            let e = parse_duration(lax).unwrap_err();
            assert!(matches!(e, DurationError::Syntax(_)), "{lax}: {e}");
        }
        // Surrounding space is forgiven, as before.
        assert_eq!(parse_duration(" 5m ").unwrap(), Duration::from_secs(300));
    }

    #[test]
    fn errors_name_the_input_and_keep_the_cause() {
        let e = parse_duration("5x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"5x\" is not a duration (like 30s, 5m, 1h, 1h30m)"
        );
        let chained = crate::error::chain(&e);
        assert!(chained.starts_with(&format!("{e}: ")), "{chained}");
        let e = parse_wait("8d").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"8d\" is longer than the longest wait, 168h (7d)"
        );
        assert_eq!(parse_wait("7d").unwrap(), MAX_WAIT);
        // A number too large for the clock is refused, not wrapped.
        assert!(parse_duration("99999999999999999999").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
