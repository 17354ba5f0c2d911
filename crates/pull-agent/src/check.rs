//! `pull-agent check`: the policies that select a cluster, evaluated against the rendered desired
//! state of a commit instead of a live cluster — a CI gate that shows a violation before it
//! merges. Nothing touches a cluster; every kind counts as served (what a cluster serves is not
//! known here), so a template is Unknown only when it cannot be read.
//!
//! The gate fails on a violation of a `high` or `critical` policy; lower severities and Unknown
//! results are shown and pass. An `enforce` policy's violation fails it too: the agent would
//! fix the cluster after the merge, but the commit itself breaks the policy.
//!
//! Each result names what it is evidence for, standard and control together
//! (`PCI-DSS v4.0 1.3.1`), as an auditor reads and searches a CI log.

use std::io::Write;

use flotilla_core::fleet::{Policy, Remediation, Severity};
use flotilla_core::plan::ObjectRef;
use flotilla_core::policy;
use flotilla_core::report::{PolicyReport, Violation};
use flotilla_core::scope;
use serde_json::Value;

/// One policy's result against the desired state.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub remediation: Remediation,
    /// What the result is evidence for: each of the policy's standards with each of its
    /// controls (`PCI-DSS v4.0 1.3.1`), as the hub's compliance view files it.
    pub controls: Vec<String>,
    pub report: PolicyReport,
}

impl Finding {
    /// Whether this finding fails the gate.
    pub fn fails(&self) -> bool {
        self.report.compliant == Some(false) && self.severity >= Severity::High
    }
}

/// Evaluates `policies` against `objects` (everything the cluster's placements render).
///
/// A template that names one of the agent's own records (its namespace `agent_namespace`, an
/// inventory) is Unknown here: no placement may render those (SPEC §4), so only the cluster can
/// tell. A policy that is otherwise compliant is then Unknown; a violation elsewhere still
/// decides it.
pub fn check(policies: &[Policy], objects: &[Value], agent_namespace: &str) -> Vec<Finding> {
    policies
        .iter()
        .map(|p| {
            let (agents, fleets): (Vec<_>, Vec<_>) = p.spec.objects.iter().cloned().partition(|t| {
                ObjectRef::of(&t.object).is_some_and(|r| {
                    scope::protected(&r, t.object.pointer("/metadata/labels"), agent_namespace).is_some()
                })
            });
            let mut judged = p.clone();
            judged.spec.objects = fleets;
            let mut report = policy::evaluate(&judged, objects, &|_, _| true).report;
            for t in &agents {
                let r = ObjectRef::of(&t.object).expect("partitioned by its reference");
                let object = if r.namespace.is_empty() {
                    format!("{}/{}", r.kind, r.name)
                } else {
                    format!("{}/{}/{}", r.kind, r.namespace, r.name)
                };
                report.violations.push(Violation {
                    object,
                    field: None,
                    expected: None,
                    actual: None,
                    message: "one of the agent's own records, which no placement renders: only the cluster can tell"
                        .into(),
                });
                if report.compliant == Some(true) {
                    report.compliant = None;
                }
            }
            Finding { severity: p.spec.severity, remediation: p.spec.remediation, controls: controls(p), report }
        })
        .collect()
}

/// The policy's standards, each with each of its controls: `PCI-DSS v4.0 1.3.1`; a standard
/// alone when the policy names no control, `control 1.3.1` when it names no standard.
fn controls(policy: &Policy) -> Vec<String> {
    let spec = &policy.spec;
    match (spec.standards.is_empty(), spec.controls.is_empty()) {
        (_, true) => spec.standards.clone(),
        (true, false) => spec.controls.iter().map(|c| format!("control {c}")).collect(),
        (false, false) => {
            spec.standards.iter().flat_map(|s| spec.controls.iter().map(move |c| format!("{s} {c}"))).collect()
        }
    }
}

/// Prints the findings, one line per policy (result, severity, remediation, name, standards
/// and controls) and one per violation under it.
///
/// # Errors
///
/// When `out` cannot be written.
pub fn print(findings: &[Finding], out: &mut impl Write) -> std::io::Result<()> {
    for f in findings {
        let result = match f.report.compliant {
            Some(true) => "compliant",
            Some(false) if f.fails() => "NON-COMPLIANT",
            Some(false) => "non-compliant",
            None => "unknown",
        };
        let severity = format!("{:?}", f.severity).to_lowercase();
        let remediation = format!("{:?}", f.remediation).to_lowercase();
        let controls =
            if f.controls.is_empty() { "(no standard or control)".to_string() } else { f.controls.join(", ") };
        writeln!(out, "{result:<14} {severity:<8} {remediation:<7} {}  {controls}", f.report.name)?;
        for v in &f.report.violations {
            let field = v.field.as_deref().map(|f| format!(" {f}")).unwrap_or_default();
            let values = match (&v.expected, &v.actual) {
                (Some(e), Some(a)) => format!(" (expected {e}, actual {a})"),
                (Some(e), None) => format!(" (expected {e})"),
                (None, Some(a)) => format!(" (actual {a})"),
                (None, None) => String::new(),
            };
            writeln!(out, "    {}{field}: {}{values}", v.object, v.message)?;
        }
    }
    let failing = findings.iter().filter(|f| f.fails()).count();
    let summary = if failing == 0 {
        format!("{} policies: no violation of high or critical severity", findings.len())
    } else {
        format!("{} policies: {failing} violated with high or critical severity", findings.len())
    };
    writeln!(out, "{summary}")
}

/// Whether any finding fails the gate.
pub fn failing(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::fails)
}
