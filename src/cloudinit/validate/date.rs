//! The `date` format as python-jsonschema 4.10.3 checks it on Python 3.11: an ASCII string
//! that `datetime.date.fromisoformat` accepts. CPython 3.11's (C) parser takes 7, 8 or 10
//! characters in the forms `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www`, `YYYY-Www-D`, `YYYYWww` and
//! `YYYYWwwD`, and does not look past what the form needs: `20320901xy` is 2032-09-01.

/// Whether `s` passes the `date` format check.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    s.is_ascii() && matches!(b.len(), 7 | 8 | 10) && parse(b).is_some_and(valid)
}

/// `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let d = b.get(at..at + n)?;
    d.iter()
        .all(u8::is_ascii_digit)
        .then(|| d.iter().fold(0, |v, c| v * 10 + i64::from(c - b'0')))
}

/// Year, month and day as written (not yet range-checked).
fn parse(b: &[u8]) -> Option<(i64, i64, i64)> {
    let year = digits(b, 0, 4)?;
    let dashed = b.get(4) == Some(&b'-');
    let mut p = 4 + usize::from(dashed);
    let dash = |p: &mut usize| {
        let ok = !dashed || b.get(*p) == Some(&b'-');
        *p += usize::from(dashed);
        ok
    };
    if b.get(p) == Some(&b'W') {
        let week = digits(b, p + 1, 2)?;
        p += 3;
        let day = if p < b.len() {
            if !dash(&mut p) {
                return None;
            }
            digits(b, p, 1)?
        } else {
            1
        };
        return from_iso_week(year, week, day);
    }
    let month = digits(b, p, 2)?;
    p += 2;
    if !dash(&mut p) {
        return None;
    }
    Some((year, month, digits(b, p, 2)?))
}

fn valid((y, m, d): (i64, i64, i64)) -> bool {
    (1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 0001-01-01 (day 1) to `y`-`m`-`d`, for `y` >= 1.
fn ordinal(y: i64, m: i64, d: i64) -> i64 {
    let before = y - 1;
    let months: i64 = (1..m).map(|k| days_in_month(y, k)).sum();
    before * 365 + before / 4 - before / 100 + before / 400 + months + d
}

fn from_ordinal(n: i64) -> (i64, i64, i64) {
    let mut y = (n - 1) * 400 / 146_097 + 1;
    while ordinal(y + 1, 1, 1) <= n {
        y += 1;
    }
    while ordinal(y, 1, 1) > n {
        y -= 1;
    }
    let mut rest = n - ordinal(y, 1, 1) + 1;
    let mut m = 1;
    while rest > days_in_month(y, m) {
        rest -= days_in_month(y, m);
        m += 1;
    }
    (y, m, rest)
}

/// The calendar date of ISO week `week`, weekday `day` (1 = Monday) of ISO year `year`.
/// Year 0 gives no date (CPython's arithmetic lands before 0001-01-01 for all of it).
fn from_iso_week(year: i64, week: i64, day: i64) -> Option<(i64, i64, i64)> {
    if year < 1 || !(1..=7).contains(&day) {
        return None;
    }
    let jan1 = ordinal(year, 1, 1);
    let weekday = (jan1 - 1) % 7; // 0001-01-01 was a Monday
    let long_year = weekday == 3 || (weekday == 2 && is_leap(year));
    let week_ok = (1..=52).contains(&week) || (week == 53 && long_year);
    if !week_ok {
        return None;
    }
    let monday = jan1 - weekday + if weekday > 3 { 7 } else { 0 };
    let n = monday + (week - 1) * 7 + day - 1;
    (n >= 1).then(|| from_ordinal(n))
}

#[cfg(test)]
mod tests {
    use super::is_date;

    /// Verdicts of `datetime.date.fromisoformat` on Python 3.11.2 (with `str.isascii`).
    #[test]
    fn matches_python_3_11() {
        let ok = [
            "2032-09-01",
            "20320901",
            "2032-W01",
            "2032-W01-1",
            "2032W011",
            "2032W01",
            "2032-02-29",
            "2032-W53",
            "2020-W53",
            "2026-W53",
            "2004-W53",
            "9999-W52-5",
            "0001-W01-1",
            "0001W011",
            "2032090100",
            "20320901xy",
            "2032W0110x",
            "1999-12-31",
        ];
        let bad = [
            "2032-244",
            "2032-9-1",
            "2032-09-01T00:00",
            "2032-09-31",
            "0000-01-01",
            "２０３２-09-01",
            "2032-09-01 ",
            "2032-W00",
            "2032-W01-0",
            "2032-W01-8",
            "20320230",
            "+2032-09-01",
            "2032-0901",
            "203209-01",
            "2032-W011",
            "2032W01-1",
            "2032W01xy",
            "2032-W01xy",
            "2032-W01-1x",
            "2021-W53",
            "2016-W53",
            "2032-00-10",
            "2032-13-01",
            "9999-W52-6",
            "2032-02-30",
            "2032-W1-1",
            "20321301",
            "2032W1",
            "2032-W-01",
            "0000-W01-1",
            "0000-W52-7",
            "",
            "2032",
        ];
        for s in ok {
            assert!(is_date(s), "{s}");
        }
        for s in bad {
            assert!(!is_date(s), "{s}");
        }
    }
}
