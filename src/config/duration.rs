//! The one duration grammar, for every flag and key that takes one: `--timeout`,
//! `--wait-timeout`, `logs --since`/`--until` (a duration ago), `ready = "delay:…"` and the
//! durations of `procmux.toml` (`timeout`, `stop_timeout`, `restart_delay`, …).
//!
//! A number of seconds (`90`, `1.5`), or numbers with units, largest first or not: `500ms`,
//! `1.5s`, `2m`, `1h30m`, `2d`. At most [`MAX`]: every duration becomes a deadline
//! (`Instant + d`) or a count of milliseconds, and 100 days keeps both far from overflow while
//! being longer than any wait, stop or look back a person means (a larger one is a typo).

use std::time::Duration;

use serde::Deserialize;

/// The longest duration: 100 days.
pub const MAX: Duration = Duration::from_secs(100 * 86_400);

/// A duration in `procmux.toml`: a number of seconds (`stop_timeout = 5`) or text in the
/// grammar (`stop_timeout = "1m30s"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileDuration {
    Seconds(f64),
    Text(String),
}

impl FileDuration {
    pub fn to_duration(&self) -> Result<Duration, String> {
        match self {
            FileDuration::Seconds(seconds) => seconds_to_duration(*seconds, &seconds.to_string()),
            FileDuration::Text(text) => parse_duration(text),
        }
    }
}

/// Parses the grammar; the error quotes `text` and says what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected = || not_a_duration(text);
    let trimmed = text.trim();
    let (first, rest) = number(trimmed).ok_or_else(expected)?;
    if rest.is_empty() {
        return seconds_to_duration(first, text);
    }
    let mut seconds = 0.0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let (count, after) = number(rest).ok_or_else(expected)?;
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let scale = match &after[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(expected()),
        };
        seconds += count * scale;
        rest = &after[unit_len..];
    }
    seconds_to_duration(seconds, text)
}

/// A decimal number at the start of `text` (`12`, `1.5`; at most 12 digits before the point
/// and 9 after) and what follows it.
fn number(text: &str) -> Option<(f64, &str)> {
    let whole = text.bytes().take_while(u8::is_ascii_digit).count();
    let mut end = whole;
    if text[end..].starts_with('.') {
        let fraction = text[end + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if fraction == 0 || fraction > 9 {
            return None;
        }
        end += 1 + fraction;
    }
    if whole == 0 || whole > 12 {
        return None;
    }
    Some((text[..end].parse().ok()?, &text[end..]))
}

fn not_a_duration(text: &str) -> String {
    format!(
        "{text:?} is not a duration: expected seconds (90, 1.5) or numbers with units ms, s, m, \
         h, d (500ms, 1h30m, 2d)"
    )
}

fn seconds_to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(not_a_duration(text));
    }
    if seconds > MAX.as_secs_f64() {
        return Err(format!(
            "{text:?} is longer than 100 days, the longest duration"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        let ms = Duration::from_millis;
        for (text, expected) in [
            ("0", ms(0)),
            ("90", ms(90_000)),
            ("1.5", ms(1500)),
            (" 2 ", ms(2000)),
            ("500ms", ms(500)),
            ("1.5s", ms(1500)),
            ("2m", ms(120_000)),
            ("1h", ms(3_600_000)),
            ("1h30m", ms(5_400_000)),
            ("1h30m15s250ms", ms(5_415_250)),
            ("30m1h", ms(5_400_000)),
            ("2d", ms(172_800_000)),
            ("0.5d", ms(43_200_000)),
            ("100d", MAX),
            ("99d23h59m59s999ms", MAX - ms(1)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn what_is_not_a_duration() {
        for text in [
            "",
            " ",
            "s",
            "m",
            "-1",
            "-5m",
            "+5s",
            "5x",
            "5m3",
            "5 m",
            "1e3s",
            "1e3",
            "inf",
            "NaN",
            "1.s",
            ".5s",
            "1..5s",
            "1.5.5s",
            "5mm",
            "5M",
            "5S",
            "１s",
            "5秒",
            "1234567890123s",
            "1.1234567890s",
            "0x10s",
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(
                error.contains("is not a duration: expected"),
                "{text:?}: {error}"
            );
        }
        for text in ["101d", "100d1ms", "8640001", "2401h", "999999999999d"] {
            let error = parse_duration(text).unwrap_err();
            assert!(
                error.ends_with("is longer than 100 days, the longest duration"),
                "{error}"
            );
        }
    }

    #[test]
    fn file_durations_are_seconds_or_text() {
        let seconds = FileDuration::Seconds(2.5).to_duration();
        assert_eq!(seconds, Ok(Duration::from_millis(2500)));
        let text = FileDuration::Text("1m30s".into()).to_duration();
        assert_eq!(text, Ok(Duration::from_secs(90)));
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e12] {
            assert!(FileDuration::Seconds(bad).to_duration().is_err(), "{bad}");
        }
    }
}
