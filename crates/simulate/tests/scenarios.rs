//! The example scenarios at a small size: each passes its own expectations and gives the summary
//! checked in under `tests/snapshots/` (the wall-time line aside, which depends on the machine).
//! `UPDATE_SNAPSHOTS=1 cargo test -p flotilla-simulate` writes them anew. Runs are
//! deterministic: the same seed gives the same bytes, another seed another run.

use std::path::{Path, PathBuf};

use flotilla_simulate::sim::Options;
use flotilla_simulate::{Output, simulate};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios").join(format!("{name}.yaml"))
}

/// The summary without the lines that depend on the machine.
fn stable(summary: &str) -> String {
    summary.lines().filter(|l| !l.starts_with("wall time:")).collect::<Vec<_>>().join("\n") + "\n"
}

fn run(name: &str, clusters: Option<usize>, seed: Option<u64>) -> Output {
    simulate(&scenario(name), Options { clusters, seed, every_report: false })
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
        .1
}

/// The file of a snapshot.
fn snapshot(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(file)
}

/// Whether `text` is the snapshot `file`'s (with `UPDATE_SNAPSHOTS` set: makes it so); on a
/// difference, the first line that differs.
fn matches_snapshot(file: &str, text: &str) -> Result<(), String> {
    let path = snapshot(file);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    if text == expected {
        return Ok(());
    }
    let (now, then): (Vec<&str>, Vec<&str>) = (text.lines().collect(), expected.lines().collect());
    let line = (0..now.len().max(then.len())).find(|i| now.get(*i) != then.get(*i)).unwrap_or(0);
    Err(format!(
        "{file} changed (UPDATE_SNAPSHOTS=1 writes it anew); line {}:\n  now:      {}\n  snapshot: {}",
        line + 1,
        now.get(line).unwrap_or(&"(none)"),
        then.get(line).unwrap_or(&"(none)")
    ))
}

/// Runs a scenario, checks that its expectations hold, that its summary is the snapshot's,
/// and that the chart ends where the table does.
fn check(name: &str, clusters: Option<usize>) -> Output {
    let (run, output) = simulate(&scenario(name), Options { clusters, seed: None, every_report: false })
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let failed: Vec<String> = output.failed().iter().map(|v| format!("{}: {}", v.what, v.found)).collect();
    assert!(failed.is_empty(), "{name}: expectations failed:\n{}\n\n{}", failed.join("\n"), output.summary);
    if let Err(e) = matches_snapshot(&format!("{name}.md"), &stable(&output.summary)) {
        panic!("{name}: {e}\n\n{}", output.summary);
    }
    // Each series' last point counts the clusters the table counts, and those on the final
    // commit among them.
    for row in flotilla_simulate::output::rows(&run) {
        let series = &run.counters.series[row.series];
        let converged = run
            .clusters
            .iter()
            .flat_map(|c| &c.placements)
            .filter(|p| p.series == Some(row.series) && p.applied == Some(row.target))
            .count();
        let last = series.points.last().copied().unwrap();
        assert_eq!((last.0 as usize, last.1 as usize), (converged, row.clusters), "{name}: {}", series.placement);
    }
    output
}

#[test]
fn smoke() {
    let output = check("smoke", None);
    if let Err(e) = matches_snapshot("smoke.svg", &output.svg) {
        panic!("smoke: {e}");
    }
}

#[test]
fn retail_rollout() {
    check("retail-rollout", Some(150));
}

#[test]
fn fast_forward_promotion() {
    check("fast-forward-promotion", Some(150));
}

#[test]
fn stores_offline() {
    check("stores-offline", Some(150));
}

#[test]
fn bad_commit_and_revert() {
    check("bad-commit-and-revert", Some(150));
}

#[test]
fn hub_outage() {
    check("hub-outage", Some(150));
}

#[test]
fn fleet_policy_rollout() {
    check("fleet-policy-rollout", Some(150));
}

#[test]
fn holiday_freeze_with_hotfix() {
    check("holiday-freeze-with-hotfix", Some(150));
}

/// The failed expectations of a run, as `what: found` lines.
fn failed(path: &Path, clusters: usize) -> Vec<String> {
    let output = simulate(path, Options { clusters: Some(clusters), ..Options::default() }).unwrap().1;
    output.failed().iter().map(|v| format!("{}: {}", v.what, v.found)).collect()
}

#[test]
fn without_a_bake_or_a_window_a_fleet_commit_reaches_every_store_at_once() {
    // No bake and no window: the waves follow one another at once, as if there were none.
    let (_dir, path) = edited_from("fleet-policy-rollout", |text| {
        let window = "      windows:\n      - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]\n        start: \"02:00\"\n        end: \"05:00\"\n        timeZone: America/Chicago\n";
        assert!(text.contains(window) && text.contains("        bake: 2h\n"));
        text.replace(window, "").replace("        bake: 2h\n", "        bake: 0s\n")
    });
    let failed = failed(&path, 60);
    assert!(
        failed.iter().any(
            |f| f.starts_with("prod fleet wave canary at most 0% on no-debug-nodeport (or newer) by 58m: 10 of 10")
        ),
        "{failed:?}"
    );
    assert!(failed.iter().any(|f| f.starts_with("prod fleet wave early at most 0%")), "{failed:?}");
    assert!(failed.iter().any(|f| f.starts_with("prod fleet wave everyone at most 2%")), "{failed:?}");
}

#[test]
fn an_override_nobody_signed_does_not_pass_the_freeze() {
    let (_dir, path) = edited_from("holiday-freeze-with-hotfix", |text| {
        text.replace(
            "override: {reason: INC-4711 card readers down, signedBy: ops@retail.example}",
            "override: {reason: INC-4711 card readers down}",
        )
    });
    let failed = failed(&path, 60);
    assert!(
        failed.iter().any(|f| f.starts_with("the Flotilla-Override of hotfix on bt-collector passes the freeze: 0 clusters ran it through a freeze, 59 said it was ignored")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("prod bt-collector wave canary at least 100% on hotfix (or newer) by 6h05m: 0 of")),
        "{failed:?}"
    );
}

#[test]
fn an_override_signed_by_a_key_the_agents_do_not_list_is_ignored() {
    let (_dir, path) = edited_from("holiday-freeze-with-hotfix", |text| {
        text.replace("signedBy: ops@retail.example}", "signedBy: intern@retail.example}")
    });
    let failed = failed(&path, 60);
    assert!(
        failed
            .iter()
            .any(|f| f.starts_with("the Flotilla-Override of hotfix on bt-collector passes the freeze: 0 clusters")),
        "{failed:?}"
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_another_run() {
    let a = run("smoke", Some(40), Some(11));
    let b = run("smoke", Some(40), Some(11));
    assert_eq!(stable(&a.summary), stable(&b.summary));
    assert_eq!(a.svg, b.svg);
    let c = run("smoke", Some(40), Some(12));
    assert_ne!(stable(&a.summary), stable(&c.summary));
    assert_ne!(a.svg, c.svg);
    assert!(a.svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{}", &a.svg[..80]);
    assert!(a.svg.contains("<polyline"), "the chart has lines");
}

#[test]
fn applying_every_report_to_the_hub_index_gives_the_same_run() {
    let options = Options { clusters: Some(40), seed: None, every_report: false };
    let (coalesced, a) = simulate(&scenario("smoke"), options).unwrap();
    let (every, b) = simulate(&scenario("smoke"), Options { every_report: true, ..options }).unwrap();
    assert_eq!(stable(&a.summary), stable(&b.summary));
    assert_eq!(a.svg, b.svg);
    assert_eq!(coalesced.index.tally(), every.index.tally());
    assert_eq!(every.applied, every.counters.hub_reports, "every report applied");
    assert!(coalesced.applied < every.applied / 2, "{} of {} applied", coalesced.applied, every.applied);
    // The hub's own count of offline clusters at the end is the simulator's.
    let offline = coalesced.index.tally().by_standing[hub_index::api::Standing::Offline.slot()];
    assert_eq!(Some(&offline), coalesced.offline.last());
}

/// A copy of the smoke scenario with `edit` applied, in a folder of its own (the fleet is found
/// relative to the file).
fn edited(edit: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    edited_from("smoke", edit)
}

/// A copy of scenario `name` with `edit` applied (see [`edited`]).
fn edited_from(name: &str, edit: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(scenario(name)).unwrap();
    let fleet = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet");
    let text = format!("fleet: {}\n{}", fleet.display(), edit(&text));
    let path = dir.path().join("edited.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn an_unknown_field_is_refused_naming_the_file_and_the_field() {
    let (_dir, path) = edited(|text| text.replace("  hubOutage: {for: 20m}", "  hubOutage: {for: 20m, fro: 1h}"));
    let error = format!("{:#}", simulate(&path, Options::default()).unwrap_err());
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("field timeline[4].hubOutage.fro: unknown field `fro`"), "{error}");
}

#[test]
fn an_expectation_that_does_not_hold_fails_the_run_and_says_why() {
    let (dir, path) = edited(|text| {
        format!("{text}- converged: {{placement: bt-collector, wave: everyone, atLeast: 100%, by: 30m}}\n")
    });
    let args: Vec<String> = vec![
        "--scenario".into(),
        path.display().to_string(),
        "--clusters".into(),
        "20".into(),
        "--out".into(),
        dir.path().join("out").display().to_string(),
    ];
    let error = flotilla_simulate::run(&args).unwrap_err().to_string();
    assert!(error.starts_with("1 of 8 expectations failed:"), "{error}");
    assert!(
        error.contains("prod bt-collector wave everyone at least 100% on the final commit by 30m: 0 of"),
        "{error}"
    );
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(summary.contains("- FAILED: prod bt-collector wave everyone at least 100%"), "{summary}");
    assert!(dir.path().join("out/convergence.svg").is_file());
}

#[test]
fn a_fast_forward_that_git_refuses_fails_the_run_naming_the_event() {
    // A hotfix on prod that dev lacks: prod cannot be fast-forwarded to dev.
    let (_dir, path) = edited(|text| {
        text.replace(
            "  promote: {repository: store-app}",
            "  commit:\n    repository: store-app\n    branch: prod\n    replace:\n    - {path: deploy/overlays/prod/kustomization.yaml, from: \"count: 2\", to: \"count: 3\"}\n- at: 11m\n  promote: {repository: store-app, fastForward: true}",
        )
    });
    let error = format!("{:#}", simulate(&path, Options { clusters: Some(20), ..Options::default() }).unwrap_err());
    assert!(error.contains("timeline[2].promote"), "{error}");
    assert!(error.contains("--ff-only") && error.contains("fast-forward"), "{error}");
}

/// Free text as an attacker would write it: an element, and quotes that would end an attribute
/// (as the hub's dashboard tests write it).
const EVIL: &str = "<script>alert(1)</script> \"evil\"";

/// [`EVIL`] as the chart must show it.
const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;evil&quot;";

#[test]
fn the_chart_escapes_every_text_it_shows() {
    // What a scenario names freely: itself and its commits (YAML's single quotes keep the
    // double ones).
    let (_dir, path) = edited(|text| {
        assert!(text.contains("\nname: smoke\n") && text.contains("  name: v1.5.0\n"));
        text.replace("\nname: smoke\n", &format!("\nname: '{EVIL} scenario'\n"))
            .replace("  name: v1.5.0\n", &format!("  name: '{EVIL} commit'\n"))
    });
    let (mut run, _) = simulate(&path, Options { clusters: Some(20), ..Options::default() }).unwrap();
    // The rest is checked where it is read (placement names are DNS names, environments are
    // branches, the start a time, outages the simulator's own words), so it is put into the
    // finished run: the chart must not rely on those checks.
    run.loaded.scenario.start = format!("{EVIL} start");
    for outage in &mut run.outages {
        outage.what = Box::leak(format!("{EVIL} outage").into_boxed_str());
    }
    for series in &mut run.counters.series {
        series.placement = format!("{EVIL} placement");
        series.wave = format!("{EVIL} wave");
        if series.environment != "prod" {
            series.environment = format!("{EVIL} environment");
        }
    }
    let svg = flotilla_simulate::output::render(&run, 20, 5).svg;
    assert!(!svg.contains("<script"), "a script element: {svg}");
    assert!(!svg.contains("\"evil\""), "an unescaped quote: {svg}");
    for field in ["scenario", "commit", "start", "outage", "placement", "wave", "environment"] {
        assert!(svg.contains(&format!("{ESCAPED} {field}")), "the {field} is not shown escaped: {svg}");
    }
}
