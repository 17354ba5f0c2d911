//! The Helm corpus: 26 real charts (`../shared/helm-charts`, outside the repository: the charts
//! keep their own licences) rendered with release `flotilla`, namespace `default` and default
//! values, compared template by template with what Helm 4's Go SDK rendered
//! (`NAME.expected.json`: template path → text, NOTES.txt included).
//!
//! For a chart marked `NAME.random`, a second Helm render (`NAME.expected2.json`) shows which
//! lines are random (passwords, certificates): those lines are skipped, the rest compared.
//!
//! Each render is also split into objects (`helm::manifests`), which must succeed.
//!
//! The test prints a summary per chart (templates equal / differing / error, the first
//! difference) and asserts that the charts of `tests/data/helm/passing.txt` pass exactly and
//! that no other chart does (so the list grows with the renderer). A missing corpus fails.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::snapshot;
use flotilla_core::helm;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/helm-charts")
}

fn read_json(path: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The outcome of one chart.
struct Outcome {
    equal: usize,
    differing: usize,
    total: usize,
    /// The render error, or the first difference.
    first: Option<String>,
    /// Objects, hooks and CRDs of the render, as `helm::manifests::manifests` splits it.
    objects: (usize, usize, usize),
}

/// Whether two texts agree, line by line, skipping the lines that two Helm renders disagree
/// on (`random`: for the template, the indexes of such lines).
fn same(got: &str, want: &str, random: Option<&Vec<usize>>) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.split('\n').collect(), want.split('\n').collect());
    if let Some(random) = random
        && g.len() == w.len()
        && g.iter().zip(&w).enumerate().all(|(i, (a, b))| a == b || random.contains(&i))
    {
        return Ok(());
    }
    let line = g.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(g.len().min(w.len()));
    Err(format!(
        "line {}: got {:?}, want {:?}",
        line + 1,
        g.get(line).copied().unwrap_or("<end>"),
        w.get(line).copied().unwrap_or("<end>")
    ))
}

fn check(name: &str) -> Outcome {
    let dir = corpus();
    let want = read_json(&dir.join(format!("{name}.expected.json")));
    let random: BTreeMap<String, Vec<usize>> = if dir.join(format!("{name}.random")).exists() {
        let second = read_json(&dir.join(format!("{name}.expected2.json")));
        want.iter()
            .map(|(path, a)| {
                let b = second.get(path).map_or("", String::as_str);
                let lines = a.split('\n').zip(b.split('\n')).enumerate().filter(|(_, (x, y))| x != y).map(|(i, _)| i);
                (path.clone(), lines.collect())
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let options =
        helm::Options { release_name: "flotilla".into(), namespace: "default".into(), ..helm::Options::default() };
    let total = want.len();
    let rendered = match helm::render(&snapshot(&dir.join(name)), "", &options) {
        Ok(r) => r,
        Err(e) => {
            return Outcome { equal: 0, differing: 0, total, first: Some(format!("error: {e}")), objects: (0, 0, 0) };
        }
    };
    let mut outcome = Outcome { equal: 0, differing: 0, total, first: None, objects: (0, 0, 0) };
    match helm::manifests::manifests(&rendered) {
        Ok(m) => outcome.objects = (m.objects.len(), m.hooks.len(), m.crds.len()),
        Err(e) => outcome.first = Some(format!("error: {e}")),
    }
    for (path, text) in &want {
        let result = match rendered.templates.get(path) {
            Some(got) => same(got, text, random.get(path)),
            None => Err("not rendered".to_string()),
        };
        match result {
            Ok(()) => outcome.equal += 1,
            Err(e) => {
                outcome.differing += 1;
                outcome.first.get_or_insert_with(|| format!("{path}: {e}"));
            }
        }
    }
    for path in rendered.templates.keys().filter(|p| !want.contains_key(*p)) {
        outcome.differing += 1;
        outcome.first.get_or_insert_with(|| format!("{path}: rendered, but Helm renders no such template"));
    }
    outcome
}

#[test]
fn charts_render_as_helm_renders_them() {
    let dir = corpus();
    let cases = fs::read_to_string(dir.join("cases.txt"))
        .unwrap_or_else(|e| panic!("the Helm corpus is missing: {}/cases.txt: {e}", dir.display()));
    let passing_list = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/passing.txt");
    let expected_passing: Vec<String> = fs::read_to_string(&passing_list)
        .unwrap_or_else(|e| panic!("{}: {e}", passing_list.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let (mut passing, mut equal, mut total) = (Vec::new(), 0, 0);
    for name in cases.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let outcome = check(name);
        let errors = usize::from(outcome.first.as_deref().is_some_and(|f| f.starts_with("error: ")));
        println!(
            "{name}: {}/{} equal, {} differing, {errors} error; {} objects, {} hooks, {} CRDs{}",
            outcome.equal,
            outcome.total,
            outcome.differing,
            outcome.objects.0,
            outcome.objects.1,
            outcome.objects.2,
            outcome
                .first
                .as_deref()
                .map(|f| format!("\n    first: {}", f.chars().take(400).collect::<String>()))
                .unwrap_or_default()
        );
        equal += outcome.equal;
        total += outcome.total;
        if outcome.first.is_none() {
            passing.push(name.to_string());
        }
    }
    println!("{} charts pass exactly; {equal}/{total} templates equal", passing.len());
    assert_eq!(passing, expected_passing, "the charts that pass are not those of {}", passing_list.display());
}
