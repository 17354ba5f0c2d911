//! The Helm corpus's charts rendered with each of their own `ci/*.yaml` values files (96
//! cases), compared with what Helm 4.2.3 rendered for them: `tests/data/helm/ci-values.json`
//! holds, per case and template, the first 16 hex digits of the SHA-256 of Helm's text (null
//! for a template whose two Helm renders differ: random values), recorded by `record-ci.py`.
//!
//! It prints each case that differs (the templates whose text differs) and asserts that the
//! cases of `tests/data/helm/ci-passing.txt` pass and no other does, so the list grows with the
//! renderer. A missing corpus fails.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use common::snapshot;
use flotilla_core::helm;
use sha2::Digest as _;

fn digest(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes()).iter().take(8).fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

/// What differs in one case: `None` when it passes.
fn check(corpus: &Path, case: &str, want: &BTreeMap<String, Option<String>>) -> Option<String> {
    let (chart, _) = case.split_once("/ci/").expect("CHART/ci/FILE.yaml");
    let values = match flotilla_core::yaml::load_helm_values(&fs::read(corpus.join(case)).unwrap()) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => serde_json::Map::new(),
        Err(e) => return Some(format!("values: {e}")),
    };
    let options = helm::Options { release_name: "flotilla".into(), values, ..helm::Options::default() };
    let rendered = helm::render(&snapshot(&corpus.join(chart)), "", &options);
    if let Some(Some(error)) = want.get("error") {
        return match rendered {
            Err(_) => None,
            Ok(_) => Some(format!("Helm fails ({error}), we render")),
        };
    }
    let rendered = match rendered {
        Ok(r) => r.templates,
        Err(e) => return Some(format!("error: {}", e.to_string().chars().take(300).collect::<String>())),
    };
    let mut differing = Vec::new();
    for (path, hash) in want {
        match (rendered.get(path), hash) {
            (None, _) => differing.push(format!("{path} (not rendered)")),
            (Some(_), None) => {}
            (Some(text), Some(hash)) if digest(text) == *hash => {}
            (Some(text), Some(_)) => {
                differing.push(path.clone());
                dump(case, path, text);
            }
        }
    }
    differing.extend(rendered.keys().filter(|p| !want.contains_key(*p)).map(|p| format!("{p} (extra)")));
    if differing.is_empty() { None } else { Some(format!("{} differ: {}", differing.len(), differing.join(", "))) }
}

/// With `FLOTILLA_HELM_DUMP=DIR`, a differing template's text is written under DIR (to compare
/// with Helm's, which `record-ci.py`'s render gives).
fn dump(case: &str, path: &str, text: &str) {
    if let Some(dir) = std::env::var_os("FLOTILLA_HELM_DUMP") {
        let file = Path::new(&dir).join(case.replace('/', "_")).join(path.replace('/', "_"));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }
}

#[test]
fn charts_render_their_ci_values_as_helm_does() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/helm-charts");
    assert!(corpus.join("cases.txt").is_file(), "the Helm corpus is missing: {}/cases.txt", corpus.display());
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm");
    let cases: BTreeMap<String, BTreeMap<String, Option<String>>> =
        serde_json::from_str(&fs::read_to_string(data.join("ci-values.json")).unwrap()).unwrap();
    let expected_passing: Vec<String> = fs::read_to_string(data.join("ci-passing.txt"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let mut passing = Vec::new();
    for (case, want) in &cases {
        match check(&corpus, case, want) {
            None => passing.push(case.clone()),
            Some(problem) => println!("{case}: {problem}"),
        }
    }
    println!("{}/{} cases pass", passing.len(), cases.len());
    assert_eq!(passing, expected_passing, "the cases that pass are not those of ci-passing.txt");
}
