//! The simulated git server: real repositories, made with the `git` command in a temporary
//! folder, committed at virtual times (`GIT_COMMITTER_DATE`), and read with `flotilla-git` as
//! the agent and the hub read them (a [`Cache`] fetch over `file://`, `history`, `snapshot`).
//! Each branch keeps when its commits reached it, by core's rule (`rollout::Arrivals`, observed
//! whenever the simulator reads the branch, at the virtual time of the event that moved it): what
//! rollouts count their bakes from, never a commit's date, which a fast-forward promotion leaves
//! at the day the commit was made on dev.
//!
//! The transport is what is replaced: agents do not each fetch (ten thousand fetches per poll
//! would not fit the time budget). The simulator fetches every new branch head once and shares
//! what it read; an agent's poll is *counted* instead — one ref advertisement per repository it
//! polls, plus a fetch request and the bytes of a pack when its branch moved since its last
//! fetch ([`Git::pack_bytes`], measured once per pair of commits with `git pack-objects`).
//!
//! The fleet's `Repository` URLs are rewritten to `file:///simulated/NAME.git`, names the
//! simulator maps to its own folders: the same on every run, so that the fleet's commit ids, and
//! with them every byte of the output, do not depend on where the temporary folder is.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use flotilla_core::fleet::{FLEET_REPOSITORY, Fleet};
use flotilla_core::rollout::{self, Arrivals};
use flotilla_core::snapshot::Snapshot;
use flotilla_git::{Cache, CommitId, Source};

use crate::scenario::Replace;

/// An interned commit: its index among the commits the simulator has seen ([`Git::commit_info`]).
pub type CommitIx = u32;

/// One commit the simulator has seen.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: CommitId,
    pub hex: String,
    pub tree: String,
    /// Its committer time, unix seconds: when it was made, which rollouts do not count from
    /// (see [`Branch::arrived`]).
    pub time: i64,
    /// The repository's name (`fleet` for the fleet repository).
    pub repository: String,
    /// The timeline's name for it.
    pub name: Option<String>,
}

/// A branch as the server has it now.
#[derive(Debug, Clone)]
pub struct Branch {
    pub head: CommitIx,
    /// First-parent history from the head, newest first.
    pub history: Vec<CommitIx>,
    /// When each commit of `history` reached the branch (unix seconds of the virtual clock): as
    /// the hub records it, since the simulated hub reads every branch as soon as it moves.
    pub arrived: Vec<i64>,
    /// The same, as core keeps them (what the hub's rollout progress reads).
    pub arrivals: Arrivals,
    /// The history as the hub's fleet view keeps it (what its rollout progress reads).
    pub commits: Vec<hub_index::git_view::Commit>,
}

impl Branch {
    /// When `commit` reached the branch, if it is on it.
    pub fn arrival(&self, commit: CommitIx) -> Option<i64> {
        self.history.iter().position(|c| *c == commit).map(|i| self.arrived[i])
    }
}

#[derive(Debug)]
struct Repo {
    /// The work tree the `git` command commits in.
    work: PathBuf,
    /// Where the cache fetches from.
    fetch_url: String,
    /// Branch name → its index in [`Git::branch_at`].
    branches: BTreeMap<String, usize>,
}

/// The repositories, their branches and every commit seen.
#[derive(Debug)]
pub struct Git {
    _dir: tempfile::TempDir,
    cache: Cache,
    repos: BTreeMap<String, Repo>,
    /// Every branch of every repository: (repository, branch, state).
    branch_list: Vec<(String, String, Branch)>,
    commits: Vec<CommitInfo>,
    by_id: HashMap<CommitId, CommitIx>,
    snapshots: HashMap<CommitIx, Arc<Snapshot>>,
    packs: HashMap<(CommitIx, CommitIx), u64>,
}

/// The URL the fleet names repository `name` by.
pub fn url_of(name: &str) -> String {
    format!("file:///simulated/{name}.git")
}

const BRANCHES: [&str; 2] = ["dev", "prod"];

impl Git {
    /// Makes the repositories from the example fleet at `fleet_dir` (`infra/` is the fleet
    /// repository, each other folder a source repository of its name), with `overrides`
    /// applied, committed once at `at` on `prod` and branched to `dev`.
    pub fn create(fleet_dir: &Path, overrides: &[Replace], at: i64) -> Result<Git> {
        let dir =
            tempfile::Builder::new().prefix("flotilla-simulate-").tempdir().context("creating a temporary folder")?;
        let mut folders: Vec<(String, PathBuf)> = Vec::new();
        let entries =
            std::fs::read_dir(fleet_dir).with_context(|| format!("reading the fleet {}", fleet_dir.display()))?;
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let folder = entry.file_name().to_string_lossy().into_owned();
            let name = if folder == "infra" { FLEET_REPOSITORY.to_string() } else { folder.clone() };
            folders.push((name, entry.path()));
        }
        folders.sort();
        if !folders.iter().any(|(n, _)| n == FLEET_REPOSITORY) {
            bail!("{}: no infra/ folder (the fleet repository)", fleet_dir.display());
        }
        let mut repos = BTreeMap::new();
        for (name, from) in &folders {
            let work = dir.path().join(name);
            copy_tree(from, &work)?;
            let fetch_url = format!("file://{}", work.display());
            repos.insert(name.clone(), Repo { work, fetch_url, branches: BTreeMap::new() });
        }
        let mut git = Git {
            cache: Cache::new(dir.path().join("cache")),
            _dir: dir,
            repos,
            branch_list: Vec::new(),
            commits: Vec::new(),
            by_id: HashMap::new(),
            snapshots: HashMap::new(),
            packs: HashMap::new(),
        };
        git.rewrite_urls()?;
        for (i, r) in overrides.iter().enumerate() {
            let repository = r.repository.as_deref().unwrap_or(FLEET_REPOSITORY);
            let work = &git.repo(repository).with_context(|| format!("overrides[{i}].repository"))?.work;
            replace_in(work, r).with_context(|| format!("overrides[{i}]"))?;
        }
        let names: Vec<String> = git.repos.keys().cloned().collect();
        for name in &names {
            let work = git.repos[name].work.clone();
            run_git(&work, &["init", "-q", "-b", "prod"], at)?;
            run_git(&work, &["add", "-A"], at)?;
            run_git(&work, &["commit", "-q", "-m", "The fleet as the example has it"], at)?;
            run_git(&work, &["branch", "dev"], at)?;
            git.refresh(name, at)?;
        }
        Ok(git)
    }

    /// Rewrites each declared repository's URL in `fleet/*.yaml` to the simulator's name for it.
    fn rewrite_urls(&self) -> Result<()> {
        let fleet_dir = self.repos[FLEET_REPOSITORY].work.join(flotilla_core::fleet::FLEET_DIR);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&fleet_dir).with_context(|| format!("reading {}", fleet_dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
        files.sort();
        let mut snapshot = Snapshot::new();
        for path in &files {
            let name = path.file_name().expect("a file").to_string_lossy();
            snapshot.insert_file(format!("fleet/{name}"), std::fs::read(path)?);
        }
        let (fleet, _) = Fleet::from_snapshot(&snapshot);
        for repo in &fleet.repositories {
            if !self.repos.contains_key(repo.name()) {
                bail!("the fleet declares repository {:?}, which the example has no folder for", repo.name());
            }
            for path in &files {
                let text = std::fs::read_to_string(path)?;
                if text.contains(repo.url()) {
                    std::fs::write(path, text.replace(repo.url(), &url_of(repo.name())))?;
                }
            }
        }
        Ok(())
    }

    fn repo(&self, name: &str) -> Result<&Repo> {
        self.repos.get(name).with_context(|| {
            let known: Vec<&str> = self.repos.keys().map(String::as_str).collect();
            format!("no repository {name:?} (there are {})", known.join(", "))
        })
    }

    /// The repository a fleet URL names, if it is one of the simulator's.
    pub fn repository_of_url(&self, url: &str) -> Option<&str> {
        self.repos.keys().find(|name| url_of(name) == url).map(String::as_str)
    }

    /// Fetches a repository's branches into the cache and reads their heads and histories; a
    /// commit new on a branch arrived `at` (unix seconds), one gone from it is forgotten.
    fn refresh(&mut self, name: &str, at: i64) -> Result<()> {
        let url = self.repo(name)?.fetch_url.clone();
        let fetched =
            self.cache.fetch(&Source::new(url.clone()), &BRANCHES).with_context(|| format!("fetching {name}"))?;
        for (branch, head) in fetched.heads {
            let commits = self.cache.history(&url, head, None, hub_index::git_view::HISTORY_LIMIT)?;
            let mut history = Vec::with_capacity(commits.len());
            for c in &commits {
                history.push(self.intern(c, name));
            }
            let head = history[0];
            let known = self.repos[name].branches.get(&branch).map(|&ix| &self.branch_list[ix].2.arrivals);
            let mut arrivals = known.cloned().unwrap_or_default();
            let look: Vec<&str> =
                history.iter().take(rollout::HISTORY).map(|c| self.commits[*c as usize].hex.as_str()).collect();
            arrivals.observe(&look, at);
            // Deeper than a look (never, at the simulator's sizes): unknown, so arrived now.
            let arrived = history.iter().map(|c| arrivals.at(&self.commits[*c as usize].hex).unwrap_or(at)).collect();
            let commits = commits.into_iter().map(hub_index::git_view::Commit::from).collect();
            let state = Branch { head, history, arrived, arrivals, commits };
            let repo = self.repos.get_mut(name).expect("looked up above");
            if let Some(&ix) = repo.branches.get(&branch) {
                self.branch_list[ix].2 = state;
            } else {
                repo.branches.insert(branch.clone(), self.branch_list.len());
                self.branch_list.push((name.to_string(), branch, state));
            }
        }
        Ok(())
    }

    fn intern(&mut self, c: &flotilla_git::Commit, repository: &str) -> CommitIx {
        if let Some(ix) = self.by_id.get(&c.id) {
            return *ix;
        }
        let ix = CommitIx::try_from(self.commits.len()).expect("fewer than 4 billion commits");
        self.commits.push(CommitInfo {
            id: c.id,
            hex: c.id.to_string(),
            tree: c.tree.clone(),
            time: c.time,
            repository: repository.to_string(),
            name: None,
        });
        self.by_id.insert(c.id, ix);
        ix
    }

    /// A commit to `branch` of `repository` at `at`: `files` written whole, then `replace`.
    pub fn commit(
        &mut self,
        repository: &str,
        branch: &str,
        files: &BTreeMap<String, String>,
        replace: &[Replace],
        message: &str,
        at: i64,
    ) -> Result<CommitIx> {
        let work = self.repo(repository)?.work.clone();
        run_git(&work, &["checkout", "-q", branch], at)?;
        for (path, text) in files {
            let file = work.join(checked_path(path)?);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&file, text).with_context(|| format!("writing {path}"))?;
        }
        for (i, r) in replace.iter().enumerate() {
            replace_in(&work, r).with_context(|| format!("replace[{i}]"))?;
        }
        run_git(&work, &["add", "-A"], at)?;
        run_git(&work, &["commit", "-q", "--allow-empty", "-m", message], at)?;
        self.refresh(repository, at)?;
        Ok(self.head(repository, branch).expect("just committed"))
    }

    /// Merges `dev` into `prod` at `at`: with a merge commit (`--no-ff`), or fast-forwarding
    /// prod to dev's head (`--ff-only`, refused when prod has commits dev lacks); prod's new
    /// head.
    pub fn promote(&mut self, repository: &str, fast_forward: bool, at: i64) -> Result<CommitIx> {
        let work = self.repo(repository)?.work.clone();
        run_git(&work, &["checkout", "-q", "prod"], at)?;
        if fast_forward {
            run_git(&work, &["merge", "-q", "--ff-only", "dev"], at)?;
        } else {
            run_git(&work, &["merge", "-q", "--no-ff", "-m", "Promote dev to prod", "dev"], at)?;
        }
        self.refresh(repository, at)?;
        Ok(self.head(repository, "prod").expect("just merged"))
    }

    /// Reverts the last commit of `branch` (of its first parent, for a merge) at `at`.
    pub fn revert(&mut self, repository: &str, branch: &str, at: i64) -> Result<CommitIx> {
        let work = self.repo(repository)?.work.clone();
        run_git(&work, &["checkout", "-q", branch], at)?;
        let merge = Command::new("git")
            .args(["rev-parse", "-q", "--verify", "HEAD^2"])
            .current_dir(&work)
            .stdout(Stdio::null())
            .status()
            .context("running git rev-parse")?
            .success();
        if merge {
            run_git(&work, &["revert", "--no-edit", "-m", "1", "HEAD"], at)?;
        } else {
            run_git(&work, &["revert", "--no-edit", "HEAD"], at)?;
        }
        self.refresh(repository, at)?;
        Ok(self.head(repository, branch).expect("just reverted"))
    }

    pub fn head(&self, repository: &str, branch: &str) -> Option<CommitIx> {
        self.branch(repository, branch).map(|b| b.head)
    }

    pub fn branch(&self, repository: &str, branch: &str) -> Option<&Branch> {
        self.branch_ix(repository, branch).map(|ix| &self.branch_list[ix].2)
    }

    /// A branch's number, which stays the same for the whole run.
    pub fn branch_ix(&self, repository: &str, branch: &str) -> Option<usize> {
        self.repos.get(repository)?.branches.get(branch).copied()
    }

    /// The branch numbered `ix` (see [`Git::branch_ix`]).
    pub fn branch_at(&self, ix: usize) -> &Branch {
        &self.branch_list[ix].2
    }

    /// Every repository and branch, by name.
    pub fn branches(&self) -> impl Iterator<Item = (&str, &str, &Branch)> {
        self.repos.iter().flat_map(move |(r, repo)| {
            repo.branches.iter().map(move |(b, ix)| (r.as_str(), b.as_str(), &self.branch_list[*ix].2))
        })
    }

    pub fn commit_info(&self, ix: CommitIx) -> &CommitInfo {
        &self.commits[ix as usize]
    }

    /// Gives a commit the timeline's name for it, unless it has one: a fast-forward promotion
    /// moves prod to a commit named when it was made on dev.
    pub fn name_commit(&mut self, ix: CommitIx, name: &str) {
        self.commits[ix as usize].name.get_or_insert_with(|| name.to_string());
    }

    /// A commit's whole message, as the agent reads it (`Cache::message`).
    pub fn message(&self, ix: CommitIx) -> Result<String> {
        let info = &self.commits[ix as usize];
        let url = &self.repo(&info.repository)?.fetch_url;
        Ok(self.cache.message(url, info.id)?)
    }

    /// The commit with this id, if the simulator has seen it.
    pub fn lookup(&self, hex: &str) -> Option<CommitIx> {
        hex.parse::<CommitId>().ok().and_then(|id| self.by_id.get(&id).copied())
    }

    /// The files of a commit, read once.
    pub fn snapshot(&mut self, ix: CommitIx) -> Result<Arc<Snapshot>> {
        if let Some(s) = self.snapshots.get(&ix) {
            return Ok(Arc::clone(s));
        }
        let info = &self.commits[ix as usize];
        let url = self.repo(&info.repository)?.fetch_url.clone();
        let snapshot = Arc::new(self.cache.snapshot(&url, info.id)?);
        self.snapshots.insert(ix, Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// The bytes of the pack a fetch from `old` (`None`: a first fetch) to `new` receives:
    /// `git pack-objects --revs --thin` of `new ^old` (one thread, so that the same objects give
    /// the same bytes).
    pub fn pack_bytes(&mut self, old: Option<CommitIx>, new: CommitIx) -> Result<u64> {
        let key = (old.unwrap_or(CommitIx::MAX), new);
        if let Some(bytes) = self.packs.get(&key) {
            return Ok(*bytes);
        }
        let n = &self.commits[new as usize];
        let work = self.repo(&n.repository)?.work.clone();
        let mut child = Command::new("git")
            .args(["pack-objects", "--revs", "--thin", "--stdout", "--threads=1", "--delta-base-offset", "-q"])
            .current_dir(&work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running git pack-objects")?;
        let input = match old {
            Some(old) => format!("{}\n^{}\n", n.hex, self.commits[old as usize].hex),
            None => format!("{}\n", n.hex),
        };
        std::io::Write::write_all(&mut child.stdin.take().expect("piped"), input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("git pack-objects: {}", String::from_utf8_lossy(&out.stderr));
        }
        let bytes = out.stdout.len() as u64;
        self.packs.insert(key, bytes);
        Ok(bytes)
    }
}

/// Runs `git` in `dir` as the simulator, dated `at` (unix seconds), with no user configuration.
fn run_git(dir: &Path, args: &[&str], at: i64) -> Result<String> {
    let date = format!("@{at} +0000");
    let out = Command::new("git")
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Flotilla Simulator")
        .env("GIT_AUTHOR_EMAIL", "simulator@flotilla.invalid")
        .env("GIT_COMMITTER_NAME", "Flotilla Simulator")
        .env("GIT_COMMITTER_EMAIL", "simulator@flotilla.invalid")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!("git {} in {}: {}", args.join(" "), dir.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A relative path that stays inside the work tree.
fn checked_path(path: &str) -> Result<&str> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|p| p == ".." || p == ".git") {
        bail!("{path:?} is not a path inside the repository");
    }
    Ok(path)
}

fn replace_in(work: &Path, r: &Replace) -> Result<()> {
    let file = work.join(checked_path(&r.path)?);
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", r.path))?;
    if !text.contains(&r.from) {
        bail!("{}: {:?} is not in the file", r.path, r.from);
    }
    std::fs::write(&file, text.replace(&r.from, &r.to)).with_context(|| format!("writing {}", r.path))?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                copy_tree(&entry.path(), &target)?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
