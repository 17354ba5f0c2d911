//! `flotilla-simulate`: hands its arguments to the library (`cargo xtask simulate` does too).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match flotilla_simulate::run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flotilla-simulate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
