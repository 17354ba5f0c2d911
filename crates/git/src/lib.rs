//! Git sources for the pull-agent and the hub-index: one implementation for both.
//!
//! A [`Cache`] keeps a bare repository per URL under a state directory. [`Cache::fetch`] brings
//! the tracked branches up to date (a poll that finds nothing new is one ref advertisement: no
//! negotiation, no pack), [`Cache::snapshot`] reads the tree of a commit straight from the
//! object database into core's [`Snapshot`](flotilla_core::snapshot::Snapshot) (no worktree),
//! and [`Cache::history`] lists a branch's first-parent commits with their times.
//! [`Cache::verify`] checks a commit's SSH or OpenPGP signature against a Repository's
//! `verify` policy, in pure Rust (no `gpg` or `ssh-keygen` at run time).
//!
//! It is not a general git library: it reads, it never pushes, and it keeps only the branches
//! asked for.

mod cache;
mod credentials;
mod history;
#[cfg(feature = "testing")]
pub mod testing;
mod tree;
mod verify;

pub use cache::{Cache, Fetched, chain};
pub use credentials::Credentials;
pub use history::Commit;
pub use verify::{Signature, SignatureKind, Verdict, check_signature, verify_commit_object};

/// A commit id: 40 lower-case hex digits (SHA-1), as gix holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(gix::ObjectId);

impl CommitId {
    /// Reads a full hex commit id, by core's rule for one (`flotilla_core::name::CommitId`:
    /// the report and the hub's answers check ids by it too), then as gix reads it.
    pub fn parse(hex: &str) -> Result<CommitId, Error> {
        flotilla_core::name::CommitId::check(hex)?;
        gix::ObjectId::from_hex(hex.as_bytes()).map(CommitId).map_err(|_| {
            Error::BadCommitId(flotilla_core::name::Invalid {
                text: hex.to_string(),
                expected: "is not a SHA-1 commit id",
            })
        })
    }

    pub(crate) fn oid(self) -> gix::ObjectId {
        self.0
    }
}

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for CommitId {
    type Err = Error;

    fn from_str(s: &str) -> Result<CommitId, Error> {
        CommitId::parse(s)
    }
}

/// A repository to read: its URL and how to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub url: String,
    pub credentials: Option<Credentials>,
}

impl Source {
    pub fn new(url: impl Into<String>) -> Source {
        Source { url: url.into(), credentials: None }
    }
}

/// Why a git operation failed. Each variant names the repository (and branch or path).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: cannot reach the git server: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url}: the server refused the credentials: {message}")]
    Unauthorized { url: String, message: String },
    #[error("{url}: fetch failed: {message}")]
    Fetch { url: String, message: String },
    #[error("{url}: no branch {branch:?} on the server")]
    MissingBranch { url: String, branch: String },
    #[error("{url}: branch {branch:?} is not in the cache; fetch it first")]
    NotFetched { url: String, branch: String },
    #[error("{url}: commit {commit} is not in the cache")]
    MissingCommit { url: String, commit: String },
    #[error("{url}: reading {what}: {message}")]
    Read { url: String, what: String, message: String },
    #[error("cache {path}: {message}")]
    Cache { path: String, message: String },
    #[error(transparent)]
    BadCommitId(#[from] flotilla_core::name::Invalid),
    #[error("credentials file {path}: {message}")]
    Credentials { path: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gix reads upper-case hex as well, which the report and the hub refuse: an id the agent
    /// took from a user (`render --ref`) would then be refused in its report.
    #[test]
    fn a_commit_id_is_read_by_cores_rule() {
        let lower = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(CommitId::parse(lower).unwrap().to_string(), lower);
        let upper = lower.to_uppercase();
        let error = CommitId::parse(&upper).unwrap_err().to_string();
        assert_eq!(error, format!("{upper:?} is not a commit id (40 or 64 lower-case hex digits)"));
        assert!(CommitId::parse("0123abc").is_err());
    }
}
