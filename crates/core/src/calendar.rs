//! The Gregorian calendar arithmetic that validating and writing a timestamp need (jiff's civil
//! dates, as [`crate::rollout`]'s windows use), and Go-style durations. Not a clock: core reads
//! no time. It writes one ([`rfc3339`]) and reads one ([`unix_ms`]); time zones are
//! [`crate::rollout`]'s. Go's duration syntax is parsed here: jiff's friendly format is not Go's.

use std::time::Duration;

use jiff::SignedDuration;
use jiff::civil::{Date, DateTime, Time};

/// A sum of whole numbers with units `ms`, `s`, `m` and `h`, as Go writes durations (`1m30s`);
/// `None` when malformed or too large.
pub fn parse_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let letters = rest[digits..].bytes().take_while(u8::is_ascii_alphabetic).count();
        let n: u64 = rest[..digits].parse().ok()?;
        let part = match &rest[digits..digits + letters] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[digits + letters..];
    }
    Some(total)
}

/// The number of days in `month` (1–12) of `year` (in the proleptic Gregorian calendar, years
/// -9999 to 9999), or `None` for a month that does not exist.
pub fn days_in_month(year: i64, month: i64) -> Option<i64> {
    let first = Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, 1).ok()?;
    Some(i64::from(first.days_in_month()))
}

/// 1970-01-01T00:00:00, in UTC.
const EPOCH: DateTime = DateTime::constant(1970, 1, 1, 0, 0, 0, 0);

/// The UTC time `unix_seconds` after the epoch as RFC 3339, `2026-11-25T03:32:07Z`. Times
/// before the epoch are clamped to it, and times after 9999-12-31T23:59:59Z to that (RFC 3339
/// has four-digit years); the caller reads the clock.
pub fn rfc3339(unix_seconds: i64) -> String {
    let mut out = String::with_capacity(20);
    push_rfc3339(&mut out, unix_seconds);
    out
}

/// [`rfc3339`], written at the end of `out`. Digits are written by hand rather than by
/// `format!`: the agent and the simulator write a time into the waiting message of every poll
/// that waits, and the formatter's padding cost more than the rest of the decision.
pub fn push_rfc3339(out: &mut String, unix_seconds: i64) {
    let time = EPOCH.checked_add(SignedDuration::from_secs(unix_seconds.max(0))).unwrap_or(DateTime::MAX);
    let mut push = |n: i32, width: u32, then: Option<char>| {
        let n = n.unsigned_abs();
        for place in (0..width).rev() {
            let digit = n / 10u32.pow(place) % 10;
            out.push(char::from_digit(digit, 10).expect("a decimal digit"));
        }
        if let Some(c) = then {
            out.push(c);
        }
    };
    push(i32::from(time.year()), 4, Some('-'));
    push(i32::from(time.month()), 2, Some('-'));
    push(i32::from(time.day()), 2, Some('T'));
    push(i32::from(time.hour()), 2, Some(':'));
    push(i32::from(time.minute()), 2, Some(':'));
    push(i32::from(time.second()), 2, Some('Z'));
}

/// Unix milliseconds of an RFC 3339 UTC time (`2026-11-25T03:32:07Z`, `…07.5Z`: a fraction is
/// cut to milliseconds; an offset after the seconds is not read), `None` when it is not one, or
/// names a date or time that does not exist. A leap second (`:60`) is the next second, as RFC
/// 3339 allows it. Only the layout and the date are checked: [`crate::report`] validates the
/// rest. The hub's ingest, its audit and the agent's clock checks all read times so.
pub fn unix_ms(time: &str) -> Option<i64> {
    let number = |from: usize, to: usize| time.get(from..to)?.parse::<i64>().ok();
    let b = time.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let date = Date::new(year.try_into().ok()?, month.try_into().ok()?, day.try_into().ok()?).ok()?;
    let leap = i64::from(second == 60);
    let of_day = Time::new(hour.try_into().ok()?, minute.try_into().ok()?, (second - leap).try_into().ok()?, 0).ok()?;
    let since = date.to_datetime(of_day).duration_since(EPOCH);
    // The fraction's first three digits, padded: ".5" is 500 ms.
    let millis = match time[19..].strip_prefix('.') {
        Some(fraction) => {
            let digits: Vec<u8> = fraction.bytes().take_while(u8::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            (0..3).fold(0, |n, k| n * 10 + digits.get(k).map_or(0, |d| i64::from(d - b'0')))
        }
        None => 0,
    };
    Some(i64::try_from(since.as_millis()).ok()? + leap * 1_000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let cases = [("60s", 60_000), ("5m", 300_000), ("1h", 3_600_000), ("500ms", 500), ("1m30s", 90_000)];
        for (text, millis) in cases {
            assert_eq!(parse_duration(text), Some(Duration::from_millis(millis)), "{text}");
        }
        for text in ["", "60", "s", "1.5m", "-1s", "60 s", "1d", "99999999999999999999h"] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn unix_seconds_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
        // `date -u -d @1795577527 +%FT%TZ`
        assert_eq!(rfc3339(1_795_577_527), "2026-11-25T03:32:07Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(unix_ms("2026-11-25T03:32:07Z"), Some(1_795_577_527_000));
        assert_eq!(unix_ms("2024-02-29T23:59:59.5Z"), Some(1_709_251_199_500));
        assert_eq!(unix_ms("2024-02-29T23:59:59.123456789Z"), Some(1_709_251_199_123));
        assert_eq!(unix_ms("2025-11-25T03:32:07.07Z"), Some(unix_ms("2025-11-25T03:32:07Z").unwrap() + 70));
        assert_eq!(unix_ms("2025-11-25T03:32:07.Z"), None, "a point without digits");
        assert_eq!(unix_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_ms("garbage"), None);
        // Every day of four centuries round-trips, in step with days_in_month.
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..146_097_i64 {
            let text = rfc3339(days * 86_400 + 86_399);
            assert_eq!(text, format!("{year:04}-{month:02}-{day:02}T23:59:59Z"), "day {days}");
            assert_eq!(unix_ms(&text), Some((days * 86_400 + 86_399) * 1_000));
            day += 1;
            if day > days_in_month(year, month).unwrap() {
                day = 1;
                month += 1;
                if month > 12 {
                    month = 1;
                    year += 1;
                }
            }
        }
    }

    /// The ends of what four-digit years can say; the same before and after the calendar
    /// arithmetic moved to jiff.
    #[test]
    fn years_0000_and_9999() {
        assert_eq!(unix_ms("0000-01-01T00:00:00Z"), Some(-62_167_219_200_000));
        assert_eq!(unix_ms("0000-02-29T12:00:00Z"), Some(-62_162_078_400_000), "year 0 is a leap year");
        assert_eq!(unix_ms("9999-12-31T23:59:59Z"), Some(253_402_300_799_000));
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(days_in_month(0, 2), Some(29));
        assert_eq!(days_in_month(9999, 12), Some(31));
    }

    /// An offset after the seconds is not read (the callers validate first, and accept only
    /// `Z`); a fraction is, to the millisecond (the hub's ingest once had its own reader for it).
    #[test]
    fn fractions_are_read_and_offsets_are_not() {
        let utc = unix_ms("2026-11-25T03:32:07Z");
        assert_eq!(unix_ms("2026-11-25T03:32:07.999Z"), utc.map(|t| t + 999));
        assert_eq!(unix_ms("2026-11-25T03:32:07+02:00"), utc);
        assert_eq!(unix_ms("2026-11-25T03:32:07-05:30"), utc);
        assert_eq!(unix_ms("2026-11-25T03:32:07"), None, "too short for a zone");
        assert_eq!(unix_ms("2016-12-31T23:59:60Z"), unix_ms("2017-01-01T00:00:00Z"), "a leap second");
    }

    /// Changed with jiff: the hand arithmetic computed a time for any digits (February 30th was
    /// March 2nd, hour 25 the next day) and wrote five-digit years past 9999. Neither is RFC 3339.
    #[test]
    fn dates_that_do_not_exist_are_not_times() {
        for text in ["2026-02-30T00:00:00Z", "1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T25:00:00Z"] {
            assert_eq!(unix_ms(text), None, "{text}");
        }
        assert_eq!(unix_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(rfc3339(253_402_300_800), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn leap_years_and_impossible_months() {
        assert_eq!(days_in_month(2024, 2), Some(29));
        assert_eq!(days_in_month(1900, 2), Some(28));
        assert_eq!(days_in_month(2000, 2), Some(29));
        assert_eq!(days_in_month(2026, 11), Some(30));
        assert_eq!(days_in_month(2026, 13), None);
        assert_eq!(days_in_month(2026, 0), None);
        assert_eq!(days_in_month(10_000, 1), None, "past jiff's years");
    }
}
