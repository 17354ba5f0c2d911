//! `pull-agent render CHART_DIR` against Helm: a chart of the Helm corpus (`../shared/helm-charts`,
//! outside the repository: the charts keep their own licences) prints the objects of what Helm
//! 4's SDK rendered for it (`NAME.expected.json`), in the order a placement applies them; and
//! `--set`, `--values` and `--kube-version` change what Helm's would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_core::helm;
use serde_json::Value;

const CHART: &str = "kubernetes-sigs+metrics-server_charts_metrics-server";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/helm-charts")
}

/// The objects Helm's render of the chart (release `flotilla`, namespace `default`) gives.
fn expected() -> Vec<Value> {
    let path = corpus().join(format!("{CHART}.expected.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the Helm corpus is missing: {}: {e}", path.display()));
    let templates: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
    helm::manifests::manifests(&helm::Rendered { templates, crds: BTreeMap::new(), random: false })
        .unwrap()
        .in_apply_order()
}

fn render(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_pull-agent"))
        .arg("render")
        .arg(corpus().join(CHART))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    flotilla_core::yaml::load_objects(&out.stdout).unwrap()
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects.iter().find(|o| o["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn a_chart_renders_the_objects_helm_renders() {
    let want = expected();
    assert!(want.len() > 5, "{}", want.len());
    assert_eq!(render(&["--release", "flotilla", "--namespace", "default"]), want);
    // helm template's defaults: release-name in namespace default.
    let default = render(&[]);
    assert_eq!(find(&default, "Deployment")["metadata"]["name"], "release-name-metrics-server");
}

#[test]
fn set_and_values_change_what_they_name_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("flotilla-chart-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let values = dir.join("values.yaml");
    std::fs::write(&values, "replicas: 3\nargs: [--from-file]\n").unwrap();
    let got = render(&[
        "--release",
        "flotilla",
        "--values",
        values.to_str().unwrap(),
        "--set",
        "replicas=2,podLabels.tier=edge",
        "--set",
        "args={--kubelet-insecure-tls,--v=2}",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let mut want = expected();
    let deployment = want.iter_mut().find(|o| o["kind"] == "Deployment").unwrap();
    deployment["spec"]["replicas"] = 2.into();
    deployment["spec"]["template"]["metadata"]["labels"]["tier"] = "edge".into();
    let container = &mut deployment["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"].as_array_mut().unwrap();
    args.extend(["--kubelet-insecure-tls".into(), "--v=2".into()]);
    assert_eq!(find(&got, "Deployment"), find(&want, "Deployment"));
    assert_eq!(got.len(), want.len());
}

#[test]
fn a_bad_set_is_refused_with_helm_s_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_pull-agent"))
        .args(["render"])
        .arg(corpus().join(CHART))
        .args(["--set", "replicas"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--set replicas") && stderr.contains("key \"replicas\" has no value"), "{stderr}");
}

#[test]
fn set_string_set_json_and_set_file_are_taken_in_helm_s_order() {
    let dir = std::env::temp_dir().join(format!("flotilla-chart-render-sets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("note.txt");
    std::fs::write(&file, "line one\nline two\n").unwrap();
    let got = render(&[
        "--release",
        "flotilla",
        // --set-json comes before --set, whatever the order on the command line.
        "--set",
        "replicas=2",
        "--set-json",
        r#"replicas=3,podLabels={"tier":"edge","n":1}"#,
        "--set-json",
        r#"{"podAnnotations": {"json": "yes"}}"#,
        "--set-string",
        "podAnnotations.zip=01234,podLabels.t=true",
        "--set-file",
        &format!("podAnnotations.note={}", file.display()),
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    let mut want = expected();
    let deployment = want.iter_mut().find(|o| o["kind"] == "Deployment").unwrap();
    deployment["spec"]["replicas"] = 2.into();
    let template = &mut deployment["spec"]["template"]["metadata"];
    template["labels"]["tier"] = "edge".into();
    template["labels"]["n"] = 1.into();
    template["labels"]["t"] = "true".into();
    template["annotations"] = serde_json::json!({"json": "yes", "zip": "01234", "note": "line one\nline two\n"});
    assert_eq!(find(&got, "Deployment"), find(&want, "Deployment"));

    let out = Command::new(env!("CARGO_BIN_EXE_pull-agent"))
        .args(["render"])
        .arg(corpus().join(CHART))
        .args(["--set-file", "a=/nonexistent/flotilla"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--set-file a=/nonexistent/flotilla") && stderr.contains("/nonexistent/flotilla"),
        "{stderr}"
    );
}
