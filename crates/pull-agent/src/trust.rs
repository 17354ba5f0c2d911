//! The signatures the agent checks beyond a source's own `verify` (SPEC §4): the fleet
//! repository's commits against the trust root in agent.yaml (`fleet.verify`, which no commit
//! can change), the floor every source's verification gets (`sources.verify`, which a fleet
//! `Repository` may raise and never lower), and freeze overrides against `overrideSigners`.
//!
//! Not the verification itself (`flotilla_git::verify`, in-process) nor what the agent does
//! with a verdict (the caller's).

use std::path::Path;

use anyhow::{Context as _, Result};
use flotilla_core::fleet::{Verify, VerifyMode};
use flotilla_core::report::Override;
use flotilla_core::rollout::{self, Unheeded};
use flotilla_git::{Cache, CommitId, Signature};

use crate::config::Config;

/// The fleet repository's verification, with the key files of `fleet.verify` read.
pub fn fleet_policy(config: &Config) -> Result<Verify> {
    let v = &config.fleet.verify;
    Ok(Verify {
        mode: v.mode,
        allowed_signers: v.allowed_signers.as_deref().map(|p| read(p, "fleet.verify.allowedSigners")).transpose()?,
        openpgp_keys: v.openpgp_keys.as_deref().map(|p| read(p, "fleet.verify.openpgpKeys")).transpose()?,
    })
}

/// A source's verification: its `Repository`'s, at least as strict as `sources.verify`.
pub fn source_policy(config: &Config, declared: &Verify) -> Verify {
    let mut policy = declared.clone();
    policy.mode = stricter(declared.mode, config.sources_verify);
    policy
}

/// The stricter of two modes: off < inform < enforce.
pub fn stricter(a: VerifyMode, b: VerifyMode) -> VerifyMode {
    let rank = |m: VerifyMode| match m {
        VerifyMode::Off => 0,
        VerifyMode::Inform => 1,
        VerifyMode::Enforce => 2,
    };
    if rank(a) >= rank(b) { a } else { b }
}

/// Who may sign an override, from `overrideSigners`; `None` when no one may.
pub fn override_signers(config: &Config) -> Result<Option<Verify>> {
    let Some(path) = &config.override_signers else { return Ok(None) };
    Ok(Some(Verify {
        mode: VerifyMode::Enforce,
        allowed_signers: Some(read(path, "overrideSigners")?),
        openpgp_keys: None,
    }))
}

fn read(path: &Path, field: &str) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{field}: reading {}", path.display()))
}

/// The override a commit carries through a freeze: `Ok(Some)` when its message has a
/// `Flotilla-Override:` trailer and an override signer signed it, `Ok(None)` when it has no
/// such trailer, and `Err(why)` when it has one that does not count (no override signers, an
/// unsigned or wrongly signed commit): such an override is ignored, and said so.
pub fn check_override(
    cache: &Cache,
    url: &str,
    commit: CommitId,
    signers: Option<&Verify>,
    target: &str,
) -> Result<Option<Override>, String> {
    let message = cache.message(url, commit).map_err(|e| e.to_string())?;
    let Some(reason) = rollout::override_reason(&message) else { return Ok(None) };
    let ignored = |why| rollout::override_ignored(&commit.to_string(), why);
    let Some(signers) = signers else { return Err(ignored(Unheeded::NoSigners)) };
    let verdict = cache.verify(url, commit, signers).map_err(|e| e.to_string())?;
    match verdict.signature {
        Signature::Verified { signer, .. } => {
            Ok(Some(Override { target: target.to_string(), commit: commit.to_string(), signer, reason }))
        }
        Signature::Unsigned => Err(ignored(Unheeded::Unsigned)),
        Signature::Invalid { reason } => Err(ignored(Unheeded::NotAnOverrideSigner(&reason))),
    }
}

/// Whether `commit` of `url` passes `policy`: the signer when it is verified, or why it does
/// not pass (under `enforce`); under `inform` an unverified commit passes without a signer.
pub fn verify(cache: &Cache, url: &str, commit: CommitId, policy: &Verify) -> Result<Option<String>, String> {
    if policy.mode == VerifyMode::Off {
        return Ok(None);
    }
    let verdict = cache.verify(url, commit, policy).map_err(|e| e.to_string())?;
    if !verdict.allowed {
        return Err(format!("{url} at {commit}: {}", verdict.reason().unwrap_or_default()));
    }
    Ok(match verdict.signature {
        Signature::Verified { signer, .. } => Some(signer),
        Signature::Unsigned | Signature::Invalid { .. } => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_raises_and_never_lowers() {
        use VerifyMode::{Enforce, Inform, Off};
        assert_eq!(stricter(Off, Enforce), Enforce);
        assert_eq!(stricter(Enforce, Off), Enforce);
        assert_eq!(stricter(Inform, Off), Inform);
        assert_eq!(stricter(Inform, Enforce), Enforce);
        assert_eq!(stricter(Off, Off), Off);
    }
}
