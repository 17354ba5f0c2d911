//! First-parent history of a branch, for "how many commits behind" and rollout bake times.

use crate::{Cache, CommitId, Error, find_commit, from_gix};

/// One commit of a branch's first-parent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: CommitId,
    /// Committer time, seconds since the Unix epoch.
    pub time: i64,
    /// Its tree, in hex: two commits with the same tree have the same content (a rollout sees
    /// a revert by it).
    pub tree: String,
    /// The first line of the message.
    pub summary: String,
}

impl Cache {
    /// The first-parent commits from `tip` back to (not including) `until`, newest first, at
    /// most `limit` of them. Without `until`, back to the root (or the limit).
    pub fn history(
        &self,
        url: &str,
        tip: CommitId,
        until: Option<CommitId>,
        limit: usize,
    ) -> Result<Vec<Commit>, Error> {
        self.first_parents(url, tip, until, None, limit)
    }

    /// The first-parent commits from `tip` that are not reachable from `other` through any
    /// parent, newest first, at most `limit`: `git log --first-parent tip ^other`. For a `dev`
    /// and a `prod` branch, what a merge of dev into prod would promote (empty once merged).
    pub fn history_not_in(
        &self,
        url: &str,
        tip: CommitId,
        other: CommitId,
        limit: usize,
    ) -> Result<Vec<Commit>, Error> {
        self.first_parents(url, tip, None, Some(other), limit)
    }

    /// The whole message of `commit` (for its trailers, such as `Flotilla-Override:`).
    pub fn message(&self, url: &str, commit: CommitId) -> Result<String, Error> {
        let (entry, _) = self.entry(url)?;
        let object = find_commit(&entry.repo, url, commit)?;
        let raw = object.message_raw().map_err(|e| Error::Read {
            url: url.to_string(),
            what: format!("message of {commit}"),
            message: e.to_string(),
        })?;
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    fn first_parents(
        &self,
        url: &str,
        tip: CommitId,
        until: Option<CommitId>,
        hidden: Option<CommitId>,
        limit: usize,
    ) -> Result<Vec<Commit>, Error> {
        let (entry, _) = self.entry(url)?;
        let repo = &entry.repo;
        let read_err = |e: &dyn std::fmt::Display| Error::Read {
            url: url.to_string(),
            what: format!("history of {tip}"),
            message: e.to_string(),
        };
        let tip_oid = find_commit(repo, url, tip)?.id;
        let hidden = hidden.map(|id| find_commit(repo, url, id).map(|c| c.id)).transpose()?;
        let walk = repo.rev_walk([tip_oid]).first_parent_only();
        // Hidden commits are painted through every parent (as git's `^other` is), so a commit
        // merged into `other` with `--no-ff` counts as reachable from it.
        let walk = match hidden {
            Some(other) => walk.with_hidden([other]),
            None => walk,
        };
        let walk = walk.all().map_err(|e| read_err(&e))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| read_err(&e))?;
            if until.is_some_and(|u| u == from_gix(info.id)) || out.len() >= limit {
                break;
            }
            let commit = info.object().map_err(|e| read_err(&e))?;
            let time = commit.time().map_err(|e| read_err(&e))?.seconds;
            let summary = commit.message().map(|m| m.summary().to_string()).unwrap_or_default();
            let tree = commit.tree_id().map_err(|e| read_err(&e))?.to_string();
            out.push(Commit { id: from_gix(info.id), time, tree, summary });
        }
        Ok(out)
    }
}
