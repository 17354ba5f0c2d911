//! Sprig's clock: `now` is the caller's time (a render reads no clock), a `time.Time` whose
//! `Unix` method gives the seconds; `unixEpoch` prints them.
//!
//! Not yet: `date`, `dateInZone`, `ago`, `toDate` and the other formatting of times.

use super::wrong_type;
use crate::funcs::Funcs;
use crate::value::{Arity, Struct, Value};

/// Adds `now` (at `unix_seconds`) and `unixEpoch`.
pub fn add_to(funcs: &mut Funcs, unix_seconds: i64) {
    funcs.insert("now", Arity::Exactly(0), move |_, _| Ok(time(unix_seconds)));
    funcs.insert("unixEpoch", Arity::Exactly(1), |_, a| match &a[0] {
        Value::Object(o) if o.type_name() == "time.Time" => {
            o.call_method("Unix", &[]).map(|secs| Value::String(crate::print::format_value(&secs)))
        }
        other => Err(wrong_type("time.Time", other)),
    });
}

/// A `time.Time` at `unix_seconds`.
pub fn time(unix_seconds: i64) -> Value {
    Struct::new("time.Time").method("Unix", move |_| Ok(Value::Int(unix_seconds))).into_value()
}
