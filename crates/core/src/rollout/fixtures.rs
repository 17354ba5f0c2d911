//! The inputs the tests of [`super::decide`] and [`super::decide_fleet`] share: one clock, one
//! two-wave rollout, one branch history and one freeze, so that the placement's decision and
//! the fleet's are checked on the same story. Test code only.

use crate::fleet::{Freeze, Rollout, Wave};

use super::{Landed, Windows};

pub const HOUR: i64 = 3_600;
/// 2026-11-25T10:00:00Z.
pub const NOW: i64 = 1_795_600_800;

/// Windows that are open now.
pub const OPEN: Windows = Windows { open: true, next: Some(NOW) };

/// Two waves, `canary` then `everyone`, a bake of 2 h, no halt.
pub fn rollout() -> Rollout {
    let wave = |name: &str| Wave { name: name.into(), clusters: None, percent: None };
    Rollout { waves: vec![wave("canary"), wave("everyone")], bake: Some("2h".parse().unwrap()), halt: None }
}

/// Commits `cccc…` (an hour old), `bbbb…` (three hours) and `aaaa…` (a day), newest first.
pub fn history() -> Vec<Landed<'static>> {
    vec![
        Landed { commit: "cccccccccccccccc", tree: "t3", at: NOW - HOUR },
        Landed { commit: "bbbbbbbbbbbbbbbb", tree: "t2", at: NOW - 3 * HOUR },
        Landed { commit: "aaaaaaaaaaaaaaaa", tree: "t1", at: NOW - 24 * HOUR },
    ]
}

/// A freeze from 2026-11-20 to 2026-11-30 (UTC), for the holidays: [`NOW`] is inside it.
pub fn freeze() -> Freeze {
    Freeze {
        from: "2026-11-20T00:00".parse().unwrap(),
        to: "2026-11-30T00:00".parse().unwrap(),
        time_zone: "UTC".parse().unwrap(),
        reason: Some("holidays".into()),
    }
}
