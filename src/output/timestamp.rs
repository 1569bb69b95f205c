//! The time at the start of each line, formatted only when it changes.
//!
//! [`Clock::refresh`] reads the wall clock once per batch of lines and formats it only when the
//! second (or, for the formats with milliseconds, the millisecond) changed. Formatting never
//! allocates: the text lives in a fixed array, and the UTC offset comes from the time zone read
//! once at start.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;

use crate::config::TimestampFormat;

/// The current stamp in one format.
pub struct Clock {
    zone: TimeZone,
    format: TimestampFormat,
    /// The second (or millisecond) `text` shows; changes whenever the text does.
    key: i64,
    text: [u8; 32],
    /// A frozen clock (tests) never reads the wall clock.
    frozen: bool,
    /// Milliseconds since the Unix epoch at the last refresh (in every format: the tail keeps
    /// the time of each write).
    millis: i64,
}

impl Clock {
    /// A clock in the system's local time zone (UTC when it cannot be determined).
    pub fn new(format: TimestampFormat) -> Clock {
        let zone = crate::config::zone::local();
        Clock {
            zone,
            format,
            key: i64::MIN,
            text: [b'0'; 32],
            frozen: false,
            millis: 0,
        }
    }

    /// A clock that always shows `unix_millis` in `zone`.
    #[cfg(test)]
    pub fn frozen(format: TimestampFormat, unix_millis: i64, zone: TimeZone) -> Clock {
        let mut clock = Clock {
            zone,
            format,
            key: i64::MIN,
            text: [b'0'; 32],
            frozen: false,
            millis: 0,
        };
        clock.set(unix_millis);
        clock.frozen = true;
        clock
    }

    /// Reads the wall clock and reformats the stamp if it changed.
    pub fn refresh(&mut self) {
        if self.frozen {
            return;
        }
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.millis = millis;
        if self.format == TimestampFormat::None {
            return;
        }
        let key = if self.format.has_millis() {
            millis
        } else {
            millis.div_euclid(1000)
        };
        if key != self.key {
            self.set(millis);
        }
    }

    /// The time of the last refresh, in milliseconds since the Unix epoch.
    pub fn millis(&self) -> i64 {
        self.millis
    }

    /// Changes whenever [`Clock::text`] does.
    pub fn key(&self) -> i64 {
        self.key
    }

    /// The formatted stamp, [`TimestampFormat::width`] bytes.
    pub fn text(&self) -> &[u8] {
        &self.text[..self.format.width()]
    }

    pub(crate) fn set(&mut self, unix_millis: i64) {
        self.millis = unix_millis;
        let second = unix_millis.div_euclid(1000);
        let milli = unix_millis.rem_euclid(1000);
        self.key = if self.format.has_millis() {
            unix_millis
        } else {
            second
        };
        let offset = match self.format {
            TimestampFormat::Utc => 0,
            _ => jiff::Timestamp::from_second(second)
                .map_or(0, |ts| self.zone.to_offset(ts).seconds()),
        };
        let local = second + i64::from(offset);
        let t = &mut self.text;
        match self.format {
            TimestampFormat::Local | TimestampFormat::Utc => put_hms(t, 0, local),
            TimestampFormat::Ms => {
                put_hms(t, 0, local);
                t[8] = b'.';
                put_digits(t, 9, milli, 3);
            }
            TimestampFormat::Iso => {
                let (year, month, day) = civil_from_days(local.div_euclid(86_400));
                put_digits(t, 0, year, 4);
                t[4] = b'-';
                put_digits(t, 5, month, 2);
                t[7] = b'-';
                put_digits(t, 8, day, 2);
                t[10] = b'T';
                put_hms(t, 11, local);
                t[19] = b'.';
                put_digits(t, 20, milli, 3);
                t[23] = if offset < 0 { b'-' } else { b'+' };
                let minutes = i64::from(offset.unsigned_abs() / 60);
                put_digits(t, 24, minutes / 60, 2);
                t[26] = b':';
                put_digits(t, 27, minutes % 60, 2);
            }
            TimestampFormat::None => {}
        }
    }
}

/// `HH:MM:SS` of the time of day of `local_second`, at `at`.
fn put_hms(text: &mut [u8], at: usize, local_second: i64) {
    let of_day = local_second.rem_euclid(86_400);
    put_digits(text, at, of_day / 3600, 2);
    text[at + 2] = b':';
    put_digits(text, at + 3, of_day / 60 % 60, 2);
    text[at + 5] = b':';
    put_digits(text, at + 6, of_day % 60, 2);
}

/// `value` as `width` decimal digits, zero-padded, at `at`.
fn put_digits(text: &mut [u8], at: usize, mut value: i64, width: usize) {
    for i in (0..width).rev() {
        text[at + i] = b'0' + (value.rem_euclid(10)) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-11-26T12:00:01.234Z
    const NOON_MS: i64 = 1_764_158_401_234;

    fn stamp(format: TimestampFormat, zone: &str) -> String {
        let zone = TimeZone::get(zone).unwrap_or(TimeZone::UTC);
        let clock = Clock::frozen(format, NOON_MS, zone);
        String::from_utf8(clock.text().to_vec()).unwrap()
    }

    #[test]
    fn every_format() {
        let zone = TimeZone::fixed(jiff::tz::offset(1));
        let clock = |format| {
            String::from_utf8(Clock::frozen(format, NOON_MS, zone.clone()).text().to_vec()).unwrap()
        };
        assert_eq!(clock(TimestampFormat::Local), "13:00:01");
        assert_eq!(clock(TimestampFormat::Utc), "12:00:01");
        assert_eq!(clock(TimestampFormat::Ms), "13:00:01.234");
        assert_eq!(clock(TimestampFormat::Iso), "2025-11-26T13:00:01.234+01:00");
        assert_eq!(clock(TimestampFormat::None), "");
        assert_eq!(
            stamp(TimestampFormat::Iso, "UTC"),
            "2025-11-26T12:00:01.234+00:00"
        );
    }

    #[test]
    fn negative_offsets_and_day_boundaries() {
        let zone = TimeZone::fixed(jiff::tz::Offset::from_seconds(-(5 * 3600 + 30 * 60)).unwrap());
        let clock = Clock::frozen(TimestampFormat::Iso, 1_000, zone);
        assert_eq!(clock.text(), b"1969-12-31T18:30:01.000-05:30");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn a_new_second_allocates_nothing() {
        for format in [TimestampFormat::Local, TimestampFormat::Iso] {
            let mut clock = Clock::new(format);
            clock.set(NOON_MS);
            let before = crate::runtime::sys::alloc_count::this_thread();
            for step in 0..5000 {
                clock.set(NOON_MS + step * 997);
            }
            assert_eq!(crate::runtime::sys::alloc_count::this_thread() - before, 0);
        }
    }
}
