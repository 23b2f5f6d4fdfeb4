//! Timestamps of a build, all in seconds since the Unix epoch.
//!
//! The rule (issue 5 #10): a step that executes nothing (COPY, ADD,
//! WORKDIR, configuration) takes its time from the state it starts from,
//! which is the base image's `created` (the epoch for `scratch`); only a
//! RUN brings in the wall clock ([`now`]). So two clean builds of a
//! Dockerfile without RUN give the same image. `SOURCE_DATE_EPOCH`, when
//! set, overrides all of it. (BuildKit stamps the build's wall-clock time
//! instead.)

use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock, the one place strata reads it for image times.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub use strata_store::time::rfc3339;

/// Parses RFC 3339 as image configs write it (`2024-01-02T03:04:05Z`,
/// with optional fractional seconds and a `±hh:mm` offset); fractions are
/// dropped.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(at);
        let (oh, om) = off[1..].split_once(':')?;
        let secs = num(oh)? * 3600 + num(om)? * 60;
        (c, if off.starts_with('-') { -secs } else { secs })
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':');
    let (h, mi, se) = (num(c.next()?)?, num(c.next()?)?, num(c.next()?)?);
    if c.next().is_some() || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn rfc3339_parses_what_images_carry() {
        for t in [0, 951_782_400, 1_700_000_000, -1] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T20:13:20-02:00"),
            Some(1_700_000_000)
        );
        for bad in ["", "2023-11-14", "2023-13-01T00:00:00Z", "yesterday"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
