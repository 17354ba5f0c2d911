//! The agent's configuration: `agent.yaml` (SPEC §4) read, checked and resolved into a
//! [`Config`].
//!
//! Reading is strict: unknown keys are refused at every level, and every problem is one [`Error`]
//! naming the file and the dotted field path. Paths come out resolved (relative to the file's
//! folder, `~/` expanded), defaults filled in, and identifiers read as core's `name` types (by
//! the rules Kubernetes validates them by), so the rest of the agent never re-checks them. This module does not act on the
//! configuration: it opens no connection, does not check that the named files exist (the token
//! file appears only after `pull-agent register`), and draws no random numbers ([`jittered`]
//! takes them from the caller).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_core::name::{DnsLabel, DnsSubdomain, GitUrl, LabelKey, LabelValue};
use serde::Deserialize;
use serde_json::Value;

/// The poll interval when `pollInterval` is absent.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest `pollInterval` accepted: below it the agent would hammer the git server.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `pollInterval` accepted: longer is surely a typo, and it keeps [`jittered`] far
/// from overflow.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// The namespace of the inventory ConfigMaps when `namespace` is absent.
pub const DEFAULT_NAMESPACE: &str = "flotilla-system";
/// The file, under `stateDir`, that holds the cluster's hub token when `hub.tokenFile` is absent.
pub const DEFAULT_TOKEN_FILE: &str = "cluster-token";
/// The file name errors from [`Config::parse`] carry; [`Config::load`] puts the real path there.
pub const FILE_NAME: &str = "agent.yaml";

/// What `agent.yaml` says, checked and resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub cluster: ClusterConfig,
    pub fleet: FleetConfig,
    /// Absent when the agent works alone, reporting to no hub.
    pub hub: Option<HubConfig>,
    /// The time between polls, before the caller's ±20% jitter ([`jittered`]).
    pub poll_interval: Duration,
    /// Git cache, report spool and last good state.
    pub state_dir: PathBuf,
    /// Where the agent keeps its inventory ConfigMaps.
    pub namespace: DnsLabel,
    /// How placements are rendered: `render.maxObjects` and `render.maxBytes`, the budget of
    /// one render (defaults: [`flotilla_core::kustomize::Budget::default`]).
    pub render: flotilla_core::render::Options,
    pub kubernetes: Kubernetes,
    /// `sources.verify`: the least verification every source repository gets; a fleet
    /// `Repository`'s `verify.mode` may raise it, never lower it.
    pub sources_verify: VerifyMode,
    /// `overrideSigners`: an OpenSSH allowed_signers file naming who may sign a
    /// `Flotilla-Override:` through a freeze; none: no override passes.
    pub override_signers: Option<PathBuf>,
    /// `charts.credentialsFile`: `user:token` (or a bearer token) for the Helm chart
    /// repositories and OCI registries placements name (`source.chart`), sent to their own
    /// hosts only; none: charts are fetched anonymously.
    pub charts_credentials_file: Option<PathBuf>,
}

pub use flotilla_core::fleet::VerifyMode;

/// The cluster's identity, as placements select it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: DnsSubdomain,
    /// Non-empty; the fleet repository's branch this cluster follows.
    pub environment: String,
    /// Valid Kubernetes label keys and values.
    pub labels: BTreeMap<String, String>,
}

/// The fleet repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// An `https`, `http`, `git`, `ssh` or `file` URL, or scp-like `user@host:path`.
    pub url: GitUrl,
    pub credentials_file: Option<PathBuf>,
    /// `fleet.verify`: the trust root of the fleet repository itself, kept on the cluster where
    /// no commit can change it.
    pub verify: FleetVerify,
}

/// How the fleet repository's commits are verified (`fleet.verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetVerify {
    pub mode: VerifyMode,
    /// An OpenSSH allowed_signers file.
    pub allowed_signers: Option<PathBuf>,
    /// A file of armored OpenPGP public keys.
    pub openpgp_keys: Option<PathBuf>,
}

/// The hub this agent reports to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// An `https` or `http` URL.
    pub url: String,
    /// `hub.tokenFile`, or `<stateDir>/cluster-token` when absent.
    pub token_file: PathBuf,
}

/// How the agent reaches the Kubernetes API: exactly one of the four.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kubernetes {
    /// A kubeconfig file, with its current context unless `context` names another.
    Kubeconfig { path: PathBuf, context: Option<String> },
    /// The pod's service account.
    InCluster,
    /// A bare API server URL, without credentials (tests, kube-testserver).
    Server(String),
    /// An empty simulated cluster inside the agent's process (the project's test API server),
    /// for demos and fleet simulations; it lives as long as the process.
    Simulated,
}

/// A configuration file that could not be read or is wrong, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}{message}", file.display(), if field.is_empty() { String::new() } else { format!("field {field}: ") })]
pub struct Error {
    /// The file as given to [`Config::load`]; [`FILE_NAME`] from [`Config::parse`].
    pub file: PathBuf,
    /// Dotted path of the offending field; empty when the file as a whole is at fault.
    pub field: String,
    pub message: String,
}

impl Config {
    /// Reads and checks the configuration file at `path`; its paths are relative to its folder,
    /// and `~/` is `$HOME`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read(path).map_err(|e| Error {
            file: path.to_path_buf(),
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new(""));
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        Config::parse(&text, base_dir, home.as_deref()).map_err(|e| Error { file: path.to_path_buf(), ..e })
    }

    /// Checks the text of a configuration file, resolving relative paths against `base_dir` and
    /// `~/` against `home`. Errors name the file [`FILE_NAME`].
    pub fn parse(text: &[u8], base_dir: &Path, home: Option<&Path>) -> Result<Config, Error> {
        let value = flotilla_core::yaml::load_one(text).map_err(|e| invalid("", e.to_string()))?;
        // An empty file reads as null; as an empty mapping it yields "cluster: required".
        let value = if value.is_null() { Value::Object(serde_json::Map::new()) } else { value };
        refuse_sequences(&value)?;
        let raw: RawConfig = typed(value)?;
        let paths = Paths { base_dir, home };

        let cluster = check_cluster(required(raw.cluster, "cluster")?)?;
        let fleet = check_fleet(required(raw.fleet, "fleet")?, &paths)?;
        let poll_interval = match raw.poll_interval {
            None | Some(Value::Null) => DEFAULT_POLL_INTERVAL,
            Some(value) => check_poll_interval(&value)?,
        };
        let state_dir = paths.resolve(&required(raw.state_dir, "stateDir")?, "stateDir")?;
        let hub = raw.hub.map(|hub| check_hub(hub, &state_dir, &paths)).transpose()?;
        let namespace =
            raw.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.parse().expect("the default namespace is a DNS label"));
        let render = raw.render.map(check_render).transpose()?.unwrap_or_default();
        let kubernetes = check_kubernetes(required(raw.kubernetes, "kubernetes")?, &paths)?;
        let sources_verify = raw.sources.and_then(|s| s.verify).unwrap_or_default();
        let override_signers = raw.override_signers.map(|file| paths.resolve(&file, "overrideSigners")).transpose()?;
        let charts_credentials_file = raw
            .charts
            .and_then(|c| c.credentials_file)
            .map(|file| paths.resolve(&file, "charts.credentialsFile"))
            .transpose()?;
        Ok(Config {
            cluster,
            fleet,
            hub,
            poll_interval,
            state_dir,
            namespace,
            render,
            kubernetes,
            sources_verify,
            override_signers,
            charts_credentials_file,
        })
    }
}

/// Spreads polls of many agents apart: `interval` scaled by `0.8 + 0.4 * unit`, so a `unit`
/// drawn uniformly from [0, 1) gives ±20%. `unit` is clamped to [0, 1]; NaN counts as 0.5 (no
/// jitter). Never panics, whatever the interval.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() { 0.5 } else { unit.clamp(0.0, 1.0) };
    // In millionths, so that unit 0.5 gives the interval exactly.
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "unit is clamped to [0, 1]")]
    let millionths = (unit * 1_000_000.0).round() as u32;
    let factor = 800_000 + millionths * 2 / 5;
    interval
        .checked_mul(factor)
        .map_or_else(|| (interval / 1_000_000).saturating_mul(factor), |scaled| scaled / 1_000_000)
}

// The file as written. Every field is optional here so that a missing one is reported as
// "required" at its own path, rather than as serde's "missing field" at its parent's.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    cluster: Option<RawCluster>,
    fleet: Option<RawFleet>,
    sources: Option<RawSources>,
    charts: Option<RawCharts>,
    override_signers: Option<String>,
    hub: Option<RawHub>,
    /// A value, not a string, so that `pollInterval: 60` gets the duration message.
    poll_interval: Option<Value>,
    state_dir: Option<String>,
    /// Read by its rule: a bad one is refused naming `namespace`.
    namespace: Option<DnsLabel>,
    render: Option<RawRender>,
    kubernetes: Option<RawKubernetes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCluster {
    name: Option<DnsSubdomain>,
    environment: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFleet {
    url: Option<GitUrl>,
    credentials_file: Option<String>,
    verify: Option<RawVerify>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawVerify {
    mode: Option<VerifyMode>,
    allowed_signers: Option<String>,
    openpgp_keys: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSources {
    verify: Option<VerifyMode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCharts {
    credentials_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawHub {
    url: Option<String>,
    token_file: Option<String>,
}

/// Values, not numbers, so that a wrong one gets the field's own message.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRender {
    max_objects: Option<Value>,
    max_bytes: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawKubernetes {
    kubeconfig: Option<String>,
    context: Option<String>,
    in_cluster: Option<bool>,
    server: Option<String>,
    simulated: Option<bool>,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error { file: PathBuf::from(FILE_NAME), field: field.to_string(), message: message.into() }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| invalid(field, "required"))
}

/// Refuses a sequence where a section is expected: serde's derived structs would read it as the
/// fields in order (`cluster: [a, prod]`), which no one means. Other wrong types are left to serde.
fn refuse_sequences(value: &Value) -> Result<(), Error> {
    let sections = [("", Some(value))].into_iter().chain(
        ["cluster", "fleet", "hub", "render", "kubernetes", "sources", "charts"].map(|key| (key, value.get(key))),
    );
    for (field, section) in sections {
        if section.is_some_and(Value::is_array) {
            return Err(invalid(field, "expected a mapping, found sequence"));
        }
    }
    Ok(())
}

/// Reads the typed form, naming the field path on error.
fn typed(value: Value) -> Result<RawConfig, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        invalid(&field, reword(&e.into_inner().to_string()))
    })
}

/// Says serde's messages in the file's terms: `expected a string, found boolean `true`` rather
/// than `invalid type: boolean `true`, expected a string`, and no Rust type names.
fn reword(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        let expected = if expected.starts_with("struct ") || expected == "a map" { "a mapping" } else { expected };
        let found = if found == "map" { "a mapping" } else { found };
        return format!("expected {expected}, found {found}");
    }
    if message.starts_with("unknown field ") {
        // "unknown field `x`, expected one of `a`, `b`": the path already names `x`.
        let known = message.split_once(", expected ").map_or("", |(_, known)| known);
        let known = known.trim_start_matches("one of ").replace('`', "");
        return format!("unknown field (expected {known})");
    }
    message.to_string()
}

fn check_cluster(raw: RawCluster) -> Result<ClusterConfig, Error> {
    let name = required(raw.name, "cluster.name")?;
    let environment = required(raw.environment, "cluster.environment")?;
    if environment.is_empty() {
        return Err(invalid("cluster.environment", "must not be empty"));
    }
    let labels = raw.labels.unwrap_or_default();
    for (key, value) in &labels {
        LabelKey::check(key).map_err(|e| invalid("cluster.labels", e.to_string()))?;
        LabelValue::check(value).map_err(|e| invalid(&format!("cluster.labels.{key}"), e.to_string()))?;
    }
    Ok(ClusterConfig { name, environment, labels })
}

fn check_fleet(raw: RawFleet, paths: &Paths) -> Result<FleetConfig, Error> {
    let url = required(raw.url, "fleet.url")?;
    let credentials_file =
        raw.credentials_file.map(|file| paths.resolve(&file, "fleet.credentialsFile")).transpose()?;
    let verify = match raw.verify {
        None => FleetVerify::default(),
        Some(v) => {
            let verify = FleetVerify {
                mode: v.mode.unwrap_or_default(),
                allowed_signers: v
                    .allowed_signers
                    .map(|f| paths.resolve(&f, "fleet.verify.allowedSigners"))
                    .transpose()?,
                openpgp_keys: v.openpgp_keys.map(|f| paths.resolve(&f, "fleet.verify.openpgpKeys")).transpose()?,
            };
            if verify.mode != VerifyMode::Off && verify.allowed_signers.is_none() && verify.openpgp_keys.is_none() {
                return Err(invalid(
                    "fleet.verify",
                    "a mode other than off needs allowedSigners or openpgpKeys: the keys that may sign the fleet",
                ));
            }
            verify
        }
    };
    Ok(FleetConfig { url, credentials_file, verify })
}

fn check_hub(raw: RawHub, state_dir: &Path, paths: &Paths) -> Result<HubConfig, Error> {
    let url = required(raw.url, "hub.url")?;
    check_http_url(&url).map_err(|m| invalid("hub.url", m))?;
    let token_file = match raw.token_file {
        Some(file) => paths.resolve(&file, "hub.tokenFile")?,
        None => state_dir.join(DEFAULT_TOKEN_FILE),
    };
    Ok(HubConfig { url, token_file })
}

fn check_kubernetes(raw: RawKubernetes, paths: &Paths) -> Result<Kubernetes, Error> {
    let in_cluster = raw.in_cluster == Some(true);
    let simulated = raw.simulated == Some(true);
    let chosen = usize::from(raw.kubeconfig.is_some())
        + usize::from(in_cluster)
        + usize::from(raw.server.is_some())
        + usize::from(simulated);
    if chosen != 1 {
        return Err(invalid("kubernetes", "exactly one of kubeconfig, inCluster, server, simulated"));
    }
    if let Some(path) = raw.kubeconfig {
        let path = paths.resolve(&path, "kubernetes.kubeconfig")?;
        if raw.context.as_deref() == Some("") {
            return Err(invalid("kubernetes.context", "must not be empty"));
        }
        return Ok(Kubernetes::Kubeconfig { path, context: raw.context });
    }
    if raw.context.is_some() {
        return Err(invalid("kubernetes.context", "only with kubeconfig"));
    }
    match raw.server {
        Some(server) => {
            check_http_url(&server).map_err(|m| invalid("kubernetes.server", m))?;
            Ok(Kubernetes::Server(server))
        }
        None if simulated => Ok(Kubernetes::Simulated),
        None => Ok(Kubernetes::InCluster),
    }
}

fn check_render(raw: RawRender) -> Result<flotilla_core::render::Options, Error> {
    let mut budget = flotilla_core::kustomize::Budget::default();
    if let Some(value) = raw.max_objects.filter(|v| !v.is_null()) {
        const FIELD: &str = "render.maxObjects";
        let objects =
            value.as_u64().ok_or_else(|| invalid(FIELD, format!("{value} is not a whole number of objects")))?;
        if objects == 0 {
            return Err(invalid(FIELD, "0 is under the minimum of 1"));
        }
        budget.max_objects = usize::try_from(objects).map_err(|_| invalid(FIELD, format!("{objects} is too large")))?;
    }
    if let Some(value) = raw.max_bytes.filter(|v| !v.is_null()) {
        const FIELD: &str = "render.maxBytes";
        let bytes = match &value {
            Value::Number(n) => n.as_u64().ok_or_else(|| invalid(FIELD, format!("{value} {NOT_A_SIZE}")))?,
            Value::String(text) => parse_size(text).map_err(|m| invalid(FIELD, format!("{value} {m}")))?,
            _ => return Err(invalid(FIELD, format!("{value} {NOT_A_SIZE}"))),
        };
        if bytes == 0 {
            return Err(invalid(FIELD, "0 is under the minimum of 1 byte"));
        }
        budget.max_bytes = bytes;
    }
    Ok(flotilla_core::render::Options { budget, ..flotilla_core::render::Options::DEFAULT })
}

const NOT_A_SIZE: &str = "is not a size (a number of bytes, or with a suffix Ki, Mi, Gi, k, M or G: 64Mi)";

/// A size in bytes as Kubernetes writes quantities: `1048576`, `512Ki`, `64Mi`, `1Gi`, or with
/// decimal suffixes `300k`, `100M`, `2G`. For `render.maxBytes` and `--max-bytes`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const SUFFIXES: [(&str, u64); 6] =
        [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000)];
    let (digits, unit) =
        SUFFIXES.iter().find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|d| (d, *unit))).unwrap_or((text, 1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NOT_A_SIZE.to_string());
    }
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)).ok_or_else(|| "is too large".to_string())
}

fn check_poll_interval(value: &Value) -> Result<Duration, Error> {
    const FIELD: &str = "pollInterval";
    let shown = value.to_string();
    let interval = value
        .as_str()
        .and_then(flotilla_core::calendar::parse_duration)
        .ok_or_else(|| invalid(FIELD, format!("{shown} is not a duration (like 60s, 5m, 1h, 500ms)")))?;
    if interval < MIN_POLL_INTERVAL {
        return Err(invalid(FIELD, format!("{shown} is under the minimum of 1s")));
    }
    if interval > MAX_POLL_INTERVAL {
        return Err(invalid(FIELD, format!("{shown} is over the maximum of 24h")));
    }
    Ok(interval)
}

/// Where relative and `~/` paths lead.
struct Paths<'a> {
    base_dir: &'a Path,
    home: Option<&'a Path>,
}

impl Paths<'_> {
    fn resolve(&self, text: &str, field: &str) -> Result<PathBuf, Error> {
        if text.is_empty() {
            return Err(invalid(field, "must not be empty"));
        }
        if text == "~" || text.starts_with("~/") {
            let home =
                self.home.ok_or_else(|| invalid(field, format!("{text:?} starts with ~ but $HOME is not set")))?;
            return Ok(match text.strip_prefix("~/") {
                Some(rest) => home.join(rest),
                None => home.to_path_buf(),
            });
        }
        if text.starts_with('~') {
            // `~user/` would need the password database; a file named `~x` is too rare to guess.
            return Err(invalid(field, format!("{text:?}: only ~/ is expanded, not ~user/")));
        }
        // `join` keeps an absolute path as it is.
        Ok(self.base_dir.join(text))
    }
}

fn check_http_url(url: &str) -> Result<(), String> {
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    if host.is_some_and(|h| !h.is_empty() && !h.starts_with('/')) {
        Ok(())
    } else {
        Err(format!("{url:?} is not an http or https URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
cluster:
  name: store-0042
  environment: prod
  labels: {kind: store, region: us-east, canary: "false"}
fleet:
  url: git://git.retail.example/fleet.git
  credentialsFile: /etc/flotilla/git-credentials
  verify: {mode: enforce, allowedSigners: allowed_signers, openpgpKeys: /etc/keys.asc}
sources: {verify: enforce}
charts: {credentialsFile: chart-credentials}
overrideSigners: override_signers
hub:
  url: https://hub.retail.example
  tokenFile: /var/lib/flotilla/cluster-token
pollInterval: 90s
stateDir: /var/lib/flotilla
namespace: flotilla-agent
kubernetes:
  kubeconfig: ~/.kube/config
  context: store
"#;

    const MINIMAL: &str = "
cluster: {name: store-0042, environment: prod}
fleet: {url: 'https://git.retail.example/fleet.git'}
stateDir: state
kubernetes: {server: 'http://127.0.0.1:6443'}
";

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(text.as_bytes(), Path::new("/etc/flotilla"), Some(Path::new("/home/agent")))
    }

    /// The error `text` gives, as printed.
    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("expected an error, parsed {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// The minimal file with `line` replaced, added or removed (by key).
    fn minimal_with(key: &str, line: Option<&str>) -> String {
        let mut lines: Vec<String> =
            MINIMAL.lines().filter(|l| !l.starts_with(&format!("{key}:"))).map(String::from).collect();
        lines.extend(line.map(String::from));
        lines.join("\n")
    }

    #[test]
    fn full_example_parses() {
        let config = parse(FULL).expect("the full example is valid");
        let labels = [("canary", "false"), ("kind", "store"), ("region", "us-east")];
        assert_eq!(
            config,
            Config {
                cluster: ClusterConfig {
                    name: "store-0042".parse().unwrap(),
                    environment: "prod".into(),
                    labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                },
                fleet: FleetConfig {
                    url: "git://git.retail.example/fleet.git".parse().unwrap(),
                    credentials_file: Some("/etc/flotilla/git-credentials".into()),
                    verify: FleetVerify {
                        mode: VerifyMode::Enforce,
                        allowed_signers: Some("/etc/flotilla/allowed_signers".into()),
                        openpgp_keys: Some("/etc/keys.asc".into()),
                    },
                },
                hub: Some(HubConfig {
                    url: "https://hub.retail.example".into(),
                    token_file: "/var/lib/flotilla/cluster-token".into(),
                }),
                poll_interval: Duration::from_secs(90),
                state_dir: "/var/lib/flotilla".into(),
                namespace: "flotilla-agent".parse().unwrap(),
                render: flotilla_core::render::Options::default(),
                kubernetes: Kubernetes::Kubeconfig {
                    path: "/home/agent/.kube/config".into(),
                    context: Some("store".into()),
                },
                sources_verify: VerifyMode::Enforce,
                override_signers: Some("/etc/flotilla/override_signers".into()),
                charts_credentials_file: Some("/etc/flotilla/chart-credentials".into()),
            }
        );
    }

    #[test]
    fn a_fleet_trust_root_needs_keys_and_modes_are_named() {
        let e = error(&minimal_with("fleet", Some("fleet: {url: 'https://g.example/f.git', verify: {mode: enforce}}")));
        assert!(e.contains("field fleet.verify: a mode other than off needs allowedSigners"), "{e}");
        let e = error(&minimal_with("sources", Some("sources: {verify: always}")));
        assert!(e.contains("field sources.verify"), "{e}");
        let config = parse(MINIMAL).unwrap();
        assert_eq!((config.fleet.verify.mode, config.sources_verify), (VerifyMode::Off, VerifyMode::Off));
    }

    #[test]
    fn minimal_example_gets_defaults() {
        let config = parse(MINIMAL).expect("the minimal example is valid");
        assert!(config.cluster.labels.is_empty());
        assert_eq!(config.fleet.credentials_file, None);
        assert_eq!(config.hub, None);
        assert_eq!(config.poll_interval, DEFAULT_POLL_INTERVAL);
        assert_eq!(config.state_dir, Path::new("/etc/flotilla/state"));
        assert_eq!(config.namespace, "flotilla-system");
        assert_eq!(config.kubernetes, Kubernetes::Server("http://127.0.0.1:6443".into()));
    }

    #[test]
    fn in_cluster_is_chosen_by_true() {
        let config = parse(&minimal_with("kubernetes", Some("kubernetes: {inCluster: true}"))).expect("valid");
        assert_eq!(config.kubernetes, Kubernetes::InCluster);
    }

    #[test]
    fn hub_token_file_defaults_under_state_dir() {
        let config = parse(&minimal_with("hub", Some("hub: {url: 'https://hub.example'}"))).expect("valid");
        let hub = config.hub.expect("hub is set");
        assert_eq!(hub.token_file, Path::new("/etc/flotilla/state/cluster-token"));
    }

    #[test]
    fn relative_and_home_paths_resolve() {
        let text = format!(
            "{}\nfleet: {{url: 'ssh://git@example/fleet', credentialsFile: ../secrets/git}}\nhub: {{url: 'http://hub', tokenFile: '~/token'}}",
            minimal_with("fleet", None)
        );
        let config = parse(&text).expect("valid");
        assert_eq!(config.fleet.credentials_file.as_deref(), Some(Path::new("/etc/flotilla/../secrets/git")));
        assert_eq!(config.hub.expect("hub is set").token_file, Path::new("/home/agent/token"));
        assert_eq!(config.state_dir, Path::new("/etc/flotilla/state"));

        let config = parse(&minimal_with("kubernetes", Some("kubernetes: {kubeconfig: '~'}"))).expect("valid");
        assert_eq!(config.kubernetes, Kubernetes::Kubeconfig { path: "/home/agent".into(), context: None });
        let config = parse(&minimal_with("kubernetes", Some("kubernetes: {simulated: true}"))).expect("valid");
        assert_eq!(config.kubernetes, Kubernetes::Simulated);
    }

    #[test]
    fn home_paths_need_a_home() {
        let text = minimal_with("stateDir", Some("stateDir: ~/state"));
        let e = Config::parse(text.as_bytes(), Path::new("."), None).expect_err("no home");
        assert_eq!(e.to_string(), r#"agent.yaml: field stateDir: "~/state" starts with ~ but $HOME is not set"#);
        assert_eq!(
            error(&minimal_with("stateDir", Some("stateDir: ~bob/state"))),
            r#"agent.yaml: field stateDir: "~bob/state": only ~/ is expanded, not ~user/"#
        );
    }

    /// Each case: a top-level key of the minimal file, its replacement line (or none to remove
    /// it), and the error expected after the file name.
    type Case<'a> = (&'a str, Option<&'a str>, &'a str);

    fn check_errors(cases: &[Case]) {
        let mut wrong = Vec::new();
        for (key, line, expected) in cases {
            let got = error(&minimal_with(key, *line));
            let expected = format!("agent.yaml: {expected}");
            if got != expected {
                wrong.push(format!("{line:?}:\n  expected {expected}\n  got      {got}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn kubernetes_errors_name_the_field() {
        check_errors(&[
            ("kubernetes", None, "field kubernetes: required"),
            (
                "kubernetes",
                Some("kubernetes: {}"),
                "field kubernetes: exactly one of kubeconfig, inCluster, server, simulated",
            ),
            (
                "kubernetes",
                Some("kubernetes: {simulated: true, inCluster: true}"),
                "field kubernetes: exactly one of kubeconfig, inCluster, server, simulated",
            ),
            (
                "kubernetes",
                Some("kubernetes: {inCluster: true, server: 'http://x'}"),
                "field kubernetes: exactly one of kubeconfig, inCluster, server, simulated",
            ),
            (
                "kubernetes",
                Some("kubernetes: {inCluster: false}"),
                "field kubernetes: exactly one of kubeconfig, inCluster, server, simulated",
            ),
            (
                "kubernetes",
                Some("kubernetes: {inCluster: true, context: a}"),
                "field kubernetes.context: only with kubeconfig",
            ),
            (
                "kubernetes",
                Some("kubernetes: {inCluster: yes}"),
                r#"field kubernetes.inCluster: expected a boolean, found string "yes""#,
            ),
            (
                "kubernetes",
                Some("kubernetes: {server: '127.0.0.1:6443'}"),
                r#"field kubernetes.server: "127.0.0.1:6443" is not an http or https URL"#,
            ),
            (
                "kubernetes",
                Some("kubernetes: {server: 'http://x', token: abc}"),
                "field kubernetes.token: unknown field (expected kubeconfig, context, inCluster, server, simulated)",
            ),
        ]);
    }

    #[test]
    fn cluster_errors_name_the_field() {
        check_errors(&[
            ("cluster", None, "field cluster: required"),
            ("cluster", Some("cluster: {environment: prod}"), "field cluster.name: required"),
            (
                "cluster",
                Some("cluster: {name: Store_42, environment: prod}"),
                r#"field cluster.name: "Store_42" is not a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253)"#,
            ),
            ("cluster", Some("cluster: {name: s, environment: ''}"), "field cluster.environment: must not be empty"),
            (
                "cluster",
                Some("cluster: {name: s, environment: prod, labels: {kind: 1}}"),
                "field cluster.labels.kind: expected a string, found integer `1`",
            ),
            (
                "cluster",
                Some("cluster: {name: s, environment: prod, labels: {canary: false}}"),
                "field cluster.labels.canary: expected a string, found boolean `false`",
            ),
            (
                "cluster",
                Some("cluster: {name: s, environment: prod, labels: {kind: 'a b'}}"),
                r#"field cluster.labels.kind: "a b" is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)"#,
            ),
            (
                "cluster",
                Some("cluster: {name: s, environment: prod, labels: {'-kind': a}}"),
                r#"field cluster.labels: "-kind" is not a valid label key (an optional DNS subdomain and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)"#,
            ),
            (
                "cluster",
                Some("cluster: {name: s, environment: prod, label: {}}"),
                "field cluster.label: unknown field (expected name, environment, labels)",
            ),
            ("cluster", Some("cluster: [s]"), "field cluster: expected a mapping, found sequence"),
        ]);
    }

    #[test]
    fn other_errors_name_the_field() {
        check_errors(&[
            (
                "fleet",
                Some("fleet: {url: 'ftp://example/fleet'}"),
                r#"field fleet.url: "ftp://example/fleet" is not a git URL (https, http, git, ssh or file, or user@host:path)"#,
            ),
            (
                "fleet",
                Some("fleet: {url: 'example:fleet'}"),
                r#"field fleet.url: "example:fleet" is not a git URL (https, http, git, ssh or file, or user@host:path)"#,
            ),
            (
                "fleet",
                Some("fleet: {url: 'https://x', credentialsFile: ''}"),
                "field fleet.credentialsFile: must not be empty",
            ),
            ("hub", Some("hub: {tokenFile: t}"), "field hub.url: required"),
            ("hub", Some("hub: {url: 'hub.example'}"), r#"field hub.url: "hub.example" is not an http or https URL"#),
            (
                "pollInterval",
                Some("pollInterval: soon"),
                r#"field pollInterval: "soon" is not a duration (like 60s, 5m, 1h, 500ms)"#,
            ),
            (
                "pollInterval",
                Some("pollInterval: 60"),
                "field pollInterval: 60 is not a duration (like 60s, 5m, 1h, 500ms)",
            ),
            ("pollInterval", Some("pollInterval: 500ms"), r#"field pollInterval: "500ms" is under the minimum of 1s"#),
            ("pollInterval", Some("pollInterval: 25h"), r#"field pollInterval: "25h" is over the maximum of 24h"#),
            ("stateDir", None, "field stateDir: required"),
            (
                "namespace",
                Some("namespace: flotilla.system"),
                r#"field namespace: "flotilla.system" is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)"#,
            ),
            (
                "pollinterval",
                Some("pollinterval: 60s"),
                "field pollinterval: unknown field (expected cluster, fleet, sources, charts, overrideSigners, hub, pollInterval, stateDir, namespace, render, kubernetes)",
            ),
            ("charts", Some("charts: {credentialsFile: ''}"), "field charts.credentialsFile: must not be empty"),
            (
                "charts",
                Some("charts: {credentials: x}"),
                "field charts.credentials: unknown field (expected credentialsFile)",
            ),
            ("charts", Some("charts: [x]"), "field charts: expected a mapping, found sequence"),
        ]);
    }

    #[test]
    fn the_render_budget_has_defaults_and_is_set_under_render() {
        let budget = |line: &str| parse(&minimal_with("render", Some(line))).expect("valid").render.budget;
        assert_eq!(parse(MINIMAL).expect("valid").render.budget, flotilla_core::kustomize::Budget::default());
        assert_eq!(parse(MINIMAL).expect("valid").render.budget.max_objects, 10_000);
        assert_eq!(parse(MINIMAL).expect("valid").render.budget.max_bytes, 64 * 1024 * 1024);
        let set = budget("render: {maxObjects: 500, maxBytes: 8Mi}");
        assert_eq!((set.max_objects, set.max_bytes), (500, 8 * 1024 * 1024));
        // Either may be left to its default.
        assert_eq!(budget("render: {maxObjects: 20000}").max_bytes, 64 * 1024 * 1024);
        assert_eq!(budget("render: {maxBytes: 1Gi}").max_objects, 10_000);
        assert_eq!(budget("render: {}"), flotilla_core::kustomize::Budget::default());
        // Sizes as Kubernetes writes quantities: binary and decimal suffixes, or plain bytes.
        for (text, bytes) in [
            ("1048576", 1 << 20),
            ("'1048576'", 1 << 20),
            ("512Ki", 512 << 10),
            ("1Gi", 1 << 30),
            ("100M", 100_000_000),
            ("2G", 2_000_000_000),
            ("300k", 300_000),
        ] {
            assert_eq!(budget(&format!("render: {{maxBytes: {text}}}")).max_bytes, bytes, "{text}");
        }
    }

    #[test]
    fn render_budget_errors_name_the_field() {
        let size = "is not a size (a number of bytes, or with a suffix Ki, Mi, Gi, k, M or G: 64Mi)";
        check_errors(&[
            ("render", Some("render: {maxObjects: 0}"), "field render.maxObjects: 0 is under the minimum of 1"),
            (
                "render",
                Some("render: {maxObjects: lots}"),
                r#"field render.maxObjects: "lots" is not a whole number of objects"#,
            ),
            (
                "render",
                Some("render: {maxObjects: -5}"),
                "field render.maxObjects: -5 is not a whole number of objects",
            ),
            (
                "render",
                Some("render: {maxObjects: 1.5}"),
                "field render.maxObjects: 1.5 is not a whole number of objects",
            ),
            ("render", Some("render: {maxBytes: 64MB}"), &*format!(r#"field render.maxBytes: "64MB" {size}"#)),
            ("render", Some("render: {maxBytes: Mi}"), &*format!(r#"field render.maxBytes: "Mi" {size}"#)),
            ("render", Some("render: {maxBytes: true}"), &*format!("field render.maxBytes: true {size}")),
            ("render", Some("render: {maxBytes: 0}"), "field render.maxBytes: 0 is under the minimum of 1 byte"),
            (
                "render",
                Some("render: {maxBytes: 99999999999Gi}"),
                r#"field render.maxBytes: "99999999999Gi" is too large"#,
            ),
            (
                "render",
                Some("render: {maxObject: 5}"),
                "field render.maxObject: unknown field (expected maxObjects or maxBytes)",
            ),
            ("render", Some("render: [5]"), "field render: expected a mapping, found sequence"),
        ]);
    }

    #[test]
    fn whole_file_errors_name_no_field() {
        assert_eq!(error(""), "agent.yaml: field cluster: required");
        assert_eq!(error("[a]"), "agent.yaml: expected a mapping, found sequence");
        assert!(error("cluster: {").starts_with("agent.yaml: invalid YAML: "), "{}", error("cluster: {"));
        assert!(error("a: 1\n---\nb: 2").starts_with("agent.yaml: invalid YAML: expected one document"));
    }

    #[test]
    fn load_names_the_file_and_resolves_against_its_folder() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("agent.yaml");
        std::fs::write(&path, MINIMAL).expect("write the file");
        let config = Config::load(&path).expect("valid");
        assert_eq!(config.state_dir, dir.path().join("state"));

        std::fs::write(&path, minimal_with("stateDir", None)).expect("write the file");
        let e = Config::load(&path).expect_err("stateDir is missing");
        assert_eq!(e.to_string(), format!("{}: field stateDir: required", path.display()));

        let missing = dir.path().join("missing.yaml");
        let e = Config::load(&missing).expect_err("no such file");
        assert!(e.to_string().starts_with(&format!("{}: cannot read the file: ", missing.display())), "{e}");
    }

    #[test]
    fn labels_and_names_follow_kubernetes() {
        for key in ["kind", "flotilla.dev/tier", "a_b.c-d", "K8s"] {
            assert_eq!(LabelKey::check(key), Ok(()), "{key}");
        }
        for key in ["", "/kind", "Flotilla.dev/tier", "kind/", "a/b/c", &"k".repeat(64)] {
            assert!(LabelKey::check(key).is_err(), "{key}");
        }
        for value in ["", "false", "us-east", &"v".repeat(63)] {
            assert_eq!(LabelValue::check(value), Ok(()), "{value}");
        }
        for value in ["-x", "x-", "a/b", &"v".repeat(64)] {
            assert!(LabelValue::check(value).is_err(), "{value}");
        }
        for name in ["store-0042", "a.b.c", "0"] {
            assert_eq!(DnsSubdomain::check(name), Ok(()), "{name}");
        }
        for name in ["", "a..b", "a.-b", "-a", "A", &"a".repeat(254)] {
            assert!(DnsSubdomain::check(name).is_err(), "{name}");
        }
    }

    #[test]
    fn jitter_spans_plus_minus_twenty_percent() {
        let minute = Duration::from_secs(60);
        assert_eq!(jittered(minute, 0.0), Duration::from_secs(48));
        assert_eq!(jittered(minute, 0.5), minute);
        assert_eq!(jittered(minute, 0.75), Duration::from_secs(66));
        assert!(jittered(minute, 0.999_999) < Duration::from_secs(72));
        assert!(jittered(minute, 0.999_999) > Duration::from_millis(71_999));
        // Out of range and NaN are clamped, not trusted.
        assert_eq!(jittered(minute, -3.0), Duration::from_secs(48));
        assert_eq!(jittered(minute, 7.0), Duration::from_secs(72));
        assert_eq!(jittered(minute, f64::NAN), minute);
        // Huge intervals do not panic.
        assert!(jittered(Duration::MAX, 1.0) <= Duration::MAX);
        assert!(jittered(Duration::MAX, 0.0) < Duration::MAX);
    }
}
