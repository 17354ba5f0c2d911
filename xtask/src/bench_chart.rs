//! `cargo xtask bench chart [--quick]`: the real charts of `../shared/helm-charts` rendered by
//! flotilla's Helm renderer (`flotilla_core::helm`, in this process, optimized) and by Helm 4's
//! own Go SDK (`helm-python-sdk`'s libhelm, in one Python process), in the same run, as the
//! corpus was recorded (`helm template flotilla CHART --namespace default`, the chart's default
//! values). Each round reads the chart from disk and renders it, as `helm template` does; per
//! chart the median of each and their ratio.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_core::helm;
use flotilla_core::snapshot::Snapshot;

/// Helm's side: each chart loaded and rendered `rounds` times; the median seconds per chart, as
/// JSON. The chart names come on stdin.
const HELM: &str = r#"
import json, statistics, sys, time
import helm_python as helm
root, rounds = sys.argv[1], int(sys.argv[2])
medians = {}
for name in sys.stdin.read().split():
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        helm.Chart.load(f"{root}/{name}").render(values={}, name="flotilla", namespace="default")
        times.append(time.perf_counter() - started)
    medians[name] = statistics.median(times)
print(json.dumps(medians))
"#;

/// The benchmark's table, as Markdown.
pub fn report(quick: bool) -> Result<String> {
    if cfg!(debug_assertions) {
        // `cargo xtask` builds without optimizations: measure core's code as it ships.
        return crate::again_optimized(true);
    }
    let root = crate::root().join("../shared/helm-charts");
    let list = std::fs::read_to_string(root.join("cases.txt"))
        .with_context(|| format!("reading {} (the Helm chart corpus)", root.join("cases.txt").display()))?;
    let cases: Vec<&str> = list.split_whitespace().collect();
    let rounds = if quick { 3 } else { 11 };
    eprintln!("bench: {} charts, {rounds} rounds each: Helm's Go SDK", cases.len());
    let helm_s = helm_medians(&root, &cases, rounds)?;
    eprintln!("bench: the same charts: flotilla");
    let options = helm::Options { release_name: "flotilla".into(), ..helm::Options::default() };
    let mut out = format!(
        "Each chart of `../shared/helm-charts` read from disk and rendered as `helm template flotilla CHART \
         --namespace default` does, {rounds} rounds: flotilla's renderer in this process (optimized), Helm 4.2's \
         Go SDK through `helm-python-sdk` (`Chart.load` + `render`, in one Python process). Medians, milliseconds.\n\n\
         | chart | templates | flotilla ms | Helm SDK ms | Helm ÷ flotilla |\n|---|---:|---:|---:|---:|\n"
    );
    let (mut ours_total, mut helm_total) = (0.0, 0.0);
    for name in &cases {
        let mut times = Vec::with_capacity(rounds);
        let mut templates = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let snapshot = folder(&root.join(name))?;
            let rendered = helm::render(&snapshot, "", &options).with_context(|| format!("rendering {name}"))?;
            times.push(started.elapsed().as_secs_f64());
            templates = rendered.templates.len();
        }
        let ours = median(&mut times);
        let theirs = *helm_s.get(*name).with_context(|| format!("Helm's SDK did not time {name}"))?;
        ours_total += ours;
        helm_total += theirs;
        let _ =
            writeln!(out, "| {name} | {templates} | {:.2} | {:.2} | {:.1}× |", ours * 1e3, theirs * 1e3, theirs / ours);
    }
    let _ = writeln!(
        out,
        "| **all {} charts** | | **{:.1}** | **{:.1}** | **{:.1}×** |",
        cases.len(),
        ours_total * 1e3,
        helm_total * 1e3,
        helm_total / ours_total
    );
    Ok(out)
}

/// Runs [`HELM`]: the median seconds per chart.
fn helm_medians(root: &Path, cases: &[&str], rounds: usize) -> Result<BTreeMap<String, f64>> {
    let mut child = Command::new("python3")
        .args(["-c", HELM, &root.display().to_string(), &rounds.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running python3 (Helm's Go SDK: pip install helm-python-sdk)")?;
    std::io::Write::write_all(child.stdin.as_mut().expect("piped"), cases.join("\n").as_bytes())?;
    drop(child.stdin.take());
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "Helm's Go SDK (python3 -c …, pip install helm-python-sdk) failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let medians: BTreeMap<String, f64> =
        serde_json::from_slice(&output.stdout).context("reading the Helm SDK's timings")?;
    ensure!(medians.len() == cases.len(), "Helm's SDK timed {} of {} charts", medians.len(), cases.len());
    Ok(medians)
}

/// Every file below `dir`, as a chart's snapshot (`.git` skipped; the corpus has no links).
fn folder(dir: &Path) -> Result<Snapshot> {
    fn walk(root: &Path, dir: &Path, snapshot: &mut Snapshot) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, snapshot)?;
            } else {
                let rel = path.strip_prefix(root).expect("below root").to_string_lossy().replace('\\', "/");
                snapshot.insert_file(rel, std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
            }
        }
        Ok(())
    }
    let mut snapshot = Snapshot::new();
    walk(dir, dir, &mut snapshot)?;
    Ok(snapshot)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
