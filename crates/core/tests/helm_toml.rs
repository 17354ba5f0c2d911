//! Helm's `toToml` against Helm: a chart of our own (`tests/data/helm/toml/chart`) whose values
//! hold a case of every shape (scalars, nested tables, arrays of tables, quoted keys and escapes,
//! mixed and empty lists, nils) and whose templates make a few more (Go ints, top-level values);
//! `expected.json` is what Helm 4.2.3's Go SDK rendered for it (`record.py` beside it).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::snapshot;
use flotilla_core::helm;

#[test]
fn to_toml_writes_what_helm_writes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/toml");
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
