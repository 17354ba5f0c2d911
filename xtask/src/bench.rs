//! `cargo xtask bench render [--quick] [--size N] [--case NAME]`: our renderer against `kubectl kustomize`, whole process.
//!
//! It generates realistic kustomizations (a base of Deployments, Services and ConfigMaps and a
//! `prod` overlay that uses most of the supported fields) at 1,000 and 10,000 rendered objects,
//! in two cases: `overlay`, that tree as it is, and `replacements-vars`, the same objects wired
//! together with `replacements` and `vars` in numbers that grow with the objects (three
//! replacements and two vars per app), so their cost is measured rather than assumed. For each
//! case and size it checks that `pull-agent render DIR` prints exactly what `kubectl kustomize
//! DIR` prints, then times both tools, alternating them each round, and records each run's peak
//! RSS. It measures what an operator waits for (process start, reading files, rendering,
//! printing), not the renderer's inner loop; it is not a micro-benchmark and does not run in CI.
//!
//! Peak RSS comes from GNU `/usr/bin/time -f %M`, which reads `ru_maxrss` from `wait4` on the
//! child: the workspace forbids `unsafe`, so calling `wait4` ourselves is not an option, and
//! `getrusage(RUSAGE_CHILDREN)` only reports the maximum over all children ever waited for.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail, ensure};
use flotilla_simulate::output::count;

/// GNU time; its `-f %M` is the child's peak resident set size in KiB.
const TIME: &str = "/usr/bin/time";
/// The image every app container uses; the overlay retags it.
const APP_IMAGE: &str = "registry.example.com/shop/app";
/// The wall-clock one size of one case may spend on its rounds, the checking round included.
/// kubectl kustomize takes a few seconds at 1,000 objects but over a quarter of an hour at 10,000
/// (it grows much faster than linearly), so 11 rounds there would take over three hours; a size
/// that does not fit gets fewer rounds, and when not even one fits after the checking round, that
/// round's runs are the figures (the table says how many runs each figure has).
const ROUNDS_BUDGET: Duration = Duration::from_secs(15 * 60);

/// What a generated tree exercises. Both render to the same number of objects, so their figures
/// compare: the difference is what `replacements` and `vars` cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The base and the `prod` overlay: prefixes, labels, patches, images, a generator.
    Overlay,
    /// The same tree, with three `replacements` and two `vars` per app in the base (wildcards,
    /// `select`/`reject`, delimiters, `create`) and one replacement over every Deployment in the
    /// overlay.
    ReplacementsVars,
}

impl Case {
    pub const ALL: [Case; 2] = [Case::Overlay, Case::ReplacementsVars];

    pub fn name(self) -> &'static str {
        match self {
            Case::Overlay => "overlay",
            Case::ReplacementsVars => "replacements-vars",
        }
    }

    fn parse(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// `cargo xtask bench render`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// 1,000 objects, both cases, 3 rounds.
    #[arg(long)]
    quick: bool,
    /// One size (objects; `1,000` may be written so), with the same number of rounds.
    #[arg(long, value_parser = |n: &str| n.replace(',', "").parse::<usize>().map_err(|e| e.to_string()))]
    size: Option<usize>,
    /// One case: overlay or replacements-vars.
    #[arg(long, value_parser = |name: &str| Case::parse(name).ok_or("overlay or replacements-vars"))]
    case: Option<Case>,
}

pub fn run(args: &RenderArgs) -> Result<()> {
    let cases = args.case.map_or_else(|| Case::ALL.to_vec(), |case| vec![case]);
    print!("{}", render(args.quick, args.size, &cases)?);
    Ok(())
}

/// One tool under test: how to run it on a folder.
struct Tool {
    name: &'static str,
    program: PathBuf,
    args: &'static [&'static str],
}

/// Wall-clock time and peak RSS of one run.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    peak_kib: u64,
}

/// The summary of one tool at one size in one case.
struct Summary {
    case: Case,
    objects: usize,
    runs: usize,
    tool: &'static str,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    median_rss_mib: f64,
}

/// Measures and returns the results as Markdown (for the terminal and BENCHMARKS.md). Without
/// `kubectl` in `PATH` it measures our renderer alone and says why.
pub fn render(quick: bool, only: Option<usize>, cases: &[Case]) -> Result<String> {
    ensure!(
        Path::new(TIME).exists(),
        "{TIME} is missing: it measures each run's peak memory (install it with `apt-get install -y time`)"
    );
    let kubectl = match kubectl_version() {
        Ok(version) => {
            eprintln!("bench: reference: {version}");
            Some((Tool { name: "kubectl kustomize", program: PathBuf::from("kubectl"), args: &["kustomize"] }, version))
        }
        Err(reason) => {
            eprintln!("bench: the comparison with kubectl kustomize is skipped: {reason:#}");
            None
        }
    };
    crate::cargo(&["build", "--release", "--quiet", "--package", "pull-agent"])?;
    let ours = Tool { name: "pull-agent render", program: release_binary("pull-agent"), args: &["render"] };

    let (runs, sizes): (usize, &[usize]) = if quick { (3, &[1_000]) } else { (11, &[1_000, 10_000]) };
    // `--size N` measures one size, with the same number of rounds.
    let only = only.map(|n| [n]);
    let sizes: &[usize] = only.as_ref().map_or(sizes, |n| n.as_slice());
    let work = TempDir::new()?;
    let overhead = time_overhead(work.path(), runs)?;

    let mut summaries = Vec::new();
    let mut checked = String::new();
    for &objects in sizes {
        for &case in cases {
            let source = work.path().join(format!("{}-{objects}", case.name()));
            generate(&source, objects, case).with_context(|| format!("generating {}", source.display()))?;
            let dir = source.join("overlays/prod");
            let scratch = work.path().join("scratch");
            fs::create_dir_all(&scratch).context("creating the scratch folder")?;
            let label = format!("{} objects, {}", count(objects as u64), case.name());

            // The first run of each tool is the correctness check and warms the page cache.
            let (ours_check, ours_out) = timed_run(&ours, &dir, &scratch)?;
            let documents = count_documents(&ours_out);
            ensure!(
                documents == objects,
                "{label}: pull-agent render rendered {documents} objects, the generator meant {objects}"
            );
            let mut tools = vec![&ours];
            let mut checks = vec![ours_check];
            if let Some((kubectl, _)) = &kubectl {
                let (kubectl_check, reference) = timed_run(kubectl, &dir, &scratch)?;
                same_output(&reference, &ours_out, objects, case)?;
                tools.push(kubectl);
                checks.push(kubectl_check);
                let _ = writeln!(
                    checked,
                    "- {label}: the outputs are byte-identical ({} bytes); the first (checking) runs took \
                     {:.1} s (kubectl) and {:.2} s (ours).",
                    count(ours_out.len() as u64),
                    kubectl_check.wall.as_secs_f64(),
                    ours_check.wall.as_secs_f64()
                );
            }
            let round_time = checks.iter().map(|s| s.wall).sum();
            let samples = match rounds_within_budget(runs, round_time) {
                // Not even one round fits after the check (kubectl at 10,000 objects): another
                // round would cost as long again for one more sample, so the checking runs, which
                // did the whole job, are the figures.
                0 => {
                    eprintln!("bench: {label}: no timed round fits the budget; the checking runs are the samples");
                    checks.iter().map(|s| vec![*s]).collect()
                }
                rounds => {
                    eprintln!("bench: {label}: timing {rounds} round(s)");
                    timed_rounds(&tools, rounds, &dir, &scratch, &ours_out, &label)?
                }
            };
            for (tool, samples) in tools.iter().zip(&samples) {
                summaries.push(summarize(case, objects, tool.name, samples));
            }
        }
    }

    let reference = match &kubectl {
        Some((_, version)) => format!("Reference: {version}.\n{checked}"),
        None => "The comparison with `kubectl kustomize` was skipped: kubectl was not found in `PATH`.\n".to_string(),
    };
    Ok(format!("{reference}\n{}", markdown(&summaries, overhead)))
}

/// Times `rounds` rounds of every tool on `dir`, alternating which goes first; each run's output
/// must be `expected`. The samples are per tool, in the order of `tools`.
fn timed_rounds(
    tools: &[&Tool],
    rounds: usize,
    dir: &Path,
    scratch: &Path,
    expected: &[u8],
    label: &str,
) -> Result<Vec<Vec<Sample>>> {
    let mut samples = vec![Vec::with_capacity(rounds); tools.len()];
    for round in 0..rounds {
        // Alternate which tool goes first so drift on a shared machine (another job starting,
        // the CPU clocking down) falls on both tools alike.
        let mut order: Vec<usize> = (0..tools.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for t in order {
            let (sample, out) = timed_run(tools[t], dir, scratch)?;
            // Every timed run must have done the whole job, not failed fast or printed less.
            ensure!(out == expected, "{} printed something else in round {round} at {label}", tools[t].name);
            samples[t].push(sample);
        }
    }
    Ok(samples)
}

/// How many of the wanted `runs` fit in [`ROUNDS_BUDGET`] when one round (both tools) takes about
/// `round`, counting the checking round against the budget; none when not even one more fits.
fn rounds_within_budget(runs: usize, round: Duration) -> usize {
    let fit = ROUNDS_BUDGET.as_secs_f64() / round.as_secs_f64().max(1e-3) - 1.0;
    // Truncation is the point: a round that does not fit whole is not run.
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "fit is finite; negatives clamp to 0")]
    let fit = fit.clamp(0.0, 1e6) as usize;
    fit.min(runs)
}

/// `kubectl version --client` on one line, or why kubectl cannot be the reference.
fn kubectl_version() -> Result<String> {
    let out = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .context("kubectl is not in PATH (the reference renderer)")?;
    ensure!(out.status.success(), "kubectl version --client failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).trim().replace('\n', ", "))
}

fn release_binary(name: &str) -> PathBuf {
    // Cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in, the root here.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| crate::root().join("target"), PathBuf::from);
    crate::root().join(target).join("release").join(name)
}

/// Runs `tool` on `dir` under GNU time; stdout goes to a file so neither tool waits on a pipe.
fn timed_run(tool: &Tool, dir: &Path, scratch: &Path) -> Result<(Sample, Vec<u8>)> {
    let mut cmd = Command::new(&tool.program);
    cmd.args(tool.args).arg(dir);
    let sample = run_measured(&cmd, scratch).with_context(|| format!("running {} {}", tool.name, dir.display()))?;
    let out = fs::read(scratch.join("stdout")).context("reading the rendered output")?;
    Ok((sample, out))
}

/// Runs `cmd` (program and arguments only) under `/usr/bin/time`, measuring wall-clock around the
/// whole spawn-and-wait, and returns that with the child's peak RSS.
fn run_measured(cmd: &Command, scratch: &Path) -> Result<Sample> {
    let stdout_path = scratch.join("stdout");
    let stderr_path = scratch.join("stderr");
    let rusage_path = scratch.join("rusage");
    let mut timed = Command::new(TIME);
    // `-o` keeps time's report out of the child's stderr.
    timed.arg("-f").arg("%M").arg("-o").arg(&rusage_path).arg(cmd.get_program()).args(cmd.get_args());
    timed
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).context("creating the stdout file")?)
        .stderr(File::create(&stderr_path).context("creating the stderr file")?);
    let start = Instant::now();
    let status = timed.status().context("spawning /usr/bin/time")?;
    let wall = start.elapsed();
    if !status.success() {
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        bail!("exited with {status}: {}", stderr.trim());
    }
    let report = fs::read_to_string(&rusage_path).context("reading /usr/bin/time's report")?;
    // GNU time writes "Command exited with non-zero status" lines before the format on failure;
    // on success the report is the format alone, so the last line is the number.
    let peak_kib = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("unexpected /usr/bin/time report {report:?}"))?;
    Ok(Sample { wall, peak_kib })
}

/// The median wall-clock of `/usr/bin/time true`: the part of every figure that is neither tool.
fn time_overhead(work: &Path, runs: usize) -> Result<Duration> {
    let scratch = work.join("scratch");
    fs::create_dir_all(&scratch).context("creating the scratch folder")?;
    let cmd = Command::new("true");
    let mut walls = (0..runs)
        .map(|_| run_measured(&cmd, &scratch).map(|s| s.wall.as_secs_f64() * 1e3))
        .collect::<Result<Vec<_>>>()
        .context("measuring /usr/bin/time's own overhead")?;
    Ok(Duration::from_secs_f64(median(&mut walls) / 1e3))
}

/// Counts YAML documents the way kubectl separates them: `---` lines, plus one.
fn count_documents(out: &[u8]) -> usize {
    out.split(|&b| b == b'\n').filter(|l| *l == b"---").count() + 1
}

/// Fails, loudly and with the first difference, unless the two outputs are byte-identical. Both
/// outputs are kept under the target folder so the difference can be studied with `diff`.
fn same_output(reference: &[u8], ours: &[u8], objects: usize, case: Case) -> Result<()> {
    if reference == ours {
        return Ok(());
    }
    let keep = crate::root().join("target/bench-render");
    fs::create_dir_all(&keep).context("creating target/bench-render")?;
    let kubectl_file = keep.join(format!("{}-{objects}-kubectl.yaml", case.name()));
    let ours_file = keep.join(format!("{}-{objects}-pull-agent.yaml", case.name()));
    fs::write(&kubectl_file, reference).context("saving kubectl's output")?;
    fs::write(&ours_file, ours).context("saving our output")?;
    let reference = String::from_utf8_lossy(reference);
    let ours = String::from_utf8_lossy(ours);
    let mut first = None;
    for (i, pair) in reference.lines().map(Some).chain(std::iter::repeat(None)).zip(ours.lines().map(Some)).enumerate()
    {
        if pair.0 != pair.1 {
            first = Some((i + 1, pair.0.unwrap_or("<end of output>"), pair.1.unwrap_or("<end of output>")));
            break;
        }
    }
    let (line, want, got) = first.unwrap_or((reference.lines().count() + 1, "more lines", "<end of output>"));
    bail!(
        "OUTPUT MISMATCH at {objects} objects ({}): pull-agent render differs from kubectl kustomize at line {line}\n  \
         kubectl: {want}\n  ours:    {got}\nboth outputs are kept: diff {} {}",
        case.name(),
        kubectl_file.display(),
        ours_file.display()
    )
}

fn summarize(case: Case, objects: usize, tool: &'static str, samples: &[Sample]) -> Summary {
    let mut ms: Vec<f64> = samples.iter().map(|s| s.wall.as_secs_f64() * 1e3).collect();
    #[expect(clippy::cast_precision_loss, reason = "KiB counts are far below 2^52")]
    let mut mib: Vec<f64> = samples.iter().map(|s| s.peak_kib as f64 / 1024.0).collect();
    Summary {
        case,
        objects,
        runs: samples.len(),
        tool,
        median_ms: median(&mut ms),
        min_ms: ms.iter().copied().fold(f64::INFINITY, f64::min),
        max_ms: ms.iter().copied().fold(0.0, f64::max),
        median_rss_mib: median(&mut mib),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}

/// Markdown tables (for BENCHMARKS.md): the figures, the ratios of the same run, how our time
/// grows with the objects, and the targets.
fn markdown(summaries: &[Summary], overhead: Duration) -> String {
    let mut out = String::from(
        "The tools alternate each round; wall-clock is the whole process.\n\n\
         | case | objects | tool | runs | median ms | min ms | max ms | median peak RSS MiB |\n\
         |------|--------:|------|-----:|----------:|-------:|-------:|--------------------:|\n",
    );
    for s in summaries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            s.case.name(),
            count(s.objects as u64),
            s.tool,
            s.runs,
            s.median_ms,
            s.min_ms,
            s.max_ms,
            s.median_rss_mib
        );
    }
    let pairs: Vec<(&Summary, &Summary)> = summaries
        .windows(2)
        .filter_map(|w| (w[0].objects == w[1].objects && w[0].case == w[1].case).then_some((&w[0], &w[1])))
        .collect();
    let mut verdicts = String::new();
    if !pairs.is_empty() {
        out.push_str(
            "\n| case | objects | speed-up (kubectl ms / ours) | memory (ours MiB / kubectl) |\n\
             |------|--------:|-----------------------------:|----------------------------:|\n",
        );
    }
    for (ours, kubectl) in pairs {
        let speedup = kubectl.median_ms / ours.median_ms;
        let memory = ours.median_rss_mib / kubectl.median_rss_mib;
        let _ =
            writeln!(out, "| {} | {} | {speedup:.1}× | {memory:.3} |", ours.case.name(), count(ours.objects as u64));
        if ours.objects == 1_000 {
            let met = |ok: bool| if ok { "met" } else { "NOT MET" };
            let _ = writeln!(
                verdicts,
                "- Target at 1,000 objects, {}: at least 20× faster: {} ({speedup:.1}×); at most a quarter of the \
                 peak memory: {} ({memory:.3}).",
                ours.case.name(),
                met(speedup >= 20.0),
                met(memory <= 0.25),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nEach figure includes `/usr/bin/time`'s own start-up, {:.2} ms (median of `/usr/bin/time true`).\n",
        overhead.as_secs_f64() * 1e3
    );
    out.push_str(&growth(summaries));
    out.push_str(&verdicts);
    out
}

/// One line per case and tool measured at two sizes: how its median grows against the objects.
/// Linear is a growth equal to the size ratio; the target allows up to twice that.
fn growth(summaries: &[Summary]) -> String {
    let mut out = String::new();
    for (i, small) in summaries.iter().enumerate() {
        for large in summaries[i + 1..].iter().filter(|l| l.case == small.case && l.tool == small.tool) {
            #[expect(clippy::cast_precision_loss, reason = "object counts are far below 2^52")]
            let size = large.objects as f64 / small.objects as f64;
            let time = large.median_ms / small.median_ms;
            // The target is ours: kubectl's growth is there to compare.
            let verdict = match small.tool {
                "kubectl kustomize" => String::new(),
                _ if time <= 2.0 * size => format!(" (linear: the target allows {:.0}×)", 2.0 * size),
                _ => format!(" (NOT linear: the target allows {:.0}×)", 2.0 * size),
            };
            let _ = writeln!(
                out,
                "- Growth, {}, {}: {:.1} ms at {} → {:.1} ms at {}: {time:.1}× the time for {size:.0}× the \
                 objects{verdict}.",
                small.case.name(),
                small.tool,
                small.median_ms,
                count(small.objects as u64),
                large.median_ms,
                count(large.objects as u64),
            );
        }
    }
    out
}

/// A uniquely named folder under the system temp folder, removed when dropped (also on errors).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let path = std::env::temp_dir().join(format!("flotilla-bench-{}-{nanos}", std::process::id()));
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.0) {
            eprintln!("bench: could not remove {}: {e}", self.0.display());
        }
    }
}

/// Writes a base and a `prod` overlay under `root` that render to exactly `objects` objects:
/// `objects / 4` apps, each a Deployment and a Service, `objects / 2 - 1` ConfigMaps mounted by the
/// Deployments (two per app, one for the last), and the overlay's generated ConfigMap. The
/// `replacements-vars` case has the same objects with a few more fields, and wires them together
/// with two vars per app and three replacements per app (in a file each) in the base, and one
/// replacement in the overlay.
fn generate(root: &Path, objects: usize, case: Case) -> Result<()> {
    ensure!(objects.is_multiple_of(4) && objects >= 8, "the object count must be a multiple of 4, at least 8");
    let apps = objects / 4;
    let config_maps = objects / 2 - 1;
    let base = root.join("base");
    fs::create_dir_all(base.join("apps"))?;

    let mut kustomization =
        String::from("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n");
    for app in 0..apps {
        let file = format!("apps/app-{app:05}.yaml");
        let _ = writeln!(kustomization, "- {file}");
        fs::write(base.join(&file), app_manifests(app, config_maps, case))?;
    }
    if case == Case::ReplacementsVars {
        kustomization.push_str("vars:\n");
        for app in 0..apps {
            kustomization.push_str(&app_vars(app));
        }
        // One file per app, as teams share them: inline, 10,000 objects' worth would make one
        // file large enough to meet our YAML-bomb guard (once 250,000 nodes; now 1,000,000).
        kustomization.push_str("replacements:\n");
        fs::create_dir_all(base.join("replacements"))?;
        for app in 0..apps {
            let file = format!("replacements/app-{app:05}.yaml");
            let _ = writeln!(kustomization, "- path: {file}");
            fs::write(base.join(&file), app_replacements(app))?;
        }
    }
    fs::write(base.join("kustomization.yaml"), kustomization)?;

    let prod = root.join("overlays/prod");
    fs::create_dir_all(&prod)?;
    let overlay = match case {
        Case::Overlay => OVERLAY.to_string(),
        Case::ReplacementsVars => format!("{OVERLAY}{OVERLAY_REPLACEMENTS}"),
    };
    fs::write(prod.join("kustomization.yaml"), overlay)?;
    fs::write(prod.join("add-env.yaml"), ADD_ENV_PATCH)?;
    fs::write(
        prod.join("settings.properties"),
        "checkout.timeout=30s\npayments.provider=stripe\ncache.ttl=300\nsearch.backend=opensearch\n",
    )?;
    Ok(())
}

/// One app's file: its ConfigMaps (indices `2 * app` and `2 * app + 1` below `config_maps`), a
/// Deployment that mounts them, and a Service. Every third app is a frontend (the JSON 6902 patch
/// selects those by label) and every fifth has a proxy sidecar with an image the overlay leaves alone.
/// In the `replacements-vars` case the `config` ConfigMap has the values the replacements and vars
/// read, and the containers have the fields they write.
fn app_manifests(app: usize, config_maps: usize, case: Case) -> String {
    let wired = case == Case::ReplacementsVars;
    let name = format!("app-{app:05}");
    let var = format!("APP_{app:05}");
    let tier = if app.is_multiple_of(3) { "frontend" } else { "backend" };
    let mounted: Vec<(String, &str)> = [(2 * app, "config"), (2 * app + 1, "flags")]
        .into_iter()
        .filter(|(index, _)| *index < config_maps)
        .map(|(_, role)| (format!("{name}-{role}"), role))
        .collect();

    let mut y = String::new();
    for (cm, role) in &mounted {
        let _ = write!(
            y,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {cm}\n  labels:\n    app: {name}\n\
             data:\n  role: {role}\n  log.level: info\n  app.properties: |\n    server.port=8080\n    \
             app.name={name}\n    cache.size=256\n"
        );
        if wired && *role == "config" {
            let _ = write!(
                y,
                "  log-level: debug\n  endpoint: {name}.shop.svc:8443\n  config-dir: /srv/{name}\n  port: \"8443\"\n"
            );
        }
        y.push_str("---\n");
    }
    let args = if wired {
        format!("[\"--config=/etc/{name}\", \"--upstream=http://$({var}_SERVICE):$({var}_PORT)\"]")
    } else {
        format!("[\"--config=/etc/{name}\"]")
    };
    let _ = write!(
        y,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n    tier: {tier}\n\
         spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      \
         labels:\n        app: {name}\n        tier: {tier}\n    spec:\n      containers:\n      - name: app\n        \
         image: {APP_IMAGE}:1.0.0\n        args: {args}\n        ports:\n        - name: http\n          \
         containerPort: 8080\n        - name: metrics\n          containerPort: 9090\n        env:\n        \
         - name: APP_NAME\n          value: {name}\n        - name: LOG_FORMAT\n          value: json\n        \
         - name: GOMAXPROCS\n          value: \"2\"\n"
    );
    if wired {
        let _ = write!(
            y,
            "        - name: LOG_LEVEL\n          value: info\n        - name: SERVICE_NAME\n          \
             value: $({var}_SERVICE)\n"
        );
    }
    y.push_str(
        "        resources:\n          requests:\n            cpu: 100m\n            memory: 128Mi\n          \
         limits:\n            memory: 256Mi\n        volumeMounts:\n",
    );
    for (_, role) in &mounted {
        let _ =
            write!(y, "        - name: {role}\n          mountPath: /etc/{name}/{role}\n          readOnly: true\n");
    }
    if app.is_multiple_of(5) {
        y.push_str(
            "      - name: proxy\n        image: envoyproxy/envoy:v1.31.0\n        ports:\n        - name: admin\n          \
             containerPort: 9901\n",
        );
        if wired {
            y.push_str("        env:\n        - name: LOG_LEVEL\n          value: info\n");
        }
    }
    y.push_str("      volumes:\n");
    for (cm, role) in &mounted {
        let _ = write!(y, "      - name: {role}\n        configMap:\n          name: {cm}\n");
    }
    let _ = write!(
        y,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  labels:\n    app: {name}\n    tier: {tier}\n\
         spec:\n  selector:\n    app: {name}\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n  \
         - name: metrics\n    port: 9090\n    targetPort: metrics\n"
    );
    y
}

/// An app's two vars: its Service's name (the default field, `metadata.name`, resolved after the
/// overlay's prefix) and a port from its ConfigMap; the Deployment's args and env use both.
fn app_vars(app: usize) -> String {
    let name = format!("app-{app:05}");
    let var = format!("APP_{app:05}");
    format!(
        "- name: {var}_SERVICE\n  objref:\n    apiVersion: v1\n    kind: Service\n    name: {name}\n\
         - name: {var}_PORT\n  objref:\n    apiVersion: v1\n    kind: ConfigMap\n    name: {name}-config\n  \
         fieldref:\n    fieldpath: data.port\n"
    )
}

/// An app's three replacements (a file of them), each reading its `config` ConfigMap: the log level into every
/// container's env (a wildcard) and, for backends only (`reject` by label), into an annotation
/// that `create` adds; the port part of an endpoint (a source delimiter) into a containerPort
/// (a string into an integer field); a folder into the part of the first arg after `=` (a target
/// delimiter).
fn app_replacements(app: usize) -> String {
    let name = format!("app-{app:05}");
    format!(
        "- source:\n    kind: ConfigMap\n    name: {name}-config\n    fieldPath: data.log-level\n  targets:\n  \
         - select:\n      kind: Deployment\n      name: {name}\n    fieldPaths:\n    \
         - spec.template.spec.containers.*.env.[name=LOG_LEVEL].value\n  \
         - select:\n      kind: Deployment\n      labelSelector: app={name}\n    reject:\n    \
         - labelSelector: tier=frontend\n    fieldPaths:\n    - metadata.annotations.[shop.example.com/log-level]\n    \
         options:\n      create: true\n\
         - source:\n    kind: ConfigMap\n    name: {name}-config\n    fieldPath: data.endpoint\n    options:\n      \
         delimiter: \":\"\n      index: 1\n  targets:\n  - select:\n      kind: Deployment\n      name: {name}\n    \
         fieldPaths:\n    - spec.template.spec.containers.[name=app].ports.[name=http].containerPort\n\
         - source:\n    kind: ConfigMap\n    name: {name}-config\n    fieldPath: data.config-dir\n  targets:\n  \
         - select:\n      kind: Deployment\n      name: {name}\n    fieldPaths:\n    \
         - spec.template.spec.containers.[name=app].args.0\n    options:\n      delimiter: \"=\"\n      index: 1\n"
    )
}

/// The prod overlay: most of the supported fields at once, as a real production overlay has them.
const OVERLAY: &str = r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-prod
namePrefix: prod-
resources:
- ../../base
labels:
- pairs:
    env: prod
    team: shop
  includeSelectors: true
commonAnnotations:
  owner: platform-team
  flotilla.dev/rendered-by: bench
images:
- name: registry.example.com/shop/app
  newTag: "2.3.1"
replicas:
- name: app-00000
  count: 5
- name: app-00001
  count: 3
- name: app-00002
  count: 4
patches:
- path: add-env.yaml
  target:
    kind: Deployment
- patch: |-
    - op: add
      path: /spec/template/metadata/annotations
      value:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
  target:
    kind: Deployment
    labelSelector: tier=frontend
configMapGenerator:
- name: shop-settings
  literals:
  - REGION=eu-west-1
  - FEATURE_CHECKOUT_V2=true
  files:
  - settings.properties
"#;

/// The `replacements-vars` overlay's own replacement, after its transformers: the first app's
/// retagged image into every other backend Deployment's pod annotations (selected by kind,
/// rejected by the name the base gave it and by label).
const OVERLAY_REPLACEMENTS: &str = "replacements:
- source:
    kind: Deployment
    name: app-00000
    fieldPath: spec.template.spec.containers.[name=app].image
  targets:
  - select:
      kind: Deployment
    reject:
    - name: app-00000
    - labelSelector: tier=frontend
    fieldPaths:
    - spec.template.metadata.annotations.[shop.example.com/reference-image]
    options:
      create: true
";

/// Strategic-merge patch for every Deployment: one more env var, and the generated ConfigMap as
/// `envFrom`, so its hashed name must follow into every Deployment.
const ADD_ENV_PATCH: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: any-deployment
spec:
  template:
    spec:
      containers:
      - name: app
        env:
        - name: DEPLOY_ENV
          value: prod
        envFrom:
        - configMapRef:
            name: shop-settings
";
