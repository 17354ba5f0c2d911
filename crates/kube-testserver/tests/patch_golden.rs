//! `patch::strategic_merge` and core's `json_patch::apply` against `kubectl patch --local`, the
//! reference. Every folder of tests/data/patch is one case: an object, a patch, the patch type
//! and what kubectl made of them (`expected.json`, or `expected-error` when it failed), recorded
//! by record.sh there. kubectl is not needed to run these tests. A case with a `differs` file is
//! a known difference, explained in that file: it must still differ, so that fixing it shows.

use std::fs;
use std::path::{Path, PathBuf};

use kube_testserver::patch;
use serde_json::Value;

/// What kubectl did with a case.
enum Expected {
    Object(Value),
    Error(String),
}

/// How our result compares with kubectl's.
enum Outcome {
    Agrees,
    /// Differs, and the case's `differs` file says why.
    KnownDifference,
    Fails(String),
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/patch");
    let mut cases: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.join("type").is_file())
        .collect();
    cases.sort();
    cases
}

fn check(case: &Path) -> Outcome {
    let read = |name: &str| fs::read(case.join(name)).map_err(|e| format!("{name}: {e}"));
    let run = || -> Result<Outcome, String> {
        let original =
            flotilla_core::yaml::load_one(&read("original.yaml")?).map_err(|e| format!("original.yaml: {e}"))?;
        let patch: Value = serde_json::from_slice(&read("patch.json")?).map_err(|e| format!("patch.json: {e}"))?;
        let patch_type = String::from_utf8_lossy(&read("type")?).trim().to_string();
        let expected = if case.join("expected.json").is_file() {
            Expected::Object(
                serde_json::from_slice(&read("expected.json")?).map_err(|e| format!("expected.json: {e}"))?,
            )
        } else if case.join("expected-error").is_file() {
            Expected::Error(String::from_utf8_lossy(&read("expected-error")?).trim().to_string())
        } else {
            return Err("neither expected.json nor expected-error: run record.sh".to_string());
        };
        let ours = match patch_type.as_str() {
            "strategic" => patch::strategic_merge(&original, &patch),
            "json" => flotilla_core::json_patch::apply(&original, &patch).map_err(patch::Error::from),
            other => return Err(format!("unknown patch type {other:?}")),
        };
        let differs = case.join("differs").is_file();
        let agrees = match (&ours, &expected) {
            (Ok(ours), Expected::Object(theirs)) => ours == theirs,
            (Err(_), Expected::Error(_)) => true,
            _ => false,
        };
        Ok(match (agrees, differs) {
            (true, false) => Outcome::Agrees,
            (false, true) => Outcome::KnownDifference,
            (true, true) => Outcome::Fails("agrees with kubectl now: delete its `differs` file".to_string()),
            (false, false) => Outcome::Fails(describe(&ours, &expected)),
        })
    };
    run().unwrap_or_else(Outcome::Fails)
}

fn describe(ours: &Result<Value, patch::Error>, expected: &Expected) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("a JSON value prints");
    match (ours, expected) {
        (Ok(ours), Expected::Object(theirs)) => {
            format!("differs from kubectl's output.\n--- ours\n{}\n--- kubectl\n{}", pretty(ours), pretty(theirs))
        }
        (Ok(ours), Expected::Error(theirs)) => format!("kubectl fails ({theirs}) but we give\n{}", pretty(ours)),
        (Err(ours), Expected::Object(_)) => format!("we fail ({ours}) where kubectl succeeds"),
        (Err(_), Expected::Error(_)) => unreachable!("two errors agree"),
    }
}

#[test]
fn patches_agree_with_kubectl() {
    let cases = cases();
    // A wrong path or a lost folder must not pass as "no failures".
    assert!(cases.len() >= 40, "only {} cases found under tests/data/patch", cases.len());
    let mut failures = Vec::new();
    let mut known = Vec::new();
    for case in &cases {
        let name = case.file_name().expect("a case folder has a name").to_string_lossy().to_string();
        match check(case) {
            Outcome::Agrees => {}
            Outcome::KnownDifference => known.push(name),
            Outcome::Fails(why) => failures.push(format!("{name}: {why}")),
        }
    }
    eprintln!("{} cases, {} known differences: {}", cases.len(), known.len(), known.join(", "));
    assert!(failures.is_empty(), "{} of {} cases fail:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn every_case_is_recorded_and_typed() {
    for case in cases() {
        let patch_type = fs::read_to_string(case.join("type")).expect("a type file");
        assert!(matches!(patch_type.trim(), "strategic" | "json"), "{}: type {patch_type:?}", case.display());
        let recorded =
            usize::from(case.join("expected.json").is_file()) + usize::from(case.join("expected-error").is_file());
        assert_eq!(recorded, 1, "{}: needs exactly one of expected.json and expected-error", case.display());
    }
}
