//! The simulated hub: the hub's own in-memory [`Index`], fed as the hub feeds it (a row per
//! registered cluster, then `Index::apply` of the reports it takes, with increasing change
//! numbers), the clusters that failed on each commit kept by the store's rule
//! (`flotilla_core::rollout::counts_against`: added on a failure, removed when the cluster
//! reports that commit `Synced`), and the rollout progress agents ask for, computed by
//! `hub_index::progress::progress` and served again for [`FRESH_MS`] as the hub does.
//!
//! Replaced: HTTP, tokens and the database. A report the hub takes is taken at once (the real
//! hub batches them within milliseconds). The fleet is read at the branch heads as they are
//! (the real hub polls git every few seconds).
//!
//! The index lives on a thread of its own, fed in order through a channel, and the agents need
//! it only when a progress is computed, which waits for every report sent before it. The order
//! of everything the index sees is the order the simulation made it in, so the results do not
//! depend on the thread.
//!
//! Taking a report costs the index 4 to 8 µs (interning its commits and digests, moving the
//! cluster in its counts); ten thousand clusters polling every minute for 30 hours make 18
//! million reports, more than two minutes of it. But a report replaces its cluster's entry
//! whole (`Index::apply` keeps nothing of the one before, and the index's counts always equal
//! a count from scratch), so the index as read after a cluster's newest report is the same
//! whether the reports before it were applied or not. The index thread therefore keeps each
//! cluster's newest report and applies those of the clusters that reported since, in the order
//! they first did, whenever the index is read (a rollout progress, the end of the run). With
//! `every_report` it applies each report as it comes, as the hub does; a test checks that both
//! give the same run.
//!
//! One more shortcut, exact for what agents read: after its two seconds, a progress whose
//! inputs that decide the halt (the failures, which clusters report which placements, the fleet
//! and source heads) have not changed is served again rather than computed anew. The halted
//! commits agents look at depend on nothing else; computing the whole progress (a SHA-256 per
//! cluster to find its wave) every two virtual seconds would cost more than the rest of a
//! 10,000-cluster simulation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};
use flotilla_core::fleet::{FLEET_REPOSITORY, Placement};
use flotilla_core::report::{Report, SyncState};
use flotilla_core::rollout::{Arrivals, counts_against};
use hub_index::api::Progress;
use hub_index::git_view::Commit;
use hub_index::index::{Index, OFFLINE_AFTER_MS, Row};
use hub_index::progress::{FRESH_MS, progress};
use hub_index::records::Failure;

use crate::git::CommitIx;
use crate::world::{HashMap, World};

/// How many messages go to the index thread at once.
const BATCH: usize = 2_048;

/// (failures version, membership version, fleet head, source head).
type Inputs = (u64, u64, CommitIx, CommitIx);

#[derive(Debug)]
struct Cached {
    at_ms: i64,
    inputs: Inputs,
    view: Arc<Progress>,
    /// The source branch's number, as the fleet at `inputs.2` says.
    source: usize,
}

/// Environment → placement → commit → cluster → when the hub first took a report of the
/// failure (the store's `rollout_failures`, in its order).
type Failures = BTreeMap<String, BTreeMap<String, BTreeMap<String, BTreeMap<String, i64>>>>;

/// What the index thread is asked to do, in order.
#[derive(Debug)]
enum Message {
    Register {
        cluster: usize,
        row: Box<Row>,
    },
    /// A report of `cluster`: its body when it differs from the one the index thread last saw
    /// of the cluster, and its sequence number and time (unix seconds, the agent's clock).
    Take {
        cluster: usize,
        body: Option<Box<Report>>,
        sequence: u64,
        time: i64,
        change: i64,
        at_ms: i64,
    },
    Progress(Box<Ask>),
    /// The end of the run at this time: the index's clock moves there.
    Finish(i64),
}

#[derive(Debug)]
struct Ask {
    placement: Placement,
    environment: String,
    history: Vec<Commit>,
    arrivals: Arrivals,
    failures: Vec<Failure>,
    now: i64,
    reply: SyncSender<Progress>,
}

/// What the index thread hands back when the simulation ends: the index, every report
/// applied, its clock at the end.
#[derive(Debug)]
pub struct Finished {
    pub index: Index,
    /// How many reports it applied (fewer than it took, unless every report is applied).
    pub applied: u64,
}

#[derive(Debug)]
pub struct Hub {
    sender: Option<SyncSender<Vec<Message>>>,
    thread: Option<JoinHandle<Finished>>,
    pending: Vec<Message>,
    change: i64,
    failures: Failures,
    failures_version: u64,
    /// Bumped when a cluster's reported placements change: who is in a wave.
    membership_version: u64,
    /// Per cluster, the placements its last taken report listed.
    members: HashMap<String, Vec<String>>,
    /// (fleet branch number, placement index) → the progress last computed.
    progress: HashMap<(usize, usize), Cached>,
    /// Every (environment, placement, commit) the hub published as held back from some wave.
    pub halts: BTreeSet<(String, String, String)>,
    /// How many times the progress was computed.
    pub computations: u64,
}

impl Hub {
    /// A hub whose index runs on a thread of its own, applying every report as it comes
    /// (`every_report`), or each cluster's newest when the index is read (see the module doc).
    pub fn start(every_report: bool) -> Result<Hub> {
        let (sender, receiver) = sync_channel::<Vec<Message>>(16);
        let thread = std::thread::Builder::new()
            .name("hub-index".into())
            .spawn(move || index_thread(&receiver, every_report))
            .map_err(|e| anyhow!("starting the hub's index thread: {e}"))?;
        Ok(Hub {
            sender: Some(sender),
            thread: Some(thread),
            pending: Vec::with_capacity(BATCH),
            change: 0,
            failures: BTreeMap::new(),
            failures_version: 0,
            membership_version: 0,
            members: HashMap::default(),
            progress: HashMap::default(),
            halts: BTreeSet::new(),
            computations: 0,
        })
    }

    fn send(&mut self, message: Message) -> Result<()> {
        self.pending.push(message);
        if self.pending.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH));
        let sender = self.sender.as_ref().ok_or_else(|| anyhow!("the hub has stopped"))?;
        sender.send(batch).map_err(|_| anyhow!("the hub's index thread stopped"))
    }

    /// Ends the index thread at `now_ms`: the index, every report applied.
    pub fn finish(&mut self, now_ms: i64) -> Result<Finished> {
        self.send(Message::Finish(now_ms))?;
        self.flush()?;
        self.sender = None;
        let thread = self.thread.take().ok_or_else(|| anyhow!("the hub has stopped already"))?;
        thread.join().map_err(|_| anyhow!("the hub's index thread panicked"))
    }

    /// Cluster `cluster` registers, with the report it made at `at_ms` (the simulation starts
    /// warm).
    pub fn register(
        &mut self,
        cluster: usize,
        environment: &str,
        labels: &BTreeMap<String, String>,
        report: &Report,
        at_ms: i64,
    ) -> Result<()> {
        self.change += 1;
        let row = Row {
            name: report.cluster.clone(),
            environment: environment.to_string(),
            labels: labels.clone(),
            token_hash: None,
            registered_at_ms: at_ms,
            last_report_at_ms: Some(at_ms),
            last_report: Some(report.clone()),
            change: self.change,
            kubernetes: None,
        };
        self.send(Message::Register { cluster, row: Box::new(row) })?;
        self.record(environment, report, at_ms);
        Ok(())
    }

    /// Takes a report cluster `cluster` sent at `at_ms`, made at `time` (unix seconds, its
    /// clock); `new_body`: its placements and policies differ from the last report taken.
    pub fn take(
        &mut self,
        cluster: usize,
        environment: &str,
        report: &Report,
        time: i64,
        new_body: bool,
        at_ms: i64,
    ) -> Result<()> {
        self.change += 1;
        // Only a new body can change the failures or the placements reported.
        if new_body {
            self.record(environment, report, at_ms);
        }
        let body = new_body.then(|| Box::new(report.clone()));
        self.send(Message::Take { cluster, body, sequence: report.sequence, time, change: self.change, at_ms })
    }

    /// The failures and the membership, as the store's ingest records them.
    fn record(&mut self, environment: &str, report: &Report, at_ms: i64) {
        for p in &report.placements {
            let Some(commit) = p.source_commit.as_deref() else { continue };
            if counts_against(p.state) {
                let clusters = self
                    .failures
                    .entry(environment.to_string())
                    .or_default()
                    .entry(p.name.clone())
                    .or_default()
                    .entry(commit.to_string())
                    .or_default();
                if !clusters.contains_key(&report.cluster) {
                    clusters.insert(report.cluster.clone(), at_ms);
                    self.failures_version += 1;
                }
            } else if p.state == SyncState::Synced
                && let Some(clusters) =
                    self.failures.get_mut(environment).and_then(|e| e.get_mut(&p.name)).and_then(|c| c.get_mut(commit))
                && clusters.remove(&report.cluster).is_some()
            {
                self.failures_version += 1;
            }
        }
        let same = self.members.get(&report.cluster).is_some_and(|names| {
            names.len() == report.placements.len() && names.iter().zip(&report.placements).all(|(n, p)| *n == p.name)
        });
        if !same {
            self.members.insert(report.cluster.clone(), report.placements.iter().map(|p| p.name.clone()).collect());
            self.membership_version += 1;
        }
    }

    /// The rollout progress of placement `placement_ix` of the fleet branch numbered
    /// `fleet_key` (environment `environment`'s) at `now_ms`, as
    /// `GET /api/v1/rollouts/{placement}` answers it; `None` for a placement the fleet does not
    /// declare or whose source cannot be read (the hub answers with an error).
    pub fn progress(
        &mut self,
        world: &mut World,
        (fleet_key, placement_ix): (usize, usize),
        environment: &str,
        now_ms: i64,
    ) -> Result<Option<Arc<Progress>>> {
        let fleet_head = world.git.branch_at(fleet_key).head;
        if let Some(cached) = self.progress.get_mut(&(fleet_key, placement_ix))
            && cached.inputs.2 == fleet_head
        {
            if now_ms - cached.at_ms < FRESH_MS {
                return Ok(Some(Arc::clone(&cached.view)));
            }
            let source = world.git.branch_at(cached.source).head;
            if (self.failures_version, self.membership_version, fleet_head, source) == cached.inputs {
                cached.at_ms = now_ms;
                return Ok(Some(Arc::clone(&cached.view)));
            }
        }
        let fleet = world.fleet(fleet_head)?;
        let Some(definition) = fleet.placements.get(placement_ix) else { return Ok(None) };
        let placement = definition.name();
        // A chart from a Helm repository has no branch to roll out along.
        let Some(repo_name) = definition.spec.source.repository() else { return Ok(None) };
        let (repository, branch) = if repo_name == FLEET_REPOSITORY {
            (FLEET_REPOSITORY.to_string(), environment.to_string())
        } else {
            let Some(repo) = fleet.repository(repo_name) else { return Ok(None) };
            let Some(name) = world.git.repository_of_url(repo.url()) else { return Ok(None) };
            (name.to_string(), repo.branch(environment))
        };
        let Some(source_ix) = world.git.branch_ix(&repository, &branch) else { return Ok(None) };
        let source = world.git.branch_at(source_ix);
        let inputs = (self.failures_version, self.membership_version, fleet_head, source.head);
        let failures: Vec<Failure> = self
            .failures
            .get(environment)
            .and_then(|e| e.get(placement))
            .into_iter()
            .flatten()
            .flat_map(|(commit, clusters)| {
                clusters.iter().map(|(cluster, at_ms)| Failure {
                    cluster: cluster.clone(),
                    commit: commit.clone(),
                    at_ms: *at_ms,
                })
            })
            .collect();
        self.computations += 1;
        let (reply, answer) = sync_channel(1);
        let ask = Ask {
            placement: definition.clone(),
            environment: environment.to_string(),
            history: source.commits.clone(),
            arrivals: source.arrivals.clone(),
            failures,
            now: now_ms / 1_000,
            reply,
        };
        self.send(Message::Progress(Box::new(ask)))?;
        self.flush()?;
        let view = Arc::new(answer.recv().map_err(|_| anyhow!("the hub's index thread stopped"))?);
        if let Some(halt) = &view.halt {
            for c in halt.commits.iter().filter(|c| c.halted_from_index.is_some()) {
                self.halts.insert((environment.to_string(), placement.to_string(), c.commit.clone()));
            }
        }
        let cached = Cached { at_ms: now_ms, inputs, view: Arc::clone(&view), source: source_ix };
        self.progress.insert((fleet_key, placement_ix), cached);
        Ok(Some(view))
    }
}

/// The newest report a cluster sent since the index last took one of it: its sequence number,
/// its time (the agent's clock, unix seconds), its change number and when it arrived.
#[derive(Debug, Clone, Copy)]
struct Latest {
    sequence: u64,
    time: i64,
    change: i64,
    at_ms: i64,
}

/// The index and what waits to be applied to it.
struct IndexThread {
    index: Index,
    /// Each cluster's newest report body (a report differs from the one before in its sequence
    /// number and time alone, most of the time).
    reports: Vec<Option<Report>>,
    latest: Vec<Option<Latest>>,
    /// The clusters with a report not applied yet, in the order they sent the first of them.
    dirty: Vec<usize>,
    applied: u64,
}

impl IndexThread {
    /// Applies each waiting cluster's newest report.
    fn apply(&mut self) {
        for cluster in self.dirty.drain(..) {
            let latest = self.latest[cluster].take().expect("a dirty cluster has a report waiting");
            let report = self.reports[cluster].as_mut().expect("every cluster registers before it reports");
            report.sequence = latest.sequence;
            report.time = flotilla_core::calendar::rfc3339(latest.time);
            let known = self.index.apply(&report.cluster, latest.change, latest.at_ms, report);
            debug_assert!(known, "every cluster registers before it reports");
            self.applied += 1;
        }
    }
}

/// The index thread: takes every message in order until the simulation hangs up.
fn index_thread(receiver: &Receiver<Vec<Message>>, every_report: bool) -> Finished {
    let mut thread = IndexThread {
        index: Index::new(OFFLINE_AFTER_MS),
        reports: Vec::new(),
        latest: Vec::new(),
        dirty: Vec::new(),
        applied: 0,
    };
    while let Ok(batch) = receiver.recv() {
        for message in batch {
            match message {
                Message::Register { cluster, row } => {
                    thread.index.update(&row);
                    if thread.reports.len() <= cluster {
                        thread.reports.resize(cluster + 1, None);
                        thread.latest.resize(cluster + 1, None);
                    }
                    thread.reports[cluster].clone_from(&row.last_report);
                }
                Message::Take { cluster, body, sequence, time, change, at_ms } => {
                    if let Some(body) = body {
                        thread.reports[cluster] = Some(*body);
                    }
                    if thread.latest[cluster].is_none() {
                        thread.dirty.push(cluster);
                    }
                    thread.latest[cluster] = Some(Latest { sequence, time, change, at_ms });
                    if every_report {
                        thread.apply();
                    }
                }
                Message::Progress(ask) => {
                    thread.apply();
                    let view = progress(
                        &thread.index,
                        &ask.placement,
                        &ask.environment,
                        &ask.history,
                        &ask.arrivals,
                        &ask.failures,
                        ask.now,
                    );
                    // The asker waits for it; if it is gone, the simulation is ending anyway.
                    let _ = ask.reply.send(view);
                }
                Message::Finish(now_ms) => {
                    thread.apply();
                    thread.index.advance(now_ms);
                }
            }
        }
    }
    Finished { index: thread.index, applied: thread.applied }
}
