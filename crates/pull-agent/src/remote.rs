//! Rendering a source straight from git: fetch into the cache, read the commit's tree, render.

use std::path::Path;

use anyhow::{Context as _, Result};
use flotilla_git::{Cache, CommitId, Source};
use serde_json::Value;

/// Renders `path` of `source` at `git_ref` (a branch, or a full commit id on some branch).
pub fn render(cache_dir: &Path, source: &Source, git_ref: &str, path: &str) -> Result<Vec<Value>> {
    let cache = Cache::new(cache_dir);
    let commit = match CommitId::parse(git_ref) {
        Ok(commit) => {
            // A commit is found on whichever branch holds it.
            cache.fetch(source, &["*"])?;
            commit
        }
        Err(_) => cache.fetch(source, &[git_ref])?.heads[git_ref],
    };
    let snapshot = cache.snapshot(&source.url, commit)?;
    flotilla_core::kustomize::build(&snapshot, path)
        .with_context(|| format!("rendering {path} of {} at {commit}", source.url))
}
