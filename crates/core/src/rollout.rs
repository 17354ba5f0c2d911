//! Progressive delivery in a pull fleet, decided by each agent from git alone (SPEC §2
//! `rollout`, `windows`): which wave of a placement a cluster is in, which commit of the branch
//! its wave may take at a given time, and whether a deployment window is open. Pure: the caller
//! reads the clock and git; the agent and the hub call the same functions, so they agree on every
//! cluster's wave.
//!
//! - **Waves**, in order; a cluster is in the first wave that takes it. A wave with `clusters`
//!   takes the clusters its selector matches; a wave with `percent` takes that share of the
//!   fleet by a stable hash of (placement, cluster name) — [`bucket`], one of [`BUCKETS`], and
//!   each `percent` wave the next range of buckets, so `10` then `20` are the first tenth and
//!   the next fifth; a wave with both takes the matching clusters in its range; a wave with
//!   neither takes everyone. A cluster no wave takes goes with the last wave.
//! - **Bake**: a commit reaches wave N (from 0) `bake × N` after it reached the branch: when it
//!   was first seen on the branch's first-parent history ([`Arrivals`]), never a date the commit
//!   carries — whoever commits sets those, and a fast-forward merge brings week-old commits to
//!   the branch at once. The hub's polling records arrivals for the fleet; an agent keeps its own
//!   for when the hub cannot be asked. A cluster takes the
//!   newest commit whose gate has opened for its wave ([`pick`]), so all clusters of a wave
//!   converge on one commit. A revert pushed during a bake stops the rollout by itself: when a
//!   newer commit of the branch has the very tree of an older one, the commits between them were
//!   taken back, and a wave whose gate opened for one of those takes the older one instead (the
//!   same content as the revert, already baked). A partial revert is a change like any other.
//! - **Windows**: days, a start and an end (`HH:MM`, local time) and an IANA time zone. Local
//!   time is what counts, across daylight-saving changes: a window `02:00`–`05:00` in
//!   `America/Chicago` opens at 02:00 Chicago time whatever the UTC offset. A window whose end
//!   is not after its start runs past midnight into the next day (the day it starts on is the
//!   one in `days`). On the day clocks spring forward, a start inside the skipped hour opens at
//!   the first local time after it; a window entirely inside it does not open that day. No
//!   windows: always open.
//! - **Halt** (`rollout.halt.maxFailed`, a count or a share): the one decision the agents
//!   cannot make from git, since it rests on other clusters' reports. The hub counts, per
//!   commit, the clusters that failed on it ([`counts_against`]: failed, degraded or refused by
//!   verification or out of scope there — not an unreachable source) and stay failed there or moved on from it;
//!   wave N may take the commit while the clusters of waves before N that failed on it are
//!   within the limit ([`halted_from`]); once a wave is halted, so are the ones after it. The
//!   hub publishes the halted commits ([`Halted`]); an agent of a later wave asks before taking
//!   a commit, and keeps what it runs while its commit is halted. A fix is a newer commit: it
//!   goes through the waves as any other, and the halted commit never reaches the later waves.
//!
//! A placement's decision from all of these — the commit it runs, why it waits, what it must
//! ask the hub or read from git first — is [`decide`]'s, one pure step the agent and the
//! simulator both call; the fleet repository's own commit is [`decide_fleet`]'s.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::fleet::{ClusterIdentity, Freeze, Limit, Rollout, Window};
use crate::report::SyncState;

mod decide;
pub use decide::{
    Candidates, Checked, Decision, HaltSaid, HubAnswer, Inputs, Notes, Waiting, Windows, decide, freeze_message,
    unconstrained, wave_message, window_message,
};
mod fleet_choice;
pub use fleet_choice::{
    FleetChecked, FleetChoice, FleetDecision, FleetInputs, Unheeded, decide_fleet, fleet_window_message,
    override_ignored, unverified_message,
};
#[cfg(test)]
mod fixtures;

/// How many buckets `percent` waves divide the fleet into: a percent is a hundred of them.
pub const BUCKETS: u64 = 10_000;

/// The wave a cluster is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveOf {
    /// From 0: the first wave.
    pub index: usize,
    pub name: String,
}

/// The bucket (`0..BUCKETS`) of `cluster` for `placement`: SHA-256 of `placement/cluster`, its
/// first eight bytes as a big-endian number, modulo [`BUCKETS`].
pub fn bucket(placement: &str, cluster: &str) -> u64 {
    let digest = Sha256::new().chain_update(placement).chain_update("/").chain_update(cluster).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// The wave of `placement`'s rollout that `identity` is in; `None` when the rollout has no
/// waves.
pub fn wave_of(rollout: &Rollout, placement: &str, identity: &ClusterIdentity) -> Option<WaveOf> {
    let selected: Vec<bool> =
        rollout.waves.iter().map(|w| w.clusters.as_ref().is_none_or(|s| s.matches(&identity.labels))).collect();
    let index = wave_index(rollout, bucket(placement, &identity.name), &selected)?;
    Some(WaveOf { index, name: rollout.waves[index].name.clone() })
}

/// [`wave_of`] from its parts: the cluster's [`bucket`] and, per wave, whether the wave's
/// `clusters` selector takes the cluster (true for a wave without one) — what a caller that
/// puts many clusters with the same labels in waves computes once per label set.
pub fn wave_index(rollout: &Rollout, bucket: u64, selected: &[bool]) -> Option<usize> {
    let last = rollout.waves.len().checked_sub(1)?;
    let mut taken = 0;
    for (index, wave) in rollout.waves.iter().enumerate() {
        let in_share = match wave.percent {
            None => true,
            Some(percent) => {
                let from = taken;
                taken += u64::from(percent) * BUCKETS / 100;
                (from..taken).contains(&bucket)
            }
        };
        if selected.get(index).copied().unwrap_or(false) && in_share {
            return Some(index);
        }
    }
    Some(last)
}

/// How many first-parent commits of a branch its arrivals are kept for, and a rollout looks back
/// over: the same depth at every look, or [`Arrivals::observe`] would forget commits and find
/// them arriving anew. The agent and the hub both use it.
pub const HISTORY: usize = 500;

/// When the commits of one branch reached it: each first-parent commit and the time (unix
/// seconds) it was first seen there. Kept by the hub from its polling (shared by every agent
/// through its rollout answer) and by each agent in its `stateDir` (for when the hub cannot be
/// asked), both updated with [`Arrivals::observe`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Arrivals {
    seen: std::collections::BTreeMap<String, i64>,
}

/// One commit's arrival on a branch, as the hub publishes it (`arrivals` of
/// `GET /api/v1/rollouts/{placement}` and `GET /api/v1/arrivals/{repository}`), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arrival {
    pub commit: String,
    /// Unix seconds.
    pub at: i64,
}

impl Arrivals {
    /// Takes in one look at the branch's first-parent history (`history`, commit ids newest
    /// first, always walked to the same depth) at `now`: a commit not seen before arrived now;
    /// one no longer on the branch is forgotten, so that a commit force-pushed away and back
    /// arrives anew. The first look of all finds every commit arriving now too: what was there
    /// before anyone looked has no known arrival, and an unknown arrival must not skip a bake.
    /// Whether anything changed.
    pub fn observe(&mut self, history: &[&str], now: i64) -> bool {
        let before = self.seen.len();
        let on_branch: std::collections::BTreeSet<&str> = history.iter().copied().collect();
        self.seen.retain(|c, _| on_branch.contains(c.as_str()));
        let mut changed = self.seen.len() != before;
        for commit in history {
            if !self.seen.contains_key(*commit) {
                self.seen.insert((*commit).to_string(), now);
                changed = true;
            }
        }
        changed
    }

    /// When `commit` reached the branch, if it was seen there.
    pub fn at(&self, commit: &str) -> Option<i64> {
        self.seen.get(commit).copied()
    }

    /// Records an arrival someone else saw (the hub's): it replaces the agent's own, the hub's
    /// being shared by every cluster of the wave.
    pub fn insert(&mut self, commit: &str, at: i64) {
        self.seen.insert(commit.to_string(), at);
    }

    /// The arrivals of `history`'s commits (newest first), as published.
    pub fn of(&self, history: &[&str]) -> Vec<Arrival> {
        history.iter().filter_map(|c| self.at(c).map(|at| Arrival { commit: (*c).to_string(), at })).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
}

/// A commit of a branch's first-parent history, its tree, and when it reached the branch (unix
/// seconds; see [`Arrivals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Landed<'a> {
    pub commit: &'a str,
    pub tree: &'a str,
    pub at: i64,
}

impl<'a> Landed<'a> {
    /// A branch's first-parent history, each commit's id and tree newest first, dated by
    /// `arrived` (when the commit reached the branch). A commit whose arrival is not known
    /// counts as arriving `now`, so that an unknown arrival never skips a bake. The agent (a
    /// placement's source, the fleet) and the hub's rollout progress date their history so.
    pub fn dated(
        history: impl IntoIterator<Item = (&'a str, &'a str)>,
        arrived: impl Fn(&str) -> Option<i64>,
        now: i64,
    ) -> Vec<Landed<'a>> {
        history.into_iter().map(|(commit, tree)| Landed { commit, tree, at: arrived(commit).unwrap_or(now) }).collect()
    }
}

/// When a commit that reached the branch at `at` opens to wave `wave`: `bake × wave` later.
pub fn gate(at: i64, wave: usize, bake_seconds: u64) -> i64 {
    let wait = u64::try_from(wave).unwrap_or(u64::MAX).saturating_mul(bake_seconds);
    at.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX))
}

/// The newest commit of `history` (newest first) whose gate has opened for `wave` at `now`,
/// unless a newer commit took it back (see the module doc); `None` while none has opened (the
/// cluster keeps what it runs).
pub fn pick<'h, 'a>(history: &'h [Landed<'a>], wave: usize, bake_seconds: u64, now: i64) -> Option<&'h Landed<'a>> {
    let at = history.iter().position(|c| gate(c.at, wave, bake_seconds) <= now)?;
    let (newer, older) = history.split_at(at);
    // The newest older commit whose tree a newer commit went back to.
    let landed = |n: &&Landed| n.at <= now;
    let taken_back =
        older[1..].iter().find(|o| newer.iter().filter(landed).any(|n| n.tree == o.tree) && o.tree != older[0].tree);
    Some(taken_back.unwrap_or(&older[0]))
}

/// Whether a placement reported in `state` at a commit counts as failed on that commit for the
/// halt: it could not apply or verify it, or its objects are unhealthy. Not an unreachable
/// source (that is the network's doing, not the commit's). A commit refused for writing outside
/// its scope, or for an object another placement owns, counts: it is the commit's doing.
pub fn counts_against(state: SyncState) -> bool {
    matches!(
        state,
        SyncState::Failed
            | SyncState::Degraded
            | SyncState::VerificationFailed
            | SyncState::Refused
            | SyncState::Conflict
    )
}

/// The first wave that may not take a commit: given, per wave, how many of its clusters failed
/// on the commit and how many clusters it has, the first wave N ≥ 1 for which the clusters of
/// waves before N that failed exceed `limit` (then every wave after it waits too); `None`: the
/// rollout may go on.
pub fn halted_from(limit: Limit, failed: &[usize], clusters: &[usize]) -> Option<usize> {
    let (mut failed_before, mut clusters_before) = (0, 0);
    for wave in 1..failed.len().max(clusters.len()) {
        failed_before += failed.get(wave - 1).copied().unwrap_or(0);
        clusters_before += clusters.get(wave - 1).copied().unwrap_or(0);
        if failed_before > 0 && limit.exceeded(failed_before, clusters_before) {
            return Some(wave);
        }
    }
    None
}

/// A commit clusters failed on, as `GET /api/v1/rollouts/{placement}` lists it (under
/// `halt.commits`): what an agent of a later wave asks for before taking a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Halted {
    pub commit: String,
    /// The clusters that failed on it, per wave.
    pub failed: Vec<usize>,
    /// The first wave that may not take it (its name), and its index; `None`: within the limit.
    pub halted_from: Option<String>,
    pub halted_from_index: Option<usize>,
}

impl Halted {
    /// Whether wave `wave` (from 0) may not take the commit.
    pub fn holds_back(&self, wave: usize) -> bool {
        self.halted_from_index.is_some_and(|from| from <= wave)
    }
}

/// The hub's answer on a rollout's halt (its rollout answer's `halt`): `maxFailed`, and per
/// commit that clusters failed on (newest first along the branch, then any the branch no longer
/// has), how many per wave and from which wave on it is held back. The hub writes it, the agent
/// reads [`HaltAnswer::commits`] before it takes a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HaltAnswer {
    #[serde(default)]
    pub max_failed: String,
    pub commits: Vec<Halted>,
}

/// The freeze in force at `now` (unix seconds), with when it ends; of several, the one that
/// ends last. A freeze without a span (see [`Freeze::span`]; the fleet refuses those) is never
/// in force.
pub fn frozen(freezes: &[Freeze], now: i64) -> Option<(&Freeze, i64)> {
    freezes
        .iter()
        .filter_map(|f| f.span().ok().map(|(from, to)| (f, from, to)))
        .filter(|(_, from, to)| *from <= now && now < *to)
        .max_by_key(|(_, _, to)| *to)
        .map(|(f, _, to)| (f, to))
}

/// The trailer that lets a commit through a freeze when an override signer signed it.
pub const OVERRIDE_TRAILER: &str = "Flotilla-Override";

/// The reason a commit message's `Flotilla-Override: REASON` trailer gives, if it has one: in
/// the message's last paragraph, as git's trailers are.
pub fn override_reason(message: &str) -> Option<String> {
    let message = message.trim_end();
    let last = message.rsplit("\n\n").next()?;
    last.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim().eq_ignore_ascii_case(OVERRIDE_TRAILER) && !value.trim().is_empty())
            .then(|| value.trim().to_string())
    })
}

/// A window ready to ask: its zone and times read.
struct Open<'w> {
    window: &'w Window,
    zone: TimeZone,
    start: Time,
    end: Time,
}

impl<'w> Open<'w> {
    fn of(window: &'w Window) -> Open<'w> {
        Open { window, zone: window.time_zone.zone().clone(), start: window.start.time(), end: window.end.time() }
    }

    fn on(&self, date: Date) -> bool {
        self.window.days.iter().any(|d| d.civil() == date.weekday())
    }

    fn contains(&self, now: &Timestamp) -> bool {
        let local = now.to_zoned(self.zone.clone());
        let (date, time) = (local.date(), local.time());
        if self.start < self.end {
            return self.on(date) && self.start <= time && time < self.end;
        }
        // Past midnight: from the start on a listed day, or before the end the day after one.
        (self.on(date) && time >= self.start) || (date.yesterday().is_ok_and(|d| self.on(d)) && time < self.end)
    }

    /// The openings from the day before `now` for a week and a day, as instants.
    fn openings(&self, now: &Timestamp) -> impl Iterator<Item = Timestamp> + '_ {
        let today = now.to_zoned(self.zone.clone()).date();
        (-1..=8_i64).filter_map(move |offset| {
            let date = today.checked_add(jiff::Span::new().days(offset)).ok()?;
            if !self.on(date) {
                return None;
            }
            let at: Zoned = date.to_datetime(self.start).to_zoned(self.zone.clone()).ok()?;
            Some(at.timestamp())
        })
    }
}

/// Whether `now` (unix seconds) is inside one of `windows`; no windows: always.
pub fn window_open(windows: &[Window], now: i64) -> bool {
    if windows.is_empty() {
        return true;
    }
    let Ok(now) = Timestamp::from_second(now) else { return false };
    windows.iter().map(Open::of).any(|w| w.contains(&now))
}

/// When a window is next open at or after `now` (unix seconds): `now` itself when one is open,
/// `None` when no window ever opens.
pub fn next_opening(windows: &[Window], now: i64) -> Option<i64> {
    if window_open(windows, now) {
        return Some(now);
    }
    let now_ts = Timestamp::from_second(now).ok()?;
    windows
        .iter()
        .map(Open::of)
        .flat_map(|w| {
            let openings: Vec<Timestamp> = w.openings(&now_ts).collect();
            // An opening that lands in a skipped hour is not one if the window is shut then.
            openings.into_iter().filter(move |at| *at > now_ts && w.contains(at))
        })
        .min()
        .map(Timestamp::as_second)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::fleet::{Wave, Weekday};
    use crate::selector::LabelSelector;

    fn identity(name: &str, labels: &[(&str, &str)]) -> ClusterIdentity {
        ClusterIdentity {
            name: name.parse().unwrap(),
            environment: "prod".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn rollout() -> Rollout {
        let canary: LabelSelector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"canary": "true"}})).unwrap();
        Rollout {
            waves: vec![
                Wave { name: "canary".into(), clusters: Some(canary), percent: None },
                Wave { name: "early".into(), clusters: None, percent: Some(10) },
                Wave { name: "everyone".into(), clusters: None, percent: None },
            ],
            bake: Some("2h".parse().unwrap()),
            halt: None,
        }
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        // Recorded once: the hub and every agent must keep computing exactly this.
        assert_eq!(bucket("bt-collector", "store-0042"), bucket("bt-collector", "store-0042"));
        assert_ne!(bucket("bt-collector", "store-0042"), bucket("pos", "store-0042"));
        let mut counts = [0_u32; 10];
        for i in 0..10_000 {
            let b = bucket("bt-collector", &format!("store-{i:04}"));
            assert!(b < BUCKETS);
            counts[usize::try_from(b * 10 / BUCKETS).unwrap()] += 1;
        }
        assert!(counts.iter().all(|c| (850..1_150).contains(c)), "{counts:?}");
    }

    #[test]
    fn canaries_first_then_a_tenth_then_everyone() {
        let rollout = rollout();
        assert_eq!(wave_of(&rollout, "pos", &identity("store-0001", &[("canary", "true")])).unwrap().index, 0);
        let mut by_wave = BTreeMap::<usize, usize>::new();
        for i in 0..10_000 {
            let w = wave_of(&rollout, "pos", &identity(&format!("store-{i:04}"), &[])).unwrap();
            *by_wave.entry(w.index).or_default() += 1;
        }
        assert_eq!(by_wave.get(&0), None, "no canary label, no canary wave");
        assert!((850..1_150).contains(&by_wave[&1]), "{by_wave:?}");
        assert_eq!(by_wave[&1] + by_wave[&2], 10_000);
        // A tenth by the placement's own hash: another placement picks other stores.
        let early = |p: &str| {
            (0..1_000)
                .filter(|i| wave_of(&rollout, p, &identity(&format!("store-{i:04}"), &[])).unwrap().index == 1)
                .collect::<Vec<_>>()
        };
        assert_ne!(early("pos"), early("bt-collector"));
        let empty = Rollout { waves: vec![], bake: None, halt: None };
        assert_eq!(wave_of(&empty, "pos", &identity("s", &[])), None);
    }

    /// The commit `pick` gives with the test rollout's bake of 2 h.
    fn at(history: &[Landed<'static>], wave: usize, now: i64) -> Option<&'static str> {
        pick(history, wave, 7_200, now).map(|c| c.commit)
    }

    #[test]
    fn a_commit_whose_arrival_is_not_known_arrives_now() {
        let mut arrivals = Arrivals::default();
        arrivals.insert("c1", 100);
        let landed = Landed::dated([("c2", "t2"), ("c1", "t1")], |c| arrivals.at(c), 500);
        assert_eq!(
            landed,
            [Landed { commit: "c2", tree: "t2", at: 500 }, Landed { commit: "c1", tree: "t1", at: 100 }]
        );
    }

    #[test]
    fn each_wave_takes_the_newest_commit_baked_for_it_and_a_revert_stops_the_rollout() {
        let bake = rollout().bake_seconds();
        assert_eq!(bake, 7_200);
        let h = 3_600;
        // c1 long ago; c2 at 10:00; c4, an unrelated change, at 10:30 (newest first).
        let steady = [
            Landed { commit: "c4", tree: "t4", at: 10 * h + h / 2 },
            Landed { commit: "c2", tree: "t2", at: 10 * h },
            Landed { commit: "c1", tree: "t1", at: 0 },
        ];
        // 10:15: canaries run c2, the others still c1; each wave in turn, every commit.
        assert_eq!([0, 1, 2].map(|w| at(&steady, w, 10 * h + h / 4)), [Some("c2"), Some("c1"), Some("c1")]);
        assert_eq!([0, 1, 2].map(|w| at(&steady, w, 12 * h + h / 4)), [Some("c4"), Some("c2"), Some("c1")]);
        assert_eq!([0, 1, 2].map(|w| at(&steady, w, 14 * h + h / 2)), [Some("c4"), Some("c4"), Some("c4")]);
        assert_eq!(pick(&steady[..2], 2, bake, 10 * h), None, "nothing baked yet for the last wave");

        // c3 reverts c2 at 11:00, during its bake: the canaries take the revert at once, and the
        // later waves, whose gate for c2 opens at 12:00 and 14:00, stay on c1 — never c2 — until
        // c3 reaches them.
        let reverted = [
            Landed { commit: "c3", tree: "t1", at: 11 * h },
            Landed { commit: "c2", tree: "t2", at: 10 * h },
            Landed { commit: "c1", tree: "t1", at: 0 },
        ];
        assert_eq!(at(&reverted, 0, 10 * h + h / 2), Some("c2"));
        assert_eq!(at(&reverted, 0, 11 * h), Some("c3"));
        assert_eq!(at(&reverted, 1, 12 * h), Some("c1"), "c2's gate opened, but c3 took it back");
        assert_eq!(at(&reverted, 1, 13 * h), Some("c3"));
        assert_eq!(at(&reverted, 2, 14 * h), Some("c1"));
        assert_eq!(at(&reverted, 2, 15 * h), Some("c3"));
    }

    fn window(days: &[Weekday], start: &str, end: &str, zone: &str) -> Window {
        Window {
            days: days.to_vec(),
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
            time_zone: zone.parse().unwrap(),
        }
    }

    /// Unix seconds of a UTC time `YYYY-MM-DDTHH:MM`.
    fn utc(text: &str) -> i64 {
        crate::calendar::unix_ms(&format!("{text}:00Z")).unwrap() / 1_000
    }

    const ALL: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

    #[test]
    fn a_night_window_follows_local_time_across_daylight_saving() {
        let nights = [window(&ALL, "02:00", "05:00", "America/Chicago")];
        // Saturday 2026-03-07 is CST (UTC-6): 02:00 local is 08:00 UTC.
        assert!(!window_open(&nights, utc("2026-03-07T07:59")));
        assert!(window_open(&nights, utc("2026-03-07T08:00")));
        assert!(!window_open(&nights, utc("2026-03-07T11:00")));
        // Sunday 2026-03-08 the clocks spring forward at 02:00 to 03:00 CDT (UTC-5): the
        // window is open from 03:00 to 05:00 local, 08:00 to 10:00 UTC.
        assert!(window_open(&nights, utc("2026-03-08T08:00")));
        assert!(!window_open(&nights, utc("2026-03-08T10:00")));
        assert_eq!(next_opening(&nights, utc("2026-03-07T12:00")), Some(utc("2026-03-08T08:00")));
        // Monday, CDT: 02:00 local is 07:00 UTC.
        assert!(window_open(&nights, utc("2026-03-09T07:00")));
        assert_eq!(next_opening(&nights, utc("2026-03-08T12:00")), Some(utc("2026-03-09T07:00")));
        // November 1 falls back at 02:00 CDT to 01:00 CST: 02:00 local is then 08:00 UTC.
        assert_eq!(next_opening(&nights, utc("2026-10-31T12:00")), Some(utc("2026-11-01T08:00")));
        assert_eq!(next_opening(&nights, utc("2026-03-07T09:00")), Some(utc("2026-03-07T09:00")), "open now");
    }

    #[test]
    fn windows_on_some_days_and_past_midnight() {
        let weekend = [window(&[Weekday::Sat], "22:00", "02:00", "Europe/Berlin")];
        // Saturday 2026-11-28 22:00 in Berlin (CET, UTC+1) is 21:00 UTC, until Sunday 01:00 UTC.
        assert!(window_open(&weekend, utc("2026-11-28T21:30")));
        assert!(window_open(&weekend, utc("2026-11-29T00:30")));
        assert!(!window_open(&weekend, utc("2026-11-29T01:00")));
        assert!(!window_open(&weekend, utc("2026-11-27T21:30")), "Friday night is not in days");
        assert_eq!(next_opening(&weekend, utc("2026-11-25T12:00")), Some(utc("2026-11-28T21:00")));
        assert!(window_open(&[], 0), "no windows: always open");
    }

    #[test]
    fn a_halt_stops_the_waves_after_too_many_failures_in_the_earlier_ones() {
        // Two canaries, 400 early, 3,600 others.
        let clusters = [2, 400, 3_600];
        assert_eq!(halted_from(Limit::Percent(5), &[0, 0, 0], &clusters), None);
        // One canary of two failed: the early wave and everyone after it wait.
        assert_eq!(halted_from(Limit::Percent(5), &[1, 0, 0], &clusters), Some(1));
        // Failures in the early wave halt everyone once they pass 5% of the 402 before.
        assert_eq!(halted_from(Limit::Percent(5), &[0, 20, 0], &clusters), None);
        assert_eq!(halted_from(Limit::Percent(5), &[0, 21, 0], &clusters), Some(2));
        // Failures in the last wave halt nothing: no wave comes after it.
        assert_eq!(halted_from(Limit::Count(0), &[0, 0, 50], &clusters), None);
        assert_eq!(halted_from(Limit::Count(0), &[1], &[2]), None, "one wave: nothing to halt");
    }

    #[test]
    fn a_commit_arrives_when_first_seen_on_the_branch_and_anew_after_leaving_it() {
        let mut arrivals = Arrivals::default();
        // The first look: everything there arrives now (no skipped bake for what nobody saw).
        assert!(arrivals.observe(&["b", "a"], 100));
        assert_eq!((arrivals.at("a"), arrivals.at("b")), (Some(100), Some(100)));
        // A fast-forward brings week-old commits at once: they all arrive with the look.
        assert!(arrivals.observe(&["e", "d", "c", "b", "a"], 200));
        assert_eq!(arrivals.of(&["e", "d", "c"]).iter().map(|a| a.at).collect::<Vec<_>>(), [200, 200, 200]);
        assert_eq!(arrivals.at("b"), Some(100), "what was there keeps its time");
        assert!(!arrivals.observe(&["e", "d", "c", "b", "a"], 300), "nothing new");
        // Force-pushed away, then back: the commit arrives anew.
        assert!(arrivals.observe(&["b", "a"], 400));
        assert_eq!(arrivals.at("e"), None);
        assert!(arrivals.observe(&["e", "d", "c", "b", "a"], 500));
        assert_eq!(arrivals.at("e"), Some(500));
        // The hub's time wins over the agent's own.
        arrivals.insert("e", 450);
        assert_eq!(arrivals.at("e"), Some(450));
        let text = serde_json::to_string(&arrivals).unwrap();
        assert_eq!(serde_json::from_str::<Arrivals>(&text).unwrap(), arrivals);
    }

    #[test]
    fn a_freeze_holds_from_its_local_start_to_its_local_end() {
        let holidays = Freeze {
            from: "2026-11-20T00:00".parse().unwrap(),
            to: "2026-12-01T00:00".parse().unwrap(),
            time_zone: "America/Chicago".parse().unwrap(),
            reason: Some("holidays".into()),
        };
        // Midnight in Chicago (CST, UTC-6) is 06:00 UTC.
        assert!(frozen(std::slice::from_ref(&holidays), utc("2026-11-20T05:59")).is_none());
        let (f, ends) = frozen(std::slice::from_ref(&holidays), utc("2026-11-20T06:00")).unwrap();
        assert_eq!((f.reason.as_deref(), ends), (Some("holidays"), utc("2026-12-01T06:00")));
        assert!(frozen(std::slice::from_ref(&holidays), utc("2026-12-01T06:00")).is_none());
    }

    #[test]
    fn an_override_is_a_trailer_of_the_last_paragraph() {
        let message = "Fix the card reader timeout\n\nThe reader hangs at 30 s.\n\nFlotilla-Override: INC-4711 card readers down\nSigned-off-by: a@b\n";
        assert_eq!(override_reason(message).as_deref(), Some("INC-4711 card readers down"));
        assert_eq!(override_reason("Flotilla-Override: in the subject only"), Some("in the subject only".into()));
        assert_eq!(override_reason("Fix\n\nFlotilla-Override: x\n\nmore text\n"), None, "not the last paragraph");
        assert_eq!(override_reason("Fix\n\nFlotilla-Override:   \n"), None);
    }

    #[test]
    fn what_counts_against_a_commit() {
        assert!(counts_against(SyncState::Failed));
        assert!(counts_against(SyncState::Degraded));
        assert!(counts_against(SyncState::VerificationFailed));
        assert!(counts_against(SyncState::Refused));
        assert!(counts_against(SyncState::Conflict));
        assert!(!counts_against(SyncState::SourceUnreachable));
        assert!(!counts_against(SyncState::Synced));
        assert!(!counts_against(SyncState::WaitingForWave));
    }
}
