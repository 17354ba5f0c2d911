//! Real kustomizations from public repositories (`../shared/kustomize-corpus`, read in place,
//! never copied in): every case must render to exactly what `kubectl kustomize` printed for it
//! (recorded in `cases/ID.expected.yaml`): the same objects, values and order, byte for byte.
//!
//! `FLOTILLA_CORPUS_CASE=substring` renders only the cases whose id contains it.

use std::fs;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kustomize-corpus")
}

/// One case: its id, and the folder rendered relative to the corpus.
fn cases(root: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(root.join("cases.txt"))
        .unwrap_or_else(|e| panic!("{}: {e} (the corpus lives beside the project, in ../shared)", root.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, path) = l.split_once(' ').unwrap_or_else(|| panic!("cases.txt: {l:?} is not `ID PATH`"));
            (id.to_string(), path.trim().to_string())
        })
        .collect()
}

/// Renders `path` (`src/OWNER+REPO/dir…`) with the repository's folder as the tree's root.
fn render(root: &Path, path: &str) -> Result<String, String> {
    let mut parts = path.splitn(3, '/');
    let (src, repo, dir) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap_or(""));
    let folder = pull_agent::folder::Folder::new(&root.join(src).join(repo));
    flotilla_core::kustomize::build_with(&folder, dir, &flotilla_core::kustomize::Budget::default())
        .map(|objects| flotilla_core::yaml::to_string_all(&objects))
        .map_err(|e| e.to_string())
}

fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w.iter().zip(&g).position(|(a, b)| a != b).unwrap_or(w.len().min(g.len()));
    let from = first.saturating_sub(3);
    let show = |lines: &[&str]| lines.iter().skip(from).take(8).map(|l| format!("    |{l}")).collect::<Vec<_>>();
    format!(
        "  first difference at line {} (kubectl {} lines, flotilla {})\n  kubectl:\n{}\n  flotilla:\n{}",
        first + 1,
        w.len(),
        g.len(),
        show(&w).join("\n"),
        show(&g).join("\n")
    )
}

#[test]
fn every_case_of_the_shared_corpus_renders_as_kubectl_kustomize() {
    let root = corpus();
    let only = std::env::var("FLOTILLA_CORPUS_CASE").ok();
    let all = cases(&root);
    assert!(all.len() >= 100, "cases.txt lists {} cases; the corpus has 111", all.len());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (id, path) in all.iter().filter(|(id, _)| only.as_deref().is_none_or(|o| id.contains(o))) {
        checked += 1;
        let want = fs::read_to_string(root.join("cases").join(format!("{id}.expected.yaml")))
            .unwrap_or_else(|e| panic!("cases/{id}.expected.yaml: {e}"));
        match render(&root, path) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!("{id}: output differs from kubectl\n{}", first_difference(&want, &got))),
            Err(e) => failures.push(format!("{id}: failed: {e}")),
        }
    }
    assert!(checked > 0, "FLOTILLA_CORPUS_CASE={only:?} names no case");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ from kubectl kustomize:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
