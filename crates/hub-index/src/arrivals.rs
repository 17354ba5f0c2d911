//! When commits reached the branches the hub follows (SPEC §2 "reached the branch"): a
//! commit's bake starts when it was first seen on its environment branch's first-parent
//! history, never at a date the commit carries (whoever commits sets those, and a fast-forward
//! merge brings week-old commits to a branch at once).
//!
//! After each load of the fleet, [`record`] takes every fetched branch's history (its newest
//! [`flotilla_core::rollout::HISTORY`] commits, as the agents look) in with core's
//! [`Arrivals::observe`] at the hub's clock, starting
//! from what the store holds, writes what changed to the store and hands the view what the
//! store then says. The store is the record: it survives restarts, and hub processes sharing
//! one PostgreSQL all write to it and read it back on every poll, the first time recorded for a
//! commit winning, so they agree.
//!
//! Agents read the arrivals in the rollout answer (`http::progress`) and from
//! `GET /api/v1/arrivals/{repository}` (`http::progress::arrivals`); the rollout progress and the lag ledger
//! count from them. Not the rule (core) and not the storage (`store::arrivals`).

use std::collections::BTreeMap;

use flotilla_core::rollout::Arrivals;

use crate::git_view::FleetView;
use crate::store::{self, Store};

/// (repository URL, branch) → commit → when first seen (unix milliseconds).
type Recorded = BTreeMap<(String, String), Vec<(String, i64)>>;

async fn read_recorded(store: &Store) -> Result<Recorded, store::Error> {
    let mut recorded = Recorded::new();
    for row in store.arrivals().await? {
        recorded.entry((row.repository, row.branch)).or_default().push((row.commit, row.first_seen_ms));
    }
    Ok(recorded)
}

/// One branch's record as core's [`Arrivals`] (unix seconds).
fn arrivals_of(rows: &[(String, i64)]) -> Arrivals {
    let mut arrivals = Arrivals::default();
    for (commit, ms) in rows {
        arrivals.insert(commit, ms.div_euclid(1_000));
    }
    arrivals
}

/// Takes one load of the fleet (`view`, just read) in at `now_ms`, the hub's clock: for every
/// branch the load could read, the commits new on it arrived now and those gone from it are
/// forgotten (a commit force-pushed away and back arrives anew), in the store first; then sets
/// on the view, per branch, the arrivals the store holds — another hub process's time where it
/// recorded a commit first.
pub async fn record(store: &Store, view: &mut FleetView, now_ms: i64) -> Result<(), store::Error> {
    let now = now_ms.div_euclid(1_000);
    let looks: Vec<(String, String, Vec<String>)> =
        view.branches().filter_map(|b| Some((b.url.clone(), b.branch.clone(), b.look()?))).collect();
    let mut recorded = read_recorded(store).await?;
    let mut wrote = false;
    for (url, branch, ids) in &looks {
        let rows = recorded.get(&(url.clone(), branch.clone())).map_or(&[][..], Vec::as_slice);
        let before = arrivals_of(rows);
        let mut after = before.clone();
        let history: Vec<&str> = ids.iter().map(String::as_str).collect();
        if !after.observe(&history, now) {
            continue;
        }
        let arrived: Vec<(&str, i64)> =
            history.iter().filter(|c| before.at(c).is_none()).map(|c| (*c, now_ms)).collect();
        let gone: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).filter(|c| after.at(c).is_none()).collect();
        store.record_arrivals(url, branch, &arrived, &gone).await?;
        wrote = true;
    }
    if wrote {
        recorded = read_recorded(store).await?;
    }
    for (url, branch, _) in &looks {
        let rows = recorded.get(&(url.clone(), branch.clone())).map_or(&[][..], Vec::as_slice);
        view.set_arrivals(url, branch, arrivals_of(rows));
    }
    Ok(())
}
