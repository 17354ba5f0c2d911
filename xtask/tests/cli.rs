//! The `cargo xtask` command line as a person meets it: usage on `--help`, and one clear line
//! for a mistake, also under `RUST_BACKTRACE=1`.

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> (Option<i32>, String, String) {
    let Output { status, stdout, stderr } =
        Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).env("RUST_BACKTRACE", "1").output().unwrap();
    (status.code(), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

#[test]
fn help_prints_the_usage_with_every_command() {
    for help in ["--help", "-h", "help"] {
        let (code, stdout, stderr) = xtask(&[help]);
        assert_eq!((code, stderr.as_str()), (Some(0), ""), "{help}");
        assert!(stdout.contains("\nUsage: cargo xtask <COMMAND>\n"), "{stdout}");
        for command in ["\n  demo ", "\n  simulate ", "\n  ci ", "\n  tidy ", "\n  bench "] {
            assert!(stdout.contains(command), "{command:?} missing:\n{stdout}");
        }
        assert!(stdout.contains("the first build takes minutes"), "{stdout}");
    }
}

/// Regression: `cargo xtask --help` said "unknown or missing command", and under
/// `RUST_BACKTRACE=1` a usage error printed a 30-line backtrace. Usage errors are clap's.
#[test]
fn an_unknown_or_missing_command_prints_the_usage_and_no_backtrace() {
    for (args, says) in [
        (&["nope"][..], "error: unrecognized subcommand 'nope'"),
        (&["bench", "--only", "nope"][..], "error: invalid value 'nope' for '--only <ONLY>'"),
        (&[][..], "Usage: cargo xtask <COMMAND>"),
    ] {
        let (code, stdout, stderr) = xtask(args);
        assert_eq!((code, stdout.as_str()), (Some(2), ""), "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    }
}

#[test]
fn a_failing_command_prints_one_line() {
    let (code, stdout, stderr) = xtask(&["demo", "--stores", "0"]);
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert_eq!(stderr, "cargo xtask: error: --stores 0: from 1 to 1000 (each is a process)\n");
}
