//! The render golden corpus (`tests/data/render/`): every case's output must equal what
//! `kubectl kustomize` printed (recorded in `expected.yaml` by `record.sh`), and every case
//! kustomize or we refuse must fail with the message in `expected-error`.
//!
//! A case where flotilla deliberately or (FIXME) knowingly differs from kubectl carries
//! `flotilla-expected.yaml`, our output, and `flotilla-note`, the reason; the test asserts
//! our output there, so a fix shows up as a failure to update.
//!
//! `FLOTILLA_BLESS=1 cargo test -p flotilla-core --test render_golden` rewrites `expected-error`
//! files from our current messages (never `expected.yaml`: that one comes from kubectl).
//!
//! The renderer is core's, so this test is too. Core does no IO, but its tests may: a case's
//! `in/` folder is read here into a [`Snapshot`] (files and symlinks as they are),
//! as the agent reads a folder. `crates/pull-agent/tests/folder_render.rs` checks
//! that the agent's on-demand folder reader renders every case the same.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::snapshot;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/render")
}

/// Renders one case; `Ok(yaml)` or `Err(message)`.
fn render(case: &Path) -> Result<String, String> {
    let snapshot = snapshot(&case.join("in"));
    let path = fs::read_to_string(case.join("render-path")).map(|s| s.trim().to_string()).unwrap_or_default();
    flotilla_core::kustomize::build(&snapshot, &path)
        .map(|objects| flotilla_core::yaml::to_string_all(&objects))
        .map_err(|e| e.to_string())
}

/// What is wrong with one case, if anything.
fn check(case: &Path, bless: bool) -> Option<String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let deviation = fs::read_to_string(case.join("flotilla-expected.yaml")).ok();
    if deviation.is_some() && !case.join("flotilla-note").is_file() {
        return Some(format!("{name}: flotilla-expected.yaml needs a flotilla-note saying why"));
    }
    let expected = deviation.or_else(|| fs::read_to_string(case.join("expected.yaml")).ok());
    let must_fail = name.starts_with("refused-") || expected.is_none();
    match (render(case), must_fail) {
        (Ok(got), false) => {
            let want = expected.expect("checked above");
            (got != want).then(|| format!("{name}: output differs from kubectl\n{}", diff(&want, &got)))
        }
        (Ok(_), true) => Some(format!("{name}: rendered, but kustomize or flotilla must refuse it")),
        (Err(e), false) => Some(format!("{name}: failed: {e}")),
        (Err(e), true) => {
            let file = case.join("expected-error");
            if bless {
                fs::write(&file, format!("{e}\n")).unwrap();
                return None;
            }
            match fs::read_to_string(&file) {
                Ok(want) if want.trim_end() == e => None,
                Ok(want) => Some(format!("{name}: error differs\n  want: {}\n  got:  {e}", want.trim_end())),
                Err(_) => Some(format!("{name}: no expected-error file; got: {e}")),
            }
        }
    }
}

fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w.iter().zip(&g).position(|(a, b)| a != b).unwrap_or(w.len().min(g.len()));
    let from = first.saturating_sub(3);
    let show =
        |lines: &[&str]| lines.iter().skip(from).take(10).map(|l| format!("    |{l}")).collect::<Vec<_>>().join("\n");
    format!("  first difference at line {}\n  kubectl:\n{}\n  flotilla:\n{}", first + 1, show(&w), show(&g))
}

#[test]
fn golden_corpus_matches_kubectl_kustomize() {
    let bless = std::env::var_os("FLOTILLA_BLESS").is_some();
    let mut cases: Vec<PathBuf> =
        fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("in").is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 80, "the corpus has {} cases; it should have at least 80", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c, bless)).collect();
    assert!(failures.is_empty(), "{} of {} cases fail:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}
