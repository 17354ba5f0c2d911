//! The web dashboard over real HTTP on loopback: the login and the cookie, what the pages show,
//! escaping, paging, what runs where, the rollouts under way, the trends, searching and sorting;
//! then the same pages in a real headless Chromium (Debian's `chromium`, which `.ci/run`
//! installs), which renders them, dumps the DOM and saves screenshots under
//! `target/dashboard-screenshots/` for a human to look at — and every page again at 2,000
//! clusters, two versions rolling out, under `target/dashboard-screenshots/2000-clusters/`.
//!
//! Not the JSON API (`api.rs`) and not load: the pages read the same index as the JSON views.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DECLARED_STORE, Hub, PCI_POLICIES, Setup, WEB_PLACEMENT, fleet_repository, report, with_policies};
use flotilla_git::testing::{Tool, require};
use hub_index::store::Store;
use serde_json::json;

const VIEWER: &str = "flt_view_dashboard_token_from_file";

/// How many `edge-NNN` clusters the fleet declares: more than a page of 100.
const EDGES: usize = 120;

/// A label value that is free text with markup in it.
const NOTE: &str = "<script>alert(1)</script> & \"quoted\"";

/// The fleet: placement `web`, store-9999, the edges, [`PCI_POLICIES`], and `store-baseline`, a
/// policy for every cluster whose standard's name is [`NOTE`].
fn fleet_yaml() -> String {
    let mut yaml = format!("{WEB_PLACEMENT}---\n{DECLARED_STORE}---\n{PCI_POLICIES}");
    let _ = write!(
        yaml,
        "---\napiVersion: flotilla.dev/v1alpha1\nkind: Policy\nmetadata: {{name: store-baseline}}\n\
         spec: {{standards: ['{NOTE}'], severity: low, remediation: inform, clusters: {{}}, objects: []}}\n"
    );
    for i in 0..EDGES {
        let _ = write!(
            yaml,
            "---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\n\
             metadata: {{name: edge-{i:03}, labels: {{kind: edge}}}}\nspec: {{environment: prod}}\n"
        );
    }
    yaml
}

/// The reason of store-0001's override: free text from a commit message, with markup in it.
const REASON: &str = "INC-4711 <b>card readers</b> & \"down\"";

/// [`REASON`] as a page shows it.
const REASON_ESCAPED: &str = "INC-4711 &lt;b&gt;card readers&lt;/b&gt; &amp; &quot;down&quot;";

/// All clusters: 3 registered, store-9999 and the edges declared.
const CLUSTERS: usize = 4 + EDGES;

/// A hub on loopback with SQLite, its fleet served by `git daemon`, holding: store-0001 (synced
/// on the head, fleet and source signed, the head taken through a freeze by an override; not
/// compliant with pci-default-deny, compliant with pci-no-nodeport), store-0002 and store-0666
/// (registered, never reported; store-0666 has [`NOTE`] as a label), store-9999 and
/// edge-000…edge-119 (declared in git only).
async fn start() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    fleet_repository(
        dir.path(),
        &[
            ("fleet/fleet.yaml", &fleet_yaml()),
            ("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"),
        ],
        &[],
    );
    let setup = Setup {
        db: format!("sqlite:{}", dir.path().join("hub.db").display()),
        viewer: VIEWER,
        environments: &["prod"],
        // Redirects are checked, not followed.
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
    };
    let hub = Hub::serve(dir, setup).await;
    let token = hub.register("store-0001").await;
    hub.register("store-0002").await;
    hub.register_labelled("store-0666", json!({"kind": "store", "note": NOTE})).await;
    let results = [("pci-default-deny", Some(false), 1), ("pci-no-nodeport", Some(true), 0)];
    let mut body: serde_json::Value =
        serde_json::from_str(&with_policies(&report("store-0001", 1, "Synced", &hub.head), &results)).unwrap();
    // Who signed what it runs, and the web commit it took through a freeze.
    body["placements"][0]["signer"] = json!("release@retail.example");
    body["fleet"] = json!({"commit": hub.head, "state": "Synced", "signer": "platform@retail.example"});
    body["overrides"] =
        json!([{"target": "web", "commit": hub.head, "signer": "oncall@retail.example", "reason": REASON}]);
    let (status, answer) = hub.post("/api/v1/reports", Some(&token), &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    // Until the fleet is read and the report is in the index.
    hub.wait_for("/api/v1/summary", "the fleet and the report", |v| {
        v["clusters"] == CLUSTERS && v["byStanding"]["synced"] == 1
    })
    .await;
    hub.wait_for("/api/v1/lag?placement=web&environment=prod", "the fleet's head", |v| v["onHead"] == 1).await;
    hub
}

/// The dashboard's own requests.
impl Hub {
    /// A page with the viewer cookie: status and HTML.
    async fn page(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .header("cookie", format!("flotilla_viewer={VIEWER}"))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
        (status, response.text().await.unwrap())
    }

    async fn login(&self, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/login", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// The cluster names a list page links to, in order.
fn cluster_names(html: &str) -> Vec<String> {
    html.split("class=\"cluster\" href=\"/clusters/")
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_string()
        })
        .collect()
}

/// When cluster `name`'s last report came, as the API says it, written as the pages write it:
/// the time, then the start of how long ago.
async fn last_report_shown(hub: &Hub, name: &str) -> String {
    let (_, detail) = hub.get(&format!("/api/v1/clusters/{name}")).await;
    let at = flotilla_core::calendar::rfc3339(detail["lastReportAtMs"].as_i64().expect("a time").div_euclid(1_000));
    format!("<time datetime=\"{at}\">{at}</time> <span class=\"ago\">")
}

/// The `href` of the element with `id`, HTML-unescaped.
fn href(html: &str, id: &str) -> Option<String> {
    let needle = format!("id=\"{id}\" href=\"");
    let rest = &html[html.find(&needle)? + needle.len()..];
    Some(rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn pages_need_a_login_and_show_the_fleet_escaped_and_paged() {
    let hub = start().await;

    // Without a token: 401 and the login form, on every page.
    for path in [
        "/",
        "/clusters",
        "/clusters/store-0001",
        "/lag?placement=web",
        "/compliance",
        "/compliance/pci-default-deny",
        "/overrides",
    ] {
        let response = hub.client.get(format!("{}{path}", hub.url)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("<form method=\"post\" action=\"/login\""), "{path}: {html}");
        assert!(!html.contains("store-0001"), "{path} shows nothing of the fleet: {html}");
    }
    let stale = hub.client.get(&hub.url).header("cookie", "flotilla_viewer=flt_view_revoked").send().await.unwrap();
    assert_eq!(stale.status().as_u16(), 401);
    assert!(stale.text().await.unwrap().contains("unknown viewer token"));

    // A wrong token: 401, the form again and a message.
    let wrong = hub.login("token=flt_view_wrong").await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let html = wrong.text().await.unwrap();
    assert!(html.contains("id=\"error\">unknown viewer token<") && html.contains("action=\"/login\""), "{html}");
    assert_eq!(hub.login("").await.status().as_u16(), 401);

    // The right one, percent-encoded as a browser sends it: 303 to / with the cookie.
    let right = hub.login(&format!("token={}&submit=Log+in", VIEWER.replace('_', "%5F"))).await;
    assert_eq!(right.status().as_u16(), 303);
    assert_eq!(right.headers()["location"], "/");
    let cookie = right.headers()["set-cookie"].to_str().unwrap();
    assert_eq!(cookie, format!("flotilla_viewer={VIEWER}; HttpOnly; SameSite=Strict; Path=/"));
    // A token the store issued works too.
    let issued = Store::open(&format!("sqlite:{}", hub.dir.path().join("hub.db").display()))
        .await
        .unwrap()
        .create_viewer_token()
        .await
        .unwrap();
    assert_eq!(hub.login(&format!("token={issued}")).await.status().as_u16(), 303);

    // The summary, with the cookie and with a bearer token.
    let (status, html) = hub.page("/").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("id=\"clusters\">{CLUSTERS}<")), "{html}");
    assert!(html.contains("id=\"count-synced\" href=\"/clusters?state=synced\">1</a>"), "{html}");
    let never = CLUSTERS - 1;
    assert!(html.contains(&format!("id=\"count-neverReported\" href=\"/clusters?state=neverReported\">{never}</a>")));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"), "{html}");
    assert!(html.contains("<time id=\"rendered\" datetime=\"20"), "{html}");
    assert!(html.contains("href=\"/lag?placement=web&amp;environment=prod\""), "{html}");
    let bearer = hub.client.get(&hub.url).bearer_auth(VIEWER).send().await.unwrap();
    assert_eq!(bearer.status().as_u16(), 200);
    let csp = bearer.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");

    // The list, filtered.
    let (status, html) = hub.page("/clusters?state=neverReported&labels=kind%3Dstore&environment=&offset=").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(cluster_names(&html), ["store-0002", "store-0666", "store-9999"]);
    assert!(html.contains("<option value=\"neverReported\" selected>"), "the form keeps the filter: {html}");
    assert!(html.contains("name=\"labels\" value=\"kind=store\""), "{html}");
    let (_, html) = hub.page("/clusters?state=synced").await;
    assert_eq!(cluster_names(&html), ["store-0001"]);
    let (status, html) = hub.page("/clusters?state=sunk").await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"error\">no state &quot;sunk&quot;<"), "{html}");
    // States in one casing: lower-case words.
    assert!(html.contains("<option value=\"neverReported\">never reported</option>"), "{html}");
    assert!(html.contains("<span id=\"refresh\">refreshes every 10 s</span>"), "the refresh is shown: {html}");

    // Paging: 100 a page, next and previous keep the filter.
    let (_, first) = hub.page("/clusters?labels=kind%3Dedge").await;
    let names = cluster_names(&first);
    assert_eq!((names.len(), names[0].as_str(), names[99].as_str()), (100, "edge-000", "edge-099"));
    assert!(first.contains("id=\"showing\">1–100 of 120<"), "{first}");
    assert_eq!(href(&first, "prev"), None);
    let next = href(&first, "next").unwrap();
    assert_eq!(next, "/clusters?labels=kind%3Dedge&offset=100");
    let (_, second) = hub.page(&next).await;
    let names = cluster_names(&second);
    assert_eq!((names.len(), names[0].as_str(), names[19].as_str()), (20, "edge-100", "edge-119"));
    assert_eq!(href(&second, "next"), None);
    assert_eq!(href(&second, "prev").unwrap(), "/clusters?labels=kind%3Dedge");

    // Free text is escaped: the label shows as text, never as markup.
    let (status, html) = hub.page("/clusters/store-0666").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(">&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;</a>"), "{html}");
    assert!(!html.contains("<script"), "{html}");

    // One cluster, and the lag ledger.
    let (status, html) = hub.page("/clusters/store-0001").await;
    assert_eq!(status, 200, "{html}");
    let short = &hub.head[..12];
    assert!(html.contains("<span class=\"badge s-synced\">synced</span>"), "{html}");
    // The last report's time, and how long ago beside it (the words: dashboard::tests' fixed clock).
    assert!(html.contains(&last_report_shown(&hub, "store-0001").await), "{html}");
    assert!(html.contains(&format!("<code title=\"{}\">{short}</code>", hub.head)), "{html}");
    assert!(html.contains("on the head"), "{html}");
    let (status, html) = hub.page("/clusters/nope").await;
    assert_eq!(status, 404);
    assert!(html.contains("no cluster &quot;nope&quot;"), "{html}");
    let (status, html) = hub.page("/lag?placement=web&environment=prod").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"on-head\">1</span> of <span id=\"running\">1</span>"), "{html}");
    assert!(html.contains(&format!("<td><code title=\"{}\">{short}</code></td><td class=\"n\">1</td>", hub.head)));
    // The rollout under it: `web` has none, so one wave, everyone, on the head already.
    let wave = format!(
        "<tr><td>everyone</td><td>1</td><td><code>{short}</code></td><td>1</td><td>1</td><td>0</td><td>0</td><td>reached</td><td></td></tr>"
    );
    assert!(html.contains("<table id=\"waves\">") && html.contains(&wave), "{html}");
    assert_eq!(hub.page("/lag?placement=nope").await.0, 404);

    // Logging out forgets the cookie.
    let out = hub.client.post(format!("{}/logout", hub.url)).send().await.unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_cluster_list_searches_by_name_and_sorts_by_column() {
    let hub = start().await;
    // Search by name, and sort by column: links that keep the filter.
    let (_, html) = hub.page("/clusters?name=STORE-06").await;
    assert_eq!(cluster_names(&html), ["store-0666"]);
    assert!(html.contains("name=\"name\" value=\"STORE-06\""), "{html}");
    assert_eq!(href(&html, "sort-last-report").unwrap(), "/clusters?name=STORE-06&sort=last-report");
    let (_, html) = hub.page("/clusters?labels=kind%3Dstore&sort=state").await;
    assert_eq!(cluster_names(&html), ["store-0002", "store-0666", "store-9999", "store-0001"], "the worst first");
    assert!(html.contains("id=\"sort-state\" href=\"/clusters?labels=kind%3Dstore&amp;sort=state\">state ▲</a>"));
    let (_, html) = hub.page("/clusters?labels=kind%3Dstore&sort=-name").await;
    assert_eq!(cluster_names(&html), ["store-9999", "store-0666", "store-0002", "store-0001"]);
    assert_eq!(href(&html, "sort-name").unwrap(), "/clusters?labels=kind%3Dstore", "toggles back");
    let (_, html) = hub.page("/clusters?labels=kind%3Dstore&sort=-last-report").await;
    assert_eq!(cluster_names(&html)[0], "store-0001", "the newest report first");
    assert_eq!(hub.page("/clusters?sort=size").await.0, 400);
    // An empty list says so.
    let (_, html) = hub.page("/clusters?name=nobody").await;
    assert!(html.contains("<td colspan=\"7\" class=\"muted none\">none</td>"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn the_summary_shows_what_runs_where_and_the_rollouts_under_way() {
    let hub = start().await;
    // Every cluster on the head: no rollout under way.
    let (_, html) = hub.page("/").await;
    assert!(html.contains("<table id=\"rollouts\">"), "{html}");
    assert!(html.contains("class=\"muted none\">none: every cluster runs its placement's head<"), "{html}");
    // The trends, drawn as SVG: the hub sampled the standings as it started.
    assert!(html.contains("<svg id=\"trend-states\" class=\"trend\""), "{html}");
    assert!(html.contains("<polyline data-line=\"synced\" fill=\"none\" stroke=\"#1a7f37\""), "{html}");
    assert!(html.contains("<svg id=\"trend-compliance\" class=\"trend\""), "{html}");

    // What version runs where: the tag of store-0001's image, on the summary, the lag page and
    // in the JSON.
    let one = "<span class=\"version\"><code>1.0</code>: 1</span>";
    let (_, html) = hub.page("/").await;
    assert!(html.contains(&format!("<td data-placement=\"web\">{one}")), "{html}");
    let (_, html) = hub.page("/lag?placement=web&environment=prod").await;
    assert!(html.contains(&format!("<div id=\"versions\">{one}")), "{html}");
    let (_, summary) = hub.get("/api/v1/summary").await;
    assert_eq!(summary["versions"]["web"]["prod"], json!([{"version": "1.0", "clusters": 1}]), "{summary}");
    let (_, lag) = hub.get("/api/v1/lag?placement=web&environment=prod").await;
    assert_eq!(lag["versions"], json!([{"version": "1.0", "clusters": 1}]), "{lag}");

    // store-0002 still applies an older commit with an older image: web is rolling out.
    let token = hub.register("store-0002").await;
    let old = "1".repeat(40);
    let mut body: serde_json::Value = serde_json::from_str(&report("store-0002", 1, "Progressing", &old)).unwrap();
    body["placements"][0]["images"] = json!(["registry.example/web:0.9"]);
    let (status, answer) = hub.post("/api/v1/reports", Some(&token), &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    hub.wait_for("/api/v1/summary", "store-0002's report", |v| v["byStanding"]["progressing"] == 1).await;
    // The lag page computed the rollout before: the summary shows it as computed for a moment.
    let started = std::time::Instant::now();
    let html = loop {
        let (_, html) = hub.page("/").await;
        if html.contains("1 of 2") || started.elapsed() > Duration::from_secs(10) {
            break html;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let short = &hub.head[..12];
    let versions = "<td data-placement=\"web\"><span class=\"version\"><code>1.0</code>: 1</span> · \
                    <span class=\"version\"><code>0.9</code>: 1</span><div class=\"bar\">";
    assert!(html.contains(versions), "the highest version first among equals: {html}");
    let wave = "<tr data-rollout=\"web/prod\" data-wave=\"everyone\">";
    assert!(html.contains(wave), "{html}");
    assert!(html.contains("<span class=\"progress\">1 of 2 · 0 failed · 1 waiting</span>"), "{html}");
    assert!(html.contains("<span class=\"on\" style=\"width:50.0%\""), "the bar: {html}");
    assert!(html.contains(&format!("<td rowspan=\"1\"><code title=\"{}\">{short}</code></td>", hub.head)), "{html}");
    let (_, html) = hub.page("/lag?placement=web&environment=prod").await;
    assert!(html.contains("<code>0.9</code>: 1</span>"), "{html}");
    let lagging = format!("<td><code title=\"{old}\">{}</code></td><td><code>0.9</code></td>", &old[..12]);
    assert!(html.contains(&lagging), "each lagging cluster's version: {html}");
    let (_, summary) = hub.get("/api/v1/summary").await;
    let both = json!([{"version": "1.0", "clusters": 1}, {"version": "0.9", "clusters": 1}]);
    assert_eq!(summary["versions"]["web"]["prod"], both, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn compliance_pages_show_standards_controls_policies_and_who_does_not_comply() {
    let hub = start().await;
    // Governance: standards, controls, policies; a policy's non-compliant clusters.
    let (status, html) = hub.page("/compliance").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<a href=\"/compliance\">Compliance</a>"), "in the navigation: {html}");
    assert!(html.contains(&format!("id=\"compliance-clusters\">{CLUSTERS}<")), "{html}");
    let deny = "data-policy=\"pci-default-deny\" href=\"/compliance/pci-default-deny?environment=prod\">1</a>";
    assert!(html.contains(deny), "{html}");
    assert!(html.contains("<th colspan=\"5\">PCI-DSS v4.0</th>"), "{html}");
    assert!(html.contains("<th colspan=\"4\">1.4.2</th>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;</th>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    // store-baseline selects every cluster and none reported it.
    let baseline = format!("<td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">{CLUSTERS}</td></tr>");
    assert!(html.contains(&baseline), "{html}");
    let (status, html) = hub.page("/compliance?labels=kind%3Dedge").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("id=\"compliance-clusters\">{EDGES}<")), "{html}");
    assert!(html.contains("href=\"/compliance/pci-default-deny?environment=prod&amp;labels=kind%3Dedge\">0</a>"));
    let (status, html) = hub.page("/compliance?labels=kind").await;
    assert_eq!(status, 400);
    assert!(html.contains("id=\"error\">label &quot;kind&quot; is not key=value<"), "{html}");
    assert_eq!(hub.page("/compliance?environment=staging").await.0, 404);
    let (status, html) = hub.page("/compliance/pci-default-deny").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(cluster_names(&html), ["store-0001"]);
    assert!(html.contains("id=\"count-nonCompliant\">1<") && html.contains("id=\"count-notReported\">3<"), "{html}");
    assert!(html.contains("severity <b>high</b> · remediation <b>inform</b>"), "{html}");
    let (_, html) = hub.page("/compliance/pci-default-deny?labels=kind%3Dedge").await;
    assert!(cluster_names(&html).is_empty() && html.contains("id=\"count-notReported\">0<"), "{html}");
    assert!(html.contains("name=\"labels\" value=\"kind=edge\""), "the form keeps the filter: {html}");
    let (status, html) = hub.page("/compliance/nope").await;
    assert_eq!(status, 404);
    assert!(html.contains("no policy &quot;nope&quot;"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn cluster_pages_show_who_signed_and_the_overrides_page_who_passed_a_freeze() {
    let hub = start().await;
    let short = &hub.head[..12];
    // The fleet commit and its signer, each placement's signer, the overrides it ran.
    let (status, html) = hub.page("/clusters/store-0001").await;
    assert_eq!(status, 200, "{html}");
    let fleet = format!(
        "<table id=\"fleet\"><tr><th>fleet commit</th><th>state</th><th>signer</th><th>branch head</th>\
         <th>message</th></tr><tr><td><code title=\"{}\">{short}</code></td>\
         <td><span class=\"badge s-synced\">synced</span></td><td>platform@retail.example</td><td></td><td></td></tr></table>",
        hub.head
    );
    assert!(html.contains(&fleet), "{html}");
    assert!(html.contains("<td>release@retail.example</td>"), "the placement's signer: {html}");
    assert!(html.contains("<td><code>registry.example/web:1.0</code></td>"), "the images it runs: {html}");
    assert!(html.contains("<table id=\"cluster-overrides\">"), "{html}");
    assert!(html.contains(&format!("<td>web</td><td><code title=\"{}\">{short}</code></td>", hub.head)), "{html}");
    assert!(html.contains(&format!("<td>oncall@retail.example</td><td>{REASON_ESCAPED}</td>")), "{html}");
    assert!(!html.contains("<b>card"), "{html}");

    // A cluster whose newest fleet commit did not verify is failed, and the pages say why.
    let token = hub.register("store-0003").await;
    let unsigned = "0b5c0e0000000000000000000000000000000004";
    let mut body: serde_json::Value = serde_json::from_str(&report("store-0003", 1, "Synced", &hub.head)).unwrap();
    body["fleet"] = json!({"commit": hub.head, "head": unsigned, "state": "VerificationFailed",
        "message": format!("{unsigned} is not signed <by anyone>"), "signer": "platform@retail.example"});
    let (status, answer) = hub.post("/api/v1/reports", Some(&token), &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let (_, html) = hub.page("/clusters?state=failed").await;
    assert_eq!(cluster_names(&html), ["store-0003"], "{html}");
    assert!(html.contains("<th>fleet</th>"), "{html}");
    assert!(html.contains("<span class=\"badge s-failed\">verification failed</span>"), "{html}");
    let (_, html) = hub.page("/clusters/store-0003").await;
    assert!(html.contains("<span class=\"badge s-failed\">failed</span>"), "{html}");
    assert!(
        html.contains(&format!(
            "<p class=\"error\" id=\"fleet-problem\">The fleet branch's newest commit <code>{}</code> did not \
             verify: this cluster stays on <code>{short}</code> and takes no fleet change until a signed one \
             comes.</p>",
            &unsigned[..12]
        )),
        "{html}"
    );
    assert!(html.contains("is not signed &lt;by anyone&gt;"), "{html}");

    // Which overrides happened, on a page of their own.
    let (status, html) = hub.page("/overrides").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("<a href=\"/overrides\">Overrides</a>"), "in the navigation: {html}");
    assert!(html.contains("<table id=\"overrides\">"), "{html}");
    assert!(html.contains(&format!("<td>web</td><td><code title=\"{}\">{short}</code></td>", hub.head)), "{html}");
    assert!(html.contains(&format!("<td>oncall@retail.example</td><td>{REASON_ESCAPED}</td>")), "{html}");
    assert_eq!(cluster_names(&html), ["store-0001"], "{html}");
    assert!(!html.contains("<b>card"), "{html}");
    let (status, html) = hub.page("/overrides?target=nope").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"no-overrides\""), "{html}");
    let (status, html) = hub.page("/overrides?since=yesterday").await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("id=\"error\">since &quot;yesterday&quot;"), "{html}");
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium.

/// `target/dashboard-screenshots/`, next to the test binary's profile folder.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("the test binary lives in target/<profile>/deps");
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Chromium process, killed when dropped (also when a test fails).
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs headless Chromium once on `url` with `mode` (`--dump-dom` or `--screenshot=FILE`), in
/// its own profile folder, and returns what it printed; panics with its log if it fails or takes
/// more than 30 s.
fn run_chromium(binary: &Path, work: &Path, run: &str, mode: &str, url: &str) -> String {
    let profile = work.join(format!("profile-{run}"));
    let stdout = work.join(format!("{run}.out"));
    let stderr = work.join(format!("{run}.err"));
    let child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--timeout=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut browser = Browser(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = browser.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "chromium {mode} {url} ran for 30 s: {}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium {mode} {url}: {status}: {}", std::fs::read_to_string(&stderr).unwrap());
    std::fs::read_to_string(&stdout).unwrap()
}

/// Headless Chromium has no way to send a header or type into a form, so the test starts it on
/// a tiny "cookie door" served by the test on another port of 127.0.0.1: the door sets the
/// viewer cookie, as `POST /login` would, and redirects to the hub's page. Cookies are not
/// separated by port and both ports are one site, so the browser sends the cookie on to the
/// hub. The hub itself never takes a token from a URL.
async fn cookie_door(hub_url: String) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::RawQuery;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let door = axum::Router::new().route(
        "/",
        axum::routing::get(move |RawQuery(q): RawQuery| {
            let to = hub_index::dashboard::decode(q.as_deref().unwrap_or_default().strip_prefix("to=").unwrap_or("/"));
            let location = format!("{hub_url}{to}");
            async move {
                let cookie = format!("flotilla_viewer={VIEWER}; HttpOnly; SameSite=Strict; Path=/");
                (StatusCode::FOUND, [(header::LOCATION, location), (header::SET_COOKIE, cookie)]).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, door).await.unwrap();
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_chromium, flotilla_skip_git_daemon), ignore = "FLOTILLA_SKIP=chromium or git-daemon")]
async fn headless_chromium_renders_the_pages() {
    let binary = require(Tool::Chromium);
    let hub = start().await;
    let (door, door_task) = cookie_door(hub.url.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let screenshots = screenshot_dir();
    let pages: [(&str, &str, &[&str]); 9] = [
        (
            "summary",
            "/",
            &[
                &format!("id=\"clusters\">{CLUSTERS}<"),
                "id=\"count-synced\" href=\"/clusters?state=synced\">1</a>",
                &format!("id=\"count-neverReported\" href=\"/clusters?state=neverReported\">{}</a>", CLUSTERS - 1),
            ],
        ),
        ("clusters", "/clusters?state=neverReported&labels=kind%3Dstore", &["1–3 of 3"]),
        ("clusters-paged", "/clusters?labels=kind%3Dedge&offset=100", &["101–120 of 120", ">edge-119</a>"]),
        ("cluster", "/clusters/store-0666", &["&lt;script&gt;alert(1)&lt;/script&gt; &amp; \"quoted\""]),
        (
            "cluster-signed",
            "/clusters/store-0001",
            &["<table id=\"fleet\">", "platform@retail.example", "release@retail.example", "oncall@retail.example"],
        ),
        (
            "overrides",
            "/overrides",
            &["<table id=\"overrides\">", ">store-0001</a>", "INC-4711 &lt;b&gt;card readers&lt;/b&gt; &amp; \"down\""],
        ),
        ("lag", "/lag?placement=web&environment=prod", &["id=\"on-head\">1</span>"]),
        (
            "compliance",
            "/compliance",
            &[
                &format!("id=\"compliance-clusters\">{CLUSTERS}<"),
                "data-policy=\"pci-default-deny\" href=\"/compliance/pci-default-deny?environment=prod\">1</a>",
                "<th colspan=\"5\">PCI-DSS v4.0</th>",
                "&lt;script&gt;alert(1)&lt;/script&gt; &amp; \"quoted\"</th>",
            ],
        ),
        (
            "compliance-policy",
            "/compliance/pci-default-deny",
            &["id=\"count-nonCompliant\">1<", "id=\"count-notReported\">3<", ">store-0001</a>"],
        ),
    ];
    let started = Instant::now();
    for (run, path, expected) in pages {
        let url = format!("{door}/?to={}", hub_index::dashboard::encode(path));
        // Chromium is waited for on this thread; the hub and the door keep serving on the others.
        let dom = tokio::task::block_in_place(|| {
            run_chromium(&binary, work.path(), &format!("{run}-dom"), "--dump-dom", &url)
        });
        assert!(dom.contains("action=\"/logout\""), "{run}: logged in through the cookie: {dom}");
        assert!(dom.contains("<time id=\"rendered\""), "{run}: {dom}");
        for text in expected {
            assert!(dom.contains(text), "{run}: {text:?} not in the DOM:\n{dom}");
        }
        if run == "clusters" {
            assert_eq!(cluster_names(&dom), ["store-0002", "store-0666", "store-9999"]);
        }
        if run == "compliance-policy" {
            assert_eq!(cluster_names(&dom), ["store-0001"]);
        }
        assert!(!dom.contains("<script"), "{run}: no script element, whatever the labels say: {dom}");

        let png = screenshots.join(format!("{run}.png"));
        let _ = std::fs::remove_file(&png);
        let mode = format!("--screenshot={}", png.display());
        tokio::task::block_in_place(|| run_chromium(&binary, work.path(), &format!("{run}-png"), &mode, &url));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{run}: no screenshot at {}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{run}: not a PNG");
        assert!(bytes.len() > 5 * 1024, "{run}: a {} byte screenshot is too small to show the page", bytes.len());
    }
    eprintln!("chromium: {} pages in {:.1?}, screenshots in {}", pages.len(), started.elapsed(), screenshots.display());
    door_task.abort();
}

/// How many clusters the fleet of [`headless_chromium_renders_every_page_at_2000_clusters`] has.
const FLEET: usize = 2_000;

/// How many of them run the head (`web:1.5.0`); the others run an older commit (`web:1.4.2`).
const ON_HEAD: usize = 1_210;

/// A hub whose fleet is [`FLEET`] stores running placement `web` with PCI results: [`ON_HEAD`]
/// on the head (`registry.example/web:1.5.0`), the others on an older commit
/// (`registry.example/web:1.4.2`, progressing, every hundredth failed); every tenth is not
/// compliant with `pci-default-deny`.
async fn start_fleet_of_2000() -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let fleet = format!("{WEB_PLACEMENT}---\n{PCI_POLICIES}");
    fleet_repository(
        dir.path(),
        &[
            ("fleet/fleet.yaml", &fleet),
            ("web/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n"),
        ],
        &[],
    );
    let setup = Setup {
        db: format!("sqlite:{}", dir.path().join("hub.db").display()),
        viewer: VIEWER,
        environments: &["prod"],
        client: reqwest::Client::new(),
    };
    let hub = Hub::serve(dir, setup).await;
    let started = Instant::now();
    let store = hub.store().await;
    let join = store.create_join_token(None).await.unwrap();
    let mut tokens = Vec::with_capacity(FLEET);
    for i in 0..FLEET {
        let request = flotilla_core::register::Request {
            cluster: format!("store-{i:04}"),
            environment: "prod".into(),
            labels: [("kind".to_string(), "store".to_string())].into_iter().collect(),
        };
        tokens.push(store.register(&join, &request).await.unwrap().token);
    }
    let old = "1".repeat(40);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        let (client, url, head, old) = (hub.client.clone(), hub.url.clone(), hub.head.clone(), old.clone());
        let tokens: Vec<(usize, String)> = tokens.iter().cloned().enumerate().skip(task).step_by(8).collect();
        tasks.spawn(async move {
            for (i, token) in tokens {
                let name = format!("store-{i:04}");
                let (state, commit, image) = match i {
                    i if i < ON_HEAD => ("Synced", head.as_str(), "registry.example/web:1.5.0"),
                    i if i % 100 == 7 => ("Failed", old.as_str(), "registry.example/web:1.4.2"),
                    _ => ("Progressing", old.as_str(), "registry.example/web:1.4.2"),
                };
                let compliant = i % 10 != 3;
                let results = [
                    ("pci-default-deny", Some(compliant), usize::from(!compliant)),
                    ("pci-no-nodeport", Some(true), 0),
                ];
                let mut body: serde_json::Value =
                    serde_json::from_str(&with_policies(&report(&name, 1, state, commit), &results)).unwrap();
                body["placements"][0]["images"] = json!([image]);
                let response = client
                    .post(format!("{url}/api/v1/reports"))
                    .bearer_auth(&token)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200, "{name}: {}", response.text().await.unwrap());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    hub.wait_for("/api/v1/summary", "every report", |v| {
        v["clusters"] == FLEET && v["byStanding"]["neverReported"] == 0 && v["byStanding"]["synced"] == ON_HEAD
    })
    .await;
    hub.wait_for("/api/v1/lag?placement=web&environment=prod", "the fleet's head", |v| v["onHead"] == ON_HEAD).await;
    eprintln!("2,000 clusters registered and reported in {:.1?}", started.elapsed());

    hub
}

/// Every page at 2,000 clusters, 1,210 on the head (image `registry.example/web:1.5.0`) and 790
/// still on an older commit (`web:1.4.2`, progressing, every hundredth failed), each with PCI
/// results: rendered by headless Chromium, checked in the DOM, and screenshotted under
/// `target/dashboard-screenshots/2000-clusters/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(any(flotilla_skip_chromium, flotilla_skip_git_daemon), ignore = "FLOTILLA_SKIP=chromium or git-daemon")]
async fn headless_chromium_renders_every_page_at_2000_clusters() {
    let binary = require(Tool::Chromium);
    let hub = start_fleet_of_2000().await;
    let (door, door_task) = cookie_door(hub.url.clone()).await;
    let work = tempfile::tempdir().unwrap();
    let screenshots = screenshot_dir().join("2000-clusters");
    std::fs::create_dir_all(&screenshots).unwrap();
    let failed = (ON_HEAD..FLEET).filter(|i| i % 100 == 7).count();
    let waiting = FLEET - ON_HEAD - failed;
    let pages: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "summary",
            "/",
            vec![
                "id=\"clusters\">2,000<".into(),
                "<span class=\"version\"><code>1.5.0</code>: 1,210</span> · <span class=\"version\"><code>1.4.2</code>: 790</span>".into(),
                "<tr data-rollout=\"web/prod\" data-wave=\"everyone\">".into(),
                format!("<span class=\"progress\">1,210 of 2,000 · {failed} failed · {waiting} waiting</span>"),
                "<svg id=\"trend-states\"".into(),
                "<svg id=\"trend-compliance\"".into(),
            ],
        ),
        ("clusters", "/clusters", vec!["1–100 of 2000".into(), ">store-0099</a>".into()]),
        ("clusters-by-state", "/clusters?sort=state", vec![">store-1307</a>".into(), "state ▲".into()]),
        ("clusters-search", "/clusters?name=store-19", vec!["1–100 of 100".into(), ">store-1999</a>".into()]),
        ("clusters-none", "/clusters?name=nobody", vec![">none</td>".into()]),
        ("cluster", "/clusters/store-1500", vec!["registry.example/web:1.4.2".into(), "</time> <span class=\"ago\">".into()]),
        (
            "lag",
            "/lag?placement=web&environment=prod",
            vec!["id=\"on-head\">1210</span>".into(), "<div id=\"versions\">".into(), "<table id=\"waves\">".into()],
        ),
        ("compliance", "/compliance", vec!["id=\"compliance-clusters\">2000<".into()]),
        ("compliance-policy", "/compliance/pci-default-deny", vec!["id=\"count-nonCompliant\">200<".into()]),
        ("overrides", "/overrides", vec!["id=\"no-overrides\"".into()]),
        ("preview", "/preview", vec!["<h1>".into()]),
    ];
    let rendering = Instant::now();
    for (run, path, expected) in &pages {
        let url = format!("{door}/?to={}", hub_index::dashboard::encode(path));
        let dom = tokio::task::block_in_place(|| {
            run_chromium(&binary, work.path(), &format!("{run}-dom"), "--dump-dom", &url)
        });
        assert!(dom.contains("action=\"/logout\""), "{run}: logged in through the cookie: {dom}");
        for text in expected {
            assert!(dom.contains(text.as_str()), "{run}: {text:?} not in the DOM:\n{dom}");
        }
        assert!(!dom.contains("<script"), "{run}: {dom}");
        let png = screenshots.join(format!("{run}.png"));
        let _ = std::fs::remove_file(&png);
        let mode = format!("--screenshot={}", png.display());
        tokio::task::block_in_place(|| run_chromium(&binary, work.path(), &format!("{run}-png"), &mode, &url));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{run}: no screenshot at {}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 5 * 1024, "{run}: not a page's PNG");
    }
    eprintln!(
        "chromium at {FLEET} clusters: {} pages in {:.1?}, screenshots in {}",
        pages.len(),
        rendering.elapsed(),
        screenshots.display()
    );
    door_task.abort();
}
