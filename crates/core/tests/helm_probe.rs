//! A chart of our own (`tests/data/helm/probe/chart`) that exercises what real charts rarely
//! show with their defaults: YAML 1.1 booleans and nulls in values, `toYaml`/`toJson` of every
//! kind of value, `.Chart`, `.Release`, `.Capabilities` and `.Files` printed whole, `set` on
//! dot, `tpl`, and Sprig's functions. `expected.json` is what Helm 4.2.3's Go SDK rendered for it
//! (`record.py` beside it records it again).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::snapshot;
use flotilla_core::helm;

#[test]
fn the_probe_chart_renders_as_helm_renders_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/helm/probe");
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
