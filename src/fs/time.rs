//! Build time for everything written into images: `SOURCE_DATE_EPOCH` or a fixed default,
//! never the clock, so the same inputs give the same bytes.

/// 2015-04-23 00:00:00 UTC, the day Ubuntu 15.04 was released.
pub const DEFAULT_EPOCH: u64 = 1_429_747_200;

/// Seconds since 1970 to use for timestamps; errors on a malformed `SOURCE_DATE_EPOCH`.
pub fn build_epoch() -> Result<u64, String> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        _ => Ok(DEFAULT_EPOCH),
    }
}

/// UTC calendar fields of an epoch second: (year, month, day, hour, minute, second).
pub fn civil(epoch: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_matches_known_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(DEFAULT_EPOCH), (2015, 4, 23, 0, 0, 0));
        assert_eq!(civil(951_782_400 + 3661), (2000, 2, 29, 1, 1, 1));
    }
}
