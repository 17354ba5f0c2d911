//! What a run says: the summary (`summary.md`, also printed), the convergence chart
//! (`convergence.svg`) and the verdict of each expectation. Both files are the same bytes for
//! the same scenario, seed and cluster count, except the summary's last line (`wall time`).
//! The chart is written with `maud` templates, which escape every value (as the hub's dashboard
//! is); the summary is Markdown for people and is not escaped.

use std::fmt::Write as _;

use flotilla_core::fleet::FLEET_REPOSITORY;
use flotilla_core::rollout;
use maud::{Markup, html};

use crate::git::CommitIx;
use crate::scenario::{self, Expectation};
use crate::sim::{Run, SAMPLE_MS};

/// One row of the convergence table: a series whose branch moved during the run.
#[derive(Debug, Clone)]
pub struct Row {
    pub series: usize,
    pub clusters: usize,
    pub target: CommitIx,
    /// Seconds from when the target reached the branch until 50, 90, 99 and 100% ran it.
    pub times: [Option<i64>; 4],
}

/// An expectation and how it went.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub what: String,
    pub ok: bool,
    pub found: String,
}

/// The summary, the chart and the verdicts.
#[derive(Debug, Clone)]
pub struct Output {
    pub summary: String,
    pub svg: String,
    pub verdicts: Vec<Verdict>,
}

impl Output {
    pub fn failed(&self) -> Vec<&Verdict> {
        self.verdicts.iter().filter(|v| !v.ok).collect()
    }
}

const PERCENTS: [u64; 4] = [50, 90, 99, 100];

/// The series whose branch head moved, with their final commit and convergence times.
pub fn rows(run: &Run) -> Vec<Row> {
    let mut rows = Vec::new();
    for (s, series) in run.counters.series.iter().enumerate() {
        let Some(branch) = run.world.git.branch(&series.repository, &series.branch) else { continue };
        let target = branch.head;
        let key = (series.repository.clone(), series.branch.clone());
        if run.initial_heads.get(&key) == Some(&target) {
            continue;
        }
        let mut clusters = 0;
        let mut times = Vec::new();
        for c in &run.clusters {
            for p in c.placements.iter().filter(|p| p.series == Some(s)) {
                clusters += 1;
                if p.applied == Some(target) {
                    times.push(p.applied_at_ms);
                }
            }
        }
        times.sort_unstable();
        // When the final commit reached the branch: a fast-forwarded one was made long before.
        let landed_ms = branch.arrived[0] * 1_000;
        let at = |percent: u64| -> Option<i64> {
            let need = usize::try_from((percent * clusters as u64).div_ceil(100)).expect("a count").max(1);
            times.get(need - 1).map(|t| (t - landed_ms).max(0) / 1_000)
        };
        rows.push(Row { series: s, clusters, target, times: PERCENTS.map(at) });
    }
    rows.sort_by_key(|r| {
        let s = &run.counters.series[r.series];
        (s.environment != "prod", s.environment.clone(), s.placement.clone(), s.wave_index)
    });
    rows
}

/// A duration in seconds as `4h05m`, `12m30s` or `40s`.
pub fn duration(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3_600, seconds % 3_600 / 60, seconds % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `12,345` (also the benchmarks' tables).
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

fn bytes(n: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a size for people")]
    let f = n as f64;
    if n >= 1 << 30 {
        format!("{:.2} GiB", f / f64::from(1_u32 << 30))
    } else if n >= 1 << 20 {
        format!("{:.2} MiB", f / f64::from(1_u32 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn commit_label(run: &Run, ix: CommitIx) -> String {
    let info = run.world.git.commit_info(ix);
    match &info.name {
        Some(name) => format!("{name} ({})", &info.hex[..12]),
        None => info.hex[..12].to_string(),
    }
}

/// Makes the summary, the chart and the verdicts of a run.
pub fn render(run: &Run, clusters: usize, seed: u64) -> Output {
    let rows = rows(run);
    let verdicts = verdicts(run);
    let summary = summary(run, &rows, &verdicts, clusters, seed);
    let svg = svg(run, &rows);
    Output { summary, svg, verdicts }
}

fn summary(run: &Run, rows: &[Row], verdicts: &[Verdict], clusters: usize, seed: u64) -> String {
    let mut out = String::new();
    header(&mut out, run, clusters, seed);
    convergence(&mut out, run, rows);
    load(&mut out, run);
    reports(&mut out, run);
    halts(&mut out, run);
    overrides(&mut out, run);
    expectations_and_cost(&mut out, run, verdicts);
    out
}

fn header(out: &mut String, run: &Run, clusters: usize, seed: u64) {
    let scenario = &run.loaded.scenario;
    let _ = writeln!(out, "# Simulation: {}\n", scenario.name);
    if !scenario.description.trim().is_empty() {
        let _ = writeln!(out, "{}\n", scenario.description.trim());
    }
    let interval = duration(run.loaded.poll_interval_ms / 1_000);
    let _ = writeln!(
        out,
        "{} clusters, seed {seed}, from {} for {}, polling every {interval} ±20%.\n",
        count(clusters as u64),
        scenario.start,
        scenario.duration
    );
    let groups: Vec<String> = run.groups.iter().map(|g| format!("{} {}", count(g.count as u64), g.name)).collect();
    let _ = writeln!(out, "Groups: {}.\n", groups.join(", "));

    let _ = writeln!(out, "## Timeline\n");
    for h in &run.happened {
        let commit = h.commit.map(|ix| format!(" → {}", commit_label(run, ix))).unwrap_or_default();
        let _ = writeln!(out, "- {}: {}{commit}", duration(h.at_s), h.text);
    }
}

fn convergence(out: &mut String, run: &Run, rows: &[Row]) {
    let _ = writeln!(out, "\n## Convergence on the final commit\n");
    let _ = writeln!(
        out,
        "From the moment the branch's final commit landed until that share of the wave's clusters ran it (`never`: not within the run).\n"
    );
    if rows.is_empty() {
        let _ = writeln!(out, "No branch that a placement reads moved.");
    } else {
        let _ = writeln!(out, "| environment | placement | wave | clusters | final commit | 50% | 90% | 99% | 100% |");
        let _ = writeln!(out, "|---|---|---|---:|---|---:|---:|---:|---:|");
        for r in rows {
            let s = &run.counters.series[r.series];
            let times: Vec<String> = r.times.iter().map(|t| t.map_or_else(|| "never".to_string(), duration)).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                s.environment,
                s.placement,
                s.wave,
                count(r.clusters as u64),
                commit_label(run, r.target),
                times.join(" | ")
            );
        }
    }
}

fn load(out: &mut String, run: &Run) {
    let c = &run.counters;
    let _ = writeln!(out, "\n## Load\n");
    let seconds = run.loaded.duration_s.max(1);
    let rate = |n: u64| {
        #[expect(clippy::cast_precision_loss, reason = "a rate for people")]
        let r = n as f64 / seconds as f64;
        format!("{r:.1}")
    };
    let peak = |per_minute: &[u32]| format!("{:.1}", f64::from(per_minute.iter().copied().max().unwrap_or(0)) / 60.0);
    let _ = writeln!(
        out,
        "| | requests | mean per second | peak per second (busiest minute) | bytes | refused while down |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| git server | {} ({} fetches) | {} | {} | {} from git | {} |",
        count(c.git_requests),
        count(c.git_fetches),
        rate(c.git_requests),
        peak(&c.git_per_minute),
        bytes(c.git_bytes),
        count(c.git_failed)
    );
    let _ = writeln!(
        out,
        "| hub | {} ({} reports, {} halt queries) | {} | {} | {} to the hub | {} |",
        count(c.hub_reports + c.hub_queries),
        count(c.hub_reports),
        count(c.hub_queries),
        rate(c.hub_reports + c.hub_queries),
        peak(&c.hub_per_minute),
        bytes(c.hub_bytes),
        count(c.hub_failed)
    );
    let _ = writeln!(out, "\nPolls: {} made, {} skipped while offline.", count(c.polls), count(c.offline_polls));
}

fn reports(out: &mut String, run: &Run) {
    let c = &run.counters;
    let _ = writeln!(out, "\n## Reports\n");
    let queued: u64 = run.clusters.iter().map(|c| c.queued() as u64).sum();
    let lost = lost(run);
    let _ = writeln!(out, "| made | taken by the hub | superseded in a spool | queued at the end | lost |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} |",
        count(c.made),
        count(c.hub_reports),
        count(c.superseded),
        count(queued),
        count(lost)
    );
    let _ = writeln!(
        out,
        "\nSuperseded: dropped from an agent's spool because a later report repeats it (the agent's rule: the newest report, and every change of policy results, are kept). Most reports waiting in spools at once: {}; most in one spool: {}; invalid reports: {}; most clusters the hub counted offline at once: {}.",
        count(run.queued.iter().copied().max().unwrap_or(0) as u64),
        count(c.max_queued as u64),
        count(c.invalid),
        count(run.offline.iter().copied().max().unwrap_or(0) as u64),
    );

    let _ = writeln!(
        out,
        "\nWhat hands did: {} placement reports listed drifted objects, {} policy results were reported non-compliant, enforcing policies fixed {} objects.",
        count(c.drift_reported),
        count(c.non_compliant),
        count(c.remediations)
    );
}

fn halts(out: &mut String, run: &Run) {
    let c = &run.counters;
    let standings: Vec<String> = hub_index::api::Standing::ALL
        .iter()
        .map(|s| format!("{} {}", count(run.index.tally().by_standing[s.slot()] as u64), s.name()))
        .collect();
    let _ = writeln!(out, "\n## The hub at the end\n");
    let _ = writeln!(out, "Clusters by standing, as its index counts them: {}.", standings.join(", "));
    let _ = writeln!(out, "\n## Halts the hub published\n");
    if run.hub.halts.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for (environment, placement, hex) in &run.hub.halts {
        let label = run.world.git.lookup(hex).map_or_else(|| hex[..12].to_string(), |ix| commit_label(run, ix));
        let _ = writeln!(out, "- {environment} {placement}: {label}");
    }
    let _ = writeln!(
        out,
        "\nPolls of a later wave that kept their commit because the hub halted the next one: {}; because the hub could not be asked (`whenHubUnreachable: wait`): {}.",
        count(c.held_by_halt),
        count(c.held_unreachable)
    );
}

/// The `Flotilla-Override:` trailers clusters met in a freeze (only when some did).
fn overrides(out: &mut String, run: &Run) {
    let seen = &run.counters.overrides;
    if seen.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Overrides met in a freeze\n");
    let _ = writeln!(out, "| target | commit | clusters it passed (report's `overrides`) | clusters that ignored it |");
    let _ = writeln!(out, "|---|---|---:|---:|");
    for ((target, commit), (passed, ignored)) in seen {
        let _ =
            writeln!(out, "| {target} | {} | {} | {} |", commit_label(run, *commit), count(*passed), count(*ignored));
    }
}

fn expectations_and_cost(out: &mut String, run: &Run, verdicts: &[Verdict]) {
    let _ = writeln!(out, "\n## Expectations\n");
    if verdicts.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for v in verdicts {
        let mark = if v.ok { "ok" } else { "FAILED" };
        let _ = writeln!(out, "- {mark}: {}: {}", v.what, v.found);
    }

    let _ = writeln!(out, "\n## Cost\n");
    let _ = writeln!(
        out,
        "{} renders, {} substitutions, {} rollout progress computations at the hub.",
        count(run.world.renders),
        count(run.world.substitutions),
        count(run.hub.computations)
    );
    let _ = writeln!(
        out,
        "\nwall time: {:.1} s ({:.1} s to build git and start the clusters)",
        run.wall.as_secs_f64(),
        run.warm_wall.as_secs_f64()
    );
}

/// Reports made and neither taken, superseded nor still queued.
pub fn lost(run: &Run) -> u64 {
    let c = &run.counters;
    let queued: u64 = run.clusters.iter().map(|c| c.queued() as u64).sum();
    c.made.saturating_sub(c.hub_reports + c.superseded + queued)
}

fn verdicts(run: &Run) -> Vec<Verdict> {
    run.loaded.scenario.expect.iter().map(|e| verdict(run, e)).collect()
}

fn verdict(run: &Run, e: &Expectation) -> Verdict {
    if let Some(max) = e.reports_lost {
        let lost = lost(run);
        return Verdict { what: format!("reports lost at most {max}"), ok: lost <= max, found: format!("{lost} lost") };
    }
    if let Some(c) = &e.converged {
        let by = scenario::duration(&c.by).unwrap_or(0);
        let at_ms = (run.loaded.start + by) * 1_000;
        let wave = c.wave.as_deref().map_or_else(String::new, |w| format!(" wave {w}"));
        let (bound, at_least) = match (&c.at_least, &c.at_most) {
            (Some(p), _) => (p.clone(), true),
            (None, Some(p)) => (p.clone(), false),
            (None, None) => (String::new(), true),
        };
        let what = format!(
            "{} {}{wave} {} {bound} on the final commit by {}",
            c.environment,
            c.placement,
            if at_least { "at least" } else { "at most" },
            c.by
        );
        let series: Vec<usize> = run
            .counters
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.environment == c.environment
                    && s.placement == c.placement
                    && c.wave.as_ref().is_none_or(|w| *w == s.wave)
            })
            .map(|(i, _)| i)
            .collect();
        if series.is_empty() {
            return Verdict { what, ok: false, found: "no cluster runs that placement in that wave".into() };
        }
        let (mut on, mut all) = (0_u64, 0_u64);
        for s in &series {
            let info = &run.counters.series[*s];
            let target = run.world.git.head(&info.repository, &info.branch);
            for cl in &run.clusters {
                for p in cl.placements.iter().filter(|p| p.series == Some(*s)) {
                    all += 1;
                    if p.applied.is_some() && p.applied == target && p.applied_at_ms <= at_ms {
                        on += 1;
                    }
                }
            }
        }
        #[expect(clippy::cast_precision_loss, reason = "a share")]
        let share = on as f64 / all.max(1) as f64;
        let limit = scenario::percent(&bound).unwrap_or(0.0);
        let ok = if at_least { share + 1e-9 >= limit } else { share <= limit + 1e-9 };
        return Verdict { what, ok, found: format!("{on} of {all} ({:.1}%)", share * 100.0) };
    }
    if let Some(n) = &e.never_runs {
        let what = format!("{} never runs {} beyond wave {}", n.placement, n.commit, n.beyond);
        let Some(&ix) = run.named.get(&n.commit) else {
            return Verdict { what, ok: false, found: "the timeline never made that commit".into() };
        };
        let tree = &run.world.git.commit_info(ix).tree;
        let Some(beyond) = wave_index(run, &n.placement, &n.beyond) else {
            return Verdict { what, ok: false, found: format!("placement {} has no wave {}", n.placement, n.beyond) };
        };
        return match run.counters.reached.get(&(n.placement.clone(), tree.clone())) {
            None => Verdict { what, ok: true, found: "no cluster ran it".into() },
            Some(highest) => Verdict {
                what,
                ok: *highest <= beyond,
                found: format!("ran as far as wave {}", wave_name(run, &n.placement, *highest)),
            },
        };
    }
    if let Some(h) = &e.hub_halted {
        let what =
            format!("the hub {} {} of {}", if h.halted { "halts" } else { "never halts" }, h.commit, h.placement);
        let Some(&ix) = run.named.get(&h.commit) else {
            return Verdict { what, ok: false, found: "the timeline never made that commit".into() };
        };
        let tree = &run.world.git.commit_info(ix).tree;
        let halted = run.hub.halts.iter().any(|(_, p, hex)| {
            *p == h.placement && run.world.git.lookup(hex).is_some_and(|c| run.world.git.commit_info(c).tree == *tree)
        });
        let found = if halted { "published a halt" } else { "published none" };
        return Verdict { what, ok: halted == h.halted, found: found.into() };
    }
    if let Some(r) = &e.runs {
        return runs(run, r);
    }
    if let Some(o) = &e.override_ {
        return override_seen(run, o);
    }
    Verdict { what: "an empty expectation".into(), ok: false, found: "nothing to check".into() }
}

/// An `override` expectation: whether clusters ran the commit through a freeze, or ignored its
/// override.
fn override_seen(run: &Run, o: &scenario::OverrideSeen) -> Verdict {
    let what = format!(
        "the Flotilla-Override of {} on {} {}",
        o.commit,
        o.target,
        if o.passed { "passes the freeze" } else { "is ignored" }
    );
    let Some(&ix) = run.named.get(&o.commit) else {
        return Verdict { what, ok: false, found: "the timeline never made that commit".into() };
    };
    let (passed, ignored) = run.counters.overrides.get(&(o.target.clone(), ix)).copied().unwrap_or_default();
    let ok = if o.passed { passed > 0 } else { passed == 0 && ignored > 0 };
    let found = format!("{} clusters ran it through a freeze, {} said it was ignored", count(passed), count(ignored));
    Verdict { what, ok, found }
}

/// A `runs` expectation: the share of a wave that ran the named commit, or a newer one of its
/// branch, by a time.
fn runs(run: &Run, r: &scenario::Runs) -> Verdict {
    let by = scenario::duration(&r.by).unwrap_or(0);
    let at_ms = (run.loaded.start + by) * 1_000;
    let wave = r.wave.as_deref().map_or_else(String::new, |w| format!(" wave {w}"));
    let (bound, at_least) = match (&r.at_least, &r.at_most) {
        (Some(p), _) => (p.clone(), true),
        (None, Some(p)) => (p.clone(), false),
        (None, None) => (String::new(), true),
    };
    let what = format!(
        "{} {}{wave} {} {bound} on {} (or newer) by {}",
        r.environment,
        r.target,
        if at_least { "at least" } else { "at most" },
        r.commit,
        r.by
    );
    let Some(&target) = run.named.get(&r.commit) else {
        return Verdict { what, ok: false, found: "the timeline never made that commit".into() };
    };
    // What each cluster ran at `at_ms`, from its log of (commit, since).
    let at = |log: &[(CommitIx, i64)]| log.iter().rev().find(|(_, t)| *t <= at_ms).map(|(c, _)| *c);
    // `commit` is the target or newer on `branch`: the target is in its first-parent history.
    let newer = |branch: Option<&crate::git::Branch>, commit: CommitIx| {
        commit == target
            || branch.is_some_and(|b| {
                let position = |c: CommitIx| b.history.iter().position(|h| *h == c);
                matches!((position(commit), position(target)), (Some(c), Some(t)) if c <= t)
            })
    };
    let (mut on, mut all) = (0_u64, 0_u64);
    if r.target == FLEET_REPOSITORY {
        let branch = run.world.git.branch(FLEET_REPOSITORY, &r.environment);
        let rollout = branch
            .and_then(|b| run.world.fleet_at(b.head))
            .and_then(|f| f.own.as_ref())
            .and_then(|o| o.spec.rollout.as_ref())
            .filter(|r| !r.waves.is_empty());
        for c in run.clusters.iter().filter(|c| c.identity.environment == r.environment) {
            if let Some(w) = &r.wave {
                let Some(rollout) = rollout else {
                    return Verdict { what, ok: false, found: "the fleet repository has no rollout".into() };
                };
                if rollout::wave_of(rollout, FLEET_REPOSITORY, &c.identity).is_none_or(|of| of.name != *w) {
                    continue;
                }
            }
            all += 1;
            if at(&c.fleet_log).is_some_and(|commit| newer(branch, commit)) {
                on += 1;
            }
        }
    } else {
        for (s, series) in run.counters.series.iter().enumerate() {
            if series.environment != r.environment
                || series.placement != r.target
                || r.wave.as_ref().is_some_and(|w| *w != series.wave)
            {
                continue;
            }
            let branch = run.world.git.branch(&series.repository, &series.branch);
            for c in &run.clusters {
                for p in c.placements.iter().filter(|p| p.series == Some(s)) {
                    all += 1;
                    if at(&p.log).is_some_and(|commit| newer(branch, commit)) {
                        on += 1;
                    }
                }
            }
        }
    }
    if all == 0 {
        return Verdict { what, ok: false, found: "no cluster runs it in that wave".into() };
    }
    #[expect(clippy::cast_precision_loss, reason = "a share")]
    let share = on as f64 / all as f64;
    let limit = scenario::percent(&bound).unwrap_or(0.0);
    let ok = if at_least { share + 1e-9 >= limit } else { share <= limit + 1e-9 };
    Verdict { what, ok, found: format!("{on} of {all} ({:.1}%)", share * 100.0) }
}

/// The placement's rollout as the prod fleet declares it at the end (else dev's).
fn rollout_of<'r>(run: &'r Run, placement: &str) -> Option<&'r flotilla_core::fleet::Rollout> {
    ["prod", "dev"].into_iter().find_map(|env| {
        let head = run.world.git.head(FLEET_REPOSITORY, env)?;
        let fleet = run.world.fleet_at(head)?;
        fleet.placement(placement)?.spec.rollout.as_ref()
    })
}

fn wave_index(run: &Run, placement: &str, wave: &str) -> Option<usize> {
    rollout_of(run, placement)?.waves.iter().position(|w| w.name == wave)
}

fn wave_name(run: &Run, placement: &str, index: usize) -> String {
    rollout_of(run, placement).and_then(|r| r.waves.get(index)).map_or_else(|| index.to_string(), |w| w.name.clone())
}

/// The chart's frame: the SVG's size, the plot area within it, and the run's length.
struct Plot {
    total_s: f64,
}

impl Plot {
    const W: f64 = 960.0;
    const H: f64 = 480.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 220.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    const WIDTH: f64 = Plot::W - Plot::LEFT - Plot::RIGHT;
    const HEIGHT: f64 = Plot::H - Plot::TOP - Plot::BOTTOM;
    /// Where the legend starts, right of the plot.
    const LEGEND: f64 = Plot::W - Plot::RIGHT + 15.0;

    /// The x of `seconds` from the start.
    #[expect(clippy::cast_precision_loss, reason = "seconds of a run fit a double")]
    fn at(&self, seconds: i64) -> f64 {
        Plot::LEFT + Plot::WIDTH * (seconds as f64 / self.total_s).clamp(0.0, 1.0)
    }

    /// The y of a share (0 to 1).
    fn share(share: f64) -> f64 {
        Plot::TOP + Plot::HEIGHT * (1.0 - share)
    }
}

/// A coordinate as the chart writes it: one decimal.
struct Px(f64);

impl std::fmt::Display for Px {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}", self.0)
    }
}

/// The fill of the deployment windows' bands and of their legend's box.
const WINDOW_FILL: &str = "#e8f4e8";

/// The convergence chart: per row's series, the share of its clusters on the branch's head at
/// each sample; outages shaded, the placement's deployment windows marked, timeline commits as
/// vertical lines.
///
/// Written with `maud`, which escapes every value, in text and attributes alike: scenario, commit
/// and wave names are free text. Elements are closed with an end tag (`maud` writes no `/>`), so
/// the file stays well-formed XML; a line break follows each line of the chart.
fn svg(run: &Run, rows: &[Row]) -> String {
    #[expect(clippy::cast_precision_loss, reason = "seconds of a run fit a double")]
    let plot = Plot { total_s: run.loaded.duration_s.max(1) as f64 };
    let (w, h) = (Plot::W, Plot::H);
    let chart = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) }
            font-family="sans-serif" font-size="12" {
            "\n"
            rect width=(w) height=(h) fill="white" {} "\n"
            text x=(Plot::LEFT) y="22" font-size="15" {
                (run.loaded.scenario.name) ": clusters on the newest commit of their branch, per wave"
            } "\n"
            (windows(run, &plot))
            @for o in &run.outages {
                (band(plot.at(o.from_s), plot.at(o.to_s), "#f4c4c4", Some("0.55")))
                text x=(Px(plot.at(o.from_s) + 3.0)) y=(Px(Plot::TOP + 14.0)) fill="#a33" { (o.what) } "\n"
            }
            (axes(run, &plot))
            (commits(run, &plot))
            (series(run, rows, &plot))
        }
        "\n"
    };
    chart.into_string()
}

/// Shades when the first placement with deployment windows (in prod's fleet at the end) may
/// take a commit.
fn windows(run: &Run, plot: &Plot) -> Markup {
    let Some(head) = run.world.git.head(FLEET_REPOSITORY, "prod") else { return html! {} };
    let Some(fleet) = run.world.fleet_at(head) else { return html! {} };
    let Some(p) = fleet.placements.iter().find(|p| !p.spec.windows.is_empty()) else { return html! {} };
    let mut open = Vec::new();
    let mut open_from = None;
    let mut t = 0;
    while t <= run.loaded.duration_s {
        match (rollout::window_open(&p.spec.windows, run.loaded.start + t), open_from) {
            (true, None) => open_from = Some(t),
            (false, Some(from)) => {
                open.push((from, t));
                open_from = None;
            }
            _ => {}
        }
        t += SAMPLE_MS / 1_000;
    }
    if let Some(from) = open_from {
        open.push((from, run.loaded.duration_s));
    }
    html! {
        @for (from, to) in open {
            (band(plot.at(from), plot.at(to), WINDOW_FILL, None))
        }
        rect x=(Px(Plot::LEGEND)) y=(Px(Plot::H - Plot::BOTTOM - 40.0)) width="12" height="12" fill=(WINDOW_FILL)
            stroke="#999" {}
        text x=(Px(Plot::LEGEND + 17.0)) y=(Px(Plot::H - Plot::BOTTOM - 30.0)) { (p.name()) " window open" } "\n"
    }
}

/// The grid, the axes' labels and the frame.
fn axes(run: &Run, plot: &Plot) -> Markup {
    let hours = run.loaded.duration_s / 3_600;
    let every = match hours {
        0..=12 => 1,
        13..=36 => 3,
        37..=96 => 6,
        _ => 24,
    };
    html! {
        @for i in 0..=4 {
            @let y = Plot::share(f64::from(i) / 4.0);
            line x1=(Px(Plot::LEFT)) y1=(Px(y)) x2=(Px(Plot::LEFT + Plot::WIDTH)) y2=(Px(y)) stroke="#ddd" {}
            text x=(Px(Plot::LEFT - 6.0)) y=(Px(y + 4.0)) text-anchor="end" { (i * 25) "%" } "\n"
        }
        @for hour in (0..=hours).step_by(every) {
            @let x = Px(plot.at(hour * 3_600));
            line x1=(x) y1=(Px(Plot::TOP)) x2=(x) y2=(Px(Plot::TOP + Plot::HEIGHT)) stroke="#ddd" {}
            text x=(x) y=(Px(Plot::TOP + Plot::HEIGHT + 16.0)) text-anchor="middle" { (hour) "h" } "\n"
        }
        text x=(Px(Plot::LEFT + Plot::WIDTH / 2.0)) y=(Px(Plot::H - 12.0)) text-anchor="middle" {
            "hours from " (run.loaded.scenario.start)
        } "\n"
        rect x=(Px(Plot::LEFT)) y=(Px(Plot::TOP)) width=(Px(Plot::WIDTH)) height=(Px(Plot::HEIGHT)) fill="none"
            stroke="#333" {} "\n"
    }
}

/// The timeline's commits as dashed lines, named from the top down; names that would touch
/// move aside.
fn commits(run: &Run, plot: &Plot) -> Markup {
    let mut last_label = f64::MIN;
    let mut lines = Vec::new();
    for happened in run.happened.iter().filter(|h| h.commit.is_some()) {
        let x = plot.at(happened.at_s);
        let label = happened.commit.and_then(|c| run.world.git.commit_info(c).name.as_deref()).map(|name| {
            last_label = (x + 4.0).max(last_label + 13.0);
            (Px(last_label), name)
        });
        lines.push((Px(x), label));
    }
    let ly = Px(Plot::TOP + 40.0);
    html! {
        @for (x, label) in &lines {
            line x1=(x) y1=(Px(Plot::TOP)) x2=(x) y2=(Px(Plot::TOP + Plot::HEIGHT)) stroke="#555"
                stroke-dasharray="4 3" {} "\n"
            @if let Some((lx, name)) = label {
                text x=(lx) y=(ly) fill="#555" transform={ "rotate(90 " (lx) " " (ly) ")" } { (name) } "\n"
            }
        }
    }
}

/// The series: the first widest, each next one narrower on top of it, so that waves that run
/// the same commit show as nested stripes rather than hiding one another.
fn series(run: &Run, rows: &[Row], plot: &Plot) -> Markup {
    const COLOURS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    html! {
        @for (n, r) in rows.iter().enumerate() {
            @let s = &run.counters.series[r.series];
            @let colour = COLOURS[n % COLOURS.len()];
            @let width = Px(1.5 + 1.5 * f64::from(u32::try_from(rows.len() - n - 1).unwrap_or(0).min(4)));
            polyline fill="none" stroke=(colour) stroke-width=(width) stroke-linejoin="round"
                points=(points(&s.points, plot)) {} "\n"
            @let ly = Plot::TOP + 10.0 + 18.0 * f64::from(u32::try_from(n).unwrap_or(0));
            line x1=(Px(Plot::LEGEND)) y1=(Px(ly)) x2=(Px(Plot::LEGEND + 20.0)) y2=(Px(ly)) stroke=(colour)
                stroke-width=(width) {}
            text x=(Px(Plot::LEGEND + 25.0)) y=(Px(ly + 4.0)) {
                (s.placement) " / " (s.wave)
                @if s.environment != "prod" { " (" (s.environment) ")" }
            } "\n"
        }
    }
}

/// A series' samples as a polyline's `points`: x,y pairs (numbers only).
fn points(samples: &[(u32, u32)], plot: &Plot) -> String {
    let mut points = String::new();
    for (i, (on, all)) in samples.iter().enumerate() {
        let share = if *all == 0 { 0.0 } else { f64::from(*on) / f64::from(*all) };
        let t = i64::try_from(i).expect("a sample index") * SAMPLE_MS / 1_000;
        let _ = write!(points, "{}{},{}", if i == 0 { "" } else { " " }, Px(plot.at(t)), Px(Plot::share(share)));
    }
    points
}

/// A band the plot's height, from `x1` to `x2`, filled with `fill` at `opacity` (none: opaque).
fn band(x1: f64, x2: f64, fill: &str, opacity: Option<&str>) -> Markup {
    html! {
        rect x=(Px(x1)) y=(Px(Plot::TOP)) width=(Px((x2 - x1).max(0.5))) height=(Px(Plot::HEIGHT)) fill=(fill)
            fill-opacity=[opacity] {} "\n"
    }
}
