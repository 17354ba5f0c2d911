//! `hub-index serve --open-on-loopback`, the demo's hub: the views answer without a viewer token
//! on a loopback address, registration and reports stay authenticated, and the option is refused
//! on an address other hosts can reach (by the library and by the binary, naming the flag).

mod common;

use std::time::Duration;

use common::{WEB_PLACEMENT, fleet_repository, report};
use flotilla_git::testing::GitDaemon;
use hub_index::server::{self, Options};

fn options(dir: &std::path::Path, daemon: &GitDaemon, listen: &str, open: bool) -> Options {
    Options {
        db: format!("sqlite:{}", dir.join(if open { "open.db" } else { "closed.db" }).display()),
        fleet: flotilla_git::Source::new(daemon.url("fleet")),
        chart_credentials: None,
        listen: listen.parse().unwrap(),
        viewer_token_file: None,
        open_on_loopback: open,
        offline_after: Duration::from_secs(180),
        fleet_poll: Duration::from_millis(200),
        cache_dir: dir.join(if open { "open-cache" } else { "closed-cache" }),
        environments: vec!["prod".into()],
        arrival_clock: None,
    }
}

/// Serves a hub with `options` on a free port of 127.0.0.1; its URL and the serving task.
async fn serve(options: Options) -> (String, tokio::task::JoinHandle<()>) {
    let hub = server::start(options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { server::serve_on(listener, hub).await.unwrap() });
    (url, task)
}

/// The status of a GET of `path` without any token.
async fn get(client: &reqwest::Client, url: &str, path: &str) -> (u16, String) {
    let response = client.get(format!("{url}{path}")).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_open_hub_on_loopback_answers_reads_without_a_token_and_still_checks_reports() {
    let dir = tempfile::tempdir().unwrap();
    let head = fleet_repository(dir.path(), &[("fleet/fleet.yaml", WEB_PLACEMENT)], &[]);
    let daemon = GitDaemon::start(dir.path());
    let client = reqwest::Client::new();

    let (open, _open_task) = serve(options(dir.path(), &daemon, "127.0.0.1:0", true)).await;
    let (closed, _closed_task) = serve(options(dir.path(), &daemon, "127.0.0.1:0", false)).await;
    for path in ["/api/v1/summary", "/api/v1/clusters", "/", "/clusters"] {
        let (status, body) = get(&client, &open, path).await;
        assert_eq!(status, 200, "open hub, GET {path}: {body}");
        assert_eq!(get(&client, &closed, path).await.0, 401, "a hub without the option, GET {path}");
    }
    // The dashboard's summary, not its login form.
    let (_, page) = get(&client, &open, "/").await;
    assert!(!page.contains("name=\"token\""), "{page}");

    // Reports and registration still need their tokens.
    let posted = client.post(format!("{open}/api/v1/reports")).body(report("store-0001", 1, "Synced", &head));
    assert_eq!(posted.send().await.unwrap().status().as_u16(), 401);
    let register = r#"{"cluster": "store-0001", "environment": "prod", "labels": {}}"#;
    let posted = client.post(format!("{open}/api/v1/register")).body(register);
    assert_eq!(posted.send().await.unwrap().status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
async fn an_open_hub_is_refused_on_an_address_other_hosts_can_reach() {
    let dir = tempfile::tempdir().unwrap();
    fleet_repository(dir.path(), &[("fleet/fleet.yaml", WEB_PLACEMENT)], &[]);
    let daemon = GitDaemon::start(dir.path());
    for listen in ["0.0.0.0:0", "[::]:0", "192.0.2.1:8080"] {
        let error = server::start(options(dir.path(), &daemon, listen, true)).await.unwrap_err().to_string();
        assert!(error.contains("--open-on-loopback") && error.contains(listen), "{listen}: {error}");
    }
    // Nor may an open hub be served on a listener of all addresses.
    let hub = server::start(options(dir.path(), &daemon, "127.0.0.1:0", true)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let error = server::serve_on(listener, hub).await.unwrap_err().to_string();
    assert!(error.contains("--open-on-loopback"), "{error}");

    // The binary says so before it binds or opens anything, and exits non-zero.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub-index"))
        .current_dir(dir.path())
        .args(["serve", "--fleet-repo", &daemon.url("fleet"), "--db", "sqlite:refused.db"])
        .args(["--listen", "0.0.0.0:8080", "--open-on-loopback"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--open-on-loopback") && stderr.contains("0.0.0.0:8080"), "{stderr}");
    assert!(!dir.path().join("refused.db").exists(), "nothing is opened before the check");
}
