//! The `kube-testserver` binary: prints its URL, serves, and refuses bad arguments.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// The server process, killed when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves() {
    let child = Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
        .args(["--ready-delay", "100ms"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut url = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!((version.major.as_str(), version.minor.as_str()), ("1", "32"));
}

#[test]
fn bad_arguments_are_refused() {
    for args in [&["--ready-delay", "soon"][..], &["--listen"][..], &["--port", "1"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_kube-testserver")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
