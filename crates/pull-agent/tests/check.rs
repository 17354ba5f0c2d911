//! `pull-agent check`, run as CI runs it: the policies against what a cluster would run, from a
//! fleet folder or from git; exit 1 on a violation of high or critical severity.

use std::path::{Path, PathBuf};
use std::process::Command;

use flotilla_git::testing::{GitDaemon, git};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn pull_agent(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pull-agent")).args(args).current_dir(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// A fleet whose placement `web` (in the fleet repository itself) ships a default-deny
/// NetworkPolicy with `policy_types`, and two policies: a high one wanting Ingress and Egress,
/// and a medium one forbidding a ConfigMap the placement ships.
fn write_fleet(dir: &Path, policy_types: &str) {
    let files = [
        (
            "fleet/fleet.yaml",
            "apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  source: {repository: fleet, path: web}
  clusters: {matchLabels: {kind: store}}
---
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: default-deny}
spec:
  standards: [PCI-DSS v4.0]
  controls: [\"1.3.1\"]
  severity: high
  remediation: enforce
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: musthave
    object:
      apiVersion: networking.k8s.io/v1
      kind: NetworkPolicy
      metadata: {name: default-deny, namespace: shop}
      spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: flotilla.dev/v1alpha1
kind: Policy
metadata: {name: no-debug-config}
spec:
  severity: medium
  remediation: inform
  clusters: {matchLabels: {kind: store}}
  objects:
  - compliance: mustnothave
    object:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: debug, namespace: shop}
"
            .to_string(),
        ),
        (
            "web/netpol.yaml",
            format!(
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: default-deny, namespace: shop}}\n\
                 spec: {{podSelector: {{}}, policyTypes: [{policy_types}]}}\n"
            ),
        ),
        ("web/debug.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: debug, namespace: shop}\n".to_string()),
    ];
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

fn local(dir: &Path) -> (i32, String, String) {
    let fleet = dir.join("fleet");
    let args = ["check", "--fleet-dir", fleet.to_str().unwrap(), "--cluster", "s1", "--labels", "kind=store"];
    pull_agent(dir, &[&args[..], &["--environment", "prod"]].concat())
}

#[test]
fn a_high_violation_fails_the_gate_a_medium_one_is_shown_and_passes() {
    let tmp = tempfile::tempdir().unwrap();
    // The fleet repository holds the placement's source too (`repository: fleet`).
    let repo = tmp.path().join("fleet");
    write_fleet(&repo, "Ingress");
    let (code, stdout, stderr) = local(tmp.path());
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("NON-COMPLIANT  high     enforce default-deny"), "{stdout}");
    assert!(stdout.contains("NetworkPolicy/shop/default-deny spec.policyTypes"), "{stdout}");
    assert!(stdout.contains("non-compliant  medium   inform  no-debug-config"), "{stdout}");
    assert!(stdout.contains("ConfigMap/shop/debug"), "{stdout}");
    assert!(stdout.ends_with("2 policies: 1 violated with high or critical severity\n"), "{stdout}");

    // Fixed: the medium violation stays, and passes.
    write_fleet(&repo, "Ingress, Egress");
    let (code, stdout, stderr) = local(tmp.path());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("compliant      high     enforce default-deny"), "{stdout}");
    assert!(stdout.contains("non-compliant  medium   inform  no-debug-config"), "{stdout}");
}

/// An auditor reading the CI log sees which standard's controls each result is evidence for.
#[test]
fn each_result_names_its_standards_and_controls() {
    let tmp = tempfile::tempdir().unwrap();
    write_fleet(&tmp.path().join("fleet"), "Ingress");
    let (code, stdout, stderr) = local(tmp.path());
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(name))
            .unwrap_or_else(|| panic!("no {name}: {stdout}"))
    };
    assert_eq!(line("default-deny"), "NON-COMPLIANT  high     enforce default-deny  PCI-DSS v4.0 1.3.1");
    // A policy that names no standard or control says so rather than nothing.
    assert_eq!(line("no-debug-config"), "non-compliant  medium   inform  no-debug-config  (no standard or control)");

    // Several controls of one standard: each named with its standard, as an auditor searches.
    let (code, stdout, stderr) = pull_agent(
        &root(),
        &[
            "check",
            "--fleet-dir",
            "examples/retail-fleet/infra",
            "--cluster",
            "store-0001",
            "--labels",
            "kind=store,region=us-east,canary=true",
            "--environment",
            "prod",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let nodeport = stdout.lines().find(|l| l.contains(" pci-no-nodeport-bt ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(nodeport.ends_with(" pci-no-nodeport-bt  PCI-DSS v4.0 1.3.1, PCI-DSS v4.0 1.4.2"), "{nodeport}");
}

#[test]
fn the_example_fleet_passes_on_a_store_and_a_broken_placement_fails_the_check() {
    let (code, stdout, stderr) = pull_agent(
        &root(),
        &[
            "check",
            "--fleet-dir",
            "examples/retail-fleet/infra",
            "--cluster",
            "store-0001",
            "--labels",
            "kind=store,region=us-east,canary=true",
            "--environment",
            "prod",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("compliant      high     enforce pci-default-deny-bt"), "{stdout}");
    assert!(stdout.contains("7 policies: no violation"), "{stdout}");

    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("fleet");
    write_fleet(&repo, "Ingress, Egress");
    std::fs::write(repo.join("web/broken.yaml"), "kind: [").unwrap();
    let (code, stdout, stderr) = local(tmp.path());
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("placement web") || stderr.contains("broken.yaml"), "{stderr}");
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn with_config_and_ref_it_checks_a_commit_before_it_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repos/fleet");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "prod"]);
    write_fleet(&repo, "Ingress, Egress");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "good"]);
    git(&repo, &["checkout", "-q", "-b", "dev"]);
    write_fleet(&repo, "Ingress");
    git(&repo, &["commit", "-qam", "drops Egress"]);
    let bad = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "prod"]);
    let daemon = GitDaemon::start(&tmp.path().join("repos"));
    let config = tmp.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "cluster: {{name: s1, environment: prod, labels: {{kind: store}}}}\nfleet: {{url: {}}}\n\
             stateDir: state\nkubernetes: {{server: http://127.0.0.1:9}}\n",
            daemon.url("fleet")
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, stdout, stderr) = pull_agent(tmp.path(), &["check", "--config", config]);
    assert_eq!(code, 0, "prod passes: {stdout}\n{stderr}");
    let (code, stdout, stderr) = pull_agent(tmp.path(), &["check", "--config", config, "--ref", &bad]);
    assert_eq!(code, 1, "the dev commit fails: {stdout}\n{stderr}");
    assert!(stdout.contains("NON-COMPLIANT  high     enforce default-deny"), "{stdout}");

    // The config's render budget holds here as in the agent: the placement renders 2 objects.
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(config, format!("{text}render: {{maxObjects: 1}}\n")).unwrap();
    let (code, stdout, stderr) = pull_agent(tmp.path(), &["check", "--config", config]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("placement web: Failed: at ")
            && stderr.contains(": web/netpol.yaml: over the render budget: more than 1 object (rendering web)"),
        "{stderr}"
    );
    let (code, stdout, stderr) = pull_agent(tmp.path(), &["check", "--config", config, "--max-objects", "2"]);
    assert_eq!(code, 0, "the command line sets it too: {stdout}\n{stderr}");
}
