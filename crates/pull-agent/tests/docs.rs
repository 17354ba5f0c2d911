//! The docs stay honest: every `pull-agent` and `hub-index` command shown in a shell block of
//! the docs, the README files and ARCHITECTURE.md names subcommands and flags the binaries
//! have (and values among a flag's possible values); every YAML block of `docs/` is a fleet
//! object the fleet parser takes or an agent.yaml the config parser takes; every JSON block of
//! `docs/report.md` is a report the hub would take; and `docs/cli.md` is the binaries' own
//! `--help`, regenerated with `FLOTILLA_BLESS=1`.

mod markdown;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use markdown::{Block, blocks, commands, pages, root, workspace_binary};

/// What `--help` says of one (sub)command.
#[derive(Debug, Default)]
struct Help {
    text: String,
    subcommands: Vec<String>,
    /// Each long flag, with its possible values when it lists them.
    flags: HashMap<String, Vec<String>>,
}

fn parse_help(text: &str) -> Help {
    let mut help = Help { text: text.to_string(), ..Help::default() };
    let mut section = "";
    let mut last_flag: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line.trim_end_matches(':');
            continue;
        }
        let trimmed = line.trim_start();
        match section {
            "Commands" if line.starts_with("  ") && !line.starts_with("   ") => {
                if let Some(name) = trimmed.split_whitespace().next().filter(|n| *n != "help") {
                    help.subcommands.push(name.to_string());
                }
            }
            "Options" => {
                if trimmed.starts_with('-') {
                    let long = trimmed
                        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
                        .find(|w| w.starts_with("--"))
                        .map(|w| w.trim_start_matches("--").to_string());
                    if let Some(long) = &long {
                        help.flags.insert(long.clone(), Vec::new());
                    }
                    last_flag = long;
                }
                if let (Some(flag), Some(start)) = (&last_flag, trimmed.find("[possible values: ")) {
                    let rest = &trimmed[start + "[possible values: ".len()..];
                    let values = rest.trim_end_matches(']').split(", ").map(str::to_string).collect();
                    help.flags.insert(flag.clone(), values);
                }
            }
            _ => {}
        }
    }
    help
}

struct Binaries {
    paths: HashMap<&'static str, PathBuf>,
    helps: HashMap<Vec<String>, Help>,
}

impl Binaries {
    fn new() -> Binaries {
        let mut paths = HashMap::new();
        paths.insert("pull-agent", PathBuf::from(env!("CARGO_BIN_EXE_pull-agent")));
        paths.insert("hub-index", workspace_binary("hub-index"));
        Binaries { paths, helps: HashMap::new() }
    }

    /// The help of `path` (the binary, then subcommands).
    fn help(&mut self, path: &[String]) -> &Help {
        if !self.helps.contains_key(path) {
            let out = Command::new(&self.paths[path[0].as_str()])
                .args(&path[1..])
                .arg("--help")
                .env("COLUMNS", "100")
                .output()
                .unwrap();
            assert!(out.status.success(), "{path:?} --help: {}", String::from_utf8_lossy(&out.stderr));
            self.helps.insert(path.to_vec(), parse_help(&String::from_utf8(out.stdout).unwrap()));
        }
        &self.helps[path]
    }

    /// What is wrong with `words` (a command line starting with a binary's name), if anything.
    fn check(&mut self, words: &[String]) -> Result<(), String> {
        let mut path = vec![words[0].clone()];
        let mut rest = &words[1..];
        while let Some(word) = rest.first() {
            if self.help(&path).subcommands.contains(word) {
                path.push(word.clone());
                rest = &rest[1..];
            } else {
                break;
            }
        }
        if path.len() == 1 {
            return Err(format!("no subcommand: {}", words.join(" ")));
        }
        let help = self.help(&path);
        let mut i = 0;
        while i < rest.len() {
            let word = &rest[i];
            i += 1;
            let Some(flag) = word.strip_prefix("--") else { continue };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (flag, None),
            };
            if name == "help" {
                continue;
            }
            let Some(values) = help.flags.get(name) else {
                return Err(format!("`{}` has no flag --{name}", path.join(" ")));
            };
            if values.is_empty() {
                continue;
            }
            let value = inline.or_else(|| rest.get(i).cloned()).unwrap_or_default();
            if !value.contains('$') && !values.contains(&value) {
                return Err(format!("`{} --{name}` takes {}, not {value:?}", path.join(" "), values.join(", ")));
            }
        }
        Ok(())
    }
}

/// The command of a shell line, as the binaries' argv: `cargo run -p pull-agent -- …` counts.
fn invocation(words: &[String]) -> Option<Vec<String>> {
    if words.first().is_some_and(|w| w == "pull-agent" || w == "hub-index") {
        return Some(words.to_vec());
    }
    if words.len() > 4 && words[0] == "cargo" && words[1] == "run" && words[2] == "-p" && words[4] == "--" {
        let mut argv = vec![words[3].clone()];
        argv.extend(words[5..].iter().cloned());
        return Some(argv).filter(|a| a[0] == "pull-agent" || a[0] == "hub-index");
    }
    None
}

fn shell_blocks() -> Vec<Block> {
    pages().iter().flat_map(|p| blocks(p)).filter(|b| matches!(b.lang.as_str(), "sh" | "bash" | "shell")).collect()
}

#[test]
fn every_command_shown_has_its_subcommands_and_flags() {
    let mut binaries = Binaries::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for block in shell_blocks() {
        for words in commands(&block.text) {
            let Some(argv) = invocation(&words) else { continue };
            checked += 1;
            if let Err(e) = binaries.check(&argv) {
                problems.push(format!("{}: {e}", block.at()));
            }
        }
    }
    assert!(checked > 40, "only {checked} commands found: is the extraction broken?");
    assert!(problems.is_empty(), "commands in the docs that the binaries refuse:\n{}", problems.join("\n"));
}

#[test]
fn a_wrong_flag_or_value_is_found() {
    let mut binaries = Binaries::new();
    let words = |line: &str| line.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert!(binaries.check(&words("pull-agent once --config a.yaml")).is_ok());
    assert!(binaries.check(&words("hub-index evidence verify --db sqlite:x")).is_ok());
    let no_flag = binaries.check(&words("pull-agent once --confg a.yaml")).unwrap_err();
    assert!(no_flag.contains("has no flag --confg"), "{no_flag}");
    let bad_value = binaries.check(&words("hub-index status --format csv")).unwrap_err();
    assert!(bad_value.contains("takes table, json"), "{bad_value}");
}

/// Every YAML block of `docs/` is a fleet object, an agent.yaml or a kustomization, read by the
/// real parsers.
#[test]
fn every_yaml_example_parses() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages().iter().filter(|p| p.starts_with("docs/")) {
        for block in blocks(page).into_iter().filter(|b| b.lang == "yaml") {
            checked += 1;
            if let Err(e) = check_yaml(&block.text) {
                problems.push(format!("{}: {e}", block.at()));
            }
        }
    }
    assert!(checked > 10, "only {checked} YAML blocks found");
    assert!(problems.is_empty(), "YAML examples the parsers refuse:\n{}", problems.join("\n"));
}

fn check_yaml(text: &str) -> Result<(), String> {
    if text.contains("apiVersion: flotilla.dev/v1alpha1") {
        let mut snapshot = flotilla_core::snapshot::Snapshot::new();
        snapshot.insert_file("fleet/example.yaml", text);
        let (fleet, errors) = flotilla_core::fleet::Fleet::from_snapshot(&snapshot);
        if let Some(e) = errors.first() {
            return Err(e.to_string());
        }
        let objects = fleet.repositories.len()
            + fleet.placements.len()
            + fleet.policies.len()
            + fleet.clusters.len()
            + usize::from(fleet.own.is_some());
        if objects == 0 {
            return Err("no fleet object in it".into());
        }
        return Ok(());
    }
    if text.contains("stateDir:") {
        return pull_agent::config::Config::parse(
            text.as_bytes(),
            Path::new("/etc/flotilla"),
            Some(Path::new("/root")),
        )
        .map(drop)
        .map_err(|e| e.to_string());
    }
    // A kustomization, named so on its first line (`# apps/x/kustomization.yaml`), read as the
    // renderer reads one (its fields strictly).
    if text.lines().next().is_some_and(|l| l.starts_with('#') && l.trim_end().ends_with("kustomization.yaml")) {
        let value = flotilla_core::yaml::load_one(text.as_bytes()).map_err(|e| e.to_string())?;
        return serde_json::from_value::<flotilla_core::kustomize::Kustomization>(value)
            .map(drop)
            .map_err(|e| e.to_string());
    }
    Err("neither a fleet object, an agent.yaml nor a kustomization: say which it is, so that a test can read it".into())
}

#[test]
fn the_report_examples_are_reports_the_hub_takes() {
    let examples: Vec<Block> = blocks("docs/report.md").into_iter().filter(|b| b.lang == "json").collect();
    assert!(!examples.is_empty());
    for block in examples {
        if let Err(e) = flotilla_core::report::Report::from_json(block.text.as_bytes()) {
            panic!("{}: {e}", block.at());
        }
    }
}

/// `docs/cli.md`: every command of both binaries with its `--help`, found by walking the
/// subcommands, so that a new command or flag is documented when the file is blessed.
fn cli_reference(binaries: &mut Binaries) -> String {
    let mut out = String::from(
        "# Command reference\n\n\
         Every command of `pull-agent` and `hub-index`, as its `--help` prints it. Guides: \
         [the agent](agent.md), [the hub](hub.md).\n\n\
         <!-- Generated from the binaries by crates/pull-agent/tests/docs.rs: run \
         `FLOTILLA_BLESS=1 cargo test -p pull-agent --test docs` after changing a command. -->\n",
    );
    for binary in ["pull-agent", "hub-index"] {
        let mut queue = vec![vec![binary.to_string()]];
        while let Some(path) = queue.pop() {
            let help = binaries.help(&path);
            let heading = if path.len() == 1 { "##" } else { "###" };
            let name = path.join(" ");
            writeln!(out, "\n{heading} {name}\n\n```text\n$ {name} --help\n{}```", help.text)
                .expect("writing to a String");
            let mut subs: Vec<Vec<String>> = help
                .subcommands
                .iter()
                .map(|s| {
                    let mut p = path.clone();
                    p.push(s.clone());
                    p
                })
                .collect();
            subs.reverse();
            queue.extend(subs);
        }
    }
    out
}

#[test]
fn the_command_reference_is_the_binaries_help() {
    let mut binaries = Binaries::new();
    let want = cli_reference(&mut binaries);
    let file = root().join("docs/cli.md");
    if std::env::var_os("FLOTILLA_BLESS").is_some() {
        std::fs::write(&file, &want).unwrap();
        return;
    }
    let got = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        got == want,
        "docs/cli.md is not the binaries' --help: run `FLOTILLA_BLESS=1 cargo test -p pull-agent --test docs` and commit it"
    );
}
