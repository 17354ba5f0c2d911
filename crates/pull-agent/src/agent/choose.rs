//! Which fleet commit a cluster runs (SPEC §2 the `fleet` Repository, §4 `fleet.verify`): the
//! fleet's own rollout, windows and freezes (with signed overrides), a commit that changes
//! nothing for the cluster taken at once, and the trust root in agent.yaml. The commit in use is
//! kept in `stateDir/fleet-commit`, since a window, a freeze or a failed verification keeps it.

use anyhow::{Context as _, Result};
use flotilla_core::fleet::{FLEET_REPOSITORY, Fleet, RepositorySpec, Verify, VerifyMode};
use flotilla_core::report::{FleetReport, Override, SyncState};
use flotilla_core::rollout;
use flotilla_git::CommitId;

use super::{FleetAt, ROLLOUT_HISTORY, arrived, identity, retrying_git};
use crate::config::Config;

/// The fleet repository at `commit` of the branch `tip` was read from (its history fetched
/// whole already), reusing `previous` when it read that commit.
pub(super) fn fleet_at(tip: &FleetAt, commit: CommitId, previous: Option<FleetAt>) -> Result<FleetAt> {
    if let Some(previous) = previous.filter(|p| p.commit == commit && p.source.url == tip.source.url) {
        return Ok(FleetAt { branch: tip.branch.clone(), signer: None, ..previous });
    }
    let snapshot = tip.cache.snapshot(&tip.source.url, commit).context("reading the fleet repository")?;
    let (fleet, errors) = Fleet::from_snapshot(&snapshot);
    let warnings = errors.iter().map(ToString::to_string).collect();
    Ok(FleetAt {
        commit,
        branch: tip.branch.clone(),
        snapshot,
        fleet,
        warnings,
        source: tip.source.clone(),
        cache: tip.cache.clone(),
        signer: None,
    })
}

/// The file, under `stateDir`, naming the fleet commit the cluster runs (when the fleet rolls
/// out or is verified: what a window, a freeze or a failed verification keeps).
const FLEET_COMMIT_FILE: &str = "fleet-commit";

fn fleet_in_use(config: &Config) -> Option<CommitId> {
    let text = std::fs::read_to_string(config.state_dir.join(FLEET_COMMIT_FILE)).ok()?;
    text.trim().parse::<CommitId>().ok()
}

fn keep_fleet_in_use(config: &Config, commit: CommitId) {
    if fleet_in_use(config) == Some(commit) {
        return;
    }
    let path = config.state_dir.join(FLEET_COMMIT_FILE);
    if let Err(e) = crate::spool::write_atomically(&path, format!("{commit}\n").as_bytes()) {
        tracing::warn!("{}: {e}", path.display());
    }
}

/// Which fleet commit this cluster runs this cycle, and what its report says of it.
pub(super) struct Chosen {
    /// `None`: none may run yet (nothing in use, and the newest commit not gated for this
    /// cluster, outside its windows, or not verified).
    pub(super) at: Option<FleetAt>,
    /// The branch's tip, when it is not the commit chosen (kept for the next cycle's read).
    pub(super) tip: Option<FleetAt>,
    pub(super) report: Option<FleetReport>,
    pub(super) overrides: Vec<Override>,
}

/// Chooses the fleet commit this cluster runs, from the fleet branch's tip `tip`:
///
/// - with the fleet's own `rollout`, the newest commit whose gate opened for the cluster's
///   wave (the same core functions as a placement's; arrivals from the hub, else the agent's);
///   outside the fleet's `windows`, or in one of its `freezes`, the commit in use — but a
///   commit signed with a `Flotilla-Override:` by an override signer passes a freeze;
/// - a commit that changes nothing this cluster renders or evaluates
///   ([`flotilla_core::render::fleet_view`]) is taken at once, whatever its gate;
/// - under `fleet.verify: enforce`, a commit the trust root did not sign is not used: the last
///   verified one (in use) stays, and the report says `VerificationFailed` with the commit.
///
/// The fleet's own declaration is read at the tip, as a placement's is.
pub(super) async fn choose_fleet(config: &Config, tip: FleetAt, previous: Option<FleetAt>, now: i64) -> Result<Chosen> {
    let policy = crate::trust::fleet_policy(config)?;
    let own = tip.fleet.own.as_ref().map(|o| o.spec.clone());
    let delivery = own.filter(|s| s.rollout.is_some() || !s.windows.is_empty() || !s.freezes.is_empty());
    let Some(branch) = tip.branch.clone() else {
        return Ok(Chosen { at: Some(tip), tip: None, report: None, overrides: Vec::new() });
    };
    if delivery.is_none() && policy.mode == VerifyMode::Off {
        // Remembered all the same: what a freeze or window declared later keeps.
        keep_fleet_in_use(config, tip.commit);
        return Ok(Chosen { at: Some(tip), tip: None, report: None, overrides: Vec::new() });
    }
    // The branch's whole history: for a rollout, and for the commit in use or an older one to
    // verify and read.
    retrying_git(|| tip.cache.fetch(&tip.source, &[&branch])).context("fetching the fleet branch's history")?;
    let in_use = fleet_in_use(config);
    let gated = match &delivery {
        Some(spec) => gate(config, &tip, &branch, spec, now, in_use, previous).await?,
        None => Gated {
            in_use,
            candidate: Some(tip.commit),
            state: SyncState::Synced,
            message: None,
            overrides: Vec::new(),
            older: None,
        },
    };
    settle(config, tip, &policy, gated)
}

/// Where the gates of the fleet's delivery leave a cluster.
struct Gated {
    /// The fleet commit the cluster ran last (on the branch still).
    in_use: Option<CommitId>,
    /// The commit it may run; `None`: none yet.
    candidate: Option<CommitId>,
    state: SyncState,
    message: Option<String>,
    overrides: Vec<Override>,
    /// The fleet at the candidate, when it is not the tip.
    older: Option<FleetAt>,
}

/// Applies the fleet's rollout, windows and freezes (`spec`, as the tip declares them) at `now`
/// with [`rollout::decide_fleet`]: gathers what it asks for (the history with its arrivals, the
/// overrides of the commits a freeze would pass over, whether the commit chosen changes anything
/// for the cluster) and reads the fleet at the commit chosen.
async fn gate(
    config: &Config,
    tip: &FleetAt,
    branch: &str,
    spec: &RepositorySpec,
    now: i64,
    in_use: Option<CommitId>,
    mut previous: Option<FleetAt>,
) -> Result<Gated> {
    let url = &tip.source.url;
    let head = tip.commit;
    let history = tip.cache.history(url, head, None, ROLLOUT_HISTORY).context("the fleet branch's history")?;
    let ids: Vec<String> = history.iter().map(|c| c.id.to_string()).collect();
    let identity = tip.fleet.select(&identity(config)).identity;
    let rollout = spec.rollout.as_ref().filter(|r| !r.waves.is_empty());
    let wave = rollout.map(|r| rollout::wave_of(r, FLEET_REPOSITORY, &identity).expect("the rollout has waves"));
    let arrivals = match &wave {
        Some(wave) => {
            // A commit in use that left the branch is not the head either.
            let decide = wave.index > 0 && in_use != Some(head);
            Some(
                arrived(config, url, branch, &ids, now, decide, || async {
                    let hub = config.hub.as_ref()?;
                    let client = crate::hub::Hub::new(&hub.url).ok()?;
                    client.arrivals(&hub.token_file, FLEET_REPOSITORY, &identity.environment).await.ok()
                })
                .await,
            )
        }
        None => None,
    };
    let commits = ids.iter().zip(&history).map(|(id, c)| (id.as_str(), c.tree.as_str()));
    let landed = rollout::Landed::dated(commits, |id| arrivals.as_ref().and_then(|a| a.at(id)), now);
    let in_use_id = in_use.map(|c| c.to_string());
    let windows = rollout::Windows::at(&spec.windows, now);
    let freeze = rollout::frozen(&spec.freezes, now);
    let parse = |id: &str| id.parse::<CommitId>().expect("an id git gave");
    let mut checks: Option<Vec<OverrideOf>> = None;
    let mut same_view = None;
    let mut older = None;
    loop {
        let said: Option<Vec<rollout::FleetChecked>> = checks.as_ref().map(|checks| {
            checks
                .iter()
                .map(|(commit, said)| rollout::FleetChecked {
                    commit,
                    said: match said {
                        Ok(o) => Ok(o.as_ref().map(|o| (o.signer.as_str(), o.reason.as_str()))),
                        Err(why) => Err(why.as_str()),
                    },
                })
                .collect()
        });
        let inputs = rollout::FleetInputs {
            rollout: rollout.zip(wave.as_ref()),
            history: &landed,
            in_use: in_use_id.as_deref(),
            windows,
            freeze,
            overrides: said.as_deref(),
            same_view,
            now,
        };
        match rollout::decide_fleet(&inputs) {
            rollout::FleetDecision::Check(range) => checks = Some(read_overrides(config, tip, &ids[range])?),
            rollout::FleetDecision::Compare { commit } => {
                let base = fleet_at(tip, parse(commit), previous.take())?;
                let identity = super::identity(config);
                let view =
                    |a: &FleetAt| flotilla_core::render::fleet_view(&a.fleet, &a.snapshot, &identity, &config.render);
                let same = view(&base) == view(tip);
                same_view = Some(same);
                older = (!same).then_some(base);
            }
            rollout::FleetDecision::Chosen(choice) => {
                let overrides = choice
                    .passed
                    .and_then(|c| checks.iter().flatten().find(|(id, _)| id == c))
                    .and_then(|(_, said)| said.as_ref().ok().cloned().flatten())
                    .into_iter()
                    .collect();
                let candidate = choice.commit.map(parse);
                return Ok(Gated {
                    in_use: choice.in_use.map(parse),
                    candidate,
                    state: choice.state,
                    message: choice.message,
                    overrides,
                    older: older.filter(|o: &FleetAt| Some(o.commit) == candidate),
                });
            }
        }
    }
}

/// A commit, and what its `Flotilla-Override:` counts for ([`crate::trust::check_override`]).
type OverrideOf = (String, Result<Option<Override>, String>);

/// The overrides of the fleet commits `ids` (newest first), up to the first that passes; one
/// that does not count is said so.
fn read_overrides(config: &Config, tip: &FleetAt, ids: &[String]) -> Result<Vec<OverrideOf>> {
    let signers = crate::trust::override_signers(config)?;
    let mut read = Vec::new();
    for id in ids {
        let commit = id.parse::<CommitId>().expect("an id git gave");
        let said =
            crate::trust::check_override(&tip.cache, &tip.source.url, commit, signers.as_ref(), FLEET_REPOSITORY);
        if let Err(e) = &said {
            tracing::warn!("fleet: {e}");
        }
        let passes = matches!(said, Ok(Some(_)));
        read.push((id.clone(), said));
        if passes {
            break;
        }
    }
    Ok(read)
}

/// The end of the choice: the trust root checked (an unverified commit not used: the one in use
/// stays), the commit in use kept, and the report made.
fn settle(config: &Config, tip: FleetAt, policy: &Verify, gated: Gated) -> Result<Chosen> {
    let Gated { in_use, mut candidate, mut state, mut message, overrides, mut older } = gated;
    let url = tip.source.url.clone();
    let head = tip.commit;
    let mut signer = None;
    if let Some(commit) = candidate {
        match crate::trust::verify(&tip.cache, &url, commit, policy) {
            Ok(verified) => signer = verified,
            Err(e) => {
                tracing::info!("fleet: {e}; not used");
                state = SyncState::VerificationFailed;
                message = Some(rollout::unverified_message(&e));
                candidate = None;
                older = None;
                if let Some(c) = in_use.filter(|c| *c != commit)
                    && let Ok(verified) = crate::trust::verify(&tip.cache, &url, c, policy)
                {
                    candidate = Some(c);
                    signer = verified;
                    older = (c != head).then(|| fleet_at(&tip, c, None)).transpose()?;
                }
            }
        }
    }
    if let Some(commit) = candidate {
        keep_fleet_in_use(config, commit);
    }
    let report = FleetReport {
        commit: candidate.unwrap_or(head).to_string(),
        head: candidate.filter(|c| *c != head).map(|_| head.to_string()),
        state,
        message,
        signer: signer.clone(),
    };
    let (at, tip) = match (candidate, older) {
        (None, _) => (None, Some(tip)),
        (Some(_), Some(older)) => (Some(older), Some(tip)),
        (Some(_), None) => (Some(tip), None),
    };
    let at = at.map(|mut a| {
        a.signer = signer;
        a
    });
    Ok(Chosen { at, tip, report: Some(report), overrides })
}
