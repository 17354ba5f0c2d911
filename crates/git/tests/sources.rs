//! flotilla-git against real git: fixture repositories made by the git CLI, served by
//! `git daemon` and `git http-backend` on 127.0.0.1, and by `file://`.

use std::sync::atomic::Ordering;

use flotilla_git::testing::{GitDaemon, HttpGitServer, free_port, git, make_fixture_repos};
use flotilla_git::{Cache, CommitId, Credentials, Error, Source};

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        make_fixture_repos(dir.path());
        Fixture { dir }
    }
    fn repos(&self) -> &std::path::Path {
        self.dir.path()
    }
    fn file_url(&self) -> String {
        format!("file://{}", self.repos().join("fleet.git").display())
    }
    fn cache(&self) -> Cache {
        Cache::new(self.repos().join("cache"))
    }
    fn rev(&self, rev: &str) -> CommitId {
        git(&self.repos().join("fleet.git"), &["rev-parse", rev]).parse::<CommitId>().unwrap()
    }
}

#[test]
fn fetches_branches_reads_snapshots_and_first_parent_history_over_file_urls() {
    let fx = Fixture::new();
    let cache = fx.cache();
    let fetched = cache.fetch(&Source::new(fx.file_url()), &["dev", "prod"]).unwrap();
    assert!(fetched.changed);
    assert_eq!(fetched.heads["prod"], fx.rev("prod"));
    assert_eq!(fetched.heads["dev"], fx.rev("dev"));
    assert_eq!(cache.head(&fx.file_url(), "prod").unwrap(), fx.rev("prod"));

    let snap = cache.snapshot(&fx.file_url(), fx.rev("dev")).unwrap();
    assert_eq!(
        snap.read("app/configmap.yaml").unwrap(),
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {version: \"6\"}\n"
    );
    let objects = flotilla_core::kustomize::build(&snap, "app").unwrap();
    assert_eq!(objects[0].pointer("/data/version").and_then(|v| v.as_str()), Some("6"));

    // prod's first-parent line: refuses, hotfix, promote, initial (the five dev commits are
    // behind the merge, not on the first-parent line).
    let history = cache.history(&fx.file_url(), fx.rev("prod"), None, 100).unwrap();
    let summaries: Vec<&str> = history.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, ["things a render refuses", "hotfix on prod", "promote dev to prod", "initial"]);
    assert!(history.windows(2).all(|w| w[0].time > w[1].time), "newest first, with commit times");
    for c in &history {
        let tree = git(&fx.repos().join("fleet.git"), &["rev-parse", &format!("{}^{{tree}}", c.id)]);
        assert_eq!(c.tree, tree, "{}", c.summary);
    }
    let since = cache.history(&fx.file_url(), fx.rev("prod"), Some(fx.rev("prod~2")), 100).unwrap();
    assert_eq!(since.len(), 2);
    assert_eq!(cache.history(&fx.file_url(), fx.rev("dev"), None, 3).unwrap().len(), 3);
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn git_daemon_fetch_then_a_poll_that_finds_nothing_new() {
    let fx = Fixture::new();
    let daemon = GitDaemon::start(fx.repos());
    let cache = fx.cache();
    let source = Source::new(daemon.url("fleet.git"));
    assert!(cache.fetch(&source, &["prod"]).unwrap().changed);
    let again = cache.fetch(&source, &["prod"]).unwrap();
    assert!(!again.changed, "nothing new: no pack");
    assert_eq!(again.heads["prod"], fx.rev("prod"));
    // A new commit on the server is seen by the next poll.
    let work = fx.repos().join("work");
    git(&work, &["commit", "-q", "--allow-empty", "-m", "next"]);
    git(&work, &["push", "-q", fx.repos().join("fleet.git").to_str().unwrap(), "prod"]);
    let next = cache.fetch(&source, &["prod"]).unwrap();
    assert!(next.changed);
    assert_eq!(next.heads["prod"], fx.rev("prod"));
    assert_eq!(next.rewritten, Vec::<String>::new());
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn http_no_change_poll_is_one_request() {
    let fx = Fixture::new();
    let server = HttpGitServer::start(fx.repos(), None);
    let cache = fx.cache();
    let source = Source::new(server.url("fleet.git"));
    assert!(cache.fetch(&source, &["dev", "prod"]).unwrap().changed);
    let before = server.requests.load(Ordering::SeqCst);
    let poll = cache.fetch(&source, &["dev", "prod"]).unwrap();
    assert!(!poll.changed);
    assert_eq!(server.requests.load(Ordering::SeqCst) - before, 1, "a no-change poll is one ref advertisement");
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn http_no_change_shallow_poll_asks_for_no_pack() {
    let fx = Fixture::new();
    let server = HttpGitServer::start(fx.repos(), None);
    let cache = fx.cache();
    let source = Source::new(server.url("fleet.git"));
    let first = cache.fetch_tips(&source, &["prod"]).unwrap();
    let before = server.requests.load(Ordering::SeqCst);
    let poll = cache.fetch_tips(&source, &["prod"]).unwrap();
    assert!(!poll.changed);
    assert_eq!(poll.heads, first.heads);
    // Protocol v2: the capability advertisement and ls-refs; no fetch command.
    assert_eq!(server.requests.load(Ordering::SeqCst) - before, 2, "a no-change shallow poll lists refs only");
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn http_basic_credentials_are_sent_and_wrong_ones_refused() {
    let fx = Fixture::new();
    let server = HttpGitServer::start(fx.repos(), Some(("agent", "s3cret")));
    let cache = fx.cache();
    let mut source = Source::new(server.url("fleet.git"));
    source.credentials = Some(Credentials::Basic { user: "agent".into(), token: "wrong".into() });
    let err = cache.fetch(&source, &["prod"]).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    source.credentials = Some(Credentials::Basic { user: "agent".into(), token: "s3cret".into() });
    assert_eq!(cache.fetch(&source, &["prod"]).unwrap().heads["prod"], fx.rev("prod"));
}

#[test]
fn unreachable_server_and_missing_branch_are_named() {
    let fx = Fixture::new();
    let cache = fx.cache();
    let url = format!("git://127.0.0.1:{}/fleet.git", free_port());
    let err = cache.fetch(&Source::new(url.clone()), &["prod"]).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("{url}: cannot reach the git server")), "{err}");
    let err = cache.fetch(&Source::new(fx.file_url()), &["prod", "staging"]).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: no branch \"staging\" on the server", fx.file_url()));
}

#[test]
fn a_force_push_to_unrelated_history_is_taken_and_reported() {
    let fx = Fixture::new();
    let cache = fx.cache();
    let source = Source::new(fx.file_url());
    cache.fetch(&source, &["prod"]).unwrap();
    let other = fx.repos().join("other");
    git(fx.repos(), &["init", "-q", "-b", "prod", other.to_str().unwrap()]);
    git(&other, &["commit", "-q", "--allow-empty", "-m", "unrelated"]);
    git(&other, &["push", "-q", "--force", fx.repos().join("fleet.git").to_str().unwrap(), "prod"]);
    let fetched = cache.fetch(&source, &["prod"]).unwrap();
    assert_eq!(fetched.heads["prod"], fx.rev("prod"));
    assert_eq!(fetched.rewritten, ["prod"]);
}

#[test]
fn refused_content_in_a_snapshot_is_named_when_rendered() {
    let fx = Fixture::new();
    let cache = fx.cache();
    cache.fetch(&Source::new(fx.file_url()), &["prod"]).unwrap();
    let snap = cache.snapshot(&fx.file_url(), fx.rev("prod")).unwrap();
    let render = |path: &str| flotilla_core::kustomize::build(&snap, path).unwrap_err().to_string();
    assert_eq!(
        render("bad-submodule"),
        "bad-submodule/kustomization.yaml: field resources[0]: \"bad-submodule/vendor\" is a git submodule; submodules are not rendered"
    );
    assert_eq!(
        render("bad-lfs"),
        "bad-lfs/data.yaml: a Git LFS pointer, not the file's content; LFS files are not rendered"
    );
    assert_eq!(
        render("bad-symlink"),
        "bad-symlink/kustomization.yaml: field resources[0]: symlink \"bad-symlink/secret.yaml\" points out of the repository (to \"../../../etc/hostname\")"
    );
    assert_eq!(
        render("bad-big"),
        "bad-big/huge.yaml: 9437184 bytes, over the size limit for files in a rendered source"
    );
}

#[test]
fn a_broken_cache_is_moved_aside_and_fetched_anew() {
    let fx = Fixture::new();
    let cache = fx.cache();
    let source = Source::new(fx.file_url());
    cache.fetch(&source, &["prod"]).unwrap();
    // Half-written: the objects are gone but the branch still points at them.
    let path = cache.path_of(&fx.file_url());
    std::fs::remove_dir_all(path.join("objects/pack")).unwrap();
    std::fs::create_dir_all(path.join("objects/pack")).unwrap();
    for entry in std::fs::read_dir(path.join("objects")).unwrap() {
        let p = entry.unwrap().path();
        if p.file_name().unwrap().len() == 2 {
            std::fs::remove_dir_all(p).unwrap();
        }
    }
    let fetched = cache.fetch(&source, &["prod"]).unwrap();
    assert!(fetched.healed.as_deref().is_some_and(|h| h.contains("was broken")), "{:?}", fetched.healed);
    assert!(cache.snapshot(&fx.file_url(), fx.rev("prod")).is_ok());
}

#[test]
fn locks_left_by_a_fetch_killed_midway_are_removed() {
    let fx = Fixture::new();
    let cache = fx.cache();
    let source = Source::new(fx.file_url());
    cache.fetch(&source, &["prod"]).unwrap();
    cache.fetch_tips(&source, &["prod"]).unwrap();
    // What gix leaves when the process dies while it replaces these files.
    let full = cache.path_of(&fx.file_url());
    let shallow = cache.shallow().path_of(&fx.file_url());
    for lock in [full.join("packed-refs.lock"), full.join("refs/heads/prod.lock"), shallow.join("shallow.lock")] {
        std::fs::write(lock, "").unwrap();
    }
    let fetched = cache.fetch(&source, &["prod"]).unwrap();
    let healed = fetched.healed.unwrap_or_default();
    assert!(healed.contains("packed-refs.lock") && healed.contains("refs/heads/prod.lock"), "{healed}");
    let fetched = cache.fetch_tips(&source, &["prod"]).unwrap();
    assert!(fetched.healed.unwrap_or_default().contains("shallow.lock"));
    assert_eq!(fetched.heads["prod"], fx.rev("prod"));
    assert!(!shallow.join("shallow.lock").exists());
}

#[test]
fn concurrent_fetches_of_one_repository_take_turns() {
    let fx = Fixture::new();
    let source = Source::new(fx.file_url());
    let cache = fx.cache();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> =
            (0..4).map(|_| s.spawn(|| cache.fetch(&source, &["dev", "prod"]).map(|f| f.heads))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r.unwrap()["prod"], fx.rev("prod"));
    }
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn http_bearer_token_is_sent_as_a_header() {
    let fx = Fixture::new();
    let server = HttpGitServer::start_bearer(fx.repos(), "t0ken");
    let cache = fx.cache();
    let mut source = Source::new(server.url("fleet.git"));
    assert!(matches!(cache.fetch(&source, &["prod"]).unwrap_err(), Error::Unauthorized { .. }));
    source.credentials = Some(Credentials::Bearer { token: "t0ken".into() });
    assert_eq!(cache.fetch(&source, &["prod"]).unwrap().heads["prod"], fx.rev("prod"));
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn tips_only_fetch_is_shallow_and_kept_apart() {
    let fx = Fixture::new();
    let server = HttpGitServer::start(fx.repos(), None);
    let cache = fx.cache();
    let source = Source::new(server.url("fleet.git"));
    let before = server.bytes_sent.load(Ordering::SeqCst);
    let tips = cache.fetch_tips(&source, &["dev"]).unwrap();
    let shallow_bytes = server.bytes_sent.load(Ordering::SeqCst) - before;
    assert_eq!(tips.heads["dev"], fx.rev("dev"));
    let shallow = cache.shallow();
    assert!(shallow.snapshot(&source.url, fx.rev("dev")).unwrap().read("app/configmap.yaml").is_ok());
    assert_eq!(shallow.history(&source.url, fx.rev("dev"), None, 100).unwrap().len(), 1, "only the tip");
    // The full cache is untouched and fetches everything.
    let before = server.bytes_sent.load(Ordering::SeqCst);
    cache.fetch(&source, &["dev"]).unwrap();
    let full_bytes = server.bytes_sent.load(Ordering::SeqCst) - before;
    assert!(shallow_bytes < full_bytes, "shallow {shallow_bytes} bytes, full {full_bytes}");
    assert_eq!(cache.history(&source.url, fx.rev("dev"), None, 100).unwrap().len(), 6);
}

#[test]
#[cfg_attr(any(flotilla_skip_ssh_keygen, flotilla_skip_sshd), ignore = "FLOTILLA_SKIP=ssh-keygen or sshd")]
fn ssh_with_a_key_file_trusts_on_first_use_or_pins_a_known_hosts_file() {
    use flotilla_git::testing::SshServer;
    let fx = Fixture::new();
    let ssh = SshServer::start(&fx.repos().join("ssh"));
    let url = ssh.url(&fx.repos().join("fleet.git"));
    let mut source = Source::new(url.clone());
    source.credentials = Some(Credentials::SshKey { path: ssh.client_key.clone() });
    // No known_hosts beside the key: the first host key is trusted and pinned in the cache.
    let cache = fx.cache();
    assert_eq!(cache.fetch(&source, &["prod"]).unwrap().heads["prod"], fx.rev("prod"));
    let pinned = std::fs::read_to_string(fx.repos().join("cache/known_hosts")).unwrap();
    assert!(pinned.contains("ssh-ed25519"), "{pinned}");
    // A known_hosts beside the key pins strictly: a wrong host key is refused.
    std::fs::write(ssh.client_key.with_file_name("known_hosts"), format!("{}\n", ssh.known_hosts_line)).unwrap();
    let strict = Cache::new(fx.repos().join("cache-strict"));
    assert_eq!(strict.fetch(&source, &["prod"]).unwrap().heads["prod"], fx.rev("prod"));
    let other = SshServer::start(&fx.repos().join("ssh-other"));
    let wrong = format!("[127.0.0.1]:{} {}\n", ssh.port, other.known_hosts_line.split_once(' ').unwrap().1);
    std::fs::write(ssh.client_key.with_file_name("known_hosts"), wrong).unwrap();
    let err = Cache::new(fx.repos().join("cache-wrong")).fetch(&source, &["prod"]).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. } | Error::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("an unknown or changed host key"), "{err}");
}
