//! The programs the tests need besides Rust, and what a test does when one is missing: it fails,
//! naming the program and the Debian package that brings it ([`require`]). Nothing passes by
//! accident: the only way not to run such a test is to ask, with
//! `FLOTILLA_SKIP=chromium,postgres,sshd,ssh-keygen,gpg,git-daemon` (any of them, comma
//! separated), and then the test is counted as skipped, never as passed.
//!
//! Skipping is decided when the tests are compiled, because that is the only way the test harness
//! reports a test as ignored: the build script of each crate that owns such tests includes this
//! file and calls [`emit_skip_cfgs`], which reads `FLOTILLA_SKIP` and sets the cfg
//! `flotilla_skip_<name>` (`-` spelled `_`); a test that needs Chromium carries
//! `#[cfg_attr(flotilla_skip_chromium, ignore = "FLOTILLA_SKIP=chromium")]` and calls
//! `require(Tool::Chromium)`. Changing `FLOTILLA_SKIP` rebuilds those crates.
//!
//! Standard library only: build scripts include this file with `#[path]`. Not for shipped code.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Makes [`require`] act as if the named tools (comma separated, as in `FLOTILLA_SKIP`) were
/// missing, to check that a test without its tool fails and that every test that needs a tool
/// says so (run the tests with the same names in both variables: none may fail).
pub const PRETEND_MISSING: &str = "FLOTILLA_PRETEND_MISSING";

/// A program (or group of programs) some tests need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Headless Chromium, for the dashboard.
    Chromium,
    /// The PostgreSQL server binaries (`initdb`, `postgres`, `pg_isready`, `createdb`).
    Postgres,
    /// An OpenSSH server, for `ssh://` sources.
    Sshd,
    /// `ssh-keygen`, for SSH keys and signed commits.
    SshKeygen,
    /// GnuPG, for OpenPGP-signed commits.
    Gpg,
    /// `git daemon` and `git http-backend`: real git servers on loopback.
    GitDaemon,
}

impl Tool {
    pub const ALL: [Tool; 6] =
        [Tool::Chromium, Tool::Postgres, Tool::Sshd, Tool::SshKeygen, Tool::Gpg, Tool::GitDaemon];

    /// The tool's name in `FLOTILLA_SKIP`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Chromium => "chromium",
            Tool::Postgres => "postgres",
            Tool::Sshd => "sshd",
            Tool::SshKeygen => "ssh-keygen",
            Tool::Gpg => "gpg",
            Tool::GitDaemon => "git-daemon",
        }
    }

    /// The Debian package that brings it.
    pub fn package(self) -> &'static str {
        match self {
            Tool::Chromium => "chromium",
            Tool::Postgres => "postgresql",
            Tool::Sshd => "openssh-server",
            Tool::SshKeygen => "openssh-client",
            Tool::Gpg => "gnupg",
            Tool::GitDaemon => "git",
        }
    }

    /// What is looked for, as a person would name it.
    pub fn programs(self) -> &'static str {
        match self {
            Tool::Chromium => "chromium (/usr/bin/chromium or on PATH)",
            Tool::Postgres => "the PostgreSQL server (initdb and postgres)",
            Tool::Sshd => "sshd (/usr/sbin/sshd)",
            Tool::SshKeygen => "ssh-keygen",
            Tool::Gpg => "gpg",
            Tool::GitDaemon => "git daemon and git http-backend",
        }
    }

    /// The cfg the build script sets when `FLOTILLA_SKIP` names the tool.
    pub fn cfg(self) -> String {
        format!("flotilla_skip_{}", self.name().replace('-', "_"))
    }

    /// Where the tool is (its main program), looked up in `path` (a `PATH` value) and in the
    /// places Debian puts it.
    pub fn find_in(self, path: &std::ffi::OsStr) -> Option<PathBuf> {
        let on_path = |name: &str| std::env::split_paths(path).map(|dir| dir.join(name)).find(|p| p.is_file());
        match self {
            Tool::Chromium => on_path("chromium").or_else(|| file(Path::new("/usr/bin/chromium"))),
            // As hub-index's `PgServer` looks: on PATH, `pg_config --bindir`, or the newest
            // `/usr/lib/postgresql/*/bin`.
            Tool::Postgres => on_path("initdb").or_else(|| {
                let bindir = Command::new("pg_config")
                    .arg("--bindir")
                    .env("PATH", path)
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
                let debian = std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path().join("bin"));
                bindir.into_iter().chain(debian).map(|dir| dir.join("initdb")).find(|p| p.is_file())
            }),
            Tool::Sshd => file(Path::new("/usr/sbin/sshd")).or_else(|| on_path("sshd")),
            Tool::SshKeygen => on_path("ssh-keygen"),
            Tool::Gpg => on_path("gpg"),
            // Both live in git's exec path (Debian: /usr/lib/git-core), not on PATH.
            Tool::GitDaemon => {
                let git = on_path("git")?;
                let out = Command::new(git).arg("--exec-path").env("PATH", path).output().ok()?;
                let exec_path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                file(&exec_path.join("git-http-backend"))?;
                file(&exec_path.join("git-daemon"))
            }
        }
    }
}

fn file(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_path_buf())
}

/// Where `tool` is; panics, naming it, its Debian package and how to skip the test, if it is
/// missing (or named in [`PRETEND_MISSING`]).
pub fn require(tool: Tool) -> PathBuf {
    let pretend = std::env::var(PRETEND_MISSING).unwrap_or_default();
    let hidden = parse(&pretend).unwrap_or_else(|e| panic!("{PRETEND_MISSING}: {e}")).contains(&tool);
    let found = if hidden { None } else { tool.find_in(&std::env::var_os("PATH").unwrap_or_default()) };
    decide(tool, found).unwrap_or_else(|message| panic!("{message}"))
}

/// The tool's path, or the message a test fails with when it is missing.
pub fn decide(tool: Tool, found: Option<PathBuf>) -> Result<PathBuf, String> {
    found.ok_or_else(|| {
        format!(
            "this test needs {} (Debian: apt-get install {}); set FLOTILLA_SKIP={} to skip it",
            tool.programs(),
            tool.package(),
            tool.name()
        )
    })
}

/// The tools named in a `FLOTILLA_SKIP` value: names separated by commas, blanks allowed.
pub fn parse(list: &str) -> Result<Vec<Tool>, String> {
    let names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
    names
        .map(|name| {
            Tool::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Tool::ALL.iter().map(|t| t.name()).collect();
                format!("{name:?} is no tool the tests need; they are {}", known.join(", "))
            })
        })
        .collect()
}

/// For build scripts: declares the `flotilla_skip_*` cfgs and sets those `FLOTILLA_SKIP` names.
/// Panics on an unknown name, so that a typo does not run what was meant to be skipped (or fail
/// what was meant to be ignored).
pub fn emit_skip_cfgs() {
    println!("cargo::rerun-if-env-changed=FLOTILLA_SKIP");
    for tool in Tool::ALL {
        println!("cargo::rustc-check-cfg=cfg({})", tool.cfg());
    }
    let list = std::env::var("FLOTILLA_SKIP").unwrap_or_default();
    for tool in parse(&list).unwrap_or_else(|e| panic!("FLOTILLA_SKIP={list}: {e}")) {
        println!("cargo::rustc-cfg={}", tool.cfg());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_itself_its_package_and_how_to_skip() {
        assert_eq!(
            decide(Tool::Chromium, None).unwrap_err(),
            "this test needs chromium (/usr/bin/chromium or on PATH) (Debian: apt-get install chromium); \
             set FLOTILLA_SKIP=chromium to skip it"
        );
        assert_eq!(
            decide(Tool::GitDaemon, None).unwrap_err(),
            "this test needs git daemon and git http-backend (Debian: apt-get install git); \
             set FLOTILLA_SKIP=git-daemon to skip it"
        );
        assert_eq!(decide(Tool::Gpg, Some("/usr/bin/gpg".into())), Ok(PathBuf::from("/usr/bin/gpg")));
    }

    #[test]
    fn a_tool_not_on_an_empty_path_is_not_found() {
        for tool in [Tool::SshKeygen, Tool::Gpg, Tool::GitDaemon] {
            assert_eq!(tool.find_in("".as_ref()), None, "{tool:?}");
        }
    }

    #[test]
    fn skip_lists_name_known_tools_only() {
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("chromium, git-daemon,"), Ok(vec![Tool::Chromium, Tool::GitDaemon]));
        assert_eq!(
            parse("chromium,postgresql"),
            Err("\"postgresql\" is no tool the tests need; they are chromium, postgres, sshd, ssh-keygen, gpg, git-daemon"
                .into())
        );
        assert_eq!(Tool::GitDaemon.cfg(), "flotilla_skip_git_daemon");
    }
}
