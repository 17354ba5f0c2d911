//! The discrete-event loop: a priority queue of events ordered by (virtual time, sequence
//! number) — each cluster's polls, the timeline's events and a sample every minute — and what
//! each event does. Deterministic: the order of events is fixed by their times and the order
//! they were scheduled in, every random number comes from a seeded stream (one per cluster, one
//! for the population and the timeline), and nothing reads the wall clock but the report of how
//! long the run took.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use flotilla_core::fleet::{ClusterIdentity, FLEET_REPOSITORY};

use crate::git::{CommitIx, Git};
use crate::metrics::Counters;
use crate::rng::Rng;
use crate::scenario::{self, Event, LabelValue, Loaded};
use crate::virtual_agent::{Cluster, Cx};
use crate::virtual_hub::Hub;
use crate::world::World;

/// How often the simulation samples convergence, in milliseconds of the virtual clock.
pub const SAMPLE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Timeline(usize),
    Sample,
    Poll(usize),
}

/// A group of the population: its clusters are `first..first + count`.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    pub name: String,
    pub first: usize,
    pub count: usize,
}

/// A period when something was down, for the chart.
#[derive(Debug, Clone)]
pub struct Outage {
    pub what: &'static str,
    pub from_s: i64,
    pub to_s: i64,
}

/// What happened on the timeline, for the summary.
#[derive(Debug, Clone)]
pub struct Happened {
    pub at_s: i64,
    pub text: String,
    /// The commit the event made, if any.
    pub commit: Option<CommitIx>,
}

/// A finished run: everything the summary and the chart are made of.
#[derive(Debug)]
pub struct Run {
    pub loaded: Loaded,
    pub clusters: Vec<Cluster>,
    pub groups: Vec<GroupInfo>,
    pub world: World,
    pub hub: Hub,
    /// The hub's index as the run left it, and how many reports it applied.
    pub index: hub_index::index::Index,
    pub applied: u64,
    pub counters: Counters,
    pub happened: Vec<Happened>,
    pub outages: Vec<Outage>,
    /// Timeline names → the commit they made.
    pub named: BTreeMap<String, CommitIx>,
    /// Each branch's head when the simulation started.
    pub initial_heads: BTreeMap<(String, String), CommitIx>,
    /// Per sample: reports waiting in spools; and, while the hub ran, the clusters it counted
    /// offline.
    pub queued: Vec<usize>,
    pub offline: Vec<usize>,
    pub wall: Duration,
    pub warm_wall: Duration,
}

/// The simulation in progress.
struct Sim {
    loaded: Loaded,
    clusters: Vec<Cluster>,
    groups: Vec<GroupInfo>,
    world: World,
    hub: Hub,
    counters: Counters,
    rng: Rng,
    queue: BinaryHeap<Reverse<(i64, u64, Ev)>>,
    sequence: u64,
    start_ms: i64,
    end_ms: i64,
    git_down_until_ms: i64,
    hub_down_until_ms: i64,
    happened: Vec<Happened>,
    outages: Vec<Outage>,
    named: BTreeMap<String, CommitIx>,
    queued: Vec<usize>,
    offline: Vec<usize>,
}

/// How to run a scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// How many clusters (`None`: the scenario's).
    pub clusters: Option<usize>,
    /// The seed (`None`: the scenario's).
    pub seed: Option<u64>,
    /// Apply every report to the hub's index as it comes, rather than each cluster's newest
    /// when the index is read (the same run, slower; see [`crate::virtual_hub`]).
    pub every_report: bool,
}

/// Runs a scenario with `clusters` clusters (`None`: the scenario's count) and `seed` (`None`:
/// the scenario's).
pub fn run(loaded: Loaded, options: Options) -> Result<Run> {
    let started = Instant::now();
    let seed = options.seed.unwrap_or(loaded.scenario.seed);
    let start_ms = loaded.start * 1_000;
    // The fleet is three days old: every wave has had its windows to take it.
    let git = Git::create(&loaded.fleet_dir, &loaded.scenario.overrides, loaded.start - 3 * 86_400)
        .with_context(|| format!("making the git repositories from {}", loaded.fleet_dir.display()))?;
    let initial_heads = git.branches().map(|(r, b, branch)| ((r.to_string(), b.to_string()), branch.head)).collect();
    let mut world = World::new(git);
    let signers = &loaded.scenario.population.override_signers;
    world.override_signers = (!signers.is_empty()).then(|| signers.clone());
    let mut rng = Rng::new(seed);
    let (clusters, groups) = population(&loaded, options.clusters, seed, &mut rng, &mut world)?;
    let mut sim = Sim {
        end_ms: start_ms + loaded.duration_s * 1_000,
        loaded,
        clusters,
        groups,
        world,
        hub: Hub::start(options.every_report)?,
        counters: Counters::new(start_ms),
        rng,
        queue: BinaryHeap::new(),
        sequence: 0,
        start_ms,
        git_down_until_ms: i64::MIN,
        hub_down_until_ms: i64::MIN,
        happened: Vec::new(),
        outages: Vec::new(),
        named: BTreeMap::new(),
        queued: Vec::new(),
        offline: Vec::new(),
    };
    sim.warm()?;
    let warm_wall = started.elapsed();
    sim.schedule_all();
    while let Some(Reverse((at, _, event))) = sim.queue.pop() {
        if at > sim.end_ms {
            break;
        }
        match event {
            Ev::Timeline(i) => sim.timeline(i, at)?,
            Ev::Sample => sim.sample(at)?,
            Ev::Poll(i) => sim.poll(i, at)?,
        }
    }
    let finished = sim.hub.finish(sim.end_ms)?;
    Ok(Run {
        index: finished.index,
        offline: sim.offline,
        applied: finished.applied,
        loaded: sim.loaded,
        clusters: sim.clusters,
        groups: sim.groups,
        world: sim.world,
        hub: sim.hub,
        counters: sim.counters,
        happened: sim.happened,
        outages: sim.outages,
        named: sim.named,
        initial_heads,
        queued: sim.queued,
        wall: started.elapsed(),
        warm_wall,
    })
}

/// The clusters: groups with a `count` have that many; groups with a `share` split the rest
/// (the last of them takes what rounding leaves). Labels given as lists are drawn from them.
fn population(
    loaded: &Loaded,
    total: Option<usize>,
    seed: u64,
    rng: &mut Rng,
    world: &mut World,
) -> Result<(Vec<Cluster>, Vec<GroupInfo>)> {
    let population = &loaded.scenario.population;
    let total = total.unwrap_or(population.clusters);
    let counted: usize = population.groups.iter().filter_map(|g| g.count).sum();
    if counted > total {
        bail!("{total} clusters are fewer than the groups' counts ({counted})");
    }
    let rest = total - counted;
    let sharing: Vec<usize> =
        population.groups.iter().enumerate().filter(|(_, g)| g.share.is_some()).map(|(i, _)| i).collect();
    let mut sizes: Vec<usize> = population.groups.iter().map(|g| g.count.unwrap_or(0)).collect();
    let mut given = 0;
    for (n, &i) in sharing.iter().enumerate() {
        let share = scenario::percent(population.groups[i].share.as_deref().expect("a share group")).expect("checked");
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a share of a count"
        )]
        let size = if n + 1 == sharing.len() { rest - given } else { ((rest as f64) * share).floor() as usize };
        sizes[i] = size.min(rest - given);
        given += sizes[i];
    }
    let mut clusters = Vec::with_capacity(total);
    let mut groups = Vec::new();
    for (g, group) in population.groups.iter().enumerate() {
        let prefix = group.prefix.clone().unwrap_or_else(|| format!("{}-", group.name));
        let width = sizes[g].to_string().len().max(5);
        groups.push(GroupInfo { name: group.name.clone(), first: clusters.len(), count: sizes[g] });
        for n in 1..=sizes[g] {
            let labels: BTreeMap<String, String> = group
                .labels
                .iter()
                .map(|(k, v)| {
                    let value = match v {
                        LabelValue::One(v) => v.clone(),
                        LabelValue::Any(values) => {
                            values[usize::try_from(rng.below(values.len() as u64)).expect("a list index")].clone()
                        }
                    };
                    (k.clone(), value)
                })
                .collect();
            let identity = ClusterIdentity {
                name: format!("{prefix}{n:0width$}")
                    .parse()
                    .expect("the scenario's reading checked that its prefix names clusters"),
                environment: group.environment.clone(),
                labels: labels.clone(),
            };
            let labels = world.labels(&labels);
            clusters.push(Cluster::new(clusters.len(), identity, labels, g, group.offline, seed));
        }
    }
    if let Some(skew) = &population.skew {
        let by = scenario::duration(&skew.by).expect("checked");
        for i in choose(rng, &groups, skew.group.as_deref(), &skew.share, None)? {
            clusters[i].skew_s = by;
        }
    }
    Ok((clusters, groups))
}

/// The clusters an event picks: a share (or a count) of a group's, or of everyone.
fn choose(
    rng: &mut Rng,
    groups: &[GroupInfo],
    group: Option<&str>,
    share: &str,
    count: Option<usize>,
) -> Result<Vec<usize>> {
    let (first, n) = match group {
        None => (0, groups.iter().map(|g| g.count).sum()),
        Some(name) => {
            let g = groups.iter().find(|g| g.name == name).with_context(|| format!("no group {name:?}"))?;
            (g.first, g.count)
        }
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a share of a count"
    )]
    let k = count.unwrap_or_else(|| ((n as f64) * scenario::percent(share).unwrap_or(0.0)).round() as usize);
    Ok(rng.choose(n, k).into_iter().map(|i| first + i).collect())
}

impl Sim {
    fn push(&mut self, at: i64, event: Ev) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, event)));
    }

    fn cx(&mut self, now_ms: i64, warm: bool) -> (Cx<'_>, &mut [Cluster]) {
        let cx = Cx {
            world: &mut self.world,
            hub: &mut self.hub,
            counters: &mut self.counters,
            now_ms,
            git_up: now_ms >= self.git_down_until_ms,
            hub_up: now_ms >= self.hub_down_until_ms,
            unhealthy_after_ms: self.loaded.unhealthy_after_s * 1_000,
            warm,
        };
        (cx, &mut self.clusters)
    }

    /// Every cluster as it runs when the simulation starts, registered with the hub.
    fn warm(&mut self) -> Result<()> {
        let start = self.start_ms;
        let (mut cx, clusters) = self.cx(start, true);
        for c in clusters.iter_mut() {
            c.poll(&mut cx)?;
        }
        Ok(())
    }

    /// The timeline first (so that an event and a poll at the same instant happen in that
    /// order), then the samples, then each cluster's first poll, spread over one interval.
    fn schedule_all(&mut self) {
        for (i, at) in self.loaded.at.clone().into_iter().enumerate() {
            self.push(self.start_ms + at * 1_000, Ev::Timeline(i));
        }
        let mut t = self.start_ms;
        while t <= self.end_ms {
            self.push(t, Ev::Sample);
            t += SAMPLE_MS;
        }
        let interval = u64::try_from(self.loaded.poll_interval_ms).expect("checked positive");
        for i in 0..self.clusters.len() {
            let first = self.start_ms + i64::try_from(self.clusters[i].rng.below(interval)).expect("an interval");
            self.push(first, Ev::Poll(i));
        }
    }

    fn poll(&mut self, i: usize, now_ms: i64) -> Result<()> {
        let interval = Duration::from_millis(u64::try_from(self.loaded.poll_interval_ms).expect("checked positive"));
        let (mut cx, clusters) = self.cx(now_ms, false);
        let c = &mut clusters[i];
        let pause = pull_agent::config::jittered(interval, c.rng.unit());
        let offline = now_ms < c.offline_until_ms || c.rng.chance(c.offline_p);
        if offline {
            cx.counters.offline_polls += 1;
        } else {
            cx.counters.polls += 1;
            c.poll(&mut cx)?;
        }
        let next = now_ms + i64::try_from(pause.as_millis()).expect("a poll interval fits");
        self.push(next, Ev::Poll(i));
        Ok(())
    }

    fn sample(&mut self, now_ms: i64) -> Result<()> {
        for series in &mut self.counters.series {
            let head = self.world.git.head(&series.repository, &series.branch);
            let on = head.and_then(|h| series.running.get(&h)).copied().unwrap_or(0);
            series.points.push((on, series.members));
        }
        self.queued.push(self.counters.queued);
        // Offline as the hub's index counts it: the last report it took is older than the
        // threshold (while the hub is down, nobody counts).
        let cutoff = now_ms - hub_index::index::OFFLINE_AFTER_MS;
        let offline = self.clusters.iter().filter(|c| c.last_taken_ms < cutoff).count();
        if now_ms >= self.hub_down_until_ms {
            self.offline.push(offline);
        }
        // The hub's halts, as its dashboard would show them: the progress of every placement
        // with a halt (computed again only when what decides the halt changed).
        if now_ms >= self.hub_down_until_ms {
            for environment in ["dev", "prod"] {
                let Some(key) = self.world.git.branch_ix(FLEET_REPOSITORY, environment) else { continue };
                let fleet = self.world.fleet(self.world.git.branch_at(key).head)?;
                for (i, p) in fleet.placements.iter().enumerate() {
                    if p.spec.rollout.as_ref().is_some_and(|r| r.halt.is_some()) {
                        self.hub.progress(&mut self.world, (key, i), environment, now_ms)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn timeline(&mut self, i: usize, now_ms: i64) -> Result<()> {
        let event: Event = self.loaded.scenario.timeline[i].clone();
        let at_s = (now_ms - self.start_ms) / 1_000;
        let now = now_ms / 1_000;
        let field = |f: &str| format!("timeline[{i}].{f}");
        let mut commit = None;
        let text = if let Some(c) = &event.commit {
            let mut message =
                c.message.clone().unwrap_or_else(|| event.name.clone().unwrap_or_else(|| "a change".into()));
            if let Some(o) = &c.override_ {
                // The trailer ends the message, in a paragraph of its own (`git commit -m … -m …`).
                message = format!("{message}\n\n{}: {}", flotilla_core::rollout::OVERRIDE_TRAILER, o.reason);
            }
            let ix = self
                .world
                .git
                .commit(&c.repository, &c.branch, &c.files, &c.replace, &message, now)
                .with_context(|| field("commit"))?;
            if c.unhealthy {
                self.world.mark_unhealthy(ix);
            }
            if let Some(signer) = c.override_.as_ref().and_then(|o| o.signed_by.as_deref()) {
                self.world.sign(ix, signer);
            }
            commit = Some(ix);
            let bad = if c.unhealthy { " (its objects never become healthy)" } else { "" };
            let summary = message.lines().next().unwrap_or_default();
            let trailer = c.override_.as_ref().map_or_else(String::new, |o| {
                let signed =
                    o.signed_by.as_deref().map_or_else(|| "unsigned".to_string(), |s| format!("signed by {s}"));
                format!(" (Flotilla-Override: {}; {signed})", o.reason)
            });
            format!("commit to {} {}: {summary}{bad}{trailer}", c.repository, c.branch)
        } else if let Some(p) = &event.promote {
            commit =
                Some(self.world.git.promote(&p.repository, p.fast_forward, now).with_context(|| field("promote"))?);
            if p.fast_forward {
                format!("promote {}: fast-forward prod to dev", p.repository)
            } else {
                format!("promote {}: merge dev into prod", p.repository)
            }
        } else if let Some(r) = &event.revert {
            commit = Some(self.world.git.revert(&r.repository, &r.branch, now).with_context(|| field("revert"))?);
            format!("revert the last change of {} {}", r.repository, r.branch)
        } else if let Some(o) = &event.offline {
            let for_ms = scenario::duration_ms(&o.for_).expect("checked");
            let share = o.share.clone().unwrap_or_default();
            let chosen = choose(&mut self.rng, &self.groups, o.group.as_deref(), &share, o.clusters)?;
            for &c in &chosen {
                self.clusters[c].offline_until_ms = now_ms + for_ms;
            }
            format!("{} clusters{} go offline for {}", chosen.len(), of_group(o.group.as_deref()), o.for_)
        } else if let Some(o) = &event.git_outage {
            let for_ms = scenario::duration_ms(&o.for_).expect("checked");
            self.git_down_until_ms = now_ms + for_ms;
            self.outages.push(Outage { what: "git server down", from_s: at_s, to_s: at_s + for_ms / 1_000 });
            format!("the git server is down for {}", o.for_)
        } else if let Some(o) = &event.hub_outage {
            let for_ms = scenario::duration_ms(&o.for_).expect("checked");
            self.hub_down_until_ms = now_ms + for_ms;
            self.outages.push(Outage { what: "hub down", from_s: at_s, to_s: at_s + for_ms / 1_000 });
            format!("the hub is down for {}", o.for_)
        } else if let Some(d) = &event.drift {
            let chosen = choose(&mut self.rng, &self.groups, d.group.as_deref(), &d.share, None)?;
            for &c in &chosen {
                self.clusters[c].drift.insert(d.placement.clone());
            }
            format!(
                "{} clusters{}: objects of {} edited by hand",
                chosen.len(),
                of_group(d.group.as_deref()),
                d.placement
            )
        } else if let Some(v) = &event.violation {
            let until = v.for_.as_deref().map(|f| now_ms + scenario::duration_ms(f).expect("checked"));
            let chosen = choose(&mut self.rng, &self.groups, v.group.as_deref(), &v.share, None)?;
            for &c in &chosen {
                self.clusters[c].violations.insert(v.policy.clone(), until);
            }
            format!("{} clusters{}: policy {} broken by hand", chosen.len(), of_group(v.group.as_deref()), v.policy)
        } else if let Some(s) = &event.skew {
            let by = scenario::duration(&s.by).expect("checked");
            let chosen = choose(&mut self.rng, &self.groups, s.group.as_deref(), &s.share, None)?;
            for &c in &chosen {
                self.clusters[c].skew_s = by;
            }
            format!("{} clusters{}: clocks off by {}", chosen.len(), of_group(s.group.as_deref()), s.by)
        } else {
            unreachable!("a scenario event has exactly one kind (checked when read)")
        };
        if let (Some(name), Some(ix)) = (&event.name, commit) {
            self.world.git.name_commit(ix, name);
            self.named.insert(name.clone(), ix);
        }
        self.happened.push(Happened { at_s, text, commit });
        Ok(())
    }
}

fn of_group(group: Option<&str>) -> String {
    group.map(|g| format!(" of {g}")).unwrap_or_default()
}
