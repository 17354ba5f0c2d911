//! Escaping by default: every page that shows text an agent, a commit author or a viewer
//! controls (cluster names, labels, commit and policy messages, override reasons, form values)
//! is rendered with that text holding markup and quotes, and must show it as text — no element
//! it opens and no attribute it leaves.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde_json::json;

use super::clusters::{ListForm, render_clusters};
use super::compliance::{ComplianceForm, render_compliance, render_compliance_policy};
use super::layout::{error_page, form_problem, page};
use super::login::login_page;
use super::overrides::{render_form, render_overrides};
use super::preview::{PreviewForm, render_preview, render_promotions};
use super::summary::{render_rollouts, render_summary};
use super::{audit_page, cluster::render_cluster, lag};
use crate::api::{self, Progress, WaveProgress};

/// Free text as an attacker would write it: an element, and quotes that would end an attribute.
const EVIL: &str = "<script>alert(1)</script> \"evil\"";

/// When the pages are rendered, in unix seconds: the pages read no clock of their own.
const NOW: i64 = 1_790_000_000;

/// [`EVIL`] as a page must show it.
const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;evil&quot;";

/// `html`, a page or part of one showing [`EVIL`], shows it only escaped: no script element,
/// no quote that ends an attribute, and the text itself at least once.
#[track_caller]
fn check(what: &str, html: &str) {
    assert!(!html.contains("<script"), "{what}: a script element: {html}");
    assert!(!html.contains("\"evil\""), "{what}: an unescaped quote: {html}");
    assert!(!html.contains("</script>"), "{what}: {html}");
    assert!(html.contains(ESCAPED), "{what}: the text is not shown: {html}");
}

fn view<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("a view of the API's shape")
}

async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

#[test]
fn a_cluster_page_escapes_names_labels_messages_and_reasons() {
    let e = EVIL;
    let detail: api::ClusterDetail = view(json!({
        "name": e, "environment": e, "labels": {e: e}, "state": "failed", "declared": true,
        "registered": true, "lastReportAtMs": 1_000, "lastSequence": 1,
        "fleet": {"commit": e, "head": e, "state": "VerificationFailed", "message": e, "signer": e},
        "placements": [{
            "name": e, "state": "Failed", "health": "Degraded", "appliedCommit": e, "appliedDigest": e,
            "desiredCommit": e, "desiredDigest": e, "signer": e, "message": e, "images": [e, e], "behind": null,
            "objects": [{"apiVersion": e, "kind": e, "namespace": e, "name": e, "problem": "Drifted",
                         "message": e, "fields": [e]}],
        }],
        "policies": [{"name": e, "compliant": false, "violations": [{"object": e, "field": e, "message": e}],
                      "remediation": [e]}],
        "reports": [],
        "policyHistory": [{"kind": "policy", "seq": 1, "time": e, "timeMs": 0, "cluster": e, "policy": e,
                           "compliant": false, "commit": e, "standards": [e], "controls": [e], "violations": [],
                           "remediation": [e], "sequence": 1, "change": 1, "prevHash": e, "hash": e}],
        "overrides": [{"kind": "override", "seq": 2, "time": e, "timeMs": 0, "receivedAt": e, "receivedAtMs": 0,
                       "cluster": e, "environment": e, "target": e, "commit": e, "signer": e, "reason": e,
                       "sequence": 1, "change": 2, "prevHash": e, "hash": e}],
    }));
    let html = page(e, &render_cluster(&detail, NOW), true).into_string();
    check("cluster", &html);
    assert!(html.contains(&format!("<title>{ESCAPED} · Flotilla</title>")), "{html}");
    assert!(html.contains(&format!("<td>{ESCAPED}</td><td>{ESCAPED}</td></tr>")), "signer and message: {html}");
}

/// A cluster whose last report arrived at `at_ms`, as its page reads it.
fn reported_at(at_ms: i64) -> api::ClusterDetail {
    view(json!({
        "name": "store-0001", "environment": "prod", "labels": {}, "state": "synced", "declared": true,
        "registered": true, "lastReportAtMs": at_ms, "lastSequence": 1, "fleet": null, "placements": [],
        "policies": [], "reports": [], "policyHistory": [], "overrides": [],
    }))
}

#[test]
fn a_cluster_page_says_how_long_ago_its_last_report_came_as_of_the_time_it_is_rendered() {
    let at = "2026-09-21T14:13:20Z";
    for (ago_s, words) in [(0, "just now"), (4, "just now"), (5, "5 s ago"), (40, "40 s ago"), (3_600, "1 h ago")] {
        let html = render_cluster(&reported_at(NOW * 1_000), NOW + ago_s).into_string();
        let expected = format!("<time datetime=\"{at}\">{at}</time> <span class=\"ago\">{words}</span>");
        assert!(html.contains(&expected), "{ago_s} s: {html}");
    }
    // The same time, as a line of the cluster list.
    let list: api::Page<api::ClusterLine> = view(json!({"total": 1, "offset": 0, "items": [
        {"name": "store-0001", "environment": "prod", "standing": "synced", "placements": 1, "problems": 0,
         "fleet": "Synced", "lastReportAtMs": NOW * 1_000 - 40_000}
    ]}));
    let form = ListForm::default();
    let html = render_clusters(&form, &list, None, NOW).into_string();
    assert!(html.contains("<span class=\"ago\">40 s ago</span>"), "{html}");
}

#[test]
fn the_cluster_list_escapes_names_and_the_form_it_keeps() {
    let e = EVIL;
    let form = ListForm {
        state: e.into(),
        environment: e.into(),
        labels: e.into(),
        placement: e.into(),
        name: e.into(),
        sort: e.into(),
    };
    let list: api::Page<api::ClusterLine> = view(json!({"total": 1, "offset": 0, "items": [
        {"name": e, "environment": e, "standing": "synced", "placements": 1, "problems": 0, "fleet": "Synced"}
    ]}));
    let html = render_clusters(&form, &list, None, NOW).into_string();
    check("clusters", &html);
    assert!(html.contains(&format!("name=\"labels\" value=\"{ESCAPED}\"")), "{html}");
    check("clusters with a problem", &render_clusters(&form, &list, Some(e), NOW).into_string());
}

#[test]
fn the_summary_escapes_environments_placements_versions_and_waves() {
    let e = EVIL;
    let summary: api::Summary = view(json!({
        "clusters": 1, "byStanding": {"synced": 1}, "byEnvironment": {e: {"synced": 1}},
        "byPlacement": {e: {"synced": 1}}, "versions": {e: {e: [{"version": e, "clusters": 1}]}},
    }));
    check("summary", &render_summary(&summary, &[e]).into_string());
    let html = render_rollouts(&[std::sync::Arc::new(progress())]).into_string();
    check("rollouts", &html);
}

/// A rollout whose every name is [`EVIL`].
fn progress() -> Progress {
    let e = EVIL.to_string();
    Progress {
        placement: e.clone(),
        environment: e.clone(),
        head: Some(e.clone()),
        bake_seconds: 60,
        waves: vec![WaveProgress {
            name: e.clone(),
            clusters: 2,
            target: Some(e.clone()),
            head_reaches_it_at: Some(e.clone()),
            on_target: 1,
            on_head: 1,
            failed: 1,
            waiting: 0,
            halted: Some(e.clone()),
        }],
        halt: Some(flotilla_core::rollout::HaltAnswer {
            max_failed: e.clone(),
            commits: vec![flotilla_core::rollout::Halted {
                commit: e.clone(),
                failed: vec![1],
                halted_from: Some(e.clone()),
                halted_from_index: Some(0),
            }],
        }),
        arrivals: Vec::new(),
    }
}

#[test]
fn the_lag_ledger_and_the_rollout_escape_clusters_versions_and_wave_names() {
    let e = EVIL;
    let ledger: api::Ledger = view(json!({
        "placement": e, "environment": e, "head": e, "clusters": 1, "onHead": 0,
        "commits": [{"commit": e, "clusters": 1, "behind": {"commits": 1}}],
        "versions": [{"version": e, "clusters": 1}],
        "lagging": {"total": 1, "offset": 0, "items": [
            {"cluster": e, "commit": e, "version": e, "behind": {"commits": 1}, "standing": "progressing"}
        ]},
    }));
    check("lag", &lag::render_ledger(&ledger).into_string());
    check("rollout", &lag::render_progress(&progress()).into_string());
}

#[test]
fn compliance_pages_escape_standards_controls_policies_and_the_filter() {
    let e = EVIL;
    let counts = json!({"compliant": 1, "nonCompliant": 1, "unknown": 0, "notReported": 0});
    let compliance: api::Compliance = view(json!({
        "environment": e, "labels": e, "clusters": 2, "fleetError": e,
        "standards": [{"name": e, "counts": counts, "controls": [{"name": e, "counts": counts, "policies": [
            {"name": e, "inFleet": false, "severity": "high", "remediation": "inform", "categories": [e],
             "counts": counts}
        ]}]}],
    }));
    let form = ComplianceForm { environment: e.into(), labels: e.into() };
    check("compliance", &render_compliance(&form, &compliance).into_string());
    let policy: api::PolicyCompliance = view(json!({
        "policy": e, "environment": e, "labels": e, "inFleet": true, "severity": "high", "remediation": "inform",
        "standards": [e], "controls": [e], "categories": [e], "counts": counts,
        "nonCompliant": {"total": 1, "offset": 0, "items": [
            {"name": e, "environment": e, "standing": "failed", "violations": 1}
        ]},
    }));
    check("compliance policy", &render_compliance_policy(&form, e, &policy, NOW).into_string());
}

#[test]
fn the_overrides_page_escapes_reasons_signers_and_the_filter() {
    let e = EVIL;
    let filter = crate::overrides::Filter {
        cluster: Some(e.into()),
        target: Some(e.into()),
        environment: Some(e.into()),
        since: Some(e.into()),
        limit: None,
    };
    let groups: Vec<api::OverrideGroup> = view(json!([{
        "target": e, "commit": e, "signer": e, "reason": e, "firstReceivedAt": e, "firstReceivedAtMs": 0,
        "lastReceivedAt": e, "lastReceivedAtMs": 0,
        "clusters": [{"cluster": e, "environment": e, "receivedAt": e, "receivedAtMs": 0, "time": e, "seq": 1,
                      "hash": e}],
    }]));
    let html = render_overrides(&render_form(&filter), &groups).into_string();
    check("overrides", &html);
    assert!(html.contains(&format!("<td>{ESCAPED}</td>")), "{html}");
}

#[test]
fn the_preview_escapes_names_errors_and_diff_lines() {
    let e = EVIL;
    let preview: api::Preview = view(json!({
        "environment": e, "repository": e, "ref": e, "commit": e, "warnings": [e], "clusters": 2,
        "wouldChange": 1, "wouldFail": 1, "unchanged": 0,
        "groups": [
            {"placement": e, "change": "changed", "digest": e, "sourceCommit": e, "error": null, "clusters": 1,
             "names": [e], "diff": {"cluster": e, "fromCommit": e, "toCommit": e, "unchanged": 0, "error": e,
                                    "objects": [{"apiVersion": e, "kind": e, "namespace": e, "name": e,
                                                 "change": "changed", "lines": [format!("+{e}"), format!("-{e}")],
                                                 "clipped": true}]}},
            {"placement": e, "change": "added", "digest": null, "sourceCommit": e, "error": e, "clusters": 1,
             "names": [e], "diff": null},
        ],
    }));
    check("preview", &render_preview(&preview).into_string());
    let form = PreviewForm { reference: e.into(), repository: e.into(), environment: e.into() };
    check("preview form", &form.render().into_string());
    let promotions: std::collections::BTreeMap<String, api::Promotion> = view(json!({e: {
        "url": e, "devBranch": e, "prodBranch": e, "error": e,
        "commits": [{"id": e, "time": 0, "tree": e, "summary": e}],
    }}));
    check("promotions", &render_promotions(&promotions).into_string());
}

#[test]
fn the_audit_page_escapes_standards_controls_policies_and_clusters() {
    let e = EVIL;
    let audit: api::Audit = view(json!({"standard": e, "at": e, "controls": [{
        "control": e, "verdict": "nonCompliant", "compliant": 0, "nonCompliant": 1, "unknown": 0,
        "policies": [{"policy": e, "results": [{"cluster": e, "compliant": false, "since": e, "commit": e,
                      "violations": [], "remediation": [], "evidenceSeq": 1, "evidenceHash": e}]}],
    }]}));
    check("audit", &audit_page(&audit));
}

#[tokio::test]
async fn error_pages_and_the_login_page_escape_their_messages() {
    check("error", &body(error_page(StatusCode::NOT_FOUND, EVIL)).await);
    let form = html! { form { input name="x" value=(EVIL); } };
    check("form problem", &body(form_problem(StatusCode::BAD_REQUEST, EVIL, &form, EVIL)).await);
    check("login", &body(login_page(StatusCode::UNAUTHORIZED, Some(EVIL))).await);
}
