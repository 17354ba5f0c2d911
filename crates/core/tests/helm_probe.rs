//! A chart of our own (`tests/data/helm/probe/chart`) that exercises what real charts rarely
//! show with their defaults: YAML 1.1 booleans and nulls in values, `toYaml`/`toJson` of every
//! kind of value, `.Chart`, `.Release`, `.Capabilities` and `.Files` printed whole, `set` on
//! dot, `tpl`, and Sprig's functions. `expected.json` is what Helm 4.2.3's Go SDK rendered for it
//! (`record.py` beside it records it again).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use flotilla_core::helm;
use flotilla_core::snapshot::Snapshot;

fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, snapshot: &mut Snapshot) {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, snapshot);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                snapshot.insert_file(relative, fs::read(&path).unwrap());
            }
        }
    }
    let mut snapshot = Snapshot::new();
    walk(root, root, &mut snapshot);
    snapshot
}

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
