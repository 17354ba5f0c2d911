//! Which commit of the fleet repository a cluster runs (SPEC §2, the fleet `Repository`'s own
//! `rollout`, `windows` and `freezes`): the fleet's counterpart of [`super::decide`]. The agent
//! (`pull_agent::agent::choose`) and the simulator gather the inputs — the fleet branch's
//! history with when each commit arrived, the commit in use, the windows and freeze in force,
//! the overrides read, whether a commit changes anything for the cluster — and both call
//! [`decide_fleet`], so they choose the same commit and say it in the same words.
//!
//! What needs IO is asked for, as [`super::decide`] does: the overrides of the commits a freeze
//! would pass over ([`FleetDecision::Check`]) and whether the commit chosen renders the same for
//! the cluster as the head ([`FleetDecision::Compare`]); the caller finds out and decides again
//! with the answer in [`FleetInputs`]. Not here: the verification of the commit chosen against
//! the trust root (the agent's, with the words of [`unverified_message`]).
//!
//! The order is the agent's: the rollout's wave (the newest commit whose gate opened, or the one
//! in use), the freeze (the one in use, but for the newest commit up to the candidate that a
//! signed override let through), the windows (outside them the one in use, unless an override
//! passed the freeze), then a commit that changes nothing for the cluster is taken at once.

use std::ops::Range;

use crate::fleet::{Freeze, Rollout};
use crate::report::{self, SyncState};

use super::{Landed, WaveOf, Windows, freeze_message, gate, pick, wave_message};

/// Everything the choice of a fleet commit reads.
#[derive(Debug, Clone, Copy)]
pub struct FleetInputs<'a> {
    /// The fleet's rollout when it has waves, and this cluster's wave of it.
    pub rollout: Option<(&'a Rollout, &'a WaveOf)>,
    /// The fleet branch's first-parent history from the head, newest first, each commit dated by
    /// when it reached the branch (the dates are read only with a rollout).
    pub history: &'a [Landed<'a>],
    /// The fleet commit the cluster ran last (`stateDir/fleet-commit`): one no longer on the
    /// branch (force-pushed away) is nothing to keep.
    pub in_use: Option<&'a str>,
    /// The fleet's windows (`Windows { open: true, .. }` when it has none).
    pub windows: Windows,
    /// The fleet's freeze in force, and when it ends ([`super::frozen`]).
    pub freeze: Option<(&'a Freeze, i64)>,
    /// The overrides of the commits asked for ([`FleetDecision::Check`]), newest first; the
    /// caller may stop after the first that passes.
    pub overrides: Option<&'a [FleetChecked<'a>]>,
    /// Whether the commit asked about ([`FleetDecision::Compare`]) changes nothing the cluster
    /// renders or evaluates against the head ([`crate::render::fleet_view`] of each).
    pub same_view: Option<bool>,
    pub now: i64,
}

/// What a fleet commit's `Flotilla-Override:` counts for.
#[derive(Debug, Clone, Copy)]
pub struct FleetChecked<'a> {
    pub commit: &'a str,
    /// `Ok(Some((signer, reason)))`: it passes, signed by an override signer; `Ok(None)`: the
    /// commit has none; `Err(why)`: it has one that does not count ([`override_ignored`]).
    pub said: Result<Option<(&'a str, &'a str)>, &'a str>,
}

/// What the choice needs next, or what it chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetDecision<'a> {
    /// Read the overrides of `history[range]` (newest first, up to the first that passes), then
    /// decide again with them.
    Check(Range<usize>),
    /// Find out whether `commit` changes anything for the cluster against the head, then decide
    /// again with the answer.
    Compare {
        commit: &'a str,
    },
    Chosen(FleetChoice<'a>),
}

/// The fleet commit a cluster runs, and what its report says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetChoice<'a> {
    /// `None`: none may run yet (nothing in use, and the head not gated for this cluster or
    /// outside the windows).
    pub commit: Option<&'a str>,
    /// The commit in use, when it is still on the branch.
    pub in_use: Option<&'a str>,
    pub state: SyncState,
    pub message: Option<String>,
    /// The commit whose override passed the freeze.
    pub passed: Option<&'a str>,
    /// The commits whose override was ignored (each said so), newest first.
    pub ignored: Vec<&'a str>,
}

/// Why a commit's `Flotilla-Override:` trailer does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unheeded<'a> {
    /// The agent has no `overrideSigners`.
    NoSigners,
    Unsigned,
    /// Signed, but not by an override signer (why the signature does not count).
    NotAnOverrideSigner(&'a str),
}

/// What an ignored override says: `the Flotilla-Override on <commit> is ignored: <why>`.
pub fn override_ignored(commit: &str, why: Unheeded<'_>) -> String {
    let short = short(commit);
    match why {
        Unheeded::NoSigners => {
            format!("the Flotilla-Override on {short} is ignored: this agent has no overrideSigners")
        }
        Unheeded::Unsigned => format!("the Flotilla-Override on {short} is ignored: the commit is not signed"),
        Unheeded::NotAnOverrideSigner(reason) => {
            format!("the Flotilla-Override on {short} is ignored: not signed by an override signer ({reason})")
        }
    }
}

/// What a fleet commit the trust root did not sign says (`error`: why), clipped to a report's
/// message.
pub fn unverified_message(error: &str) -> String {
    report::clip(&format!("{error}; the fleet repository stays at the last verified commit"))
}

/// What a cluster outside the fleet's windows says, given when one next opens.
pub fn fleet_window_message(next: Option<i64>) -> String {
    let next = next.map_or_else(
        || "none ever opens".to_string(),
        |t| format!("the next opens at {}", crate::calendar::rfc3339(t)),
    );
    format!("outside the fleet's deployment windows; {next}")
}

/// The first 12 characters of a commit id.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Which fleet commit the cluster runs now, from the branch whose history `inputs` gives.
///
/// # Panics
///
/// When the history is empty: it starts at the head.
pub fn decide_fleet<'a>(inputs: &FleetInputs<'a>) -> FleetDecision<'a> {
    let FleetInputs { rollout, history, in_use, windows, freeze, overrides, same_view, now } = *inputs;
    let head = history.first().expect("the history starts at the head").commit;
    let position = |c: &str| history.iter().position(|l| l.commit == c);
    let in_use = in_use.filter(|c| position(c).is_some());
    let mut choice = FleetChoice {
        commit: Some(head),
        in_use,
        state: SyncState::Synced,
        message: None,
        passed: None,
        ignored: Vec::new(),
    };
    if let Some((rollout, wave)) = rollout {
        let bake = rollout.bake_seconds();
        choice.commit = pick(history, wave.index, bake, now).map(|c| c.commit).or(in_use);
        if choice.commit != Some(head) {
            choice.state = SyncState::WaitingForWave;
            let opens = gate(history[0].at, wave.index, bake);
            choice.message = Some(format!("fleet {}", wave_message(wave, rollout.waves.len(), head, opens)));
        }
    }
    if let Some((freeze, ends)) = freeze
        && choice.commit != in_use
    {
        let Some(checks) = overrides else {
            let newest = choice.commit.and_then(position).unwrap_or(0);
            let oldest = in_use.and_then(position).unwrap_or(history.len());
            return FleetDecision::Check(newest..oldest.max(newest));
        };
        let mut said = freeze_message(freeze, ends);
        for check in checks {
            match check.said {
                Ok(Some((signer, reason))) => {
                    said = format!(
                        "{said}; {} passes it by an override signed by {signer}: {reason}",
                        short(check.commit)
                    );
                    choice.passed = Some(check.commit);
                    break;
                }
                Ok(None) => {}
                Err(why) => {
                    said = format!("{said}; {why}");
                    choice.ignored.push(check.commit);
                }
            }
        }
        choice.commit = choice.passed.or(in_use);
        choice.state = if choice.passed == Some(head) { SyncState::Synced } else { SyncState::WaitingForWindow };
        choice.message = Some(said);
    }
    // A signed override passes the windows as well as the freeze: a hotfix is not held for the
    // night.
    if !windows.open && choice.commit != in_use && choice.passed.is_none() {
        choice.commit = in_use;
        choice.state = SyncState::WaitingForWindow;
        choice.message = Some(fleet_window_message(windows.next));
    }
    if let Some(commit) = choice.commit.filter(|c| *c != head) {
        match same_view {
            None => return FleetDecision::Compare { commit },
            Some(true) => {
                choice.commit = Some(head);
                choice.state = SyncState::Synced;
                choice.message = None;
            }
            Some(false) => {}
        }
    }
    FleetDecision::Chosen(choice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::fixtures::{HOUR, NOW, OPEN, freeze, history, rollout};

    fn inputs<'a>(history: &'a [Landed<'a>], in_use: Option<&'a str>) -> FleetInputs<'a> {
        FleetInputs {
            rollout: None,
            history,
            in_use,
            windows: OPEN,
            freeze: None,
            overrides: None,
            same_view: None,
            now: NOW,
        }
    }

    fn chosen(decision: FleetDecision<'_>) -> FleetChoice<'_> {
        let FleetDecision::Chosen(choice) = decision else { panic!("expected a choice, got {decision:?}") };
        choice
    }

    #[test]
    fn nothing_in_the_way_takes_the_head() {
        let history = history();
        let choice = chosen(decide_fleet(&inputs(&history, Some("aaaaaaaaaaaaaaaa"))));
        assert_eq!((choice.commit, choice.state, choice.message), (Some("cccccccccccccccc"), SyncState::Synced, None));
    }

    #[test]
    fn a_later_wave_takes_the_newest_baked_commit_unless_it_changes_nothing() {
        let (history, rollout) = (history(), rollout());
        let wave = WaveOf { index: 1, name: "everyone".into() };
        let waiting = FleetInputs { rollout: Some((&rollout, &wave)), ..inputs(&history, None) };
        assert_eq!(decide_fleet(&waiting), FleetDecision::Compare { commit: "bbbbbbbbbbbbbbbb" });

        let choice = chosen(decide_fleet(&FleetInputs { same_view: Some(false), ..waiting }));
        assert_eq!((choice.commit, choice.state), (Some("bbbbbbbbbbbbbbbb"), SyncState::WaitingForWave));
        assert_eq!(
            choice.message.as_deref(),
            Some("fleet wave everyone (2 of 2): cccccccccccc reaches it at 2026-11-25T11:00:00Z")
        );

        let choice = chosen(decide_fleet(&FleetInputs { same_view: Some(true), ..waiting }));
        assert_eq!((choice.commit, choice.state, choice.message), (Some("cccccccccccccccc"), SyncState::Synced, None));
    }

    #[test]
    fn a_freeze_reads_the_overrides_back_to_the_commit_in_use_and_takes_the_one_that_passes() {
        let history = history();
        let freeze = freeze();
        let frozen =
            FleetInputs { freeze: Some((&freeze, NOW + 24 * HOUR)), ..inputs(&history, Some("aaaaaaaaaaaaaaaa")) };
        assert_eq!(decide_fleet(&frozen), FleetDecision::Check(0..2));

        let ignored = override_ignored("cccccccccccccccc", Unheeded::Unsigned);
        let checks = [
            FleetChecked { commit: "cccccccccccccccc", said: Err(&ignored) },
            FleetChecked { commit: "bbbbbbbbbbbbbbbb", said: Ok(Some(("ops@example.com", "hotfix"))) },
        ];
        let choice = chosen(decide_fleet(&FleetInputs { overrides: Some(&checks), same_view: Some(false), ..frozen }));
        assert_eq!(
            (choice.commit, choice.state, choice.passed, choice.ignored),
            (Some("bbbbbbbbbbbbbbbb"), SyncState::WaitingForWindow, Some("bbbbbbbbbbbbbbbb"), vec!["cccccccccccccccc"])
        );
        assert_eq!(
            choice.message.as_deref(),
            Some(
                "in a change freeze (holidays) until 2026-11-26T10:00:00Z; the Flotilla-Override on cccccccccccc is ignored: the commit is not signed; bbbbbbbbbbbb passes it by an override signed by ops@example.com: hotfix"
            )
        );

        let none = [FleetChecked { commit: "cccccccccccccccc", said: Ok(None) }];
        let choice = chosen(decide_fleet(&FleetInputs { overrides: Some(&none), same_view: Some(false), ..frozen }));
        assert_eq!((choice.commit, choice.state), (Some("aaaaaaaaaaaaaaaa"), SyncState::WaitingForWindow));
    }

    #[test]
    fn outside_the_windows_the_commit_in_use_stays_and_one_gone_from_the_branch_is_not_kept() {
        let history = history();
        let shut = Windows { open: false, next: Some(NOW + 2 * HOUR) };
        let choice = chosen(decide_fleet(&FleetInputs {
            windows: shut,
            same_view: Some(false),
            ..inputs(&history, Some("aaaaaaaaaaaaaaaa"))
        }));
        assert_eq!((choice.commit, choice.state), (Some("aaaaaaaaaaaaaaaa"), SyncState::WaitingForWindow));
        assert_eq!(
            choice.message.as_deref(),
            Some("outside the fleet's deployment windows; the next opens at 2026-11-25T12:00:00Z")
        );

        let gone = chosen(decide_fleet(&FleetInputs { windows: shut, ..inputs(&history, Some("dddddddddddddddd")) }));
        assert_eq!((gone.commit, gone.in_use), (None, None));
    }
}
