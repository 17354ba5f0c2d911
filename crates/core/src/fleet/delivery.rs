//! How a fleet object's commits reach the clusters, as read: `rollout` (waves, `bake`,
//! `halt.maxFailed`), `windows` and `freezes` (SPEC §2). Each value is parsed once, when the
//! fleet is read, into the type that is used — a bake is a number of seconds, a limit a count or
//! a share, a window's times and zone are jiff's — so no user of the model parses it again or
//! falls back when it cannot: what cannot be read is a fleet [`Error`](super::Error) naming the
//! field, and never a value.
//!
//! Not the decisions made with them: those are [`crate::rollout`]'s. This module imports no
//! other of the crate's but the selector's and the calendar's, so the model and the decisions
//! do not import each other.
//!
//! Each value writes back as the text it was read from (or the same in canonical form: a limit
//! `5` or `5%`), so the model serializes as before.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::selector::LabelSelector;

/// A value of a delivery field that cannot be read; the fleet names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{text:?} is not a duration like 2h, 30m or 1h30m")]
    Duration { text: String },
    #[error("{text:?} is not a count (5) or a percentage (5%)")]
    Limit { text: String },
    #[error("{text:?} is not an IANA time zone")]
    Zone { text: String },
    #[error("{text:?} is not HH:MM")]
    Clock { text: String },
    #[error("{text:?} is not a local time like 2026-11-20T00:00")]
    LocalTime { text: String },
    #[error("names no day")]
    NoDay,
    #[error("{to:?} is not after from {from:?}")]
    NotAfter { from: String, to: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rollout {
    pub waves: Vec<Wave>,
    /// How long each wave waits after the previous one, as a Go-style duration (`2h`, `30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<Bake>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
}

impl Rollout {
    /// The bake time in seconds; none given: 0, each wave right after the one before.
    pub fn bake_seconds(&self) -> u64 {
        self.bake.as_ref().map_or(0, Bake::seconds)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
}

/// A rollout's bake: a Go-style duration (`2h`, `30m`, `1h30m`), read once into seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bake {
    text: String,
    seconds: u64,
}

impl Bake {
    pub fn seconds(&self) -> u64 {
        self.seconds
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Bake {
    type Err = Error;

    fn from_str(text: &str) -> Result<Bake, Error> {
        let seconds =
            crate::calendar::parse_duration(text).ok_or_else(|| Error::Duration { text: text.to_string() })?.as_secs();
        Ok(Bake { text: text.to_string(), seconds })
    }
}

impl TryFrom<String> for Bake {
    type Error = Error;

    fn try_from(text: String) -> Result<Bake, Error> {
        text.parse()
    }
}

impl From<Bake> for String {
    fn from(bake: Bake) -> String {
        bake.text
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Halt {
    /// A count (`5`) or a share of the earlier waves (`5%`).
    pub max_failed: Limit,
    #[serde(default)]
    pub when_hub_unreachable: WhenHubUnreachable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenHubUnreachable {
    #[default]
    Wait,
    Proceed,
}

/// How many failed clusters halt a rollout (`rollout.halt.maxFailed`): written as a number
/// (`5`) or as text (`5`, `5%`), written back as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many clusters of the earlier waves.
    Count(u64),
    /// At most this share of the clusters of the earlier waves, in percent.
    Percent(u8),
}

impl Limit {
    /// Whether `failed` clusters out of `of` are more than the limit allows.
    pub fn exceeded(self, failed: usize, of: usize) -> bool {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        match self {
            Limit::Count(max) => wide(failed) > max,
            Limit::Percent(max) => wide(failed).saturating_mul(100) > u64::from(max).saturating_mul(wide(of)),
        }
    }
}

impl FromStr for Limit {
    type Err = Error;

    /// Reads `5` or `5%` (spaces around allowed), a share at most 100.
    fn from_str(text: &str) -> Result<Limit, Error> {
        let bad = || Error::Limit { text: text.to_string() };
        let trimmed = text.trim();
        if let Some(percent) = trimmed.strip_suffix('%') {
            let percent: u8 = percent.trim().parse().map_err(|_| bad())?;
            return if percent <= 100 { Ok(Limit::Percent(percent)) } else { Err(bad()) };
        }
        trimmed.parse().map(Limit::Count).map_err(|_| bad())
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Count(n) => write!(f, "{n}"),
            Limit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Limit, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum CountOrText {
            Count(u64),
            Text(String),
        }
        match CountOrText::deserialize(deserializer)? {
            CountOrText::Count(n) => Ok(Limit::Count(n)),
            CountOrText::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A deployment window: on `days`, from `start` to `end` (local times in `time_zone`; an end
/// not after the start runs past midnight into the next day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// At least one: the fleet refuses a window that names no day.
    #[serde(deserialize_with = "some_days")]
    pub days: Vec<Weekday>,
    pub start: Clock,
    pub end: Clock,
    pub time_zone: Zone,
}

fn some_days<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Weekday>, D::Error> {
    let days = Vec::<Weekday>::deserialize(deserializer)?;
    if days.is_empty() { Err(serde::de::Error::custom(Error::NoDay)) } else { Ok(days) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub fn civil(self) -> jiff::civil::Weekday {
        use jiff::civil::Weekday as W;
        match self {
            Weekday::Mon => W::Monday,
            Weekday::Tue => W::Tuesday,
            Weekday::Wed => W::Wednesday,
            Weekday::Thu => W::Thursday,
            Weekday::Fri => W::Friday,
            Weekday::Sat => W::Saturday,
            Weekday::Sun => W::Sunday,
        }
    }
}

/// A local time of day, `HH:MM` (00:00 to 23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Clock(Time);

impl Clock {
    pub fn time(self) -> Time {
        self.0
    }
}

impl FromStr for Clock {
    type Err = Error;

    fn from_str(text: &str) -> Result<Clock, Error> {
        let bad = || Error::Clock { text: text.to_string() };
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        Time::new(h, m, 0, 0).map(Clock).map_err(|_| bad())
    }
}

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

impl TryFrom<String> for Clock {
    type Error = Error;

    fn try_from(text: String) -> Result<Clock, Error> {
        text.parse()
    }
}

impl From<Clock> for String {
    fn from(clock: Clock) -> String {
        clock.to_string()
    }
}

/// An IANA time zone (`America/Chicago`), from the tz data jiff bundles: no file is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone {
    name: String,
    zone: TimeZone,
}

impl Zone {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

/// Two zones are the same when they have the same name.
impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl FromStr for Zone {
    type Err = Error;

    fn from_str(name: &str) -> Result<Zone, Error> {
        let zone = TimeZone::get(name).map_err(|_| Error::Zone { text: name.to_string() })?;
        Ok(Zone { name: name.to_string(), zone })
    }
}

impl TryFrom<String> for Zone {
    type Error = Error;

    fn try_from(name: String) -> Result<Zone, Error> {
        name.parse()
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> String {
        zone.name
    }
}

/// A dated change freeze: no new commit at all from `from` to `to` (local times
/// `YYYY-MM-DDTHH:MM` in `timeZone`), but one that carries a signed `Flotilla-Override:` trailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Freeze {
    pub from: LocalTime,
    pub to: LocalTime,
    pub time_zone: Zone,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Freeze {
    /// Its start and end, unix seconds (a time that does not exist locally moves forward, as a
    /// clock does), or the field that cannot be placed in time: `from`, or `to` (also when it
    /// is not after `from`). The fleet refuses a freeze without a span.
    pub fn span(&self) -> Result<(i64, i64), (&'static str, Error)> {
        let from = self.from.at(&self.time_zone).ok_or(("from", Error::LocalTime { text: self.from.text.clone() }))?;
        let to = self.to.at(&self.time_zone).ok_or(("to", Error::LocalTime { text: self.to.text.clone() }))?;
        if to <= from {
            return Err(("to", Error::NotAfter { from: self.from.text.clone(), to: self.to.text.clone() }));
        }
        Ok((from, to))
    }
}

/// A local date and time, `YYYY-MM-DDTHH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime {
    text: String,
    civil: DateTime,
}

impl LocalTime {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The instant it is in `zone`, unix seconds; in a skipped hour, the later reading.
    pub fn at(&self, zone: &Zone) -> Option<i64> {
        let at = zone.zone().to_ambiguous_zoned(self.civil).later().ok()?;
        Some(at.timestamp().as_second())
    }
}

impl FromStr for LocalTime {
    type Err = Error;

    fn from_str(text: &str) -> Result<LocalTime, Error> {
        let bad = || Error::LocalTime { text: text.to_string() };
        if text.len() != 16 || text.as_bytes().get(10) != Some(&b'T') {
            return Err(bad());
        }
        let civil: DateTime = text.parse().map_err(|_| bad())?;
        Ok(LocalTime { text: text.to_string(), civil })
    }
}

impl TryFrom<String> for LocalTime {
    type Error = Error;

    fn try_from(text: String) -> Result<LocalTime, Error> {
        text.parse()
    }
}

impl From<LocalTime> for String {
    fn from(time: LocalTime) -> String {
        time.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_is_read_once_and_written_back_as_read() {
        let bake: Bake = "1h30m".parse().unwrap();
        assert_eq!((bake.seconds(), bake.as_str()), (5_400, "1h30m"));
        assert_eq!("two hours".parse::<Bake>(), Err(Error::Duration { text: "two hours".into() }));
        assert_eq!("5%".parse(), Ok(Limit::Percent(5)));
        assert_eq!(" 3 ".parse(), Ok(Limit::Count(3)));
        for bad in ["", "five", "101%", "-1", "5 %%"] {
            assert_eq!(bad.parse::<Limit>(), Err(Error::Limit { text: bad.into() }), "{bad}");
        }
        assert_eq!(serde_json::from_value::<Limit>(serde_json::json!(5)).unwrap(), Limit::Count(5));
        assert_eq!(serde_json::to_value(Limit::Percent(40)).unwrap(), "40%");
        assert_eq!(serde_json::to_value(Limit::Count(2)).unwrap(), "2");
        assert!(!Limit::Percent(5).exceeded(5, 100));
        assert!(Limit::Percent(5).exceeded(6, 100));
        assert!(Limit::Percent(0).exceeded(1, 1_000));
        assert!(!Limit::Count(2).exceeded(2, 2));
        assert!(Limit::Count(2).exceeded(3, 1_000));
        for bad in ["2:00", "24:00", "02:60", "0200", "02:00:00"] {
            assert_eq!(bad.parse::<Clock>(), Err(Error::Clock { text: bad.into() }), "{bad}");
        }
        assert_eq!("Mars/Olympus".parse::<Zone>().unwrap_err(), Error::Zone { text: "Mars/Olympus".into() });
        let window: Window = serde_json::from_value(
            serde_json::json!({"days": ["Mon"], "start": "02:00", "end": "05:00", "timeZone": "America/Chicago"}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&window).unwrap(),
            serde_json::json!({"days": ["Mon"], "start": "02:00", "end": "05:00", "timeZone": "America/Chicago"})
        );
        let none = serde_json::json!({"days": [], "start": "02:00", "end": "05:00", "timeZone": "UTC"});
        assert!(serde_json::from_value::<Window>(none).unwrap_err().to_string().contains("names no day"));
    }

    #[test]
    fn a_freeze_spans_from_its_local_start_to_its_local_end() {
        let freeze = |from: &str, to: &str| Freeze {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            time_zone: "America/Chicago".parse().unwrap(),
            reason: None,
        };
        // Midnight in Chicago (CST, UTC-6) is 06:00 UTC.
        let utc = |text: &str| crate::calendar::unix_ms(text).unwrap() / 1_000;
        let span = freeze("2026-11-20T00:00", "2026-11-21T00:00").span();
        assert_eq!(span, Ok((utc("2026-11-20T06:00:00Z"), utc("2026-11-21T06:00:00Z"))));
        let backwards = freeze("2026-11-20T00:00", "2026-11-19T00:00").span().unwrap_err();
        assert_eq!(backwards.0, "to");
        assert_eq!(backwards.1.to_string(), "\"2026-11-19T00:00\" is not after from \"2026-11-20T00:00\"");
        assert_eq!("2026-11-20".parse::<LocalTime>().unwrap_err(), Error::LocalTime { text: "2026-11-20".into() });
    }
}
