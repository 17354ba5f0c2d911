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

/// A commit id is core's ([`flotilla_core::name::CommitId`]): the agent, the hub, the report
/// and this crate hold the same type, read by one rule.
pub use flotilla_core::name::CommitId;

/// `id` as gix holds it; none for a SHA-256 id, which a SHA-1 repository cannot hold (a lookup
/// of one finds no commit).
pub(crate) fn to_gix(id: CommitId) -> Option<gix::ObjectId> {
    gix::ObjectId::try_from(id.as_bytes()).ok()
}

/// An id gix gave.
pub(crate) fn from_gix(oid: gix::ObjectId) -> CommitId {
    CommitId::from_bytes(oid.as_slice()).expect("gix ids are 20 (SHA-1) or 32 (SHA-256) bytes")
}

/// The commit `id` in `repo`, or [`Error::MissingCommit`] naming `url`.
pub(crate) fn find_commit<'r>(repo: &'r gix::Repository, url: &str, id: CommitId) -> Result<gix::Commit<'r>, Error> {
    to_gix(id)
        .and_then(|oid| repo.find_commit(oid).ok())
        .ok_or_else(|| Error::MissingCommit { url: url.to_string(), commit: id.to_string() })
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
        assert_eq!(lower.parse::<CommitId>().unwrap().to_string(), lower);
        let upper = lower.to_uppercase();
        let error = upper.parse::<CommitId>().unwrap_err().to_string();
        assert_eq!(error, format!("{upper:?} is not a commit id (40 or 64 lower-case hex digits)"));
        assert!("0123abc".parse::<CommitId>().is_err());
    }

    #[test]
    fn ids_go_to_gix_and_back_unchanged() {
        let id: CommitId = "0123456789abcdef0123456789abcdef01234567".parse().unwrap();
        let oid = to_gix(id).unwrap();
        assert_eq!(oid.to_string(), id.to_string());
        assert_eq!(from_gix(oid), id);
        let sha256: CommitId = "ab".repeat(32).parse().unwrap();
        assert_eq!(to_gix(sha256), None, "a SHA-1 build holds no SHA-256 id");
    }
}
