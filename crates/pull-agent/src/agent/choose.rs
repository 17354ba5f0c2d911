//! Which fleet commit a cluster runs (SPEC §2 the `fleet` Repository, §4 `fleet.verify`): the
//! fleet's own rollout, windows and freezes (with signed overrides), a commit that changes
//! nothing for the cluster taken at once, and the trust root in agent.yaml. The commit in use is
//! kept in `stateDir/fleet-commit`, since a window, a freeze or a failed verification keeps it.

use anyhow::{Context as _, Result};
use flotilla_core::calendar::rfc3339;
use flotilla_core::fleet::{FLEET_REPOSITORY, Fleet, RepositorySpec, Verify, VerifyMode};
use flotilla_core::report::{self, FleetReport, Override, SyncState};
use flotilla_core::rollout;
use flotilla_git::CommitId;

use super::{FleetAt, ROLLOUT_HISTORY, arrived, identity, retrying_git, short};
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
    CommitId::parse(text.trim()).ok()
}

fn keep_fleet_in_use(config: &Config, commit: CommitId) {
    if fleet_in_use(config) == Some(commit) {
        return;
    }
    let path = config.state_dir.join(FLEET_COMMIT_FILE);
    if let Err(e) = crate::spool::write_atomically(&path, format!("{commit}\n").as_bytes()) {
        eprintln!("pull-agent: warning: {}: {e}", path.display());
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
    let mut gated = Gated {
        in_use: fleet_in_use(config),
        candidate: Some(tip.commit),
        state: SyncState::Synced,
        message: None,
        overrides: Vec::new(),
    };
    if let Some(spec) = &delivery {
        gate(config, &tip, &branch, spec, now, &mut gated).await?;
    }
    settle(config, tip, previous, &policy, gated)
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
}

/// Applies the fleet's rollout, windows and freezes (`spec`, as the tip declares them) to
/// `gated`, at `now`.
async fn gate(
    config: &Config,
    tip: &FleetAt,
    branch: &str,
    spec: &RepositorySpec,
    now: i64,
    gated: &mut Gated,
) -> Result<()> {
    let url = &tip.source.url;
    let head = tip.commit;
    let history = tip.cache.history(url, head, None, ROLLOUT_HISTORY).context("the fleet branch's history")?;
    let ids: Vec<String> = history.iter().map(|c| c.id.to_string()).collect();
    // A commit in use that left the branch (force-pushed away) is nothing to keep.
    gated.in_use = gated.in_use.filter(|c| ids.contains(&c.to_string()));
    let in_use = gated.in_use;
    let identity = tip.fleet.select(&identity(config)).identity;
    if let Some(rollout) = spec.rollout.as_ref().filter(|r| !r.waves.is_empty()) {
        let wave = rollout::wave_of(rollout, FLEET_REPOSITORY, &identity).expect("the rollout has waves");
        let decide = wave.index > 0 && in_use != Some(head);
        let arrivals = arrived(config, url, branch, &ids, now, decide, || async {
            let hub = config.hub.as_ref()?;
            let client = crate::hub::Hub::new(&hub.url).ok()?;
            client.arrivals(&hub.token_file, FLEET_REPOSITORY, &identity.environment).await.ok()
        })
        .await;
        let landed: Vec<rollout::Landed> = history
            .iter()
            .zip(&ids)
            .map(|(c, id)| rollout::Landed { commit: id, tree: &c.tree, at: arrivals.at(id).unwrap_or(now) })
            .collect();
        let bake = rollout.bake_seconds();
        gated.candidate = rollout::pick(&landed, wave.index, bake, now)
            .map(|c| CommitId::parse(c.commit).expect("an id git gave"))
            .or(in_use);
        if gated.candidate != Some(head) {
            gated.state = SyncState::WaitingForWave;
            gated.message = Some(format!(
                "fleet wave {} ({} of {}): {} reaches it at {}",
                wave.name,
                wave.index + 1,
                rollout.waves.len(),
                short(&ids[0]),
                rfc3339(rollout::gate(landed[0].at, wave.index, bake))
            ));
        }
    }
    if let Some((freeze, ends)) = rollout::frozen(&spec.freezes, now)
        && gated.candidate != in_use
    {
        let mut said = rollout::freeze_message(freeze, ends);
        // The newest commit up to the candidate and newer than the one in use that an override
        // signer let through.
        let position = |c: CommitId| ids.iter().position(|i| *i == c.to_string());
        let newest = gated.candidate.and_then(position).unwrap_or(0);
        let oldest = in_use.and_then(position).unwrap_or(ids.len());
        let signers = crate::trust::override_signers(config)?;
        let mut passed = None;
        for id in &ids[newest..oldest] {
            let commit = CommitId::parse(id).expect("an id git gave");
            match crate::trust::check_override(&tip.cache, url, commit, signers.as_ref(), FLEET_REPOSITORY) {
                Ok(Some(o)) => {
                    passed = Some((commit, o));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("pull-agent: warning: fleet: {e}");
                    said = format!("{said}; {e}");
                }
            }
        }
        let head_passed = passed.as_ref().is_some_and(|(commit, _)| *commit == head);
        if let Some((commit, o)) = passed {
            said =
                format!("{said}; {} passes it by an override signed by {}: {}", short(&o.commit), o.signer, o.reason);
            gated.candidate = Some(commit);
            gated.overrides.push(o);
        } else {
            gated.candidate = in_use;
        }
        gated.state = if head_passed { SyncState::Synced } else { SyncState::WaitingForWindow };
        gated.message = Some(said);
    }
    // A signed override passes the windows as well as the freeze: a hotfix is not held for the
    // night.
    if !rollout::window_open(&spec.windows, now) && gated.candidate != in_use && gated.overrides.is_empty() {
        gated.candidate = in_use;
        gated.state = SyncState::WaitingForWindow;
        let next = rollout::next_opening(&spec.windows, now)
            .map_or_else(|| "none ever opens".to_string(), |t| format!("the next opens at {}", rfc3339(t)));
        gated.message = Some(format!("outside the fleet's deployment windows; {next}"));
    }
    Ok(())
}

/// The end of the choice: a commit that changes nothing for the cluster is taken at once,
/// the trust root checked (an unverified commit not used: the one in use stays), the commit in
/// use kept, and the report made.
fn settle(config: &Config, tip: FleetAt, previous: Option<FleetAt>, policy: &Verify, gated: Gated) -> Result<Chosen> {
    let Gated { in_use, mut candidate, mut state, mut message, overrides } = gated;
    let url = tip.source.url.clone();
    let head = tip.commit;
    let mut older = match candidate.filter(|c| *c != head) {
        Some(c) => Some(fleet_at(&tip, c, previous)?),
        None => None,
    };
    if let Some(base) = &older {
        let identity = identity(config);
        let view = |a: &FleetAt| flotilla_core::render::fleet_view(&a.fleet, &a.snapshot, &identity, &config.render);
        if view(base) == view(&tip) {
            older = None;
            candidate = Some(head);
            state = SyncState::Synced;
            message = None;
        }
    }
    let mut signer = None;
    if let Some(commit) = candidate {
        match crate::trust::verify(&tip.cache, &url, commit, policy) {
            Ok(verified) => signer = verified,
            Err(e) => {
                eprintln!("pull-agent: fleet: {e}; not used");
                state = SyncState::VerificationFailed;
                message = Some(report::clip(&format!("{e}; the fleet repository stays at the last verified commit")));
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
