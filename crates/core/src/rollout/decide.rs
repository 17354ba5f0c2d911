//! A placement's decision for one cluster at one time: which commit of its branch it runs, and
//! why it waits when that is not the head. The agent (`pull_agent::agent::schedule`) and the
//! simulator gather the inputs — the branch's history with when each commit arrived, the commit
//! the cluster runs, the placement's windows and freeze, the hub's answer about a halt, the
//! overrides found on commits — and both call [`decide`], so they decide the same way and say
//! it in the same words.
//!
//! What cannot be known without IO is asked for: the hub's answer ([`Decision::Ask`]) and the
//! overrides of the commits a freeze would pass over ([`Decision::Check`]). The caller gets it
//! and decides again with it in the [`Inputs`]; a decision never asks for what it was given.
//!
//! The order is the agent's: the rollout's wave (the newest commit whose gate opened, or what
//! runs), the halt (asked only inside the windows, by a later wave about to take a new commit),
//! the freeze (what runs stays, but for a commit a signed override lets through), then the
//! windows (outside them what runs stays, unless an override passed the freeze: a hotfix is not
//! held for the night). The wait reported is the windows', else the freeze's, else the wave's.

use crate::calendar::{push_rfc3339, rfc3339};
use crate::fleet::{Freeze, Halt, Rollout, WhenHubUnreachable, Window};
use crate::report::SyncState;

use super::{Halted, Landed, WaveOf, gate, next_opening, pick, window_open};

/// Everything a placement's decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The placement's rollout when it has waves, and this cluster's wave of it.
    pub rollout: Option<(&'a Rollout, &'a WaveOf)>,
    /// With a rollout: the branch's first-parent history from the head, newest first, each
    /// commit dated by when it reached the branch.
    pub history: &'a [Landed<'a>],
    /// The branch's head (the commit located).
    pub head: &'a str,
    /// The commit the cluster runs (its inventory's), if any.
    pub current: Option<&'a str>,
    pub windows: Windows,
    /// The freeze in force, and when it ends ([`super::frozen`]).
    pub freeze: Option<(&'a Freeze, i64)>,
    /// The hub's answer about the rollout, once asked ([`Decision::Ask`]).
    pub hub: Option<HubAnswer<'a>>,
    /// The overrides of the commits asked for ([`Decision::Check`]), in that order; the caller
    /// may stop after the first that passes.
    pub overrides: Option<&'a [Checked<'a>]>,
    pub now: i64,
}

/// Whether the placement's windows are open, and when one next opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub open: bool,
    /// When one next opens (`now` while open; `None`: none ever does).
    pub next: Option<i64>,
}

impl Windows {
    /// `windows` at `now`.
    pub fn at(windows: &[Window], now: i64) -> Windows {
        let open = window_open(windows, now);
        Windows { open, next: if open { Some(now) } else { next_opening(windows, now) } }
    }
}

/// What the hub said about a placement's rollout.
#[derive(Debug, Clone, Copy)]
pub enum HubAnswer<'a> {
    /// The commits it holds back from waves (`halt.commits`).
    Halts(&'a [Halted]),
    /// It could not be asked, and why (none configured, unreachable, no such placement).
    Unreachable(&'a str),
}

/// What a commit's `Flotilla-Override:` counts for.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    pub commit: &'a str,
    /// `Ok(Some(signer))`: it passes, signed by an override signer; `Ok(None)`: the commit has
    /// none; `Err(why)`: it has one that does not count.
    pub said: Result<Option<&'a str>, &'a str>,
}

impl<'a> Candidates<'a> {
    /// The newest commit to read: the one the freeze would take.
    pub fn newest(self) -> &'a str {
        match self {
            Candidates::Running(commit) | Candidates::Between { newest: commit, .. } => commit,
        }
    }
}

/// What a placement does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Run `commit`; when it is not the head, report why it waits.
    Take { commit: &'a str, waiting: Option<Waiting>, notes: Notes<'a> },
    /// Nothing may be taken and nothing runs: report why, against the commit `source`.
    Wait { waiting: Waiting, source: &'a str, notes: Notes<'a> },
    /// Ask the hub about taking `commit` (its halt), then decide again with its answer.
    Ask { commit: &'a str },
    /// Read the overrides of these commits, then decide again with them.
    Check(Candidates<'a>),
}

/// Why a placement runs another commit than its branch's head, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub state: SyncState,
    pub message: String,
}

/// The commits whose overrides a freeze reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidates<'a> {
    /// The commit the cluster runs already: an override that let it through is reported while
    /// it runs.
    Running(&'a str),
    /// The first-parent history from `newest` back to `since` (not included; `None`: as far as
    /// [`super::HISTORY`]), newest first, at most [`super::HISTORY`] commits.
    Between { newest: &'a str, since: Option<&'a str> },
}

/// What a decision found on the way, for the caller to report or count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes<'a> {
    /// The commit whose override passed the freeze.
    pub passed: Option<&'a str>,
    /// The commits whose override was ignored (each to be said so), oldest of the checks last.
    pub ignored: Vec<&'a str>,
    /// What the halt said, when it was asked.
    pub halt: Option<HaltSaid>,
}

/// What the hub's answer meant for the commit asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltSaid {
    Go,
    /// Halted for this wave: the cluster keeps what it runs.
    Held,
    /// The hub could not be asked and `whenHubUnreachable: proceed`.
    UnreachableProceeds,
    /// The hub could not be asked and `whenHubUnreachable: wait`.
    UnreachableWaits,
}

/// The first 12 characters of a commit id.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

// The two messages a waiting placement gives on every poll while it waits are written piece by
// piece into one string, not by `format!`: the simulator decides for every cluster every
// virtual minute, and the formatter cost it more than the rest of the decision.

/// What a wave waiting for the head says: `wave everyone (3 of 3): <head> reaches it at <time>`.
pub fn wave_message(wave: &WaveOf, waves: usize, head: &str, opens: i64) -> String {
    let mut out = String::with_capacity(64 + wave.name.len());
    out.push_str("wave ");
    out.push_str(&wave.name);
    out.push_str(" (");
    push_count(&mut out, wave.index + 1);
    out.push_str(" of ");
    push_count(&mut out, waves);
    out.push_str("): ");
    out.push_str(short(head));
    out.push_str(" reaches it at ");
    push_rfc3339(&mut out, opens);
    out
}

/// What a placement outside its windows says, given when one next opens.
pub fn window_message(next: Option<i64>) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("outside its deployment windows; ");
    match next {
        Some(t) => {
            out.push_str("the next opens at ");
            push_rfc3339(&mut out, t);
        }
        None => out.push_str("none of its windows ever opens"),
    }
    out
}

/// `n` in decimal at the end of `out`.
fn push_count(out: &mut String, n: usize) {
    if n >= 10 {
        push_count(out, n / 10);
    }
    let digit = u8::try_from(n % 10).expect("a remainder of ten is below ten");
    out.push(char::from(b'0' + digit));
}

/// What a placement in a freeze says.
pub fn freeze_message(freeze: &Freeze, ends: i64) -> String {
    let why = freeze.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
    format!("in a change freeze{why} until {}", rfc3339(ends))
}

/// What the hub's answer means for `wave` taking `commit` under `halt`, and why the cluster
/// keeps what it runs when it does.
fn halt_says(answer: HubAnswer<'_>, halt: &Halt, wave: &WaveOf, commit: &str) -> (HaltSaid, Option<String>) {
    match answer {
        HubAnswer::Halts(halted) => {
            let Some(held) = halted.iter().find(|h| h.commit == commit && h.holds_back(wave.index)) else {
                return (HaltSaid::Go, None);
            };
            let failed: usize = held.failed.iter().take(wave.index).sum();
            let message = format!(
                "rollout halted: {failed} clusters of the waves before {} failed on {} (maxFailed {}); waiting for a fix",
                wave.name,
                short(commit),
                halt.max_failed
            );
            (HaltSaid::Held, Some(message))
        }
        HubAnswer::Unreachable(_) if halt.when_hub_unreachable == WhenHubUnreachable::Proceed => {
            (HaltSaid::UnreachableProceeds, None)
        }
        HubAnswer::Unreachable(e) => {
            let message = format!(
                "cannot ask the hub whether the rollout may go on to {} ({e}); waiting (whenHubUnreachable: wait)",
                short(commit)
            );
            (HaltSaid::UnreachableWaits, Some(message))
        }
    }
}

/// Whether nothing stands between a placement and its branch's head: no rollout with waves, its
/// windows open and no freeze in force. Then [`decide`] takes the head, and a caller need
/// gather nothing.
pub fn unconstrained(rollout: Option<&Rollout>, windows: Windows, freeze: Option<(&Freeze, i64)>) -> bool {
    rollout.is_none_or(|r| r.waves.is_empty()) && windows.open && freeze.is_none()
}

/// What a placement's rollout, halt, freeze and windows let this cluster run now (SPEC §2).
pub fn decide<'a>(inputs: &Inputs<'a>) -> Decision<'a> {
    let Inputs { rollout, history, head, current, windows, freeze, hub, overrides, now } = *inputs;
    let mut notes = Notes::default();
    if unconstrained(rollout.map(|(r, _)| r), windows, freeze) {
        return Decision::Take { commit: head, waiting: None, notes };
    }
    let mut located = head;
    let mut waiting = None;
    if let Some((rollout, wave)) = rollout {
        let bake = rollout.bake_seconds();
        // Written only when said: most polls of a wave take the head, and this runs every poll.
        let why = || {
            let arrived = history.first().map_or(now, |c| c.at);
            wave_message(wave, rollout.waves.len(), head, gate(arrived, wave.index, bake))
        };
        // The commit the wave may run, or (none yet) what it runs already.
        let Some(mut allowed) = pick(history, wave.index, bake, now).map(|c| c.commit).or(current) else {
            return Decision::Wait {
                waiting: Waiting { state: SyncState::WaitingForWave, message: why() },
                source: head,
                notes,
            };
        };
        // The halt's words, when it holds the commit back; else the wave's.
        let mut message = None;
        // Outside its windows the cluster takes no new commit whatever the hub says, so the hub
        // is not asked: a later wave would otherwise ask it on every poll while its window is
        // shut.
        if let Some(halt) = rollout.halt.as_ref().filter(|_| wave.index > 0 && windows.open)
            && current != Some(allowed)
        {
            let Some(answer) = hub else { return Decision::Ask { commit: allowed } };
            let (said, held) = halt_says(answer, halt, wave, allowed);
            notes.halt = Some(said);
            if let Some(held) = held {
                let Some(current) = current else {
                    let waiting = Waiting { state: SyncState::WaitingForWave, message: held };
                    return Decision::Wait { waiting, source: head, notes };
                };
                allowed = current;
                message = Some(held);
            }
        }
        if allowed != head {
            located = allowed;
            waiting = Some(Waiting { state: SyncState::WaitingForWave, message: message.unwrap_or_else(why) });
        }
    }
    let mut frozen = None;
    if let Some((freeze, ends)) = freeze {
        let running = current == Some(located);
        let Some(checks) = overrides else {
            let candidates = if running {
                Candidates::Running(located)
            } else {
                Candidates::Between { newest: located, since: current }
            };
            return Decision::Check(candidates);
        };
        if running {
            notes.passed = checks.first().filter(|c| matches!(c.said, Ok(Some(_)))).map(|c| c.commit);
        } else {
            let mut message = freeze_message(freeze, ends);
            for check in checks {
                match check.said {
                    Ok(Some(signer)) => {
                        if check.commit != located {
                            message =
                                format!("{message}; {} passed it by an override of {signer}", short(check.commit));
                            frozen = Some(Waiting { state: SyncState::WaitingForWindow, message: message.clone() });
                        }
                        located = check.commit;
                        notes.passed = Some(check.commit);
                        break;
                    }
                    Ok(None) => {}
                    Err(why) => {
                        notes.ignored.push(check.commit);
                        message = format!("{message}; {why}");
                    }
                }
            }
            if notes.passed.is_none() {
                let waiting = Waiting { state: SyncState::WaitingForWindow, message };
                match current {
                    Some(commit) => {
                        located = commit;
                        frozen = Some(waiting);
                    }
                    None => return Decision::Wait { waiting, source: located, notes },
                }
            }
        }
    }
    // A signed override passes the windows too: a hotfix is not held for the night.
    let mut shut = None;
    if !windows.open && notes.passed.is_none() {
        // Written only when said: a cluster that keeps what it runs says nothing of the windows.
        let waiting = || Waiting { state: SyncState::WaitingForWindow, message: window_message(windows.next) };
        match current {
            Some(commit) if commit == located => {}
            Some(commit) => {
                located = commit;
                shut = Some(waiting());
            }
            None => return Decision::Wait { waiting: waiting(), source: located, notes },
        }
    }
    Decision::Take { commit: located, waiting: shut.or(frozen).or(waiting), notes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Limit;
    use crate::rollout::fixtures::{self, HOUR, NOW, OPEN, freeze, history};

    fn rollout(halt: Option<WhenHubUnreachable>) -> Rollout {
        let halt = halt.map(|when_hub_unreachable| Halt { max_failed: Limit::Count(1), when_hub_unreachable });
        Rollout { halt, ..fixtures::rollout() }
    }

    fn inputs<'a>(history: &'a [Landed<'a>], current: Option<&'a str>) -> Inputs<'a> {
        Inputs {
            rollout: None,
            history,
            head: "cccccccccccccccc",
            current,
            windows: OPEN,
            freeze: None,
            hub: None,
            overrides: None,
            now: NOW,
        }
    }

    /// The messages written piece by piece say what `format!` said before.
    #[test]
    fn messages_are_written_as_format_wrote_them() {
        let wave = WaveOf { index: 11, name: "late".into() };
        assert_eq!(
            wave_message(&wave, 120, "cccccccccccccccc", NOW),
            format!("wave late (12 of 120): cccccccccccc reaches it at {}", rfc3339(NOW))
        );
        assert_eq!(
            window_message(Some(NOW)),
            format!("outside its deployment windows; the next opens at {}", rfc3339(NOW))
        );
        assert_eq!(window_message(None), "outside its deployment windows; none of its windows ever opens");
    }

    #[test]
    fn nothing_in_the_way_takes_the_head() {
        let history = history();
        let decision = decide(&inputs(&history, Some("aaaaaaaaaaaaaaaa")));
        assert_eq!(decision, Decision::Take { commit: "cccccccccccccccc", waiting: None, notes: Notes::default() });
    }

    #[test]
    fn a_later_wave_takes_the_newest_baked_commit_and_says_when_the_head_reaches_it() {
        let (history, rollout) = (history(), rollout(None));
        let wave = WaveOf { index: 1, name: "everyone".into() };
        let decision = decide(&Inputs { rollout: Some((&rollout, &wave)), ..inputs(&history, None) });
        let waiting = Waiting {
            state: SyncState::WaitingForWave,
            message: "wave everyone (2 of 2): cccccccccccc reaches it at 2026-11-25T11:00:00Z".into(),
        };
        assert_eq!(
            decision,
            Decision::Take { commit: "bbbbbbbbbbbbbbbb", waiting: Some(waiting), notes: Notes::default() }
        );
    }

    #[test]
    fn with_nothing_baked_and_nothing_running_the_wave_waits() {
        let rollout = rollout(None);
        let history = [Landed { commit: "cccccccccccccccc", tree: "t3", at: NOW - HOUR }];
        let wave = WaveOf { index: 1, name: "everyone".into() };
        let Decision::Wait { waiting, source, .. } =
            decide(&Inputs { rollout: Some((&rollout, &wave)), ..inputs(&history, None) })
        else {
            panic!("expected a wait");
        };
        assert_eq!((waiting.state, source), (SyncState::WaitingForWave, "cccccccccccccccc"));
    }

    #[test]
    fn a_halt_asks_the_hub_then_keeps_what_runs_while_the_commit_is_held_back() {
        let (history, rollout) = (history(), rollout(Some(WhenHubUnreachable::Wait)));
        let wave = WaveOf { index: 1, name: "everyone".into() };
        let asking = Inputs { rollout: Some((&rollout, &wave)), ..inputs(&history, Some("aaaaaaaaaaaaaaaa")) };
        assert_eq!(decide(&asking), Decision::Ask { commit: "bbbbbbbbbbbbbbbb" });

        let halted = [Halted {
            commit: "bbbbbbbbbbbbbbbb".into(),
            failed: vec![2, 0],
            halted_from: Some("everyone".into()),
            halted_from_index: Some(1),
        }];
        let decision = decide(&Inputs { hub: Some(HubAnswer::Halts(&halted)), ..asking });
        let waiting = Waiting {
            state: SyncState::WaitingForWave,
            message: "rollout halted: 2 clusters of the waves before everyone failed on bbbbbbbbbbbb (maxFailed 1); waiting for a fix".into(),
        };
        let notes = Notes { halt: Some(HaltSaid::Held), ..Notes::default() };
        assert_eq!(decision, Decision::Take { commit: "aaaaaaaaaaaaaaaa", waiting: Some(waiting), notes });

        let decision =
            decide(&Inputs { hub: Some(HubAnswer::Unreachable("connection refused")), current: None, ..asking });
        let Decision::Wait { waiting, notes, .. } = decision else { panic!("expected a wait") };
        assert_eq!(notes.halt, Some(HaltSaid::UnreachableWaits));
        assert_eq!(
            waiting.message,
            "cannot ask the hub whether the rollout may go on to bbbbbbbbbbbb (connection refused); waiting (whenHubUnreachable: wait)"
        );
    }

    #[test]
    fn a_freeze_checks_the_overrides_and_takes_the_one_that_passes() {
        let history = history();
        let freeze = freeze();
        let frozen = Inputs { freeze: Some((&freeze, NOW + 24 * HOUR)), ..inputs(&history, Some("aaaaaaaaaaaaaaaa")) };
        assert_eq!(
            decide(&frozen),
            Decision::Check(Candidates::Between { newest: "cccccccccccccccc", since: Some("aaaaaaaaaaaaaaaa") })
        );

        let checks = [
            Checked {
                commit: "cccccccccccccccc",
                said: Err("the Flotilla-Override on cccccccccccc is ignored: the commit is not signed"),
            },
            Checked { commit: "bbbbbbbbbbbbbbbb", said: Ok(Some("ops@example.com")) },
        ];
        let decision = decide(&Inputs { overrides: Some(&checks), ..frozen });
        let waiting = Waiting {
            state: SyncState::WaitingForWindow,
            message: "in a change freeze (holidays) until 2026-11-26T10:00:00Z; the Flotilla-Override on cccccccccccc is ignored: the commit is not signed; bbbbbbbbbbbb passed it by an override of ops@example.com".into(),
        };
        let notes = Notes { passed: Some("bbbbbbbbbbbbbbbb"), ignored: vec!["cccccccccccccccc"], halt: None };
        assert_eq!(decision, Decision::Take { commit: "bbbbbbbbbbbbbbbb", waiting: Some(waiting), notes });

        let none = [Checked { commit: "cccccccccccccccc", said: Ok(None) }];
        let Decision::Take { commit, waiting, .. } = decide(&Inputs { overrides: Some(&none), ..frozen }) else {
            panic!("expected a take");
        };
        assert_eq!(
            (commit, waiting.map(|w| w.message)),
            ("aaaaaaaaaaaaaaaa", Some("in a change freeze (holidays) until 2026-11-26T10:00:00Z".into()))
        );

        let running = Inputs { current: Some("cccccccccccccccc"), ..frozen };
        assert_eq!(decide(&running), Decision::Check(Candidates::Running("cccccccccccccccc")));
    }

    #[test]
    fn outside_the_windows_what_runs_stays_and_with_nothing_running_it_waits() {
        let history = history();
        let shut = Windows { open: false, next: Some(NOW + 2 * HOUR) };
        let decision = decide(&Inputs { windows: shut, ..inputs(&history, Some("aaaaaaaaaaaaaaaa")) });
        let waiting = Waiting {
            state: SyncState::WaitingForWindow,
            message: "outside its deployment windows; the next opens at 2026-11-25T12:00:00Z".into(),
        };
        assert_eq!(
            decision,
            Decision::Take { commit: "aaaaaaaaaaaaaaaa", waiting: Some(waiting.clone()), notes: Notes::default() }
        );

        let decision = decide(&Inputs { windows: shut, ..inputs(&history, None) });
        assert_eq!(decision, Decision::Wait { waiting, source: "cccccccccccccccc", notes: Notes::default() });
    }
}
