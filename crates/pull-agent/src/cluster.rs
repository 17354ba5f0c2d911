//! The agent's view of its cluster through kube-rs: discovery, server-side apply as field
//! manager `flotilla`, get, delete, and lists of what a placement labelled. Discovery is kept
//! between cycles and run again only when a kind is not found (a CRD was just created).
//!
//! Not the sync logic (that is [`crate::sync`]) and not a cache of objects: every call asks the
//! API server.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use flotilla_core::plan::ObjectRef;
use flotilla_core::report::Kubernetes;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

use crate::shutdown::Shutdown;

/// Whether a reconcile changes the cluster: the agent's mode, which `govern` reads too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// Plan only: report what would change.
    Plan,
}

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "flotilla";

/// How many times a call is tried while the API server fails transiently.
const ATTEMPTS: u32 = 4;

/// Whether a failed call is worth trying again: the server failed, throttled, or could not be
/// reached — not a refusal of the request itself.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        _ => true,
    }
}

/// The waits between tries of a call: 100 ms, 200 ms, 400 ms … (plus up to as much again, at
/// random, so a fleet of agents does not retry in step), [`ATTEMPTS`] tries in all.
fn backoff() -> ExponentialBuilder {
    let retries = usize::try_from(ATTEMPTS - 1).expect("a few attempts");
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_factor(2.0)
        .with_max_times(retries)
        .with_jitter()
}

/// Runs `call` until it succeeds, fails for good, or has failed [`ATTEMPTS`] times.
async fn retrying<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    call.retry(backoff()).sleep(tokio::time::sleep).when(transient).await
}

/// A failed call, with the object it was about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{object}: the cluster serves no kind {kind} in {api_version}")]
    UnknownKind { object: String, api_version: String, kind: String },
    #[error("{object}: {source}")]
    Api { object: String, source: kube::Error },
    #[error("{object}: not an object the API understands: {source}")]
    Shape { object: String, source: serde_json::Error },
    #[error("discovery: {0}")]
    Discovery(kube::Error),
    #[error("{object}: not established after {seconds} s")]
    NotEstablished { object: String, seconds: u64 },
}

impl Error {
    /// Whether the API server could not be reached or failed (worth a retry), as opposed to
    /// refusing the object.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api { source, .. } | Error::Discovery(source) => transient(source),
            _ => false,
        }
    }
}

/// A connection to one cluster.
pub struct Cluster {
    client: kube::Client,
    discovery: Option<Discovery>,
    /// What [`Cluster::kubernetes`] last found, and when.
    kubernetes: Option<(tokio::time::Instant, Kubernetes)>,
    shutdown: Shutdown,
}

/// How long [`Cluster::kubernetes`] keeps what it found: a kind someone else's CRD added shows
/// up in a chart's `.Capabilities` within this.
const KUBERNETES_KEPT: Duration = Duration::from_secs(600);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("discovered", &self.discovery.is_some()).finish_non_exhaustive()
    }
}

impl Cluster {
    pub fn new(client: kube::Client) -> Cluster {
        Cluster { client, discovery: None, kubernetes: None, shutdown: Shutdown::new() }
    }

    /// The cluster's Kubernetes version and API versions, as Helm's `.Capabilities` reads them
    /// (every group version the API server serves, and each with each of its kinds): from
    /// `/version` and a discovery, run again when the last is older than ten minutes or was
    /// forgotten (a CRD this agent applied became established).
    /// What [`Cluster::kubernetes`] found last, however old (when the cluster cannot be asked).
    pub fn known_kubernetes(&self) -> Option<Kubernetes> {
        self.kubernetes.as_ref().map(|(_, k)| k.clone())
    }

    pub async fn kubernetes(&mut self) -> Result<Kubernetes, Error> {
        if let Some((at, kubernetes)) = &self.kubernetes
            && at.elapsed() < KUBERNETES_KEPT
            && self.discovery.is_some()
        {
            return Ok(kubernetes.clone());
        }
        let discovery = retrying(|| Discovery::new(self.client.clone()).run()).await.map_err(Error::Discovery)?;
        let version = retrying(|| self.client.apiserver_version()).await.map_err(Error::Discovery)?;
        let mut api_versions = std::collections::BTreeSet::new();
        for group in discovery.groups() {
            for version in group.versions() {
                let group_version =
                    if group.name().is_empty() { version.to_string() } else { format!("{}/{version}", group.name()) };
                for (resource, _) in group.versioned_resources(version) {
                    api_versions.insert(format!("{group_version}/{}", resource.kind));
                }
                api_versions.insert(group_version);
            }
        }
        self.discovery = Some(discovery);
        let kubernetes = Kubernetes { version: version.git_version, api_versions: api_versions.into_iter().collect() };
        self.kubernetes = Some((tokio::time::Instant::now(), kubernetes.clone()));
        Ok(kubernetes)
    }

    /// Stops taking writes once `shutdown` is requested: see [`Cluster::stopping`].
    #[must_use]
    pub fn with_shutdown(self, shutdown: Shutdown) -> Cluster {
        Cluster { shutdown, ..self }
    }

    /// Whether the agent is stopping: callers start no new write (the one in flight finishes).
    pub fn stopping(&self) -> bool {
        self.shutdown.requested()
    }

    /// The resource serving `api_version`/`kind` and whether it is namespaced; discovery runs
    /// again once when the kind is not known.
    async fn resolve(&mut self, api_version: &str, kind: &str, what: &str) -> Result<(ApiResource, bool), Error> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        for attempt in 0..2 {
            if self.discovery.is_none() || attempt == 1 {
                let discovery =
                    retrying(|| Discovery::new(self.client.clone()).run()).await.map_err(Error::Discovery)?;
                self.discovery = Some(discovery);
            }
            if let Some((resource, caps)) = self.discovery.as_ref().and_then(|d| d.resolve_gvk(&gvk)) {
                return Ok((resource, caps.scope == Scope::Namespaced));
            }
        }
        Err(Error::UnknownKind { object: what.to_string(), api_version: api_version.into(), kind: kind.into() })
    }

    /// The API for `api_version`/`kind`, namespaced to `namespace` when the kind is.
    async fn api(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        what: &str,
    ) -> Result<Api<DynamicObject>, Error> {
        let (resource, namespaced) = self.resolve(api_version, kind, what).await?;
        Ok(api_for(&self.client, &resource, namespaced, namespace))
    }

    /// Whether the cluster serves this kind (from the last discovery, refreshed if it does not).
    pub async fn serves(&mut self, api_version: &str, kind: &str) -> Result<bool, Error> {
        match self.api(api_version, kind, "", kind).await {
            Ok(_) => Ok(true),
            Err(Error::UnknownKind { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether objects of `api_version`/`kind` live in namespaces, as the cluster serves the
    /// kind; `None` when it serves no such kind.
    pub async fn namespaced(&mut self, api_version: &str, kind: &str) -> Result<Option<bool>, Error> {
        match self.resolve(api_version, kind, kind).await {
            Ok((_, namespaced)) => Ok(Some(namespaced)),
            Err(Error::UnknownKind { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Server-side apply, forced, as [`FIELD_MANAGER`]; returns the object as stored.
    pub async fn apply(&mut self, object: &Value) -> Result<Value, Error> {
        self.apply_as(object, FIELD_MANAGER).await
    }

    /// Server-side apply, forced, as `field_manager` (policies apply as their own).
    pub async fn apply_as(&mut self, object: &Value, field_manager: &str) -> Result<Value, Error> {
        let r = ObjectRef::of(object).ok_or_else(|| Error::UnknownKind {
            object: "an object without apiVersion, kind or name".into(),
            api_version: String::new(),
            kind: String::new(),
        })?;
        let what = r.to_string();
        let api = self.api(&r.api_version, &r.kind, &r.namespace, &what).await?;
        let params = PatchParams::apply(field_manager).force();
        let patch = Patch::Apply(object);
        let applied = retrying(|| api.patch(&r.name, &params, &patch))
            .await
            .map_err(|source| Error::Api { object: what.clone(), source })?;
        serde_json::to_value(applied).map_err(|source| Error::Shape { object: what, source })
    }

    /// The object, or `None` when it does not exist.
    pub async fn get(&mut self, r: &ObjectRef) -> Result<Option<Value>, Error> {
        let what = r.to_string();
        let api = self.api(&r.api_version, &r.kind, &r.namespace, &what).await?;
        let found =
            retrying(|| api.get_opt(&r.name)).await.map_err(|source| Error::Api { object: what.clone(), source })?;
        found.map(serde_json::to_value).transpose().map_err(|source| Error::Shape { object: what, source })
    }

    /// Deletes the object; `false` when it was already gone.
    pub async fn delete(&mut self, r: &ObjectRef) -> Result<bool, Error> {
        let what = r.to_string();
        let api = match self.api(&r.api_version, &r.kind, &r.namespace, &what).await {
            Ok(api) => api,
            // The kind itself is gone (its CRD was pruned first): so is the object.
            Err(Error::UnknownKind { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let params = DeleteParams::background();
        match retrying(|| api.delete(&r.name, &params)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(source) => Err(Error::Api { object: what, source }),
        }
    }

    /// The API of `api_version`/`kind` across every namespace, or `None` when the cluster does
    /// not serve the kind.
    pub async fn api_all(&mut self, api_version: &str, kind: &str) -> Result<Option<Api<DynamicObject>>, Error> {
        match self.resolve(api_version, kind, kind).await {
            Ok((resource, _)) => Ok(Some(Api::all_with(self.client.clone(), &resource))),
            Err(Error::UnknownKind { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every object of `api_version`/`kind` in every namespace that carries `label_selector`;
    /// nothing when the cluster does not serve the kind.
    pub async fn list(&mut self, api_version: &str, kind: &str, label_selector: &str) -> Result<Vec<Value>, Error> {
        self.list_in(api_version, kind, None, label_selector).await
    }

    /// [`Cluster::list`], in one namespace when `namespace` names one and the kind is
    /// namespaced (cluster-scoped kinds are listed whole).
    pub async fn list_in(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        label_selector: &str,
    ) -> Result<Vec<Value>, Error> {
        let (resource, namespaced) = match self.resolve(api_version, kind, kind).await {
            Ok(found) => found,
            Err(Error::UnknownKind { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let all = match namespace {
            Some(ns) if namespaced => Api::<DynamicObject>::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::<DynamicObject>::all_with(self.client.clone(), &resource),
        };
        let params = ListParams::default().labels(label_selector);
        let list = retrying(|| all.list(&params))
            .await
            .map_err(|source| Error::Api { object: format!("{api_version} {kind} list"), source })?;
        list.items
            .into_iter()
            .map(|mut o| {
                // Lists leave apiVersion and kind off their items; the planner keys by them.
                o.types = Some(kube::api::TypeMeta { api_version: api_version.into(), kind: kind.into() });
                serde_json::to_value(o)
            })
            .collect::<Result<_, _>>()
            .map_err(|source| Error::Shape { object: format!("{api_version} {kind} list"), source })
    }

    /// Waits until the CRD is `Established` (and its kinds are discoverable), up to `timeout`.
    pub async fn wait_established(&mut self, r: &ObjectRef, timeout: Duration) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let established = self.get(r).await?.is_some_and(|crd| {
                crd.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
            });
            if established {
                // The new kinds are served now: forget the old discovery.
                self.discovery = None;
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::NotEstablished { object: r.to_string(), seconds: timeout.as_secs() });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn api_for(client: &kube::Client, resource: &ApiResource, namespaced: bool, namespace: &str) -> Api<DynamicObject> {
    if namespaced && !namespace.is_empty() {
        Api::namespaced_with(client.clone(), namespace, resource)
    } else if namespaced {
        Api::default_namespaced_with(client.clone(), resource)
    } else {
        Api::all_with(client.clone(), resource)
    }
}
