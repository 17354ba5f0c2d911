//! Sprig's clock: `now` is the caller's time (a render reads no clock), a `time.Time` whose
//! `Unix` method gives the seconds; `unixEpoch` prints them, `date` and `htmlDate` format a
//! time (or Unix seconds) with Go's layout (`2006-01-02T15:04:05Z07:00`) in UTC, and
//! `dateInZone`/`htmlDateInZone` accept the zone `UTC`.
//!
//! Not yet: other zones, `ago`, `toDate`, `dateModify`, `duration`: a time is UTC seconds.

use super::{str_arg, wrong_type};
use crate::funcs::Funcs;
use crate::value::{Arity, Struct, Value};

/// Adds `now` (at `unix_seconds`), `unixEpoch`, `date`, `dateInZone`, `htmlDate` and
/// `htmlDateInZone`.
pub fn add_to(funcs: &mut Funcs, unix_seconds: i64) {
    funcs.insert("now", Arity::Exactly(0), move |_, _| Ok(time(unix_seconds)));
    funcs.insert("unixEpoch", Arity::Exactly(1), |_, a| Ok(Value::String(seconds(&a[0])?.to_string())));
    funcs.insert("date", Arity::Exactly(2), |_, a| Ok(Value::String(format(str_arg(&a[0])?, seconds(&a[1])?))));
    funcs.insert("htmlDate", Arity::Exactly(1), |_, a| Ok(Value::String(format("2006-01-02", seconds(&a[0])?))));
    funcs.insert("dateInZone", Arity::Exactly(3), |_, a| {
        utc_only(&a[2])?;
        Ok(Value::String(format(str_arg(&a[0])?, seconds(&a[1])?)))
    });
    funcs.insert("htmlDateInZone", Arity::Exactly(2), |_, a| {
        utc_only(&a[1])?;
        Ok(Value::String(format("2006-01-02", seconds(&a[0])?)))
    });
}

/// A `time.Time` at `unix_seconds`.
pub fn time(unix_seconds: i64) -> Value {
    Struct::new("time.Time").method("Unix", move |_| Ok(Value::Int(unix_seconds))).into_value()
}

fn utc_only(zone: &Value) -> Result<(), String> {
    match str_arg(zone)? {
        "UTC" | "" => Ok(()),
        other => Err(format!("time zone {other} is not supported yet")),
    }
}

/// Sprig's `toDate`-less reading of a time argument: a `time.Time`, or Unix seconds.
fn seconds(v: &Value) -> Result<i64, String> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => match o.call_method("Unix", &[])? {
            Value::Int(s) => Ok(s),
            other => Err(wrong_type("int64", &other)),
        },
        Value::Int(s) => Ok(*s),
        #[allow(clippy::cast_possible_truncation, reason = "Sprig's int64 conversion truncates too")]
        Value::Float(f) => Ok(*f as i64),
        other => Err(wrong_type("time.Time", other)),
    }
}

/// The civil date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];

/// Go's `Time.Format` in UTC for the layout elements charts use.
pub fn format(layout: &str, unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    // Longest elements first, as Go's `nextStdChunk` tries them.
    let elements: [(&str, String); 24] = [
        ("January", month_name.to_string()),
        ("Monday", weekday.to_string()),
        ("Z07:00", "Z".to_string()),
        ("-07:00", "+00:00".to_string()),
        ("-0700", "+0000".to_string()),
        ("Z0700", "Z".to_string()),
        ("2006", format!("{year:04}")),
        ("Jan", month_name[..3].to_string()),
        ("Mon", weekday[..3].to_string()),
        ("MST", "UTC".to_string()),
        (".000", ".000".to_string()),
        ("-07", "+00".to_string()),
        ("01", format!("{month:02}")),
        ("02", format!("{day:02}")),
        ("_2", format!("{day:>2}")),
        ("15", format!("{hour:02}")),
        ("03", format!("{hour12:02}")),
        ("04", format!("{minute:02}")),
        ("05", format!("{second:02}")),
        ("06", format!("{:02}", year.rem_euclid(100))),
        ("PM", if hour >= 12 { "PM" } else { "AM" }.to_string()),
        ("pm", if hour >= 12 { "pm" } else { "am" }.to_string()),
        ("1", month.to_string()),
        ("2", day.to_string()),
    ];
    let extra: [(&str, String); 3] = [("3", hour12.to_string()), ("4", minute.to_string()), ("5", second.to_string())];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (element, value) in elements.iter().chain(extra.iter()) {
            if let Some(after) = rest.strip_prefix(element) {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layouts_format_in_utc() {
        // 2026-12-07T21:57:12Z, a Monday.
        let t = 1_796_680_632;
        assert_eq!(format("2006-01-02T15:04:05Z07:00", t), "2026-12-07T21:57:12Z");
        assert_eq!(format("Mon Jan _2 15:04:05 MST 2006", t), "Mon Dec  7 21:57:12 UTC 2026");
        assert_eq!(format("20060102-150405", 0), "19700101-000000");
        assert_eq!(format("3:04PM", t), "9:57PM");
    }
}
