//! Governance on the cluster: every cycle, the policies that select this cluster are evaluated
//! against its live objects ([`flotilla_core::policy::evaluate`]). An `enforce` policy's fixes
//! are carried out — server-side apply as field manager `flotilla-policy`, or delete — and the
//! policy is evaluated again, so that the report says how things stand after the remediation,
//! with what was done; an `inform` policy, and every policy in plan mode, never writes.
//!
//! A policy whose objects cannot be read (the API server fails) is reported Unknown with the
//! reason, never compliant. Not the evaluation itself (core), nor the report (the daemon).

use std::collections::{BTreeMap, BTreeSet};

use flotilla_core::fleet::{Policy, Remediation};
use flotilla_core::plan::ObjectRef;
use flotilla_core::policy::{self, Fix};
use flotilla_core::report::{PolicyReport, Violation, clip};
use serde_json::Value;

use crate::cluster::{self, Cluster, Mode};

/// Evaluates every policy, enforcing those that say so when `mode` applies.
pub async fn govern(cluster: &mut Cluster, policies: &[&Policy], mode: Mode) -> Vec<PolicyReport> {
    let mut reports = Vec::with_capacity(policies.len());
    for policy in policies {
        reports.push(one(cluster, policy, mode).await);
    }
    reports
}

/// What a policy is evaluated against: the live objects of its templates' kinds, and which of
/// those kinds the cluster serves.
struct Live {
    objects: Vec<Value>,
    served: BTreeSet<(String, String)>,
}

impl Live {
    /// Lists what the templates are about: per kind, only the namespaces the templates name
    /// when they all name one (a store's Pods are listed in `bt`, not in the whole cluster).
    async fn read(cluster: &mut Cluster, policy: &Policy) -> Result<Live, cluster::Error> {
        // Kind → the namespaces its templates name (`None`: some template names none: all).
        let mut kinds: BTreeMap<(String, String), Option<BTreeSet<String>>> = BTreeMap::new();
        for t in &policy.spec.objects {
            let text = |key: &str| t.object.get(key).and_then(Value::as_str).map(str::to_string);
            let (Some(api_version), Some(kind)) = (text("apiVersion"), text("kind")) else { continue };
            let namespace = t.object.pointer("/metadata/namespace").and_then(Value::as_str);
            let entry = kinds.entry((api_version, kind)).or_insert_with(|| Some(BTreeSet::new()));
            match (entry.as_mut(), namespace) {
                (Some(namespaces), Some(ns)) => {
                    namespaces.insert(ns.to_string());
                }
                _ => *entry = None,
            }
        }
        let mut live = Live { objects: Vec::new(), served: BTreeSet::new() };
        for ((api_version, kind), namespaces) in kinds {
            if !cluster.serves(&api_version, &kind).await? {
                continue;
            }
            match namespaces {
                Some(namespaces) => {
                    for ns in &namespaces {
                        live.objects.extend(cluster.list_in(&api_version, &kind, Some(ns), "").await?);
                    }
                }
                None => live.objects.extend(cluster.list(&api_version, &kind, "").await?),
            }
            live.served.insert((api_version, kind));
        }
        Ok(live)
    }

    fn evaluate(&self, policy: &Policy) -> policy::Evaluation {
        let served = |api_version: &str, kind: &str| self.served.contains(&(api_version.to_string(), kind.to_string()));
        policy::evaluate(policy, &self.objects, &served)
    }
}

async fn one(cluster: &mut Cluster, policy: &Policy, mode: Mode) -> PolicyReport {
    let live = match Live::read(cluster, policy).await {
        Ok(live) => live,
        Err(e) => return unknown(policy, &e),
    };
    let evaluation = live.evaluate(policy);
    let enforce = policy.spec.remediation == Remediation::Enforce && mode == Mode::Apply;
    if !enforce || evaluation.fixes.is_empty() {
        return evaluation.report;
    }
    let mut remediation = Vec::new();
    for fix in &evaluation.fixes {
        if cluster.stopping() {
            remediation.push("stopped before the remaining fixes: the agent is shutting down".to_string());
            break;
        }
        remediation.push(clip(&carry_out(cluster, fix, &live.objects).await));
    }
    let mut report = match Live::read(cluster, policy).await {
        Ok(after) => after.evaluate(policy).report,
        Err(e) => unknown(policy, &e),
    };
    report.remediation = remediation;
    report
}

/// Carries out one fix; says what was done, or what failed, in one sentence.
async fn carry_out(cluster: &mut Cluster, fix: &Fix, objects: &[Value]) -> String {
    match fix {
        Fix::Apply(object) => {
            let Some(r) = ObjectRef::of(object) else {
                return "could not apply a fix without apiVersion, kind or name".to_string();
            };
            let existed = objects.iter().any(|o| ObjectRef::of(o).as_ref() == Some(&r));
            match cluster.apply_as(object, policy::FIELD_MANAGER).await {
                Ok(_) if existed => format!("patched {r}"),
                Ok(_) => format!("created {r}"),
                Err(e) => format!("could not apply {r}: {e}"),
            }
        }
        Fix::Delete { api_version, kind, namespace, name } => {
            let r = ObjectRef {
                api_version: api_version.clone(),
                kind: kind.clone(),
                namespace: namespace.clone().unwrap_or_default(),
                name: name.clone(),
            };
            match cluster.delete(&r).await {
                Ok(true) => format!("deleted {r}"),
                Ok(false) => format!("{r} was already gone"),
                Err(e) => format!("could not delete {r}: {e}"),
            }
        }
    }
}

/// A policy that could not be evaluated: Unknown, with the reason.
fn unknown(policy: &Policy, e: &cluster::Error) -> PolicyReport {
    PolicyReport {
        name: policy.name().to_string(),
        compliant: None,
        violations: vec![Violation {
            object: "*".to_string(),
            field: None,
            expected: None,
            actual: None,
            message: clip(&format!("could not read the objects the policy is about: {e}")),
        }],
        remediation: Vec::new(),
    }
}
