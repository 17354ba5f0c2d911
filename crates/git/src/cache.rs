//! The bare-repository cache: one repository per URL, locked while in use, healed when broken.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::remote::Direction;

use crate::{CommitId, Credentials, Error, Source, from_gix, to_gix};

/// Where the bare repositories live.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The commit each tracked branch points to now.
    pub heads: BTreeMap<String, CommitId>,
    /// Whether a pack was received (false: the poll found nothing new).
    pub changed: bool,
    /// Branches whose new head does not descend from the old one (force-pushed).
    pub rewritten: Vec<String>,
    /// Set when the cache was found broken and rebuilt; says what was wrong.
    pub healed: Option<String>,
}

/// A locked, open cache entry. The lock is released when it is dropped.
pub(crate) struct Entry {
    pub repo: gix::Repository,
    _lock: File,
}

impl Cache {
    /// A cache under `dir` (created when first used).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The folder of the bare repository for `url`: a readable name plus a hash of the URL.
    pub fn path_of(&self, url: &str) -> PathBuf {
        let readable: String = url
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("repo")
            .trim_end_matches(".git")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .take(40)
            .collect();
        let hash = gix::hash::hasher(gix::hash::Kind::Sha1);
        let mut hash = hash;
        hash.update(url.as_bytes());
        let digest = hash.try_finalize().map(|id| id.to_hex_with_len(12).to_string()).unwrap_or_default();
        self.dir.join(format!("{readable}-{digest}.git"))
    }

    /// Opens (or creates) the entry for `url` and takes its lock, healing a broken one.
    pub(crate) fn entry(&self, url: &str) -> Result<(Entry, Option<String>), Error> {
        let path = self.path_of(url);
        let cache_err = |message: String| Error::Cache { path: path.display().to_string(), message };
        std::fs::create_dir_all(&self.dir).map_err(|e| cache_err(e.to_string()))?;
        let lock_path = path.with_extension("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| cache_err(format!("opening the lock {}: {e}", lock_path.display())))?;
        // One process (or thread) at a time per repository; others wait their turn.
        lock.lock().map_err(|e| cache_err(format!("locking: {e}")))?;
        let mut healed = None;
        // Holding the entry's lock, any lock gix left inside the repository is stale: a process
        // killed mid-fetch (SIGKILL, OOM, power cut) leaves one, and it would block every fetch.
        let stale = remove_stale_locks(&path);
        if !stale.is_empty() {
            let note = format!("removed stale locks left by an interrupted fetch: {}", stale.join(", "));
            tracing::warn!("{}: {note}", path.display());
            healed = Some(note);
        }
        let repo = match open_checked(&path) {
            Ok(Some(repo)) => repo,
            Ok(None) => init(&path).map_err(cache_err)?,
            Err(problem) => {
                let aside = path.with_extension(format!("broken-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&aside);
                std::fs::rename(&path, &aside).map_err(|e| cache_err(format!("moving the broken cache aside: {e}")))?;
                let note = format!(
                    "cache {} was broken ({problem}); moved to {} and fetched anew",
                    path.display(),
                    aside.display()
                );
                tracing::warn!("{note}");
                healed = Some(note);
                init(&path).map_err(cache_err)?
            }
        };
        Ok((Entry { repo, _lock: lock }, healed))
    }

    /// Brings `branches` of `source` up to date in the cache, with their whole history.
    pub fn fetch(&self, source: &Source, branches: &[&str]) -> Result<Fetched, Error> {
        self.fetch_depth(source, branches, None)
    }

    /// Fetches only the tips of `branches` (depth 1), for callers that need the tree and no
    /// history. Shallow repositories live in a cache area of their own, so a history query
    /// never meets one.
    pub fn fetch_tips(&self, source: &Source, branches: &[&str]) -> Result<Fetched, Error> {
        self.shallow().fetch_depth(source, branches, std::num::NonZeroU32::new(1))
    }

    /// The cache area that holds shallow repositories.
    #[must_use]
    pub fn shallow(&self) -> Cache {
        Cache { dir: self.dir.join("shallow") }
    }

    fn fetch_depth(
        &self,
        source: &Source,
        branches: &[&str],
        depth: Option<std::num::NonZeroU32>,
    ) -> Result<Fetched, Error> {
        let (entry, healed) = self.entry(&source.url)?;
        let before: BTreeMap<String, Option<gix::ObjectId>> =
            branches.iter().map(|b| ((*b).to_string(), local_head(&entry.repo, b))).collect();
        let mut fetched = fetch_into(&entry, source, branches, depth, &self.dir.join("known_hosts"))?;
        fetched.healed = healed;
        for (branch, old) in before {
            if let (Some(old), Some(new)) = (old, fetched.heads.get(&branch))
                && let Some(new) = to_gix(*new)
                && old != new
                && !descends_from(&entry.repo, new, old)
            {
                fetched.rewritten.push(branch);
            }
        }
        Ok(fetched)
    }

    /// The commit `branch` points to in the cache (as of the last fetch).
    pub fn head(&self, url: &str, branch: &str) -> Result<CommitId, Error> {
        let (entry, _) = self.entry(url)?;
        local_head(&entry.repo, branch)
            .map(from_gix)
            .ok_or_else(|| Error::NotFetched { url: url.to_string(), branch: branch.to_string() })
    }
}

/// Deletes the `*.lock` files gix writes beside a file it replaces (`shallow.lock`,
/// `packed-refs.lock`, `config.lock`, `refs/**.lock`); the names of those it deleted. Call only
/// while holding the entry's own lock.
fn remove_stale_locks(repo: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let mut folders = vec![repo.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && path.strip_prefix(repo).is_ok_and(|p| p.starts_with("refs")) {
                folders.push(path);
            } else if kind.is_file()
                && path.extension().is_some_and(|e| e == "lock")
                && std::fs::remove_file(&path).is_ok()
            {
                removed.push(path.strip_prefix(repo).unwrap_or(&path).display().to_string());
            }
        }
    }
    removed.sort();
    removed
}

/// The local heads of `branches` when the server advertises each at the commit the cache has.
fn tips_already_here(
    repo: &gix::Repository,
    advertised: &gix::remote::fetch::RefMap,
    branches: &[&str],
) -> Option<BTreeMap<String, CommitId>> {
    if branches.is_empty() || branches.contains(&"*") {
        return None;
    }
    let mut heads = BTreeMap::new();
    for branch in branches {
        let name = format!("refs/heads/{branch}");
        let remote = advertised
            .mappings
            .iter()
            .find(|m| m.remote.as_name().is_some_and(|n| *n == name))
            .and_then(|m| m.remote.as_id().map(gix::oid::to_owned))?;
        let local = local_head(repo, branch)?;
        if remote != local {
            return None;
        }
        heads.insert((*branch).to_string(), from_gix(local));
    }
    Some(heads)
}

fn init(path: &Path) -> Result<gix::Repository, String> {
    gix::init_bare(path).map_err(|e| format!("creating a bare repository: {e}"))?;
    open(path).map_err(|e| format!("opening the new repository: {e}"))
}

fn open(path: &Path) -> Result<gix::Repository, gix::Error> {
    gix::open_opts(path, gix::open::Options::isolated())
}

/// Caches whose branch heads were read back once in this process: the check costs object
/// reads, and a poll that finds nothing new should cost none.
static CHECKED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Opens an existing cache and, the first time in this process, checks that what its branches
/// point to can be read; `Ok(None)` when there is none yet, `Err` with the problem when it is
/// broken (half-written, corrupt objects).
fn open_checked(path: &Path) -> Result<Option<gix::Repository>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let repo = open(path).map_err(|e| e.to_string())?;
    let mut checked = CHECKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if checked.iter().any(|p| p == path) {
        return Ok(Some(repo));
    }
    let refs = repo.references().map_err(|e| e.to_string())?;
    for r in refs.local_branches().map_err(|e| e.to_string())? {
        let mut r = r.map_err(|e| e.to_string())?;
        let id = r.peel_to_id().map_err(|e| e.to_string())?;
        let commit = repo.find_commit(id).map_err(|e| format!("branch head {id}: {e}"))?;
        commit.tree().map_err(|e| format!("tree of {id}: {e}"))?;
    }
    checked.push(path.to_path_buf());
    Ok(Some(repo))
}

fn local_head(repo: &gix::Repository, branch: &str) -> Option<gix::ObjectId> {
    repo.find_reference(format!("refs/heads/{branch}").as_str())
        .ok()
        .and_then(|mut r| r.peel_to_id().ok())
        .map(gix::Id::detach)
}

fn descends_from(repo: &gix::Repository, tip: gix::ObjectId, ancestor: gix::ObjectId) -> bool {
    repo.rev_walk([tip]).all().is_ok_and(|walk| walk.filter_map(Result::ok).any(|info| info.id == ancestor))
}

/// An error and its causes on one line, each message once where a cause repeats the one before
/// it: `handshake failed: authentication refused`. For errors whose own message is only the
/// outermost failure (gix's, reqwest's), which would hide why.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Classifies a transport error for the user.
fn classify(url: &str, mut message: String) -> Error {
    if url.starts_with("ssh://") && message.contains("failed to fill whole buffer") {
        // ssh exited before git spoke: it says why on stderr; say where to look.
        message.push_str(
            " (the ssh connection closed: an unknown or changed host key, a refused key, or no git on the server; ssh's own message is printed above)",
        );
    }
    let lower = message.to_lowercase();
    if lower.contains("401")
        || lower.contains("403")
        || lower.contains("authentication")
        || lower.contains("credentials")
    {
        Error::Unauthorized { url: url.to_string(), message }
    } else if lower.contains("connection refused")
        || lower.contains("could not connect")
        || lower.contains("connection failed")
        || lower.contains("failed to connect")
        || lower.contains("connect error")
        || lower.contains("timed out")
        || lower.contains("dns")
        || lower.contains("unreachable")
        || lower.contains("does not appear to be a git repository")
        || lower.contains("no such file")
    {
        Error::Unreachable { url: url.to_string(), message }
    } else {
        Error::Fetch { url: url.to_string(), message }
    }
}

fn fetch_into(
    entry: &Entry,
    source: &Source,
    branches: &[&str],
    depth: Option<std::num::NonZeroU32>,
    tofu_hosts: &Path,
) -> Result<Fetched, Error> {
    let url = &source.url;
    let mut repo = entry.repo.clone();
    {
        let mut config = repo.config_snapshot_mut();
        // Protocol v1: the ref advertisement is the server's first answer, so a poll that
        // finds nothing new is a single round trip (v2 needs a second one for ls-refs).
        // A shallow fetch takes protocol v2, where gix applies the depth (measured: over v1 it
        // fetched the whole history); it pays the extra round trip only then.
        let version = if depth.is_some() { "2" } else { "1" };
        config.set_value(&gix::config::tree::Protocol::VERSION, version).map_err(|e| classify(url, e.to_string()))?;
        match &source.credentials {
            Some(Credentials::Bearer { token }) => {
                config
                    .set_value(
                        &gix::config::tree::Http::EXTRA_HEADER,
                        format!("Authorization: Bearer {token}").as_str(),
                    )
                    .map_err(|e| classify(url, e.to_string()))?;
            }
            Some(Credentials::SshKey { path }) => {
                // Host keys: a `known_hosts` beside the key file pins them strictly; without
                // one, the first key seen is trusted and pinned in the cache's own file.
                let beside = path.with_file_name("known_hosts");
                let hosts = if beside.is_file() {
                    format!("-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes", beside.display())
                } else {
                    format!("-o UserKnownHostsFile={} -o StrictHostKeyChecking=accept-new", tofu_hosts.display())
                };
                let command = format!(
                    "ssh -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=20 {hosts}",
                    path.display()
                );
                config
                    .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
                    .map_err(|e| classify(url, e.to_string()))?;
            }
            Some(Credentials::Basic { .. }) | None => {}
        }
        config.commit().map_err(|e| classify(url, e.to_string()))?;
    }
    // `*` tracks every branch (to find a commit given by id).
    let specs: Vec<String> = branches.iter().map(|b| format!("+refs/heads/{b}:refs/heads/{b}")).collect();
    let remote = repo
        .remote_at(url.as_str())
        .map_err(|e| classify(url, e.to_string()))?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(specs.iter().map(String::as_str), Direction::Fetch)
        .map_err(|e| classify(url, e.to_string()))?;
    let connection = remote.connect(Direction::Fetch).map_err(|e| classify(url, e.to_string()))?;
    let basic = match &source.credentials {
        Some(Credentials::Basic { user, token }) => Some((user.clone(), token.clone())),
        _ => None,
    };
    let connection = connection.with_credentials(move |action| match action {
        gix::credentials::helper::Action::Get(ctx) => match &basic {
            Some((user, token)) => Ok(Some(gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: user.clone(),
                    password: token.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            })),
            None => Ok(None),
        },
        _ => Ok(None),
    });
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, gix::remote::ref_map::Options::default())
        .map_err(|e| classify(url, chain(&e)))?;
    let advertised: Vec<String> =
        prepare.ref_map().mappings.iter().filter_map(|m| m.remote.as_name().map(ToString::to_string)).collect();
    for branch in branches.iter().filter(|b| **b != "*") {
        if !advertised.iter().any(|n| *n == format!("refs/heads/{branch}")) {
            return Err(Error::MissingBranch { url: url.clone(), branch: (*branch).to_string() });
        }
    }
    if depth.is_some()
        && let Some(heads) = tips_already_here(&repo, prepare.ref_map(), branches)
    {
        // A shallow poll that finds every tip already here is done: without this, gix would
        // still send a fetch command and read back shallow-info and an empty pack.
        return Ok(Fetched { heads, changed: false, rewritten: Vec::new(), healed: None });
    }
    let prepare = match depth {
        Some(d) => prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(d)),
        None => prepare,
    };
    let interrupt = AtomicBool::new(false);
    let outcome = prepare.receive(gix::progress::Discard, &interrupt).map_err(|e| classify(url, chain(&e)))?;
    let changed = matches!(outcome.status, gix::remote::fetch::Status::Change { .. });
    let mut heads = BTreeMap::new();
    for branch in branches.iter().filter(|b| **b != "*") {
        let id = local_head(&repo, branch)
            .ok_or_else(|| Error::Fetch { url: url.clone(), message: format!("branch {branch:?} was not written") })?;
        heads.insert((*branch).to_string(), from_gix(id));
    }
    Ok(Fetched { heads, changed, rewritten: Vec::new(), healed: None })
}
