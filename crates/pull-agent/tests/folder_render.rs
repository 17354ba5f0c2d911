//! `pull-agent render DIR` reads a folder on demand (`folder::Folder`) rather than whole: every
//! case of the render golden corpus (`tests/data/render/`, checked against kubectl by
//! `crates/core/tests/render_golden.rs`) renders from it exactly as from its snapshot.

use std::fs;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/render")
}

/// `pull-agent render DIR` reads a folder on demand (`folder::Folder`) rather than whole: every
/// case renders from it exactly as from its snapshot, errors included (symlinks in and out of
/// the tree, loops, missing files, `..` past the root).
#[test]
fn a_folder_read_on_demand_renders_as_its_snapshot() {
    let mut cases: Vec<PathBuf> =
        fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("in").is_dir()).collect();
    cases.sort();
    let mut differ = Vec::new();
    for case in &cases {
        let path = fs::read_to_string(case.join("render-path")).map(|s| s.trim().to_string()).unwrap_or_default();
        let snapshot = pull_agent::folder::snapshot(&case.join("in")).unwrap();
        let budget = flotilla_core::kustomize::Budget::default();
        let whole = flotilla_core::kustomize::build_with(&snapshot, &path, &budget).map_err(|e| e.to_string());
        let folder = pull_agent::folder::Folder::new(&case.join("in"));
        let lazy = flotilla_core::kustomize::build_with(&folder, &path, &budget).map_err(|e| e.to_string());
        if whole != lazy {
            differ.push(format!("{}:\n  snapshot: {whole:?}\n  folder:   {lazy:?}", case.display()));
        }
    }
    assert!(differ.is_empty(), "{} cases differ:\n{}", differ.len(), differ.join("\n"));
}
