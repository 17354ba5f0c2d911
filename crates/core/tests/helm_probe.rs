//! Charts of our own that exercise what real charts rarely show with their defaults, each
//! against what Helm 4.2.3's Go SDK rendered for it (`expected.json`; `record.py` beside it
//! records it again):
//! - `tests/data/helm/probe/chart`: YAML 1.1 booleans and nulls in values, `toYaml`/`toJson` of
//!   every kind of value, `.Chart`, `.Release`, `.Capabilities` and `.Files` printed whole, `set`
//!   on dot, `tpl`, and Sprig's functions;
//! - `tests/data/helm/toml/chart`: Helm's `toToml` of values holding a case of every shape
//!   (scalars, nested tables, arrays of tables, quoted keys and escapes, mixed and empty lists,
//!   nils) and of a few more its templates make (Go ints, top-level values).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::snapshot;
use flotilla_core::helm;

/// Renders `tests/data/helm/CASE/chart` as release `flotilla` and compares each template with
/// `expected.json`, printing the lines that differ.
fn renders_as_recorded(case: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm").join(case);
    let want: BTreeMap<String, String> =
        serde_json::from_str(&fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let options = helm::Options { release_name: "flotilla".into(), ..helm::Options::default() };
    let got = helm::render(&snapshot(&dir.join("chart")), "", &options).unwrap().templates;
    for (path, text) in &want {
        let rendered = got.get(path).map_or("<not rendered>", String::as_str);
        for (i, (g, w)) in rendered.split('\n').zip(text.split('\n')).enumerate() {
            if g != w {
                println!("{path}:{}:\n  got  {g:?}\n  want {w:?}", i + 1);
            }
        }
    }
    assert_eq!(got, want);
}

#[test]
fn the_probe_chart_renders_as_helm_renders_it() {
    renders_as_recorded("probe");
}

#[test]
fn to_toml_writes_what_helm_writes() {
    renders_as_recorded("toml");
}
