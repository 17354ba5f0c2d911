//! `docs/quickstart.md`, run: its `sh` blocks (but those marked `<!-- not tested … -->`), in
//! order, as one bash script in an empty folder, with the real `pull-agent` and `hub-index` on
//! `PATH`, `git daemon` and the hub on free ports instead of 9418 and 8080, and `HOME` holding a
//! kubeconfig for the project's test API server in place of a real cluster. The page and this
//! test cannot drift apart: the test reads the commands from the page.

mod markdown;

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use markdown::{blocks, workspace_binary};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The script the page shows, with this test's ports.
fn script(git_port: u16, hub_port: u16) -> String {
    let mut script = String::from("set -xeuo pipefail\n");
    for block in blocks("docs/quickstart.md").into_iter().filter(|b| b.lang == "sh") {
        if block.note.as_deref().is_some_and(|n| n.contains("not tested")) {
            continue;
        }
        script.push_str(&block.text);
    }
    assert!(script.contains("9418") && script.contains("8080"), "the quickstart no longer names ports 9418 and 8080");
    script.replace("9418", &git_port.to_string()).replace("8080", &hub_port.to_string())
}

#[tokio::test]
async fn the_quickstart_works_as_written() {
    let options = kube_testserver::Options { ready_delay: Duration::ZERO };
    let server = kube_testserver::TestServer::start_with("127.0.0.1:0", &options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".kube")).unwrap();
    std::fs::write(
        home.join(".kube/config"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{}\"}}\n\
             users:\n- name: test\n  user: {{}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\n\
             current-context: test\n",
            server.url
        ),
    )
    .unwrap();
    let agent = std::path::PathBuf::from(env!("CARGO_BIN_EXE_pull-agent"));
    let hub = workspace_binary("hub-index");
    let path = std::env::join_paths(
        [agent.parent().unwrap().to_path_buf(), hub.parent().unwrap().to_path_buf()]
            .into_iter()
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let log = dir.path().join("quickstart.log");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script(free_port(), free_port()))
        .current_dir(dir.path())
        .env("HOME", &home)
        .env("PATH", path)
        .env_remove("FLOTILLA_HUB_TOKEN")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("quickstart.err")).unwrap())
        // Its own process group, so that the daemons the page starts in the background end with it.
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(180) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let group = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", "--", &format!("-{group}")]).status();
    let _ = child.wait();
    let output = format!(
        "{}\n--- stderr\n{}\n--- agent.log\n{}",
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(dir.path().join("quickstart.err")).unwrap_or_default(),
        std::fs::read_to_string(dir.path().join("quickstart/agent.log")).unwrap_or_default()
    );
    let status = status.unwrap_or_else(|| panic!("the quickstart did not finish within 180 s\n{output}"));
    assert!(status.success(), "the quickstart failed ({status})\n{output}");

    let client = kube::Client::try_from(kube::Config::new(server.url.parse().unwrap())).unwrap();
    let greeting = Api::<ConfigMap>::namespaced(client, "hello").get("greeting").await.unwrap();
    let message = greeting.data.unwrap_or_default().remove("message");
    assert_eq!(message.as_deref(), Some("greetings from my-cluster"), "{output}");
}
