//! One cluster's agent, as a model: its poll makes the decisions `pull-agent`'s cycle makes
//! (`agent::reconcile_with`, `schedule`, `render_located`, then the daemon's report, spool and
//! delivery), with the agent's own functions wherever a decision is taken: `Fleet::select`,
//! `flotilla_core::rollout::{wave_of, window_open, next_opening, frozen, override_reason}`,
//! the fleet commit by `rollout::decide_fleet` (`choose::choose_fleet`: the fleet's own
//! rollout, windows and freezes, with `render::fleet_view` answering whether a commit changes
//! anything for the cluster), a placement's decision by `rollout::decide` (its wave, the
//! hub's published halts, freezes and overrides, windows: the very function `agent::schedule`
//! calls, over the same inputs), `render::render`, the report's own types and
//! `Report::validate`, the agent's poll jitter (`pull_agent::config::jittered`)
//! and its spool's rule and bounds (`flotilla_core::spool`).
//!
//! Modelled, since there is no Kubernetes cluster: applying a commit takes effect within the
//! poll; objects are healthy unless the content is marked unhealthy (then Progressing, and
//! Degraded after `unhealthyAfter`); drift injected by hand is found by the next poll and
//! corrected when the placement says so; a broken policy is fixed by the next poll when it
//! enforces, and stays broken while it informs. Git is counted rather than fetched (see
//! [`crate::git`]). The spool is kept in memory, with the agent's rule (`spool::retain`): the
//! newest report, plus every report whose policy results changed, within `Bounds::DEFAULT`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use anyhow::Result;
use flotilla_core::fleet::{ClusterIdentity, FLEET_REPOSITORY, Fleet, Placement, Policy, Remediation, Rollout};
use flotilla_core::health::Health;
use flotilla_core::plan::ObjectRef;
use flotilla_core::report::{
    self, ObjectProblem, ObjectReport, PlacementReport, PolicyReport, Report, SyncState, Violation,
};
use flotilla_core::rollout::{
    self, Candidates, Decision, FleetChecked, FleetDecision, FleetInputs, HaltSaid, HubAnswer, Inputs, Landed, WaveOf,
    Windows,
};
use flotilla_core::spool::{self, Bounds, Fate};

use crate::git::CommitIx;
use crate::metrics::Counters;
use crate::rng::Rng;
use crate::virtual_hub::Hub;
use crate::world::{Checked, Desired, DigestIx, LabelsIx, Selected, World};
use hub_index::api::Progress;

/// A shared message: equal when the same copy, else compared by text.
#[derive(Debug, Clone)]
struct Msg(Arc<str>);

impl PartialEq for Msg {
    fn eq(&self, other: &Msg) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// What a placement's last poll found, in a form cheap to compare: the report is rebuilt only
/// when this changes.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    name: Msg,
    state: SyncState,
    source: Option<CommitIx>,
    desired: Option<DigestIx>,
    applied: Option<CommitIx>,
    applied_digest: Option<DigestIx>,
    health: Health,
    message: Option<Msg>,
    problem: Option<(ObjectProblem, Arc<ObjectRef>, &'static str)>,
}

impl Outcome {
    /// What the agent's `failed` reports: nothing applied, nothing desired, health unknown.
    fn failed(name: Arc<str>, state: SyncState, message: Arc<str>) -> Outcome {
        Outcome {
            name: Msg(name),
            state,
            source: None,
            desired: None,
            applied: None,
            applied_digest: None,
            health: Health::Unknown,
            message: Some(Msg(message)),
            problem: None,
        }
    }
}

/// The report's `fleet`: the fleet commit in use and why it is not the branch's newest.
#[derive(Debug, Clone, PartialEq)]
struct FleetOutcome {
    commit: CommitIx,
    head: Option<CommitIx>,
    state: SyncState,
    message: Option<Msg>,
}

/// A commit that passed a freeze by a signed override, as the report's `overrides` lists it.
#[derive(Debug, Clone, PartialEq)]
struct OverrideOutcome {
    /// `fleet`, or the placement.
    target: Msg,
    commit: CommitIx,
    signer: Msg,
    reason: Msg,
}

/// Which fleet commit a cluster runs this poll (`choose::choose_fleet`): `at` is `None` when
/// none may run yet.
struct FleetChoice {
    at: Option<CommitIx>,
    report: Option<FleetOutcome>,
}

#[derive(Debug, Clone, PartialEq)]
struct PolicyOutcome {
    name: Msg,
    compliant: bool,
    /// The violation listed (inform), or the fix carried out (enforce).
    violation: Option<Msg>,
    remediation: Option<Msg>,
}

/// One placement on the cluster: what it runs.
#[derive(Debug, Clone)]
pub struct PlacementState {
    pub name: Arc<str>,
    pub applied: Option<CommitIx>,
    applied_digest: Option<DigestIx>,
    /// When the applied commit was applied (the simulation's clock, milliseconds).
    pub applied_at_ms: i64,
    /// Every commit it applied, and when (the simulation's clock, milliseconds).
    pub log: Vec<(CommitIx, i64)>,
    unhealthy_since_ms: Option<i64>,
    /// Where its source is read from, as the fleet at a commit says.
    located: Option<(CommitIx, Result<Located, Outcome>)>,
    /// The wave at a fleet commit.
    wave: Option<(CommitIx, Arc<WaveOf>)>,
    /// The render for (fleet commit, source commit).
    desired: Option<(CommitIx, CommitIx, Desired)>,
    /// The convergence series the placement counts in (see [`crate::metrics`]).
    pub series: Option<usize>,
}

/// A placement's source branch.
#[derive(Debug, Clone)]
struct Located {
    repository: Arc<str>,
    branch: Arc<str>,
    /// [`crate::git::Git::branch_ix`] of it.
    key: usize,
}

/// A decision of `rollout::decide`, with the commits it names as the world numbers them.
enum Decided {
    Ask,
    Check {
        newest: CommitIx,
        running: bool,
    },
    Done {
        /// The commit taken and why it waits, or why nothing runs and against which commit.
        decision: Result<(CommitIx, Option<rollout::Waiting>), (rollout::Waiting, CommitIx)>,
        passed: Option<CommitIx>,
        ignored: Vec<CommitIx>,
        halt: Option<HaltSaid>,
    },
}

/// A report waiting in the spool.
#[derive(Debug, Clone)]
struct Queued {
    report: Report,
    bytes: u64,
    /// The agent's clock when it was made (unix seconds).
    time: i64,
    /// Which body it has (see `Cluster::body`).
    body: u64,
}

/// One simulated cluster and its agent.
#[derive(Debug)]
pub struct Cluster {
    pub index: usize,
    pub identity: Arc<ClusterIdentity>,
    pub labels: LabelsIx,
    pub group: usize,
    /// The probability that a poll does not happen.
    pub offline_p: f64,
    /// Until when it is off the network (the simulation's clock, milliseconds).
    pub offline_until_ms: i64,
    /// How far its clock is off, in seconds.
    pub skew_s: i64,
    /// When the hub last took one of its reports (the simulation's clock, milliseconds).
    pub last_taken_ms: i64,
    pub rng: Rng,
    sequence: u64,
    pub placements: Vec<PlacementState>,
    /// What its git caches hold: ((branch number, shallow), commit).
    fetched: Vec<((usize, bool), CommitIx)>,
    /// What selected it at a fleet commit, with the index in `placements` of each selected
    /// placement; and the number of its fleet branch.
    selected: Option<(CommitIx, Arc<Selected>, Vec<usize>)>,
    fleet_key: Option<usize>,
    /// The fleet commit it runs (`stateDir/fleet-commit`), and every one it ran, from when
    /// (the simulation's clock, milliseconds).
    pub fleet_in_use: Option<CommitIx>,
    pub fleet_log: Vec<(CommitIx, i64)>,
    /// Its wave of the fleet's own rollout, as the fleet's tip declares it.
    fleet_wave: Option<(CommitIx, Option<Arc<WaveOf>>)>,
    fleet_outcome: Option<FleetOutcome>,
    override_outcomes: Vec<OverrideOutcome>,
    /// The overrides this poll passed, in the agent's order (the fleet's, then the placements').
    passed: Vec<OverrideOutcome>,
    /// (target, commit, passed) of every override it reported passed, or said was ignored,
    /// once each.
    seen_overrides: Vec<(Arc<str>, CommitIx, bool)>,
    outcomes: Vec<Outcome>,
    policy_outcomes: Vec<PolicyOutcome>,
    /// This poll's outcomes, compared with the last ones (kept to spare an allocation a poll).
    scratch: (Vec<Outcome>, Vec<PolicyOutcome>),
    report: Option<Report>,
    /// The JSON bytes of the report less its sequence number and time.
    report_bytes: u64,
    /// Counts the report's changes of placements or policies; and the one the hub last took.
    body: u64,
    hub_body: u64,
    spool: VecDeque<Queued>,
    /// The policy results of the last report the hub took (the spool's `delivered-policies.json`).
    delivered_policies: Vec<PolicyReport>,
    /// Placements whose objects someone edited by hand.
    pub drift: BTreeSet<String>,
    /// Policies someone broke, until when (`None`: until fixed by the agent).
    pub violations: BTreeMap<String, Option<i64>>,
}

/// What a poll works with besides the cluster.
#[derive(Debug)]
pub struct Cx<'a> {
    pub world: &'a mut World,
    pub hub: &'a mut Hub,
    pub counters: &'a mut Counters,
    /// The simulation's clock (true time), milliseconds.
    pub now_ms: i64,
    pub git_up: bool,
    pub hub_up: bool,
    pub unhealthy_after_ms: i64,
    /// The first sync before the simulation starts: windows and halts are not asked (the fleet
    /// has been in git for days), nothing is counted, and the report registers the cluster.
    pub warm: bool,
}

/// An override read, in the words of `rollout::decide_fleet`.
fn fleet_checked<'a>(git: &'a crate::git::Git, commit: CommitIx, said: &'a Checked) -> FleetChecked<'a> {
    FleetChecked {
        commit: &git.commit_info(commit).hex,
        said: match said {
            Ok(o) => Ok(o.as_ref().map(|(signer, reason)| (&**signer, &**reason))),
            Err(why) => Err(&**why),
        },
    }
}

/// Why a placement keeps another commit than its branch's head.
struct Waiting {
    state: SyncState,
    message: Arc<str>,
}

impl Cluster {
    pub fn new(
        index: usize,
        identity: ClusterIdentity,
        labels: LabelsIx,
        group: usize,
        offline_p: f64,
        seed: u64,
    ) -> Cluster {
        Cluster {
            index,
            identity: Arc::new(identity),
            labels,
            group,
            offline_p,
            offline_until_ms: i64::MIN,
            skew_s: 0,
            last_taken_ms: i64::MIN,
            rng: Rng::stream(seed, index as u64),
            sequence: 0,
            placements: Vec::new(),
            fetched: Vec::new(),
            selected: None,
            fleet_key: None,
            fleet_in_use: None,
            fleet_log: Vec::new(),
            fleet_wave: None,
            fleet_outcome: None,
            override_outcomes: Vec::new(),
            passed: Vec::new(),
            seen_overrides: Vec::new(),
            outcomes: Vec::new(),
            policy_outcomes: Vec::new(),
            scratch: (Vec::new(), Vec::new()),
            report: None,
            report_bytes: 0,
            body: 0,
            hub_body: 0,
            spool: VecDeque::new(),
            delivered_policies: Vec::new(),
            drift: BTreeSet::new(),
            violations: BTreeMap::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.identity.name
    }

    /// Reports waiting in the spool.
    pub fn queued(&self) -> usize {
        self.spool.len()
    }

    /// One cycle: reconcile every placement, make the report, spool it and deliver what waits.
    pub fn poll(&mut self, cx: &mut Cx) -> Result<()> {
        let now = cx.now_ms.div_euclid(1_000) + self.skew_s;
        let (mut outcomes, mut policies) = std::mem::take(&mut self.scratch);
        outcomes.clear();
        policies.clear();
        self.passed.clear();
        let mut fleet = self.fleet_outcome.clone();
        if cx.git_up {
            fleet = self.reconcile(cx, now, &mut outcomes, &mut policies)?;
        } else {
            // The fleet cannot be fetched: what ran last still runs, said to be stale (the daemon).
            cx.counters.git_failed(u64::from(pull_agent::agent::GIT_ATTEMPTS));
            let unreachable = flotilla_git::Error::Unreachable {
                url: crate::git::url_of(FLEET_REPOSITORY),
                message: "connection refused".into(),
            };
            let context = pull_agent::agent::fetching_fleet(&self.identity.environment);
            let message = cx.world.message(&format!("{context}: {unreachable}"));
            outcomes.extend(self.outcomes.iter().map(|o| Outcome {
                state: SyncState::SourceUnreachable,
                message: Some(Msg(Arc::clone(&message))),
                ..o.clone()
            }));
            policies.extend(self.policy_outcomes.iter().cloned());
            self.passed.clone_from(&self.override_outcomes);
        }
        self.report(cx, now, (outcomes, policies), fleet)
    }

    /// `agent::reconcile_with`: the fleet commit chosen, then every placement and policy that
    /// selects the cluster there; the report's `fleet`.
    fn reconcile(
        &mut self,
        cx: &mut Cx,
        now: i64,
        outcomes: &mut Vec<Outcome>,
        policies: &mut Vec<PolicyOutcome>,
    ) -> Result<Option<FleetOutcome>> {
        let fleet_key = if let Some(key) = self.fleet_key {
            key
        } else {
            let environment = &self.identity.environment;
            let Some(key) = cx.world.git.branch_ix(FLEET_REPOSITORY, environment) else {
                anyhow::bail!("the fleet repository has no branch {environment:?} for cluster {}", self.identity.name);
            };
            self.fleet_key = Some(key);
            key
        };
        let tip = cx.world.git.branch_at(fleet_key).head;
        // `read_fleet` fetches the tip alone, into the shallow cache.
        self.fetch(cx, fleet_key, true, tip)?;
        let choice = self.choose_fleet(cx, fleet_key, tip, now)?;
        let Some(at) = choice.at else {
            // No fleet commit may run yet: nothing is reconciled, and the report says why.
            return Ok(choice.report);
        };
        let fleet = cx.world.fleet(at)?;
        let (selected, states) = match &self.selected {
            Some((commit, selected, states)) if *commit == at => (Arc::clone(selected), states.clone()),
            _ => {
                let selected = cx.world.select(at, self.labels, &self.identity)?;
                for &p in &selected.placements {
                    self.state(fleet.placements[p].name(), cx.world);
                }
                let states: Vec<usize> =
                    selected.placements.iter().map(|&p| self.state(fleet.placements[p].name(), cx.world)).collect();
                self.selected = Some((at, Arc::clone(&selected), states.clone()));
                (selected, states)
            }
        };
        let identity = selected.identity.clone().unwrap_or_else(|| Arc::clone(&self.identity));
        for (&p, &s) in selected.placements.iter().zip(&states) {
            outcomes.push(self.placement(cx, &fleet, (fleet_key, at), p, s, &identity, now)?);
        }
        for (&p, name) in selected.policies.iter().zip(&selected.policy_names) {
            policies.push(self.policy(cx, &fleet.policies[p], name));
        }
        Ok(choice.report)
    }

    /// `choose::choose_fleet`: which fleet commit the cluster runs, from the branch's `tip` —
    /// `rollout::decide_fleet`'s choice, over the inputs gathered as the agent gathers them (its
    /// own rollout, windows and freezes as the tip declares them; arrivals as the hub publishes
    /// them). Windows and freezes are not asked for the warm start, as a placement's are not.
    /// `fleet.verify` is not simulated (off).
    fn choose_fleet(&mut self, cx: &mut Cx, fleet_key: usize, tip: CommitIx, now: i64) -> Result<FleetChoice> {
        let tip_fleet = cx.world.fleet(tip)?;
        let Some(spec) = tip_fleet
            .own
            .as_ref()
            .map(|o| &o.spec)
            .filter(|s| s.rollout.is_some() || !s.windows.is_empty() || !s.freezes.is_empty())
        else {
            // Remembered all the same: what a freeze or window declared later keeps.
            self.use_fleet(cx, tip);
            return Ok(FleetChoice { at: Some(tip), report: None });
        };
        // The branch's whole history: for a rollout, and for the commit in use.
        self.fetch(cx, fleet_key, false, tip)?;
        let rollout = spec.rollout.as_ref().filter(|r| !r.waves.is_empty());
        let wave = rollout.map(|rollout| self.fleet_wave(cx, tip, rollout)).transpose()?;
        let windows = if cx.warm || spec.windows.is_empty() {
            Windows { open: true, next: None }
        } else {
            let (open, next) = cx.world.windows_open((tip, usize::MAX), &spec.windows, now);
            Windows { open, next }
        };
        let freeze = if cx.warm { None } else { rollout::frozen(&spec.freezes, now) };
        // What the choice asked for: each override read (up to the first that passes, as the
        // agent reads them), and whether the commit chosen changes anything for the cluster.
        let mut checks: Option<Vec<(CommitIx, Checked)>> = None;
        let mut same_view = None;
        let chosen = loop {
            let decided = {
                let git = &cx.world.git;
                let branch = git.branch_at(fleet_key);
                let landed: Vec<Landed> = branch
                    .history
                    .iter()
                    .zip(&branch.arrived)
                    .map(|(c, at)| {
                        let info = git.commit_info(*c);
                        Landed { commit: &info.hex, tree: &info.tree, at: *at }
                    })
                    .collect();
                let said: Option<Vec<FleetChecked>> =
                    checks.as_ref().map(|checks| checks.iter().map(|(c, said)| fleet_checked(git, *c, said)).collect());
                let in_use = self.fleet_in_use.map(|c| git.commit_info(c).hex.as_str());
                let inputs = FleetInputs {
                    rollout: rollout.zip(wave.as_deref()),
                    history: &landed,
                    in_use,
                    windows,
                    freeze,
                    overrides: said.as_deref(),
                    same_view,
                    now,
                };
                // Back from the choice's words to the commits they name.
                let ix = |id: &str| -> CommitIx {
                    let at = landed.iter().position(|l| l.commit == id).expect("a commit of the history");
                    branch.history[at]
                };
                match rollout::decide_fleet(&inputs) {
                    FleetDecision::Check(range) => Err(Ok(branch.history[range].to_vec())),
                    FleetDecision::Compare { commit } => Err(Err(ix(commit))),
                    FleetDecision::Chosen(choice) => Ok((
                        choice.commit.map(ix),
                        choice.state,
                        choice.message,
                        choice.passed.map(ix),
                        choice.ignored.into_iter().map(ix).collect::<Vec<_>>(),
                    )),
                }
            };
            match decided {
                Err(Ok(candidates)) => checks = Some(Self::overrides_of(cx, candidates)?),
                Err(Err(base)) => same_view = Some(cx.world.same_view(base, tip, self.labels, &self.identity)?),
                Ok(chosen) => break chosen,
            }
        };
        let (candidate, state, message, passed, ignored) = chosen;
        for commit in ignored {
            self.saw_override(cx, FLEET_REPOSITORY, commit, false);
        }
        if let Some(commit) = passed {
            let Some((_, Ok(Some((signer, reason))))) = checks.iter().flatten().find(|(c, _)| *c == commit) else {
                unreachable!("the override that passed was read");
            };
            let (signer, reason) = (Arc::clone(signer), Arc::clone(reason));
            let target = cx.world.name(FLEET_REPOSITORY);
            self.pass(cx, &target, commit, signer, reason);
        }
        if let Some(commit) = candidate {
            self.use_fleet(cx, commit);
        }
        let report = FleetOutcome {
            commit: candidate.unwrap_or(tip),
            head: candidate.filter(|c| *c != tip).map(|_| tip),
            state,
            message: message.map(|m| Msg(cx.world.message(&m))),
        };
        Ok(FleetChoice { at: candidate, report: Some(report) })
    }

    /// This cluster's wave of the fleet's own `rollout`, as the fleet at `tip` declares it
    /// (remembered for the tip).
    fn fleet_wave(&mut self, cx: &mut Cx, tip: CommitIx, rollout: &Rollout) -> Result<Arc<WaveOf>> {
        if self.fleet_wave.as_ref().is_none_or(|(at, _)| *at != tip) {
            let selected = cx.world.select(tip, self.labels, &self.identity)?;
            let identity = selected.identity.as_deref().unwrap_or(&self.identity);
            let wave = rollout::wave_of(rollout, FLEET_REPOSITORY, identity).map(Arc::new);
            self.fleet_wave = Some((tip, wave));
        }
        Ok(self.fleet_wave.as_ref().and_then(|(_, w)| w.clone()).expect("the rollout has waves"))
    }

    /// The overrides of `candidates` (newest first), read as the agent reads them: up to the
    /// first that passes.
    fn overrides_of(cx: &mut Cx, candidates: Vec<CommitIx>) -> Result<Vec<(CommitIx, Checked)>> {
        let mut read = Vec::new();
        for commit in candidates {
            let said = cx.world.override_of(commit)?;
            let passes = matches!(said, Ok(Some(_)));
            read.push((commit, said));
            if passes {
                break;
            }
        }
        Ok(read)
    }

    /// Runs fleet commit `commit` from now on (`keep_fleet_in_use`).
    fn use_fleet(&mut self, cx: &Cx, commit: CommitIx) {
        if self.fleet_in_use != Some(commit) {
            self.fleet_in_use = Some(commit);
            self.fleet_log.push((commit, cx.now_ms));
        }
    }

    /// Counts, once per cluster, an override it reported passed or said was ignored.
    fn saw_override(&mut self, cx: &mut Cx, target: &str, commit: CommitIx, passed: bool) {
        if cx.warm || self.seen_overrides.iter().any(|(t, c, p)| **t == *target && *c == commit && *p == passed) {
            return;
        }
        let target = cx.world.name(target);
        cx.counters.override_seen(&target, commit, passed);
        self.seen_overrides.push((target, commit, passed));
    }

    /// Counts a poll of a branch as smart-HTTP requests to the git server: the ref
    /// advertisement (protocol v1, one request; a shallow fetch speaks v2: the capabilities and
    /// `ls-refs`, two), and a fetch with its pack when the branch moved since this cache's last
    /// fetch. The bytes are those of `old..new`, for a shallow fetch too (its pack holds the new
    /// tip's objects the old tip lacks, which is nearly the same set).
    fn fetch(&mut self, cx: &mut Cx, branch: usize, shallow: bool, head: CommitIx) -> Result<()> {
        let key = (branch, shallow);
        let old = self.fetched.iter_mut().find(|(k, _)| *k == key);
        if cx.warm {
            match old {
                Some(old) => old.1 = head,
                None => self.fetched.push((key, head)),
            }
            return Ok(());
        }
        cx.counters.git_request(cx.now_ms);
        if shallow {
            cx.counters.git_request(cx.now_ms);
        }
        match old {
            Some((_, old)) if *old == head => {}
            Some((_, old)) => {
                let bytes = cx.world.git.pack_bytes(Some(*old), head)?;
                cx.counters.git_fetch(cx.now_ms, bytes);
                *old = head;
            }
            None => {
                let bytes = cx.world.git.pack_bytes(None, head)?;
                cx.counters.git_fetch(cx.now_ms, bytes);
                self.fetched.push((key, head));
            }
        }
        Ok(())
    }

    fn state(&mut self, name: &str, world: &mut World) -> usize {
        match self.placements.binary_search_by(|p| (*p.name).cmp(name)) {
            Ok(i) => i,
            Err(i) => {
                let state = PlacementState {
                    name: world.name(name),
                    applied: None,
                    applied_digest: None,
                    applied_at_ms: 0,
                    log: Vec::new(),
                    unhealthy_since_ms: None,
                    located: None,
                    wave: None,
                    desired: None,
                    series: None,
                };
                self.placements.insert(i, state);
                i
            }
        }
    }

    /// Where a placement's source is read from (`agent::locate`), or the report of why it
    /// cannot be.
    fn locate(
        &self,
        cx: &mut Cx,
        fleet: &Fleet,
        placement: &Placement,
        identity: &ClusterIdentity,
        name: &Arc<str>,
    ) -> Result<Located, Outcome> {
        let fail =
            |cx: &mut Cx, state, message: String| Outcome::failed(Arc::clone(name), state, cx.world.message(&message));
        let Some(repo_name) = placement.spec.source.repository() else {
            // The simulated world is git alone: it has no Helm repository to take a chart from.
            let message =
                format!("{}: charts from Helm repositories are not simulated", placement.spec.source.location());
            return Err(fail(cx, SyncState::Failed, message));
        };
        if repo_name == FLEET_REPOSITORY {
            let environment = &self.identity.environment;
            let key = cx.world.git.branch_ix(FLEET_REPOSITORY, environment).expect("the fleet branch was read");
            return Ok(Located {
                repository: cx.world.name(FLEET_REPOSITORY),
                branch: cx.world.name(environment),
                key,
            });
        }
        let repo = match fleet.source_repository(repo_name) {
            Ok(repo) => repo,
            Err(e) => return Err(fail(cx, SyncState::Failed, e)),
        };
        let Some(repository) = cx.world.git.repository_of_url(repo.url()).map(str::to_string) else {
            let unreachable =
                flotilla_git::Error::Unreachable { url: repo.url().to_string(), message: "no such repository".into() };
            let message = unreachable.to_string();
            return Err(fail(cx, SyncState::SourceUnreachable, message));
        };
        let branch = repo.branch(&identity.environment);
        let Some(key) = cx.world.git.branch_ix(&repository, &branch) else {
            let message =
                flotilla_git::Error::MissingBranch { url: repo.url().to_string(), branch: branch.clone() }.to_string();
            return Err(fail(cx, SyncState::SourceUnreachable, message));
        };
        Ok(Located { repository: cx.world.name(&repository), branch: cx.world.name(&branch), key })
    }

    /// One placement (its state is `placements[s]`): locate its source, schedule (rollout,
    /// halt, windows), render, apply.
    #[expect(clippy::too_many_arguments, reason = "the agent's cycle hands all of these down")]
    fn placement(
        &mut self,
        cx: &mut Cx,
        fleet: &Fleet,
        (fleet_key, fleet_at): (usize, CommitIx),
        placement_ix: usize,
        s: usize,
        identity: &ClusterIdentity,
        now: i64,
    ) -> Result<Outcome> {
        let placement = &fleet.placements[placement_ix];
        let spec = &placement.spec;
        let name = Arc::clone(&self.placements[s].name);
        let deep = spec.rollout.as_ref().is_some_and(|r| !r.waves.is_empty())
            || !spec.windows.is_empty()
            || !spec.freezes.is_empty();
        // Locate: the branch the source is read from, and its head.
        if self.placements[s].located.as_ref().is_none_or(|(at, _)| *at != fleet_at) {
            let located = self.locate(cx, fleet, placement, identity, &name);
            self.placements[s].located = Some((fleet_at, located));
        }
        let located = match &self.placements[s].located {
            Some((_, Ok(located))) => located.clone(),
            Some((_, Err(outcome))) => return Ok(outcome.clone()),
            None => unreachable!("located above"),
        };
        let head =
            if &*located.repository == FLEET_REPOSITORY { fleet_at } else { cx.world.git.branch_at(located.key).head };
        // The fleet repository was fetched already; fetched again in full for a rollout.
        if &*located.repository != FLEET_REPOSITORY || deep {
            // `locate`: the whole branch for a rollout, windows or freezes, else the tip alone
            // (the branch's tip, also when the fleet commit in use is an older one).
            let tip = cx.world.git.branch_at(located.key).head;
            self.fetch(cx, located.key, !deep, tip)?;
        }
        // The wave, and the convergence series it counts in.
        if let Some(rollout) = spec.rollout.as_ref().filter(|r| !r.waves.is_empty())
            && self.placements[s].wave.as_ref().is_none_or(|(at, _)| *at != fleet_at)
        {
            let wave = rollout::wave_of(rollout, placement.name(), identity).expect("the rollout has waves");
            self.placements[s].wave = Some((fleet_at, Arc::new(wave)));
        }
        let wave = self.placements[s].wave.as_ref().map(|(_, w)| Arc::clone(w));
        if self.placements[s].series.is_none() {
            let (wave_ix, wave_name) = wave.as_ref().map_or((0, "everyone"), |w| (w.index, w.name.as_str()));
            let series = cx.counters.series(
                &identity.environment,
                placement.name(),
                wave_ix,
                wave_name,
                &located.repository,
                &located.branch,
            );
            self.placements[s].series = Some(series);
            cx.counters.joined(series, self.placements[s].applied);
        }
        let (commit, waiting) = match self.schedule(
            cx,
            (fleet_key, fleet_at),
            placement_ix,
            placement,
            identity,
            s,
            (&located, head),
            wave.as_deref(),
            now,
        )? {
            Ok(scheduled) => scheduled,
            Err(outcome) => return Ok(outcome),
        };
        let desired = match &self.placements[s].desired {
            Some((f, c, desired)) if *f == fleet_at && *c == commit => desired.clone(),
            _ => {
                let desired = cx.world.desired(fleet_at, placement, commit, identity)?;
                self.placements[s].desired = Some((fleet_at, commit, desired.clone()));
                desired
            }
        };
        let (digest, object) = match desired {
            Ok(desired) => desired,
            Err(message) => {
                let mut outcome = Outcome::failed(Arc::clone(&name), SyncState::Failed, message);
                outcome.source = Some(commit);
                return Ok(outcome);
            }
        };
        if spec.paused {
            let message = cx.world.message(pull_agent::agent::PAUSED);
            let mut outcome = Outcome::failed(Arc::clone(&name), SyncState::Paused, message);
            outcome.source = Some(commit);
            outcome.desired = Some(digest);
            return Ok(outcome);
        }
        Ok(self.apply(cx, s, placement, (commit, digest, object), wave.as_deref().map_or(0, |w| w.index), waiting))
    }

    /// Applies `commit` (a no-op when it runs already) and says how the placement stands:
    /// synced, or progressing and then degraded for unhealthy content, with hand-made drift
    /// found, and the reason it waits when it keeps an older commit.
    fn apply(
        &mut self,
        cx: &mut Cx,
        s: usize,
        placement: &Placement,
        (commit, digest, object): (CommitIx, DigestIx, Arc<ObjectRef>),
        wave: usize,
        waiting: Option<Waiting>,
    ) -> Outcome {
        let spec = &placement.spec;
        let name = Arc::clone(&self.placements[s].name);
        // Apply.
        let state = &mut self.placements[s];
        if state.applied != Some(commit) || state.applied_digest != Some(digest) {
            if let Some(series) = state.series {
                cx.counters.moved(series, state.applied, Some(commit));
            }
            state.applied = Some(commit);
            state.applied_digest = Some(digest);
            state.applied_at_ms = cx.now_ms;
            state.log.push((commit, cx.now_ms));
            state.unhealthy_since_ms = cx.world.is_unhealthy(commit).then_some(cx.now_ms);
            if !cx.warm {
                let tree = &cx.world.git.commit_info(commit).tree;
                cx.counters.reached(placement.name(), tree, wave);
            }
        }
        let mut outcome = Outcome {
            name: Msg(Arc::clone(&name)),
            state: SyncState::Synced,
            source: Some(commit),
            desired: Some(digest),
            applied: Some(commit),
            applied_digest: Some(digest),
            health: Health::Healthy,
            message: None,
            problem: None,
        };
        if let Some(since) = state.unhealthy_since_ms {
            let degraded = cx.now_ms - since >= cx.unhealthy_after_ms;
            outcome.state = if degraded { SyncState::Degraded } else { SyncState::Progressing };
            outcome.health = if degraded { Health::Degraded } else { Health::Progressing };
            let why = if degraded {
                "the rollout is not progressing: ProgressDeadlineExceeded"
            } else {
                "waiting for the rollout: 0 of 1 updated replicas are available"
            };
            outcome.problem = Some((ObjectProblem::Unhealthy, Arc::clone(&object), why));
        } else if !self.drift.is_empty() && self.drift.contains(placement.name()) {
            let corrected = spec.sync.drift_correction;
            if corrected {
                self.drift.remove(placement.name());
            }
            let why = pull_agent::sync::drift_said(corrected);
            cx.counters.drift_reported += 1;
            outcome.problem = Some((ObjectProblem::Drifted, object, why));
        }
        if let Some(w) = waiting
            && outcome.state == SyncState::Synced
        {
            outcome.state = w.state;
            outcome.message = Some(Msg(w.message));
        }
        outcome
    }

    /// `agent::schedule`: the commit the rollout, the freezes and the windows let this cluster
    /// take at `now` (its own clock) from its branch at `head`, or the report of why nothing may
    /// be taken — `rollout::decide`'s, over the inputs gathered as the agent gathers them. A
    /// commit that passed a freeze by a signed override is added to `self.passed`.
    #[expect(clippy::too_many_arguments, reason = "the agent's schedule reads all of these")]
    #[expect(clippy::too_many_lines, reason = "the gathering of one decision's inputs, as the agent gathers them")]
    fn schedule(
        &mut self,
        cx: &mut Cx,
        (fleet_key, fleet_at): (usize, CommitIx),
        placement_ix: usize,
        placement: &Placement,
        identity: &ClusterIdentity,
        s: usize,
        (located, head): (&Located, CommitIx),
        wave: Option<&WaveOf>,
        now: i64,
    ) -> Result<Result<(CommitIx, Option<Waiting>), Outcome>> {
        let spec = &placement.spec;
        let name = Arc::clone(&self.placements[s].name);
        let rollout = spec.rollout.as_ref().filter(|r| !r.waves.is_empty());
        let windows = if cx.warm {
            Windows { open: true, next: None }
        } else {
            let (open, next) = cx.world.window(fleet_at, placement_ix, placement, now);
            Windows { open, next }
        };
        let freeze = if cx.warm || spec.freezes.is_empty() { None } else { rollout::frozen(&spec.freezes, now) };
        if rollout::unconstrained(rollout, windows, freeze) {
            return Ok(Ok((head, None)));
        }
        let applied = self.placements[s].applied;
        // The branch's first-parent history from `head` (for a placement of the fleet
        // repository, the fleet commit in use), each commit dated by when it reached the branch
        // (as the hub publishes it).
        let from = cx.world.git.branch_at(located.key).history.iter().position(|c| *c == head).unwrap_or(0);
        // What the decision asked for: the hub's answer, and each override read (up to the
        // first that passes, as the agent reads them).
        let mut answer: Option<Result<Option<Arc<Progress>>, &'static str>> = None;
        let mut checks: Option<Vec<(CommitIx, Checked)>> = None;
        let decided = loop {
            let decided = {
                let git = &cx.world.git;
                let branch = git.branch_at(located.key);
                let history = &branch.history[from..];
                let landed: Vec<Landed> = if rollout.is_some() {
                    history
                        .iter()
                        .zip(&branch.arrived[from..])
                        .map(|(c, at)| {
                            let info = git.commit_info(*c);
                            Landed { commit: &info.hex, tree: &info.tree, at: *at }
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let hex = |c: CommitIx| git.commit_info(c).hex.as_str();
                let halts = match &answer {
                    Some(Ok(view)) => Some(HubAnswer::Halts(
                        view.as_ref().and_then(|v| v.halt.as_ref()).map_or(&[][..], |h| h.commits.as_slice()),
                    )),
                    Some(Err(e)) => Some(HubAnswer::Unreachable(e)),
                    None => None,
                };
                let said: Option<Vec<rollout::Checked>> = checks.as_ref().map(|checks| {
                    checks
                        .iter()
                        .map(|(c, said)| rollout::Checked {
                            commit: hex(*c),
                            said: match said {
                                Ok(o) => Ok(o.as_ref().map(|(signer, _)| &**signer)),
                                Err(why) => Err(&**why),
                            },
                        })
                        .collect()
                });
                let inputs = Inputs {
                    rollout: rollout.zip(wave),
                    history: &landed,
                    head: hex(head),
                    current: applied.map(hex),
                    windows,
                    freeze,
                    hub: halts,
                    overrides: said.as_deref(),
                    now,
                };
                // Back from the decision's words to the commits they name.
                let ix = |id: &str| -> CommitIx {
                    if id == hex(head) {
                        return head;
                    }
                    if let Some(a) = applied.filter(|a| hex(*a) == id) {
                        return a;
                    }
                    if let Some((c, _)) = checks.iter().flatten().find(|(c, _)| hex(*c) == id) {
                        return *c;
                    }
                    let at = landed.iter().position(|l| l.commit == id).expect("a commit of the history");
                    history[at]
                };
                let done = |decision, n: rollout::Notes<'_>| Decided::Done {
                    decision,
                    passed: n.passed.map(ix),
                    ignored: n.ignored.into_iter().map(ix).collect(),
                    halt: n.halt,
                };
                match rollout::decide(&inputs) {
                    Decision::Ask { .. } => Decided::Ask,
                    Decision::Check(Candidates::Running(c)) => Decided::Check { newest: ix(c), running: true },
                    Decision::Check(Candidates::Between { newest, .. }) => {
                        Decided::Check { newest: ix(newest), running: false }
                    }
                    Decision::Take { commit, waiting, notes } => done(Ok((ix(commit), waiting)), notes),
                    Decision::Wait { waiting, source, notes } => done(Err((waiting, ix(source))), notes),
                }
            };
            match decided {
                Decided::Ask => {
                    let placement = (fleet_key, fleet_at, placement_ix, placement);
                    answer = Some(Self::ask_hub(cx, placement, &identity.environment)?);
                }
                Decided::Check { newest, running } => {
                    checks = Some(Self::read_overrides(cx, (located.key, from), applied, newest, running)?);
                }
                Decided::Done { decision, passed, ignored, halt } => break (decision, passed, ignored, halt),
            }
        };
        let (done, passed, ignored, halt) = decided;
        match halt {
            Some(HaltSaid::Held) => cx.counters.held_by_halt += 1,
            Some(HaltSaid::UnreachableWaits) => cx.counters.held_unreachable += 1,
            _ => {}
        }
        for commit in ignored {
            self.saw_override(cx, &name, commit, false);
        }
        if let Some(commit) = passed {
            let Some((_, Ok(Some((signer, reason))))) = checks.iter().flatten().find(|(c, _)| *c == commit) else {
                unreachable!("the override that passed was read");
            };
            let (signer, reason) = (Arc::clone(signer), Arc::clone(reason));
            self.pass(cx, &name, commit, signer, reason);
        }
        Ok(match done {
            Ok((commit, waiting)) => {
                Ok((commit, waiting.map(|w| Waiting { state: w.state, message: cx.world.message(&w.message) })))
            }
            Err((waiting, source)) => {
                let mut outcome = Outcome::failed(name, waiting.state, cx.world.message(&waiting.message));
                outcome.source = Some(source);
                Err(outcome)
            }
        })
    }

    /// The hub's rollout view for the halt (`Asked::get`): asked once for every commit of the
    /// placement; a warm start, or a placement the hub does not know at its tip, asks nothing.
    fn ask_hub(
        cx: &mut Cx,
        (fleet_key, fleet_at, placement_ix, placement): (usize, CommitIx, usize, &Placement),
        environment: &str,
    ) -> Result<Result<Option<Arc<Progress>>, &'static str>> {
        let hub_ix =
            if cx.warm { None } else { Self::hub_placement(cx, fleet_key, fleet_at, placement_ix, placement)? };
        Ok(match hub_ix {
            None => Ok(None),
            Some(_) if !cx.hub_up => {
                cx.counters.hub_failed(cx.now_ms);
                Err("connection refused")
            }
            Some(hub_ix) => {
                cx.counters.hub_query(cx.now_ms);
                let view = cx.hub.progress(cx.world, (fleet_key, hub_ix), environment, cx.now_ms)?;
                view.map(Some).ok_or("404 Not Found: no such placement")
            }
        })
    }

    /// The overrides a freeze asks for (`rollout::Candidates`), read as the agent reads them:
    /// the commit running (`running`), or the branch numbered `key`'s history (read from `from`)
    /// from `newest` back to `applied`, up to the first override that passes.
    fn read_overrides(
        cx: &mut Cx,
        (key, from): (usize, usize),
        applied: Option<CommitIx>,
        newest: CommitIx,
        running: bool,
    ) -> Result<Vec<(CommitIx, Checked)>> {
        let candidates: Vec<CommitIx> = if running {
            vec![newest]
        } else {
            let history = &cx.world.git.branch_at(key).history[from..];
            let newest = history.iter().position(|c| *c == newest).unwrap_or(0);
            let oldest = applied.and_then(|a| history.iter().position(|c| *c == a)).unwrap_or(history.len());
            history[newest..oldest.max(newest)].iter().take(rollout::HISTORY).copied().collect()
        };
        Self::overrides_of(cx, candidates)
    }

    /// A commit of placement `name` that passed a freeze by an override: in this poll's report.
    fn pass(&mut self, cx: &mut Cx, name: &Arc<str>, commit: CommitIx, signer: Arc<str>, reason: Arc<str>) {
        self.saw_override(cx, name, commit, true);
        self.passed.push(OverrideOutcome {
            target: Msg(Arc::clone(name)),
            commit,
            signer: Msg(signer),
            reason: Msg(reason),
        });
    }

    /// The index the hub knows placement `placement_ix` of fleet commit `fleet_at` by: its index
    /// in the fleet at the branch's tip, which the hub reads (`None`: the tip has no such
    /// placement).
    fn hub_placement(
        cx: &mut Cx,
        fleet_key: usize,
        fleet_at: CommitIx,
        placement_ix: usize,
        placement: &Placement,
    ) -> Result<Option<usize>> {
        let tip = cx.world.git.branch_at(fleet_key).head;
        if tip == fleet_at {
            return Ok(Some(placement_ix));
        }
        Ok(cx.world.fleet(tip)?.placements.iter().position(|p| p.name() == placement.name()))
    }

    /// A policy's result: compliant, unless someone broke it; then an `enforce` policy is fixed
    /// in this very cycle (the report says what was done), an `inform` one is reported.
    fn policy(&mut self, cx: &mut Cx, policy: &Policy, name: &Arc<str>) -> PolicyOutcome {
        let name = Msg(Arc::clone(name));
        if self.violations.is_empty() {
            return PolicyOutcome { name, compliant: true, violation: None, remediation: None };
        }
        let broken = match self.violations.get(policy.name()) {
            None => false,
            Some(until) if until.is_some_and(|u| cx.now_ms >= u) => {
                // Fixed by hand.
                self.violations.remove(policy.name());
                false
            }
            Some(_) => true,
        };
        if !broken {
            return PolicyOutcome { name, compliant: true, violation: None, remediation: None };
        }
        let template = policy.spec.objects.first().map(|t| &t.object);
        let text = |p: &str| template.and_then(|o| o.pointer(p)).and_then(serde_json::Value::as_str).unwrap_or("");
        let object = ObjectRef {
            api_version: text("/apiVersion").to_string(),
            kind: text("/kind").to_string(),
            namespace: text("/metadata/namespace").to_string(),
            name: match text("/metadata/name") {
                "" => "injected-by-the-simulation".to_string(),
                n => n.to_string(),
            },
        };
        let must_not =
            policy.spec.objects.first().is_some_and(|t| t.compliance == flotilla_core::fleet::Compliance::MustNotHave);
        if policy.spec.remediation == Remediation::Enforce {
            self.violations.remove(policy.name());
            let fix = if must_not { format!("deleted {object}") } else { format!("patched {object}") };
            cx.counters.remediations += 1;
            return PolicyOutcome {
                name,
                compliant: true,
                violation: None,
                remediation: Some(Msg(cx.world.message(&fix))),
            };
        }
        cx.counters.non_compliant += 1;
        let path = if object.namespace.is_empty() {
            format!("{}/{}", object.kind, object.name)
        } else {
            format!("{}/{}/{}", object.kind, object.namespace, object.name)
        };
        PolicyOutcome { name, compliant: false, violation: Some(Msg(cx.world.message(&path))), remediation: None }
    }

    /// The daemon's report: numbered, kept, spooled and (hub permitting) delivered, oldest first.
    fn report(
        &mut self,
        cx: &mut Cx,
        now: i64,
        (outcomes, policies): (Vec<Outcome>, Vec<PolicyOutcome>),
        fleet: Option<FleetOutcome>,
    ) -> Result<()> {
        self.sequence += 1;
        let changed = self.report.is_none()
            || outcomes != self.outcomes
            || policies != self.policy_outcomes
            || fleet != self.fleet_outcome
            || self.passed != self.override_outcomes;
        if changed {
            let hex = |c: CommitIx| cx.world.git.commit_info(c).hex.clone();
            let time = flotilla_core::calendar::rfc3339(now);
            let report = Report {
                version: report::VERSION,
                cluster: self.identity.name.to_string(),
                agent_version: env!("CARGO_PKG_VERSION").to_string(),
                sequence: self.sequence,
                time,
                placements: outcomes.iter().map(|o| placement_report(cx.world, o)).collect(),
                policies: policies.iter().map(policy_report).collect(),
                fleet: fleet.as_ref().map(|f| report::FleetReport {
                    commit: hex(f.commit),
                    head: f.head.map(hex),
                    state: f.state,
                    message: f.message.as_ref().map(|m| report::clip(&m.0)),
                    signer: None,
                }),
                overrides: self
                    .passed
                    .iter()
                    .map(|o| report::Override {
                        target: o.target.0.to_string(),
                        commit: hex(o.commit),
                        signer: o.signer.0.to_string(),
                        reason: o.reason.0.to_string(),
                    })
                    .collect(),
                kubernetes: None,
            };
            if let Err(e) = report.validate() {
                // A bug of the simulator's: the hub would refuse the report, naming the field.
                cx.counters.invalid += 1;
                eprintln!(
                    "flotilla-simulate: warning: report {} of {} is not valid: {e}",
                    self.sequence, self.identity.name
                );
            }
            self.report_bytes = (report.to_json().len() - digits(self.sequence) - report.time.len()) as u64;
            self.report = Some(report);
            self.scratch = (
                std::mem::replace(&mut self.outcomes, outcomes),
                std::mem::replace(&mut self.policy_outcomes, policies),
            );
            self.fleet_outcome = fleet;
            self.override_outcomes.clone_from(&self.passed);
            self.body += 1;
        } else {
            self.scratch = (outcomes, policies);
        }
        let report = self.report.as_mut().expect("made above");
        report.sequence = self.sequence;
        // RFC 3339 in UTC is 20 bytes from year 1000 to 9999; the text is written when the
        // report is kept, and by the hub when it takes it.
        let bytes = self.report_bytes + (digits(self.sequence) + 20) as u64;
        if cx.warm {
            cx.hub.register(self.index, &self.identity.environment, &self.identity.labels, report, cx.now_ms)?;
            self.last_taken_ms = cx.now_ms;
            self.delivered_policies.clone_from(&report.policies);
            self.hub_body = self.body;
            return Ok(());
        }
        cx.counters.made += 1;
        if cx.hub_up && self.spool.is_empty() {
            // Spooled and sent at once: nothing waits.
            cx.counters.hub_take(cx.now_ms, bytes);
            let new_body = self.hub_body != self.body;
            cx.hub.take(self.index, &self.identity.environment, report, now, new_body, cx.now_ms)?;
            self.last_taken_ms = cx.now_ms;
            self.hub_body = self.body;
            // The report before it was taken too: its policies are the delivered ones unless
            // this report changed them.
            if changed {
                self.delivered_policies.clone_from(&report.policies);
            }
            return Ok(());
        }
        report.time = flotilla_core::calendar::rfc3339(now);
        let waiting = self.spool.len();
        self.spool.push_back(Queued { report: report.clone(), bytes, time: now, body: self.body });
        self.compact(cx.counters);
        cx.counters.queued = cx.counters.queued + self.spool.len() - waiting;
        if !cx.hub_up {
            cx.counters.hub_failed(cx.now_ms);
            return Ok(());
        }
        cx.counters.queued -= self.spool.len();
        while let Some(queued) = self.spool.pop_front() {
            cx.counters.hub_take(cx.now_ms, queued.bytes);
            let new_body = self.hub_body != queued.body;
            cx.hub.take(self.index, &self.identity.environment, &queued.report, queued.time, new_body, cx.now_ms)?;
            self.hub_body = queued.body;
            self.last_taken_ms = cx.now_ms;
            self.delivered_policies = queued.report.policies;
        }
        Ok(())
    }

    /// `Spool::compact`, with core's rule (`spool::retain`): keep the newest report and every
    /// report whose policy results differ from the one before it; then, over the bounds, drop
    /// the oldest (lost, and said so).
    fn compact(&mut self, counters: &mut Counters) {
        let waiting: Vec<spool::Waiting<'_, Vec<PolicyReport>>> =
            self.spool.iter().map(|q| spool::Waiting { policies: &q.report.policies, bytes: q.bytes }).collect();
        let fates = spool::retain(&waiting, &self.delivered_policies, Bounds::DEFAULT);
        let mut kept = VecDeque::with_capacity(self.spool.len());
        for (queued, fate) in std::mem::take(&mut self.spool).into_iter().zip(fates) {
            match fate {
                Fate::Kept => kept.push_back(queued),
                Fate::Superseded => counters.superseded += 1,
                Fate::Dropped => {
                    counters.lost += 1;
                    eprintln!(
                        "flotilla-simulate: report {} of {} dropped from the full spool",
                        queued.report.sequence, self.identity.name
                    );
                }
            }
        }
        counters.max_queued = counters.max_queued.max(kept.len());
        self.spool = kept;
    }
}

fn placement_report(world: &World, o: &Outcome) -> PlacementReport {
    let hex = |c: Option<CommitIx>| c.map(|c| world.git.commit_info(c).hex.clone());
    let digest = |d: Option<DigestIx>| d.map(|d| world.digests[d as usize].clone());
    PlacementReport {
        name: o.name.0.to_string(),
        state: o.state,
        source_commit: hex(o.source),
        desired_digest: digest(o.desired),
        applied_commit: hex(o.applied),
        applied_digest: digest(o.applied_digest),
        signer: None,
        health: o.health,
        message: o.message.as_ref().map(|m| report::clip(&m.0)),
        objects: o
            .problem
            .iter()
            .map(|(problem, r, why)| ObjectReport {
                api_version: r.api_version.clone(),
                kind: r.kind.clone(),
                namespace: (!r.namespace.is_empty()).then(|| r.namespace.clone()),
                name: r.name.clone(),
                problem: *problem,
                message: Some((*why).to_string()),
                fields: if *problem == ObjectProblem::Drifted { vec!["spec.replicas".to_string()] } else { Vec::new() },
            })
            .collect(),
        images: Vec::new(),
    }
}

/// The digits of a sequence number.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

fn policy_report(p: &PolicyOutcome) -> PolicyReport {
    PolicyReport {
        name: p.name.0.to_string(),
        compliant: Some(p.compliant),
        violations: p
            .violation
            .iter()
            .map(|object| Violation {
                object: object.0.to_string(),
                field: None,
                expected: None,
                actual: None,
                message: "changed by hand (injected by the simulation)".to_string(),
            })
            .collect(),
        remediation: p.remediation.iter().map(|r| r.0.to_string()).collect(),
    }
}
