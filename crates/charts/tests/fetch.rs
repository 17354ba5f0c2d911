//! Charts fetched from a chart repository and an OCI registry served on 127.0.0.1
//! (`testing::ChartServer`): the version a range takes, the digest checked, the cache by digest,
//! credentials, and the errors a user gets. Real charts of the Helm corpus (`../shared/helm-charts`,
//! outside the repository: the charts keep their own licences), packed at run time, render from
//! what was fetched exactly as Helm 4 rendered them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flotilla_charts::testing::{ChartServer, package};
use flotilla_charts::{Charts, Credentials, Error};
use flotilla_core::fleet::ChartRef;
use flotilla_core::helm;
use flotilla_core::helm::repo;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/helm-charts")
}

/// A small chart folder of `version`, packed.
fn small_chart(version: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Chart.yaml"), format!("apiVersion: v2\nname: web\nversion: {version}\n")).unwrap();
    std::fs::write(dir.path().join("values.yaml"), "replicas: 1\n").unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata: {version: {{ .Chart.Version | quote }}}\n",
    )
    .unwrap();
    package(dir.path()).unwrap()
}

fn chart(url: &str, name: &str, version: Option<&str>) -> ChartRef {
    ChartRef { url: url.parse().unwrap(), name: name.into(), version: version.map(str::to_string) }
}

fn server_with_versions() -> (ChartServer, BTreeMap<&'static str, Vec<u8>>) {
    let server = ChartServer::start().unwrap();
    let mut archives = BTreeMap::new();
    for version in ["0.1.0", "0.1.4", "0.2.0", "0.3.0-rc.1"] {
        let archive = small_chart(version);
        server.publish(&archive);
        archives.insert(version, archive);
    }
    (server, archives)
}

fn chart_version(fetched: &flotilla_charts::Fetched) -> String {
    let chart = helm::chart::load_unpacked(&fetched.snapshot).unwrap();
    chart.version().to_string()
}

#[test]
fn a_range_takes_the_newest_version_in_it_from_a_repository_and_a_registry_alike() {
    let (server, archives) = server_with_versions();
    let cache = tempfile::tempdir().unwrap();
    let charts = Charts::new(cache.path());
    for url in [server.repository_url(), server.oci_url()] {
        for (range, want) in [
            (Some("0.1.*"), "0.1.4"),
            (Some("~0.1.0"), "0.1.4"),
            (Some(">=0.1 <0.2"), "0.1.4"),
            (None, "0.2.0"),
            (Some("0.1.0"), "0.1.0"),
            (Some(">=0.3.0-0"), "0.3.0-rc.1"),
        ] {
            let fetched = charts.fetch(&chart(&url, "web", range)).unwrap_or_else(|e| panic!("{url} {range:?}: {e}"));
            assert_eq!((fetched.version.as_str(), chart_version(&fetched).as_str()), (want, want), "{url} {range:?}");
            // The id is the archive's SHA-256: the same from the repository and the registry.
            assert_eq!(fetched.id.to_string(), repo::sha256_hex(&archives[want]), "{url} {range:?}");
        }
    }
    // An exact version is asked of the registry by its tag; a range reads the tag list.
    let requests = server.requests();
    assert!(requests.iter().any(|r| r == "GET /v2/charts/web/tags/list"), "{requests:?}");
    assert!(requests.iter().any(|r| r == "GET /v2/charts/web/manifests/0.1.0"), "{requests:?}");
}

#[test]
fn archives_are_cached_by_digest_and_not_downloaded_again() {
    let (server, archives) = server_with_versions();
    let cache = tempfile::tempdir().unwrap();
    let charts = Charts::new(cache.path());
    let first = charts.fetch(&chart(&server.repository_url(), "web", Some("0.2.0"))).unwrap();
    let hex = repo::sha256_hex(&archives["0.2.0"]);
    let cached = cache.path().join("sha256").join(format!("{hex}.tgz"));
    assert_eq!(std::fs::read(&cached).unwrap(), archives["0.2.0"]);
    let downloads = |server: &ChartServer| {
        server.requests().iter().filter(|r| r.starts_with("GET /charts/web-") || r.contains("/blobs/sha256:")).count()
    };
    assert_eq!(downloads(&server), 1);
    // Again, and from the registry: the same archive, by its digest, from the cache.
    let again = charts.fetch(&chart(&server.repository_url(), "web", Some("0.2.0"))).unwrap();
    let oci = charts.fetch(&chart(&server.oci_url(), "web", Some("0.2.0"))).unwrap();
    assert_eq!((again.id, oci.id), (first.id, first.id));
    assert_eq!(downloads(&server), 1, "{:?}", server.requests());
    // A cached file that no longer matches its name is thrown away and fetched anew.
    std::fs::write(&cached, b"damaged").unwrap();
    let anew = charts.fetch(&chart(&server.repository_url(), "web", Some("0.2.0"))).unwrap();
    assert_eq!(anew.id, first.id);
    assert_eq!(std::fs::read(&cached).unwrap(), archives["0.2.0"]);
    assert_eq!(downloads(&server), 2);
}

#[test]
fn an_archive_that_does_not_match_its_digest_is_refused_and_not_kept() {
    let (server, _) = server_with_versions();
    let cache = tempfile::tempdir().unwrap();
    let charts = Charts::new(cache.path());
    // The repository serves another archive than the one its index (and manifest) names.
    server.replace_file("web-0.2.0.tgz", &small_chart("0.2.0-tampered"));
    for url in [server.repository_url(), server.oci_url()] {
        let e = charts.fetch(&chart(&url, "web", Some("0.2.0"))).unwrap_err();
        assert!(matches!(&e, Error::Chart { source: repo::Error::DigestMismatch { .. }, .. }), "{url}: {e:?}");
        assert!(e.to_string().contains("digest mismatch: the archive is sha256:"), "{e}");
        assert!(!e.is_transient());
    }
    let kept = std::fs::read_dir(cache.path().join("sha256")).map_or(0, Iterator::count);
    assert_eq!(kept, 0, "nothing is cached");
}

#[test]
fn what_is_missing_or_wrong_is_said_so() {
    let (server, _) = server_with_versions();
    let cache = tempfile::tempdir().unwrap();
    let charts = Charts::new(cache.path());
    let message = |url: &str, name: &str, version: Option<&str>| {
        charts.fetch(&chart(url, name, version)).unwrap_err().to_string()
    };
    let repository = server.repository_url();
    assert_eq!(
        message(&repository, "api", None),
        format!("{repository}/index.yaml: no chart named \"api\" in the repository")
    );
    assert_eq!(
        message(&repository, "web", Some("1.x")),
        format!("{repository}/index.yaml: no version of chart \"web\" satisfies \"1.x\" (the newest: 0.3.0-rc.1)")
    );
    let oci = server.oci_url();
    let base = format!("{}/v2/charts", server.url);
    assert_eq!(
        message(&oci, "web", Some("1.x")),
        format!("{base}/web/tags/list: no version of chart \"web\" satisfies \"1.x\" (the newest: 0.3.0-rc.1)")
    );
    assert_eq!(message(&oci, "web", Some("9.9.9")), format!("{base}/web/manifests/9.9.9: HTTP 404: not found"));
    assert_eq!(message(&oci, "api", None), format!("{base}/api/tags/list: HTTP 404: not found"));
    assert_eq!(
        message(&format!("{}/nowhere", server.url), "web", None),
        format!("{}/nowhere/index.yaml: HTTP 404: not found", server.url)
    );
    // A page where the index should be.
    server.set_index(b"<html><body>Sign in</body></html>");
    assert_eq!(
        message(&repository, "web", None),
        format!("{repository}/index.yaml: index.yaml: an HTML page, not a chart repository's index")
    );
    server.set_index(b"entries: {}\n");
    assert!(message(&repository, "web", None).ends_with("no API version specified: not a chart repository's index"));
    // Nothing listens: unreachable, and worth another try.
    let gone = format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let e = charts.fetch(&chart(&gone, "web", None)).unwrap_err();
    assert!(e.is_unreachable() && e.is_transient(), "{e:?}");
}

#[test]
fn credentials_go_to_the_repository_and_the_registry_s_token_service() {
    let (server, _) = server_with_versions();
    let cache = tempfile::tempdir().unwrap();
    let anonymous = Charts::new(cache.path());
    let agent = Charts::new(cache.path())
        .with_credentials(Some(Credentials::Basic { user: "agent".into(), token: "s3cret".into() }));
    let wrong = Charts::new(cache.path())
        .with_credentials(Some(Credentials::Basic { user: "agent".into(), token: "nope".into() }));

    server.require_basic("agent", "s3cret");
    for url in [server.repository_url(), server.oci_url()] {
        let e = anonymous.fetch(&chart(&url, "web", Some("0.1.*"))).unwrap_err();
        assert!(e.to_string().ends_with("HTTP 401: unauthorized (the agent has no chart credentials)"), "{e}");
        let e = wrong.fetch(&chart(&url, "web", Some("0.1.*"))).unwrap_err();
        assert!(e.to_string().ends_with("HTTP 401: unauthorized (are the chart credentials right?)"), "{e}");
        assert_eq!(agent.fetch(&chart(&url, "web", Some("0.1.*"))).unwrap().version, "0.1.4", "{url}");
    }

    server.require_token("agent", "s3cret");
    let fetched = agent.fetch(&chart(&server.oci_url(), "web", Some("0.2.0"))).unwrap();
    assert_eq!(fetched.version, "0.2.0");
    let requests = server.requests();
    assert!(
        requests.iter().any(|r| r == "GET /token?service=chart-server&scope=repository%3Acharts%2Fweb%3Apull"),
        "{requests:?}"
    );
    let e = anonymous.fetch(&chart(&server.oci_url(), "web", Some("0.2.0"))).unwrap_err();
    assert!(e.to_string().contains("/token"), "the token service refused: {e}");

    let ssh = Charts::new(cache.path()).with_credentials(Some(Credentials::SshKey { path: "/k".into() }));
    let e = ssh.fetch(&chart(&server.repository_url(), "web", None)).unwrap_err();
    assert!(e.to_string().contains("an SSH key is git's"), "{e}");
}

/// The charts of the corpus fetched, packed, from both servers, render as Helm 4 rendered them.
#[test]
fn real_charts_fetched_render_as_helm_renders_them() {
    let server = ChartServer::start().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let charts = Charts::new(cache.path());
    for (case, name) in [
        ("kubernetes-sigs+metrics-server_charts_metrics-server", "metrics-server"),
        // Its .helmignore leaves out ci/ and more: packed as `helm package` packs it.
        ("fluent+helm-charts_charts_fluent-bit", "fluent-bit"),
    ] {
        let dir = corpus().join(case);
        assert!(dir.is_dir(), "the Helm corpus is missing: {}", dir.display());
        let archive = package(&dir).unwrap();
        server.publish(&archive);
        let text = std::fs::read_to_string(corpus().join(format!("{case}.expected.json"))).unwrap();
        let want: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
        for url in [server.repository_url(), server.oci_url()] {
            let fetched = charts.fetch(&chart(&url, name, None)).unwrap_or_else(|e| panic!("{case}: {e}"));
            let options = helm::Options {
                release_name: "flotilla".into(),
                namespace: "default".into(),
                ..helm::Options::default()
            };
            let rendered = helm::render_packed(&fetched.snapshot, &options).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(rendered.templates, want, "{case} from {url}");
        }
    }
}
