//! `hub-index`: the fleet hub. Only its place in the workspace exists yet: the server, store
//! and views come with their issue (see the README's status table), and until then every
//! command says so and exits non-zero rather than pretending to work.

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "--version" | "-V" => {
            println!("hub-index {} (fleet model {})", env!("CARGO_PKG_VERSION"), flotilla_core::fleet::API_VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("hub-index: {command:?} is not built yet; this release renders only (see README.md, \"Status\")");
            ExitCode::FAILURE
        }
    }
}
