//! `procmux logs --since --until --grep -n --json`: the question, decided once into plain
//! values (times in milliseconds since the Unix epoch, a compiled regex).

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;

use super::pattern::{GREP_BUDGET, LinePattern};
use crate::cli::LogsArgs;
use crate::error::{Error, Result};

/// Which lines of the tail `logs` shows, and how.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Lines written at or after this (ms since the epoch).
    pub since: Option<i64>,
    /// Lines written before this.
    pub until: Option<i64>,
    /// Lines whose text matches (bytes: a line need not be UTF-8).
    pub grep: Option<LinePattern>,
    /// The last N of the lines selected.
    pub lines: Option<usize>,
    pub json: bool,
}

/// The question `logs` asks, or `None` for the plain stream (no option given). `now` and
/// `zone` read the times given.
pub fn log_query(args: &LogsArgs, now: Timestamp, zone: &TimeZone) -> Result<Option<LogQuery>> {
    if args.since.is_none()
        && args.until.is_none()
        && args.grep.is_none()
        && args.lines.is_none()
        && !args.json
    {
        return Ok(None);
    }
    if args.follow && args.until.is_some() {
        return Err(Error::Usage(
            "--until ends the lines and -f follows new ones: give one of them".to_owned(),
        ));
    }
    let when = |flag: &str, text: &Option<String>| -> Result<Option<i64>> {
        text.as_deref()
            .map(|t| parse_when(t, now, zone).map_err(|e| Error::Usage(format!("--{flag} {e}"))))
            .transpose()
    };
    let grep = match &args.grep {
        Some(pattern) => Some(
            LinePattern::new(pattern, GREP_BUDGET)
                .map_err(|why| Error::Usage(format!("--grep {pattern:?}: {why}")))?,
        ),
        None => None,
    };
    Ok(Some(LogQuery {
        since: when("since", &args.since)?,
        until: when("until", &args.until)?,
        grep,
        lines: args.lines,
        json: args.json,
    }))
}

/// `5m`, `1h30m`, `90s`, `500ms`, `2d` ago; `14:05`, `14:05:30` today; or an RFC 3339 time.
fn parse_when(text: &str, now: Timestamp, zone: &TimeZone) -> std::result::Result<i64, String> {
    let expected = || {
        format!(
            "{text:?}: expected a duration ago (5m, 1h30m), a time of day (14:05) or an RFC 3339 \
             time (2026-11-30T14:05:00Z)"
        )
    };
    let text = text.trim();
    match parse_ago(text) {
        Some(Ok(ago)) => return Ok(now.as_millisecond().saturating_sub(ago)),
        // Said as a duration, but too long: that, rather than what else it might be.
        Some(Err(long)) if long.contains("longer than") => return Err(long),
        _ => {}
    }
    match text.parse::<Timestamp>() {
        Ok(time) => return Ok(time.as_millisecond()),
        // A date, but one that cannot be (a 31st of February, past the year 9999): why.
        Err(e) if starts_with_a_year(text) => return Err(format!("{text:?}: {e}")),
        Err(_) => {}
    }
    if text.contains(':')
        && text.len() <= 8
        && let Ok(time) = text.parse::<Time>()
    {
        let today = now.to_zoned_datetime(zone.clone()).date();
        let at = zone
            .to_timestamp(today.to_datetime(time))
            .map_err(|_| expected())?;
        return Ok(at.as_millisecond());
    }
    Err(expected())
}

/// `2026-…`: meant as a date.
fn starts_with_a_year(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() > 4 && bytes[4] == b'-' && bytes[..4].iter().all(u8::is_ascii_digit)
}

/// A duration ago in the one grammar, with a unit (a bare number is not a time), in
/// milliseconds.
fn parse_ago(text: &str) -> Option<std::result::Result<i64, String>> {
    if !text.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    // At most 100 days: its milliseconds fit.
    Some(super::duration::parse_duration(text).map(|ago| ago.as_millis() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> std::result::Result<i64, String> {
        let now: Timestamp = "2026-11-30T20:00:00Z".parse().unwrap();
        let zone = TimeZone::fixed(jiff::tz::offset(1));
        parse_when(text, now, &zone)
    }

    #[test]
    fn times_ago_of_day_and_absolute() {
        let now = 1_796_068_800_000;
        assert_eq!(at("5m"), Ok(now - 300_000));
        assert_eq!(at("1h30m"), Ok(now - 5_400_000));
        assert_eq!(at("90s"), Ok(now - 90_000));
        assert_eq!(at("500ms"), Ok(now - 500));
        assert_eq!(at("2d"), Ok(now - 2 * 86_400_000));
        assert_eq!(at("0s"), Ok(now));
        // 20:00 UTC is 21:00 at +01:00.
        assert_eq!(at("21:00"), Ok(now));
        assert_eq!(at("20:59:30"), Ok(now - 30_000));
        assert_eq!(at("2026-11-30T19:00:00Z"), Ok(now - 3_600_000));
        assert_eq!(at("2026-11-30T21:00:00+01:00"), Ok(now));
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "5m3",
            "-5m",
            "1e3s",
            "25:00",
            "yesterday",
            "5 m",
            "99999999999999d",
        ] {
            let error = at(bad).unwrap_err();
            assert!(error.contains("expected a duration ago"), "{bad}: {error}");
        }
        // A date that cannot be says why.
        for (bad, why) in [
            (
                "2026-13-01T00:00:00Z",
                "'month' is not in the required range",
            ),
            ("2026-02-31T00:00:00Z", "'day' for `2026-02` is invalid"),
            (
                "9999-12-31T23:59:59Z",
                "'Unix timestamp seconds' is not in the required range",
            ),
            ("2026-11-30 14:05", "failed to find offset component"),
            ("2026-é", "expected"),
        ] {
            let error = at(bad).unwrap_err();
            assert!(error.starts_with(&format!("{bad:?}: ")), "{error}");
            assert!(error.contains(why), "{bad}: {error}");
        }
        for long in ["101d", "2401h", "99999999999d"] {
            let error = at(long).unwrap_err();
            assert!(
                error.ends_with("is longer than 100 days, the longest duration"),
                "{error}"
            );
        }
    }
}
