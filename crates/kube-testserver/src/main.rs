//! `kube-testserver [--listen 127.0.0.1:PORT] [--ready-delay 2s]`: the test API server on its
//! own, for simulating a store cluster by hand or pointing `kubectl --server` at it. Prints its
//! URL, runs until killed.

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: kube-testserver [--listen 127.0.0.1:PORT] [--ready-delay 2s]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut listen = "127.0.0.1:0".to_string();
    let mut options = kube_testserver::Options { ready_delay: Duration::from_secs(2) };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next();
        match (flag.as_str(), value) {
            ("--listen", Some(addr)) => listen.clone_from(addr),
            ("--ready-delay", Some(text)) => {
                let Some(delay) = parse_duration(text) else {
                    eprintln!("kube-testserver: --ready-delay {text:?}: expected a duration such as 2s, 500ms or 1m");
                    return ExitCode::from(2);
                };
                options.ready_delay = delay;
            }
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match kube_testserver::TestServer::start_with(&listen, &options) {
        Ok(server) => {
            println!("{}", server.url);
            // Serve until the process is killed; the server thread does the work.
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("kube-testserver: cannot listen on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `2s`, `500ms`, `1m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number.parse().ok()?;
    match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}
