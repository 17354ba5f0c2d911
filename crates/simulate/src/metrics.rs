//! What the simulation counts: requests and bytes at the git server and the hub (in total and
//! per minute of the virtual clock), reports made, taken, superseded in a spool and lost, and
//! per convergence series — one per environment, placement and wave — how many clusters ran the
//! branch's head at each sample. Plain counters; [`crate::output`] turns them into the summary.

use std::collections::BTreeMap;

use crate::git::CommitIx;

/// One line of the convergence chart: the clusters of an environment that a placement selects,
/// in one wave (a placement without a rollout is one wave, `everyone`, as the hub counts it).
#[derive(Debug, Clone)]
pub struct Series {
    pub environment: String,
    pub placement: String,
    pub wave_index: usize,
    pub wave: String,
    /// The branch the placement's source is read from.
    pub repository: String,
    pub branch: String,
    /// Per sample: clusters running the branch's head then, and clusters in the series.
    pub points: Vec<(u32, u32)>,
    /// The clusters in the series, and how many run each commit, now.
    pub members: u32,
    pub running: BTreeMap<CommitIx, u32>,
}

#[derive(Debug, Default)]
pub struct Counters {
    start_ms: i64,
    /// Ref advertisements and fetches served.
    pub git_requests: u64,
    pub git_fetches: u64,
    pub git_bytes: u64,
    /// Requests that found the server down.
    pub git_failed: u64,
    /// Reports the hub took, and their JSON bytes.
    pub hub_reports: u64,
    pub hub_bytes: u64,
    /// Rollout progress asked for by agents (the halt).
    pub hub_queries: u64,
    /// Requests that found the hub down.
    pub hub_failed: u64,
    pub made: u64,
    /// Dropped from a spool because a later report said the same (the agent's rule).
    pub superseded: u64,
    /// Dropped from a full spool.
    pub lost: u64,
    /// Reports that failed `Report::validate` (the hub would refuse them).
    pub invalid: u64,
    pub max_queued: usize,
    /// Reports waiting in spools now.
    pub queued: usize,
    /// Polls of a later wave that kept their commit: the hub halted the one they would take,
    /// or could not be asked.
    pub held_by_halt: u64,
    pub held_unreachable: u64,
    /// Placement reports that listed drifted objects; policy results reported non-compliant;
    /// fixes an enforcing policy carried out.
    pub drift_reported: u64,
    pub non_compliant: u64,
    pub remediations: u64,
    pub polls: u64,
    pub offline_polls: u64,
    /// Per minute of the virtual clock.
    pub git_per_minute: Vec<u32>,
    pub hub_per_minute: Vec<u32>,
    pub series: Vec<Series>,
    series_ix: BTreeMap<(String, String, usize), usize>,
    /// (placement, tree) → the highest wave index that applied that content.
    pub reached: BTreeMap<(String, String), usize>,
    /// (target, commit) → clusters that reported its `Flotilla-Override:` passed a freeze, and
    /// clusters that said it was ignored.
    pub overrides: BTreeMap<(String, CommitIx), (u64, u64)>,
}

impl Counters {
    pub fn new(start_ms: i64) -> Counters {
        Counters { start_ms, ..Counters::default() }
    }

    fn minute(&self, now_ms: i64) -> usize {
        usize::try_from((now_ms - self.start_ms).max(0) / 60_000).unwrap_or(usize::MAX)
    }

    fn bump(per_minute: &mut Vec<u32>, minute: usize) {
        if per_minute.len() <= minute {
            per_minute.resize(minute + 1, 0);
        }
        per_minute[minute] += 1;
    }

    pub fn git_request(&mut self, now_ms: i64) {
        self.git_requests += 1;
        let m = self.minute(now_ms);
        Self::bump(&mut self.git_per_minute, m);
    }

    pub fn git_fetch(&mut self, now_ms: i64, bytes: u64) {
        self.git_fetches += 1;
        self.git_bytes += bytes;
        self.git_request(now_ms);
    }

    pub fn git_failed(&mut self, attempts: u64) {
        self.git_failed += attempts;
    }

    pub fn hub_take(&mut self, now_ms: i64, bytes: u64) {
        self.hub_reports += 1;
        self.hub_bytes += bytes;
        let m = self.minute(now_ms);
        Self::bump(&mut self.hub_per_minute, m);
    }

    pub fn hub_query(&mut self, now_ms: i64) {
        self.hub_queries += 1;
        let m = self.minute(now_ms);
        Self::bump(&mut self.hub_per_minute, m);
    }

    pub fn hub_failed(&mut self, _now_ms: i64) {
        self.hub_failed += 1;
    }

    /// The series of an environment, placement and wave (made on first use).
    pub fn series(
        &mut self,
        environment: &str,
        placement: &str,
        wave_index: usize,
        wave: &str,
        repository: &str,
        branch: &str,
    ) -> usize {
        let key = (environment.to_string(), placement.to_string(), wave_index);
        if let Some(ix) = self.series_ix.get(&key) {
            return *ix;
        }
        self.series.push(Series {
            environment: environment.to_string(),
            placement: placement.to_string(),
            wave_index,
            wave: wave.to_string(),
            repository: repository.to_string(),
            branch: branch.to_string(),
            points: Vec::new(),
            members: 0,
            running: BTreeMap::new(),
        });
        self.series_ix.insert(key, self.series.len() - 1);
        self.series.len() - 1
    }

    /// A cluster joins `series`, running `commit` (`None`: nothing yet).
    pub fn joined(&mut self, series: usize, commit: Option<CommitIx>) {
        self.series[series].members += 1;
        self.moved(series, None, commit);
    }

    /// A cluster of `series` moved from running `from` to running `to` (`None`: nothing).
    pub fn moved(&mut self, series: usize, from: Option<CommitIx>, to: Option<CommitIx>) {
        let series = &mut self.series[series];
        if let Some(from) = from {
            let n = series.running.get_mut(&from).expect("a cluster runs what it ran");
            *n -= 1;
            if *n == 0 {
                series.running.remove(&from);
            }
        }
        if let Some(to) = to {
            *series.running.entry(to).or_default() += 1;
        }
    }

    /// A cluster reported (once) that `commit`'s override of `target` passed a freeze, or was
    /// ignored.
    pub fn override_seen(&mut self, target: &str, commit: CommitIx, passed: bool) {
        let (clusters_passed, clusters_ignored) = self.overrides.entry((target.to_string(), commit)).or_default();
        if passed {
            *clusters_passed += 1;
        } else {
            *clusters_ignored += 1;
        }
    }

    /// A cluster of wave `wave` applied content `tree` of `placement`.
    pub fn reached(&mut self, placement: &str, tree: &str, wave: usize) {
        let highest = self.reached.entry((placement.to_string(), tree.to_string())).or_insert(wave);
        *highest = (*highest).max(wave);
    }
}
