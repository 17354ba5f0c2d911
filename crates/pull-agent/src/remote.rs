//! Rendering a source straight from git: fetch into the cache, check the commit's signature,
//! read its tree, render.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use flotilla_core::fleet::{Verify, VerifyMode};
use flotilla_core::kustomize::Budget;
use flotilla_git::{Cache, CommitId, Signature, Source};
use serde_json::Value;

/// What was rendered, and from which commit with which signature.
#[derive(Debug)]
pub struct Rendered {
    pub commit: CommitId,
    /// `Unsigned` when the policy's mode is off (the signature was not examined).
    pub signature: Signature,
    pub objects: Vec<Value>,
}

/// Renders `path` of `source` at `git_ref` (a branch, or a full commit id on some branch),
/// after checking the commit's signature against `verify`, within `budget`.
pub fn render(
    cache_dir: &Path,
    source: &Source,
    git_ref: &str,
    path: &str,
    verify: &Verify,
    budget: &Budget,
) -> Result<Rendered> {
    let full = Cache::new(cache_dir);
    let (cache, commit) = if let Ok(commit) = git_ref.parse::<CommitId>() {
        // A commit is found on whichever branch holds it, anywhere in its history.
        full.fetch(source, &["*"])?;
        (full, commit)
    } else {
        // A branch needs only its tip: fetch no history.
        let tip = full.fetch_tips(source, &[git_ref])?.heads[git_ref];
        (full.shallow(), tip)
    };
    let verdict = cache.verify(&source.url, commit, verify)?;
    if !verdict.allowed {
        bail!(
            "{} at {commit}: refused under verify mode enforce: {}",
            source.url,
            verdict.reason().unwrap_or_default()
        );
    }
    let snapshot = cache.snapshot(&source.url, commit)?;
    let objects = flotilla_core::kustomize::build_with(&snapshot, path, budget)
        .with_context(|| format!("rendering {path} of {} at {commit}", source.url))?;
    let signature = if verify.mode == VerifyMode::Off { Signature::Unsigned } else { verdict.signature };
    Ok(Rendered { commit, signature, objects })
}
