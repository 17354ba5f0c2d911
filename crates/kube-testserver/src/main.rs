//! `kube-testserver --listen 127.0.0.1:PORT`: the test API server on its own, for simulating a
//! store cluster by hand or pointing `kubectl --server` at it. Prints its URL, runs until killed.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [] => "127.0.0.1:0".to_string(),
        [flag, addr] if flag == "--listen" => addr.clone(),
        _ => {
            eprintln!("usage: kube-testserver [--listen 127.0.0.1:PORT]");
            return ExitCode::from(2);
        }
    };
    match kube_testserver::TestServer::start_on(&listen) {
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
