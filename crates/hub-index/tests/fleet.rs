//! The hub's view of the fleet from git, against real repositories served by `git daemon`:
//! what each cluster should report (checked against an independent render, as the agent
//! computes it), lag, promotion, the render memo, and per-placement isolation.

mod common;

use std::path::{Path, PathBuf};

use common::write_files;
use flotilla_core::fleet::{ClusterIdentity, Fleet};
use flotilla_core::selector::parse_labels;
use flotilla_git::testing::{GitDaemon, git, git_command};
use flotilla_git::{Cache, CommitId, Source};
use hub_index::git_view::FleetView;

/// A temporary folder of repositories, served, and a cache folder for the hub.
struct World {
    dir: tempfile::TempDir,
    daemon: GitDaemon,
}

impl World {
    /// The repositories `fleet` and `app`, each on branch `prod` with no commit yet.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        for repo in ["fleet", "app"] {
            std::fs::create_dir_all(dir.path().join(repo)).unwrap();
            git(&dir.path().join(repo), &["init", "-q", "-b", "prod"]);
        }
        let daemon = GitDaemon::start(dir.path());
        World { dir, daemon }
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("hub-cache")
    }

    fn fleet_source(&self) -> Source {
        Source::new(self.daemon.url("fleet"))
    }

    /// Writes files into a repository and commits them at `time` (Unix seconds) on the branch
    /// checked out; the commit id.
    fn commit(&self, repo: &str, files: &[(&str, impl AsRef<str>)], time: i64, message: &str) -> String {
        let dir = self.repo(repo);
        write_files(&dir, files);
        git(&dir, &["add", "-A"]);
        timed(&dir, &["commit", "-q", "--allow-empty", "-m", message], time);
        git(&dir, &["rev-parse", "HEAD"])
    }

    fn load(&self, environments: &[&str]) -> FleetView {
        FleetView::load(&self.cache(), &self.fleet_source(), environments).unwrap()
    }

    /// The standard world: the fleet (placements `web`, `greet`, `named`, `base` and `broken`)
    /// and the app, one commit each on prod.
    fn standard() -> World {
        let world = World::new();
        world.commit("fleet", &fleet_files(&world, ""), 1_000, "fleet");
        world.commit("app", &app_files("1"), 1_000, "app 1");
        world
    }
}

/// Runs git with both of its dates at `time`.
fn timed(dir: &Path, args: &[&str], time: i64) {
    let date = format!("@{time} +0000");
    let out =
        git_command(dir).args(args).env("GIT_AUTHOR_DATE", &date).env("GIT_COMMITTER_DATE", &date).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

const FLEET: &str = "\
apiVersion: flotilla.dev/v1alpha1
kind: Repository
metadata: {name: app}
spec: {url: APP}
---
apiVersion: flotilla.dev/v1alpha1
kind: Repository
metadata: {name: gone}
spec: {url: GONE}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: web}
spec:
  source: {repository: app, path: web}
  clusters: {matchLabels: {kind: store}}
  namespace: shop
  customizations:
  - clusters: {matchLabels: {region: eu}}
    patches:
    - target: {kind: ConfigMap, name: web}
      patch: |
        - {op: add, path: /data/eu, value: 'yes'}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: greet}
spec:
  source: {repository: app, path: greet}
  clusters: {matchLabels: {kind: store}}
  namespace: shop
  substitute: true
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: named}
spec:
  source: {repository: app, path: named}
  clusters: {matchLabels: {named: 'yes'}}
  namespace: shop
  substitute: true
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: base}
spec:
  source: {repository: fleet, path: base}
  clusters: {matchExpressions: [{key: kind, operator: Exists}]}
---
apiVersion: flotilla.dev/v1alpha1
kind: Placement
metadata: {name: broken}
spec:
  source: {repository: gone, path: x}
  clusters: {matchLabels: {kind: store}}
";

/// The fleet repository's files: the placements above (the `gone` repository's URL names no
/// repository on the server), a base Namespace, and `extra` fleet documents.
fn fleet_files(world: &World, extra: &str) -> Vec<(&'static str, String)> {
    let fleet = FLEET.replace("APP", &world.daemon.url("app")).replace("GONE", &world.daemon.url("no-such-repository"));
    vec![
        ("fleet/fleet.yaml", format!("{fleet}{extra}")),
        ("base/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_string()),
    ]
}

fn app_files(version: &str) -> Vec<(&'static str, String)> {
    vec![
        ("web/cm.yaml", format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata: {{version: '{version}'}}\n")),
        (
            "greet/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: greet}\ndata: {region: '${cluster.labels.region}', kept: '$${cluster.name}'}\n"
                .to_string(),
        ),
        (
            "named/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: named}\ndata: {store: '${cluster.name}'}\n".to_string(),
        ),
    ]
}

fn identity(name: &str, environment: &str, labels: &str) -> ClusterIdentity {
    ClusterIdentity {
        name: name.parse().unwrap(),
        environment: environment.into(),
        labels: parse_labels(labels).unwrap(),
    }
}

/// What the agent of `identity` computes for `placement`, with a cache of its own: the fleet
/// at the environment's branch, the selection (declared labels win), the source branch of the
/// selected environment, and core's render. (commit, digest).
fn independent(world: &World, identity: &ClusterIdentity, placement: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let fleet = world.fleet_source();
    let tips = cache.fetch(&fleet, &[&identity.environment]).unwrap();
    let fleet_commit = tips.heads[&identity.environment];
    let fleet_snapshot = cache.snapshot(&fleet.url, fleet_commit).unwrap();
    let (model, _) = Fleet::from_snapshot(&fleet_snapshot);
    let selection = model.select(identity);
    let p = selection.placements.iter().find(|p| p.name() == placement).expect("the placement selects the cluster");
    let (commit, snapshot) = if p.spec.source.repository() == Some("fleet") {
        (fleet_commit, fleet_snapshot.clone())
    } else {
        let repo = model.repository(p.spec.source.repository().unwrap()).unwrap();
        let branch = repo.branch(&selection.identity.environment);
        let source = Source::new(repo.url());
        let commit = cache.fetch(&source, &[&branch]).unwrap().heads[&branch];
        (commit, cache.snapshot(&source.url, commit).unwrap())
    };
    let rendered = flotilla_core::render::render(p, &snapshot, &selection.identity).unwrap();
    (commit.to_string(), rendered.digest.to_string())
}

fn expected_of(view: &FleetView, identity: &ClusterIdentity, placement: &str) -> hub_index::git_view::Expected {
    view.expected(identity, &hub_index::git_view::render_options(None))
        .into_iter()
        .find(|e| e.placement == placement)
        .expect("the placement is expected")
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn expected_commits_and_digests_are_what_the_agent_renders() {
    let world = World::standard();
    let view = world.load(&["prod"]);
    for who in [
        identity("store-0001", "prod", "kind=store,region=us"),
        identity("store-0002", "prod", "kind=store,region=eu,named=yes"),
    ] {
        let expected = view.expected(&who, &hub_index::git_view::render_options(None));
        let names: Vec<&str> = expected.iter().map(|e| e.placement.as_str()).collect();
        let mut want = vec!["base", "broken", "greet", "web"];
        if who.labels.contains_key("named") {
            want.insert(3, "named");
        }
        assert_eq!(names, want);
        for e in expected.iter().filter(|e| e.placement != "broken") {
            assert_eq!(e.error, None, "{e:?}");
            let (commit, digest) = independent(&world, &who, &e.placement);
            assert_eq!(e.source_commit.map(|c| c.to_string()), Some(commit), "{} of {}", e.placement, who.name);
            assert_eq!(e.digest.as_deref(), Some(digest.as_str()), "{} of {}", e.placement, who.name);
        }
    }
    // The customization and the substituted label make the EU store's digests differ.
    let us = identity("store-0001", "prod", "kind=store,region=us");
    let eu = identity("store-0003", "prod", "kind=store,region=eu");
    for placement in ["web", "greet"] {
        assert_ne!(expected_of(&view, &us, placement).digest, expected_of(&view, &eu, placement).digest);
    }
    assert_eq!(expected_of(&view, &us, "base").digest, expected_of(&view, &eu, "base").digest);
    // An environment that is not loaded expects nothing.
    assert_eq!(
        view.expected(&identity("store-0001", "staging", "kind=store"), &hub_index::git_view::render_options(None)),
        []
    );
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn a_label_a_substitution_needs_and_a_cluster_lacks_fails_it_in_that_clusters_name() {
    let world = World::standard();
    let view = world.load(&["prod"]);
    for name in ["store-a", "store-b"] {
        let who = identity(name, "prod", "kind=store");
        let greet = expected_of(&view, &who, "greet");
        assert_eq!((greet.source_commit, &greet.digest), (None, &None));
        let error = greet.error.expect("no region label to substitute");
        assert!(error.ends_with(&format!("${{cluster.labels.region}} is not defined for cluster {name}")), "{error}");
    }
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn a_broken_source_fails_its_placement_only() {
    let world = World::standard();
    let view = world.load(&["prod"]);
    let broken = view.placement("prod", "broken").unwrap();
    let error = broken.source.error.as_deref().unwrap();
    assert!(error.contains(&world.daemon.url("no-such-repository")), "{error}");
    assert!(error.contains("\"prod\""), "names the branch: {error}");
    let expected = view
        .expected(&identity("store-0001", "prod", "kind=store,region=us"), &hub_index::git_view::render_options(None));
    for e in &expected {
        if e.placement == "broken" {
            assert_eq!((e.source_commit, &e.digest), (None, &None));
            assert_eq!(e.error.as_deref(), Some(error));
        } else {
            assert!(e.digest.is_some() && e.error.is_none(), "{e:?}");
        }
    }
    assert!(view.placement("prod", "web").unwrap().source.error.is_none());
    let json = serde_json::to_value(view.environment("prod").unwrap()).unwrap();
    assert_eq!(json["placements"]["broken"]["error"], error);
    assert_eq!(json["placements"]["web"]["placement"]["spec"]["source"]["path"], "web");
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn a_placement_whose_repository_is_not_declared_fails_alone() {
    let world = World::new();
    let stray = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Placement\nmetadata: {name: stray}\nspec:\n  source: {repository: nowhere}\n  clusters: {matchLabels: {kind: store}}\n";
    world.commit("fleet", &fleet_files(&world, stray), 1_000, "fleet");
    world.commit("app", &app_files("1"), 1_000, "app");
    let view = world.load(&["prod"]);
    let e = expected_of(&view, &identity("s", "prod", "kind=store"), "stray");
    assert_eq!(e.error.as_deref(), Some("source repository \"nowhere\" is not declared in fleet/"));
    assert!(expected_of(&view, &identity("s", "prod", "kind=store"), "web").digest.is_some());
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn lag_counts_commits_and_since_when_the_cluster_is_behind() {
    let world = World::standard();
    let c0 = git(&world.repo("app"), &["rev-parse", "HEAD"]);
    let c1 = world.commit("app", &app_files("2"), 2_000, "app 2");
    let c2 = world.commit("app", &app_files("3"), 3_000, "app 3");
    let c3 = world.commit("app", &app_files("4"), 4_000, "app 4");
    let mut view = world.load(&["prod"]);
    // Until the hub recorded when the commits reached the branch, since when is unknown.
    assert_eq!(view.lag("prod", "web", &c2).behind_since, None);
    // They reached it at other times than they were committed (pushed later, or fast-forwarded
    // together): since when a cluster is behind counts from the arrivals.
    let mut arrivals = flotilla_core::rollout::Arrivals::default();
    for (commit, at) in [(&c0, 10_000), (&c1, 20_000), (&c2, 40_000), (&c3, 40_000)] {
        arrivals.insert(commit, at);
    }
    let branch = view.source_branch("prod", "web").unwrap();
    let (url, name) = (branch.url.clone(), branch.branch.clone());
    assert_eq!(branch.look().unwrap(), [c3.clone(), c2.clone(), c1.clone(), c0.clone()], "the look at the branch");
    view.set_arrivals(&url, &name, arrivals);
    let head = Some(c3.parse::<CommitId>().unwrap());
    let lag = |commit: &str| {
        let l = view.lag("prod", "web", commit);
        assert_eq!(l.head, head);
        (l.commits_behind, l.behind_since)
    };
    assert_eq!(lag(&c3), (Some(0), None));
    assert_eq!(lag(&c2), (Some(1), Some(40_000)));
    assert_eq!(lag(&c1), (Some(2), Some(40_000)));
    assert_eq!(lag(&c0), (Some(3), Some(20_000)));
    // Not on the branch (a fleet commit), and not a commit id at all.
    let fleet_head = git(&world.repo("fleet"), &["rev-parse", "HEAD"]);
    assert_eq!(lag(&fleet_head), (None, None));
    assert_eq!(lag("nonsense"), (None, None));
    // The placement from the fleet repository lags the fleet branch.
    assert_eq!(view.lag("prod", "base", &fleet_head).commits_behind, Some(0));
    // The history keeps commit times and summaries, newest first.
    let history = &view.source_branch("prod", "web").unwrap().history;
    let got: Vec<(i64, &str)> = history.iter().map(|c| (c.time, c.summary.as_str())).collect();
    assert_eq!(got, [(4_000, "app 4"), (3_000, "app 3"), (2_000, "app 2"), (1_000, "app 1")]);
    // Unknown placements and environments lag nothing known.
    assert_eq!(view.lag("prod", "nope", &c3).head, None);
    assert_eq!(view.lag("dev", "web", &c3).head, None);
}

/// `git log --first-parent dev ^prod` in a repository, as ids.
fn git_promotion(dir: &Path) -> Vec<String> {
    let out = git(dir, &["log", "--first-parent", "--format=%H", "dev", "^prod"]);
    out.lines().map(ToString::to_string).collect()
}

fn ids(commits: &[hub_index::api::Commit]) -> Vec<String> {
    commits.iter().map(|c| c.id.clone()).collect()
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn promotion_lists_dev_commits_until_dev_is_merged_into_prod() {
    let world = World::standard();
    let app = world.repo("app");
    let fleet = world.repo("fleet");
    // dev starts from prod; the fleet's dev branch declares a lab store that runs dev.
    git(&app, &["checkout", "-q", "-b", "dev"]);
    let d1 = world.commit("app", &app_files("dev-1"), 2_000, "dev 1");
    let d2 = world.commit("app", &app_files("dev-2"), 3_000, "dev 2");
    git(&fleet, &["checkout", "-q", "-b", "dev"]);
    world.commit("fleet", &[("README", "dev\n")], 2_000, "fleet dev");
    git(&fleet, &["checkout", "-q", "prod"]);
    let lab = "---\napiVersion: flotilla.dev/v1alpha1\nkind: Cluster\nmetadata: {name: lab-1, labels: {kind: store, region: us}}\nspec: {environment: dev}\n";
    let hotfix = world.commit("fleet", &fleet_files(&world, lab), 2_500, "declare the lab");
    // A hotfix on prod is not a promotion.
    git(&app, &["checkout", "-q", "prod"]);
    world.commit("app", &[("hotfix", "1")], 2_600, "hotfix");

    // No environment named: dev and prod, the branches there are.
    let view = world.load(&[]);
    assert_eq!(view.environments().keys().collect::<Vec<_>>(), ["dev", "prod"]);
    assert_eq!(ids(&view.promotion("app")), [d2.clone(), d1]);
    assert_eq!(ids(&view.promotion("app")), git_promotion(&app));
    assert_eq!(view.promotion("app")[0].time, 3_000);
    assert_eq!(ids(&view.promotion("fleet")), git_promotion(&fleet));
    assert_eq!(view.promotion("fleet").len(), 1);
    assert!(!ids(&view.promotion("fleet")).contains(&hotfix));
    assert_eq!(view.promotion("nope"), []);

    // The lab store is declared in prod's fleet branch with environment dev: an agent configured
    // for prod reads prod's fleet and takes its sources from dev, as the fleet says.
    let lab_agent = identity("lab-1", "prod", "kind=store");
    let web = expected_of(&view, &lab_agent, "web");
    assert_eq!(web.source_commit.map(|c| c.to_string()), Some(d2.clone()));
    assert_eq!(web.digest, Some(independent(&world, &lab_agent, "web").1));
    assert_eq!(view.clusters().len(), 1);
    assert_eq!((view.clusters()[0].environment.as_str(), view.clusters()[0].declared_in.as_str()), ("dev", "prod"));

    // Promote: merge dev into prod with a merge commit; nothing is left to promote.
    for dir in [&app, &fleet] {
        timed(dir, &["merge", "-q", "--no-ff", "-m", "promote", "dev"], 5_000);
    }
    let view = world.load(&[]);
    assert_eq!(view.promotion("app"), []);
    assert_eq!(view.promotion("fleet"), []);
    assert_eq!(git_promotion(&app), Vec::<String>::new());
    // d2 reached prod through the merge's second parent: prod's first-parent line does not hold
    // it, so a commit count from it is unknown (a prod cluster never ran it).
    assert_eq!(view.lag("prod", "web", &d2).commits_behind, None);

    // A new dev commit is pending again.
    git(&app, &["checkout", "-q", "dev"]);
    let d3 = world.commit(
        "app",
        &[("web/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")],
        6_000,
        "dev 3",
    );
    let view = world.load(&[]);
    assert_eq!(ids(&view.promotion("app")), [d3]);
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn renders_are_memoized_by_what_the_render_reads_of_the_cluster() {
    let world = World::standard();
    let view = world.load(&["prod"]);
    let mut digests = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let who = identity(&format!("store-{i:05}"), "prod", "kind=store,region=us,rack=r1");
        for e in view.expected(&who, &hub_index::git_view::render_options(None)) {
            digests.entry(e.placement.clone()).or_insert_with(std::collections::BTreeSet::new).insert(e.digest);
        }
    }
    // One digest per placement; `web` and `base` one render each, `greet` (substitute: true)
    // one to find the variables it uses and one for region=us. `broken` renders nothing.
    assert!(digests.values().all(|d| d.len() == 1), "{digests:?}");
    assert_eq!(view.renders(), 4);
    // EU stores: web's customization selects them (one render); greet substitutes another
    // region (one render); base reads nothing of the cluster.
    for i in 0..1_000 {
        view.expected(
            &identity(&format!("eu-{i:04}"), "prod", "kind=store,region=eu"),
            &hub_index::git_view::render_options(None),
        );
    }
    assert_eq!(view.renders(), 6);
    // Labels that no selector or variable reads change nothing.
    view.expected(
        &identity("store-x", "prod", "kind=store,region=eu,rack=r9,floor=2"),
        &hub_index::git_view::render_options(None),
    );
    assert_eq!(view.renders(), 6);
    // A placement that substitutes ${cluster.name} renders once per cluster (plus once to see).
    for i in 0..100 {
        view.expected(
            &identity(&format!("named-{i:03}"), "prod", "kind=store,region=us,named=yes"),
            &hub_index::git_view::render_options(None),
        );
    }
    assert_eq!(view.renders(), 6 + 1 + 100);
    let who = identity("named-042", "prod", "kind=store,region=us,named=yes");
    assert_eq!(expected_of(&view, &who, "named").digest, Some(independent(&world, &who, "named").1));

    // The next load takes over what is still current: nothing renders again.
    let next = world.load(&["prod"]);
    next.keep_renders_from(&view);
    next.expected(&identity("store-00001", "prod", "kind=store,region=us"), &hub_index::git_view::render_options(None));
    next.expected(
        &identity("named-007", "prod", "kind=store,region=us,named=yes"),
        &hub_index::git_view::render_options(None),
    );
    assert_eq!(next.renders(), 0);
    // A new source commit renders anew.
    world.commit("app", &app_files("2"), 2_000, "app 2");
    let newer = world.load(&["prod"]);
    newer.keep_renders_from(&next);
    newer
        .expected(&identity("store-00001", "prod", "kind=store,region=us"), &hub_index::git_view::render_options(None));
    assert_eq!(newer.renders(), 3, "web, and greet's two; base's fleet commit is unchanged");
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn a_missing_environment_branch_is_kept_on_its_environment() {
    let world = World::standard();
    let view = world.load(&["prod", "staging"]);
    let staging = view.environment("staging").unwrap();
    assert!(staging.error.as_deref().unwrap().contains("no branch \"staging\""), "{staging:?}");
    assert!(view.environment("prod").unwrap().error.is_none());
    // Without a dev or prod branch and no environment named, the load says so.
    let empty = World::new();
    empty.commit("fleet", &[("README", "x")], 1_000, "x");
    git(&empty.repo("fleet"), &["branch", "-q", "-m", "prod", "main"]);
    let err = FleetView::load(&empty.cache(), &empty.fleet_source(), &[]).unwrap_err().to_string();
    assert!(err.contains("neither a dev nor a prod branch"), "{err}");
    // A fleet repository that cannot be fetched fails the load, naming it.
    let gone = Source::new(world.daemon.url("no-fleet-here"));
    let err = FleetView::load(&world.cache(), &gone, &["prod"]).unwrap_err().to_string();
    assert!(err.contains(&gone.url), "{err}");
}

/// Copies a folder tree (files only).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
#[cfg_attr(flotilla_skip_git_daemon, ignore = "FLOTILLA_SKIP=git-daemon")]
fn the_example_fleet_says_what_a_store_runs() {
    let world = World::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet");
    for (folder, repo) in [("infra", "fleet"), ("store-app", "store-app"), ("cloud-services", "cloud-services")] {
        let dir = world.repo(repo);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            git(&dir, &["init", "-q", "-b", "prod"]);
        }
        copy_tree(&examples.join(folder), &dir);
    }
    let repositories = world.repo("fleet").join("fleet/repositories.yaml");
    let text = std::fs::read_to_string(&repositories)
        .unwrap()
        .replace("https://git.retail.example/retail/store-app.git", &world.daemon.url("store-app"))
        .replace("https://git.retail.example/retail/cloud-services.git", &world.daemon.url("cloud-services"));
    std::fs::write(&repositories, text).unwrap();
    for repo in ["fleet", "store-app", "cloud-services"] {
        world.commit(repo, &[] as &[(&str, &str)], 1_000, "example");
    }
    let view = world.load(&["prod"]);
    let prod = view.environment("prod").unwrap();
    assert_eq!(prod.warnings, Vec::<String>::new());
    // The inventory names a dev environment too; the example has no dev branch.
    assert!(view.environment("dev").unwrap().error.is_some());
    assert!(view.clusters().iter().any(|c| c.name == "store-0001"));

    // The store's agent config says less than the fleet's declaration; the declaration wins.
    let store = identity("store-0001", "prod", "kind=store");
    let expected = view.expected(&store, &hub_index::git_view::render_options(None));
    let names: Vec<&str> = expected.iter().map(|e| e.placement.as_str()).collect();
    assert_eq!(names, ["baseline", "bt-collector", "store-monitoring"]);
    for e in &expected {
        assert_eq!(e.error, None, "{e:?}");
        let (commit, digest) = independent(&world, &store, &e.placement);
        assert_eq!(e.source_commit.map(|c| c.to_string()), Some(commit));
        assert_eq!(e.digest, Some(digest), "{}", e.placement);
    }
}
