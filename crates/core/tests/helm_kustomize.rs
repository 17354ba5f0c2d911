//! kustomize's `helmCharts` against Helm: a kustomization that inflates a chart of the Helm
//! corpus (`../shared/helm-charts`, read in place) with the values Helm rendered it with
//! (release `flotilla`, namespace `default`, the chart's defaults) must give the objects of
//! Helm's recorded render (`NAME.expected.json`), with what the kustomization adds (a label).
//!
//! `kubectl kustomize` inflates charts only with `--enable-helm` and a `helm` binary, neither of
//! which the recordings of `tests/data/render` have, so Helm's own render is the reference.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::snapshot;
use flotilla_core::helm;
use flotilla_core::kustomize;
use flotilla_core::snapshot::Snapshot;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/helm-charts")
}

/// The label the kustomization adds to every object.
const LABEL: (&str, &str) = ("flotilla.dev/inflated", "kustomize");

/// `kustomization` in folder `app`, with the corpus chart `case` in `app/charts/NAME`.
fn kustomization(case: &str, name: &str, kustomization: &str) -> Snapshot {
    let chart = snapshot(&corpus().join(case));
    let mut s = Snapshot::new();
    for (path, entry) in chart.entries() {
        s.insert(format!("app/charts/{name}/{path}"), entry.clone());
    }
    s.insert_file("app/kustomization.yaml", kustomization);
    s
}

/// Helm's recorded objects, as `helm template` prints them (`crds` the chart's own, with
/// `--include-crds`; test hooks left out with `--skip-tests`), each with the kustomization's
/// label, in a canonical order.
fn helm_objects(case: &str, crds: bool, skip_tests: bool) -> Vec<Value> {
    let path = corpus().join(format!("{case}.expected.json"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let templates: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    let mut crd_files = BTreeMap::new();
    if crds {
        let dir = corpus().join(case).join("crds");
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // The chart's .helmignore leaves out crds/kustomization.yaml (Traefik's).
            if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                continue;
            }
            crd_files.insert(
                format!("x/crds/{}", path.file_name().unwrap().to_string_lossy()),
                fs::read_to_string(&path).unwrap(),
            );
        }
    }
    let rendered = helm::Rendered { templates, crds: crd_files, random: false };
    let manifests = helm::manifests::manifests(&rendered).unwrap();
    let objects = manifests.printed(crds, skip_tests, false).into_iter().map(|m| {
        let mut object = m.object.clone();
        let metadata = object.get_mut("metadata").and_then(Value::as_object_mut).expect("metadata");
        // kyaml's reader drops empty annotations, and kustomize writes every annotation back
        // as a string, as for any resource.
        if metadata
            .get("annotations")
            .is_some_and(|a| a.is_null() || a.as_object().is_some_and(serde_json::Map::is_empty))
        {
            metadata.remove("annotations");
        }
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            for value in annotations.values_mut() {
                if !value.is_string() {
                    *value = Value::String(value.to_string());
                }
            }
        }
        let labels = metadata.entry("labels").or_insert_with(|| Value::Object(serde_json::Map::new()));
        if labels.is_null() {
            *labels = Value::Object(serde_json::Map::new());
        }
        labels.as_object_mut().expect("labels").insert(LABEL.0.into(), LABEL.1.into());
        object
    });
    canonical(objects.collect())
}

fn canonical(mut objects: Vec<Value>) -> Vec<Value> {
    let key = |o: &Value| {
        let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        (s("/apiVersion"), s("/kind"), s("/metadata/namespace"), s("/metadata/name"))
    };
    objects.sort_by_key(key);
    objects
}

fn check(case: &str, name: &str, entry: &str, crds: bool, skip_tests: bool) {
    let k = format!(
        "labels:\n- pairs: {{{}: {}}}\nhelmCharts:\n- {{name: {name}, releaseName: flotilla, namespace: default{entry}}}\n",
        LABEL.0, LABEL.1
    );
    let got = kustomize::build(&kustomization(case, name, &k), "app").unwrap_or_else(|e| panic!("{case}: {e}"));
    let got = canonical(got);
    let want = helm_objects(case, crds, skip_tests);
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|o| format!("{} {}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or("")))
            .collect()
    };
    assert_eq!(ids(&got), ids(&want), "{case}: the objects");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{case}: {}", ids(std::slice::from_ref(w))[0]);
    }
}

#[test]
fn metrics_server_inflates_to_helm_s_objects() {
    check("kubernetes-sigs+metrics-server_charts_metrics-server", "metrics-server", "", false, false);
}

#[test]
fn fluent_bit_inflates_with_and_without_its_test_hook() {
    let case = "fluent+helm-charts_charts_fluent-bit";
    check(case, "fluent-bit", "", false, false);
    check(case, "fluent-bit", ", skipTests: true", false, true);
}

#[test]
fn traefik_inflates_with_its_crds() {
    let case = "traefik+traefik-helm-chart_traefik";
    check(case, "traefik", ", includeCRDs: true", true, false);
}
