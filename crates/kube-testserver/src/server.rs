//! The HTTP surface: discovery, get, list, watch, create, replace, patch (server-side apply,
//! JSON merge, JSON and strategic merge patches), delete with finalizers and the `status`
//! subresource, over an in-memory store, with Kubernetes' `Status` error bodies and the
//! controllers of [`crate::controller`]. A [`Cluster`] is one simulated API server: served on
//! 127.0.0.1 by [`TestServer`], or in-process as an axum [`Router`] (a tower service). Faults
//! (latency, errors, dropped watches, refused connections) are injected through its methods.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::controller::{self, Stage};
use crate::rbac::{self, Target};
use crate::registry::{Registry, ResourceType};
use crate::select::{FieldSelector, LabelSelector};
use crate::{patch, ssa, validate};

/// How many past events a watch can resume from; older versions get `410 Gone`.
const HISTORY: usize = 1_000;

/// The field manager the simulated controllers write `status` as.
const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// (group, plural, namespace, name): where an object is stored.
type Key = (String, String, String, String);

/// A change, as watches see it.
#[derive(Debug, Clone)]
struct Event {
    resource_version: u64,
    kind: &'static str,
    group: String,
    plural: String,
    namespace: String,
    object: Value,
}

/// What a simulated cluster can be told when it is made.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How long workloads take to become available and Jobs to complete after a change.
    pub ready_delay: Duration,
}

/// A controller step due later: `stage` for the object at `key`, if it still has this uid and
/// generation then.
#[derive(Debug, Clone)]
struct Timer {
    key: Key,
    uid: String,
    generation: i64,
    delay: Duration,
    stage: Stage,
}

/// Everything the server holds.
#[derive(Debug)]
struct Store {
    registry: Registry,
    objects: BTreeMap<Key, Value>,
    resource_version: u64,
    uids: u64,
    /// The last [`HISTORY`] events, oldest first, for watches that resume.
    history: VecDeque<Event>,
    /// Live events for open watches.
    events: tokio::sync::broadcast::Sender<Event>,
    /// Bumped to end every open watch (a dropped watch, injected).
    watch_epoch: tokio::sync::watch::Sender<u64>,
    ready_delay: Duration,
    /// Controller steps scheduled by the request being served; the handler starts them.
    timers: Vec<Timer>,
    /// The authorization checks of the requests that came in, once a test asked for them.
    recorded: Option<Vec<rbac::Request>>,
}

impl Store {
    fn new(options: &Options) -> Self {
        Store {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            resource_version: 0,
            uids: 0,
            history: VecDeque::new(),
            events: tokio::sync::broadcast::channel(HISTORY).0,
            watch_epoch: tokio::sync::watch::channel(0).0,
            ready_delay: options.ready_delay,
            timers: Vec::new(),
            recorded: None,
        }
    }

    /// A copy to serve a dry run on: its changes, events and timers go nowhere.
    fn scratch(&self) -> Self {
        Store {
            registry: self.registry.clone(),
            objects: self.objects.clone(),
            resource_version: self.resource_version,
            uids: self.uids,
            history: VecDeque::new(),
            events: tokio::sync::broadcast::channel(1).0,
            watch_epoch: tokio::sync::watch::channel(0).0,
            ready_delay: self.ready_delay,
            timers: Vec::new(),
            recorded: None,
        }
    }
}

/// The faults a test has asked for.
#[derive(Debug, Default)]
struct Faults {
    latency: Duration,
    /// The share of requests answered `500`, drawn from a seeded generator.
    error_rate: f64,
    rng: u64,
    /// Status codes for the next requests, in order.
    fail_next: VecDeque<u16>,
    requests: u64,
}

impl Faults {
    fn failure(&mut self) -> Option<u16> {
        if let Some(code) = self.fail_next.pop_front() {
            return Some(code);
        }
        if self.error_rate <= 0.0 {
            return None;
        }
        // splitmix64: deterministic for a seed, so a failing run can be repeated.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let draw = f64::from(u32::try_from(z >> 32).expect("the top 32 bits fit")) / f64::from(u32::MAX);
        (draw < self.error_rate).then_some(500)
    }
}

#[derive(Debug)]
struct Inner {
    store: Mutex<Store>,
    faults: Mutex<Faults>,
}

/// One simulated cluster's API server. Cheap to clone; every clone serves the same store.
#[derive(Debug, Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new(&Options::default())
    }
}

impl Cluster {
    pub fn new(options: &Options) -> Self {
        let inner = Inner { store: Mutex::new(Store::new(options)), faults: Mutex::new(Faults::default()) };
        Cluster { inner: Arc::new(inner) }
    }

    /// The API as an axum router, for in-process use (a tower service).
    pub fn router(&self) -> Router {
        Router::new().fallback(handle).with_state(self.inner.clone())
    }

    /// Every request waits this long before it is served.
    pub fn set_latency(&self, latency: Duration) {
        self.faults().latency = latency;
    }

    /// Answers this share of requests (0.0–1.0) with `500 InternalError`, drawn from a generator
    /// seeded with `seed`.
    pub fn set_error_rate(&self, rate: f64, seed: u64) {
        let mut faults = self.faults();
        faults.error_rate = rate;
        faults.rng = seed;
    }

    /// Answers the next `count` requests with `code` (`429`, `500`, `503`, …) and a `Status`.
    pub fn fail_next(&self, count: usize, code: u16) {
        self.faults().fail_next.extend(std::iter::repeat_n(code, count));
    }

    /// Ends every open watch stream now, as a restarting API server or a broken proxy does.
    pub fn drop_watches(&self) {
        self.store().watch_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// How many requests have come in, faulted ones included.
    pub fn requests(&self) -> u64 {
        self.faults().requests
    }

    /// From now on, records the authorization checks a real API server would make for each
    /// request that comes in (faulted ones included: they are checked before anything fails):
    /// the request itself as [`rbac::Request::of`] names it, `create` as well for a
    /// server-side apply of an object that does not exist yet, and `impersonate` for
    /// `Impersonate-User` and `Impersonate-Group` headers (the request is then checked as the
    /// impersonated user). Forgets what was recorded before.
    pub fn record_requests(&self) {
        self.store().recorded = Some(Vec::new());
    }

    /// What was recorded since [`Cluster::record_requests`], in order.
    pub fn recorded(&self) -> Vec<rbac::Request> {
        self.store().recorded.clone().unwrap_or_default()
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.inner.faults.lock().expect("the faults lock is never poisoned: nothing panics holding it")
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().expect("the store lock is never poisoned: handlers do not panic")
    }
}

/// The API of a fresh cluster as an axum router, for in-process use.
pub fn router() -> Router {
    Cluster::default().router()
}

/// What the server thread is told.
enum Control {
    Refuse,
    Accept,
    Stop,
}

/// A [`Cluster`] served on 127.0.0.1 by its own runtime thread; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    pub url: String,
    cluster: Cluster,
    control: tokio::sync::mpsc::UnboundedSender<(Control, std::sync::mpsc::Sender<()>)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts on a free port and returns once it accepts connections.
    pub fn start() -> std::io::Result<TestServer> {
        Self::start_with("127.0.0.1:0", &Options::default())
    }

    /// Starts on `addr` (`127.0.0.1:6443`, or port 0 for a free one).
    pub fn start_on(addr: &str) -> std::io::Result<TestServer> {
        Self::start_with(addr, &Options::default())
    }

    pub fn start_with(addr: &str, options: &Options) -> std::io::Result<TestServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let cluster = Cluster::new(options);
        let router = cluster.router();
        let (control, mut orders) = tokio::sync::mpsc::unbounded_channel::<(Control, std::sync::mpsc::Sender<()>)>();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let mut listener = tokio::net::TcpListener::from_std(listener).ok();
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = accept(listener.as_ref()) => {
                            if let Ok((stream, _)) = accepted {
                                connections.spawn(serve_connection(stream, router.clone()));
                            }
                        }
                        Some(()) = async { connections.join_next().await.map(drop) }, if !connections.is_empty() => {}
                        order = orders.recv() => {
                            let Some((order, done)) = order else { break };
                            match order {
                                Control::Refuse => {
                                    // Closing the socket makes new connections fail with
                                    // "connection refused"; open ones are cut.
                                    listener = None;
                                    connections.abort_all();
                                }
                                Control::Accept => {
                                    if listener.is_none() {
                                        listener = tokio::net::TcpListener::bind(local).await.ok();
                                    }
                                }
                                Control::Stop => break,
                            }
                            let _ = done.send(());
                        }
                    }
                }
                // Dropping the runtime with this thread ends open watches too (a graceful drain
                // would wait for each watch's timeout).
            });
        });
        Ok(TestServer { url: format!("http://{local}"), cluster, control, thread: Some(thread) })
    }

    /// The cluster this server serves, for its fault switches.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Closes the listening socket and cuts open connections: clients get "connection refused"
    /// until [`TestServer::accept_connections`]. The store is kept.
    pub fn refuse_connections(&self) {
        self.order(Control::Refuse);
    }

    /// Listens again on the same address.
    pub fn accept_connections(&self) {
        self.order(Control::Accept);
    }

    fn order(&self, order: Control) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.control.send((order, done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

async fn accept(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, router: Router) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper_util::service::TowerToHyperService::new(router);
    // A client that goes away is not the server's error.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.order(Control::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `Status` failure, as the API server writes it.
fn status(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    (code, axum::Json(body)).into_response()
}

fn ok(code: StatusCode, body: Value) -> Response {
    (code, axum::Json(body)).into_response()
}

fn bad_request(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

/// The answer to an injected failure.
fn injected(code: u16) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (reason, message, details) = match code {
        StatusCode::TOO_MANY_REQUESTS => {
            ("TooManyRequests", "too many requests, please try again later", Some(json!({"retryAfterSeconds": 1})))
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            ("ServiceUnavailable", "the server is currently unable to handle the request", None)
        }
        StatusCode::GATEWAY_TIMEOUT => {
            ("Timeout", "the server was unable to return a response in the time allotted", None)
        }
        _ => ("InternalError", "Internal error occurred: injected fault", None),
    };
    let mut response = status(code, reason, message, details);
    if code == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
    }
    response
}

/// What a request path names.
enum Route {
    Version,
    CoreVersions,
    Groups,
    Resources { group: String, version: String },
    Objects { ty: ResourceType, namespace: Option<String>, name: Option<String>, sub: Option<String> },
}

fn route(store: &Store, path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Some(Route::Version),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["api", v, rest @ ..] => (String::new(), (*v).to_string(), rest),
        ["apis", g, v, rest @ ..] => ((*g).to_string(), (*v).to_string(), rest),
        _ => return None,
    };
    if rest.is_empty() {
        return Some(Route::Resources { group, version });
    }
    let owned = |s: Option<&&str>| s.map(|s| (*s).to_string());
    let namespaced =
        rest.len() >= 3 && rest[0] == "namespaces" && store.registry.find(&group, &version, rest[2]).is_some();
    let (namespace, plural, tail) =
        if namespaced { (Some(rest[1].to_string()), rest[2], &rest[3..]) } else { (None, rest[0], &rest[1..]) };
    let ty = store.registry.find(&group, &version, plural)?.clone();
    Some(Route::Objects { ty, namespace, name: owned(tail.first()), sub: owned(tail.get(1)) })
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding for query parameters.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut store = inner.store.lock().expect("the store lock is never poisoned: handlers do not panic");
        if store.recorded.is_some() {
            let checks = store.checks(&method, &uri, &headers);
            store.recorded.get_or_insert_default().extend(checks);
        }
    }
    let (latency, failure) = {
        let mut faults = inner.faults.lock().expect("the faults lock is never poisoned: nothing panics holding it");
        faults.requests += 1;
        (faults.latency, faults.failure())
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(code) = failure {
        return injected(code);
    }
    let (response, timers) = {
        let mut store = inner.store.lock().expect("the store lock is never poisoned: handlers do not panic");
        let response = store.handle(&method, &uri, &headers, body);
        (response, std::mem::take(&mut store.timers))
    };
    for timer in timers {
        tokio::spawn(run_timer(inner.clone(), timer));
    }
    response
}

/// Waits for a controller step, then takes it.
async fn run_timer(inner: Arc<Inner>, timer: Timer) {
    tokio::time::sleep(timer.delay).await;
    let mut store = inner.store.lock().expect("the store lock is never poisoned: handlers do not panic");
    store.control(&timer.key, &timer.uid, timer.generation, timer.stage);
}

struct Request {
    ty: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    q: BTreeMap<String, String>,
    content_type: String,
    body: Bytes,
}

impl Request {
    fn manager(&self) -> String {
        self.q.get("fieldManager").cloned().unwrap_or_else(|| "unknown".into())
    }

    /// `configmaps "x"` or `deployments.apps "x"`, as the API server names objects.
    fn describe(&self, name: &str) -> String {
        if self.ty.group.is_empty() {
            format!("{} {name:?}", self.ty.plural)
        } else {
            format!("{}.{} {name:?}", self.ty.plural, self.ty.group)
        }
    }

    fn details(&self, name: &str) -> Value {
        json!({"name": name, "group": self.ty.group, "kind": self.ty.plural})
    }

    fn key(&self, name: &str) -> Key {
        (self.ty.group.clone(), self.ty.plural.clone(), self.namespace.clone().unwrap_or_default(), name.to_string())
    }

    fn not_found(&self, name: &str) -> Response {
        status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{} not found", self.describe(name)),
            Some(self.details(name)),
        )
    }

    fn on_status(&self) -> bool {
        self.sub.as_deref() == Some("status")
    }

    /// The body as JSON, or as YAML when it says it is YAML (apply patches may be either).
    #[expect(clippy::result_large_err, reason = "the error is the HTTP response itself, made once per request")]
    fn body_value(&self) -> Result<Value, Response> {
        if let Ok(v) = serde_json::from_slice::<Value>(&self.body) {
            return Ok(v);
        }
        if self.content_type.contains("yaml")
            && let Ok(v) = flotilla_core::yaml::load_one(&self.body)
        {
            return Ok(v);
        }
        Err(bad_request("the request body is neither valid JSON nor, for YAML media types, valid YAML"))
    }

    #[expect(clippy::result_large_err, reason = "the error is the HTTP response itself, made once per request")]
    fn body_object(&self) -> Result<Value, Response> {
        let value = self.body_value()?;
        if value.is_object() { Ok(value) } else { Err(bad_request("the request body is not an object")) }
    }

    #[expect(clippy::result_large_err, reason = "the error is the HTTP response itself, made once per request")]
    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), Response> {
        let labels = LabelSelector::parse(self.q.get("labelSelector").map(String::as_str).unwrap_or_default())
            .map_err(|e| bad_request(&e.to_string()))?;
        let fields = FieldSelector::parse(
            self.q.get("fieldSelector").map(String::as_str).unwrap_or_default(),
            &self.ty.group,
            &self.ty.kind,
        )
        .map_err(|e| bad_request(&e.to_string()))?;
        Ok((labels, fields))
    }
}

/// An immediate deletion's answer for kinds that do not return the deleted object.
fn deleted(r: &Request, object: &Value) -> Response {
    let name = object.pointer("/metadata/name").cloned().unwrap_or_default();
    let uid = object.pointer("/metadata/uid").cloned().unwrap_or_default();
    ok(
        StatusCode::OK,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": r.ty.group, "kind": r.ty.plural, "uid": uid}}),
    )
}

fn being_deleted(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn namespace_key(name: &str) -> Key {
    (String::new(), "namespaces".into(), String::new(), name.to_string())
}

impl Store {
    /// The authorization checks of one request (see [`Cluster::record_requests`]).
    fn checks(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Vec<rbac::Request> {
        let header = |name: &str| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        let mut user = header("authorization")
            .first()
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(|token| token.trim().to_string())
            .unwrap_or_default();
        let mut checks = Vec::new();
        let impersonate = |resource: &str, namespace: &str, name: &str| rbac::Request {
            user: user.clone(),
            verb: "impersonate".into(),
            target: Target::Resource {
                group: String::new(),
                resource: resource.into(),
                subresource: String::new(),
                namespace: namespace.into(),
                name: name.into(),
            },
        };
        let as_user = header("impersonate-user").first().map(|u| (*u).to_string());
        if let Some(as_user) = &as_user {
            let account = as_user.strip_prefix("system:serviceaccount:").and_then(|a| a.split_once(':'));
            checks.push(match account {
                Some((namespace, name)) => impersonate("serviceaccounts", namespace, name),
                None => impersonate("users", "", as_user),
            });
            checks.extend(header("impersonate-group").iter().map(|g| impersonate("groups", "", g)));
        }
        if let Some(as_user) = as_user {
            user = as_user;
        }
        let request = rbac::Request::of(&user, method.as_str(), uri.path(), uri.query().unwrap_or_default());
        let apply = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/apply-patch"));
        let mut create = None;
        if request.verb == "patch"
            && apply
            && let Target::Resource { group, resource, subresource, namespace, name } = &request.target
            && subresource.is_empty()
        {
            // Server-side apply creates a missing object, and then needs `create` too.
            let namespace = if group.is_empty() && resource == "namespaces" { "" } else { namespace };
            let key = (group.clone(), resource.clone(), namespace.to_string(), name.clone());
            if !self.objects.contains_key(&key) {
                create = Some(rbac::Request { verb: "create".into(), ..request.clone() });
            }
        }
        checks.push(request);
        checks.extend(create);
        checks
    }

    /// Routes and serves one request.
    fn handle(&mut self, method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
        let q = query(uri);
        let Some(route) = route(self, uri.path()) else {
            return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None);
        };
        match route {
            Route::Version => ok(
                StatusCode::OK,
                json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-flotilla-testserver", "gitCommit": "",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
                    "compiler": "gc", "platform": "linux/amd64"}),
            ),
            Route::CoreVersions => ok(
                StatusCode::OK,
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            ),
            Route::Groups => ok(StatusCode::OK, self.registry.group_list()),
            Route::Resources { group, version } => match self.registry.resource_list(&group, &version) {
                Some(list) => ok(StatusCode::OK, list),
                None => {
                    status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None)
                }
            },
            Route::Objects { ty, namespace, name, sub } => {
                let content_type =
                    headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                let request = Request { ty, namespace, name, sub, q, content_type, body };
                let dry_run = request.q.get("dryRun").is_some_and(|d| d == "All");
                if dry_run && *method != Method::GET {
                    // Everything a real write would do, on a copy that is then thrown away.
                    return self.scratch().serve(method, &request);
                }
                self.serve(method, &request)
            }
        }
    }

    /// Stores an object whose resourceVersion was just stamped, and tells the watches.
    fn put(&mut self, key: Key, object: Value, kind: &'static str) {
        self.record(&key, kind, object.clone());
        self.objects.insert(key, object);
    }

    /// Removes an object, with a fresh resourceVersion on the deletion event.
    fn take(&mut self, key: &Key) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        let rv = self.next_version();
        metadata(&mut object).insert("resourceVersion".into(), json!(rv));
        self.record(key, "DELETED", object.clone());
        Some(object)
    }

    fn record(&mut self, key: &Key, kind: &'static str, object: Value) {
        let event = Event {
            resource_version: self.resource_version,
            kind,
            group: key.0.clone(),
            plural: key.1.clone(),
            namespace: key.2.clone(),
            object,
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(event.clone());
        // No open watch is not an error.
        let _ = self.events.send(event);
    }

    /// A watch: newline-delimited events, from a resourceVersion (or the current state), then
    /// live; bookmarks when asked; `410 Gone` for a version older than the history.
    fn watch(&mut self, r: &Request) -> Response {
        let (labels, fields) = match r.selectors() {
            Ok(s) => s,
            Err(e) => return e,
        };
        let (group, plural, namespace) = (r.ty.group.clone(), r.ty.plural.clone(), r.namespace.clone());
        let wanted = move |e: &Event| {
            e.group == group
                && e.plural == plural
                && namespace.as_ref().is_none_or(|n| *n == e.namespace)
                && labels.matches(e.object.pointer("/metadata/labels"))
                && fields.matches(&e.object)
        };
        let since = r.q.get("resourceVersion").map(String::as_str).unwrap_or_default();
        let initial = self.backlog(since, &wanted);
        let closed_at_once = initial.iter().any(|e| e["type"] == "ERROR");
        let mut feed = self.events.subscribe();
        let mut epoch = self.watch_epoch.subscribe();
        let bookmarks = r.q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
        let timeout = r.q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1_800);
        let (kind, api_version) = (r.ty.kind.clone(), r.ty.api_version());
        let mut last_version = self.resource_version;
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
        tokio::spawn(async move {
            let line = |v: &Value| Ok(Bytes::from(format!("{v}\n")));
            for e in &initial {
                if sender.send(line(e)).await.is_err() {
                    return;
                }
            }
            if closed_at_once {
                return;
            }
            let deadline = tokio::time::sleep(std::time::Duration::from_secs(timeout));
            tokio::pin!(deadline);
            // Bookmarks come once a period, not at once (an interval's first tick is immediate).
            let period = std::time::Duration::from_secs(1);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                let event = tokio::select! {
                    () = &mut deadline => return,
                    // A dropped watch: the stream just ends, as when a connection breaks.
                    _ = epoch.changed() => return,
                    _ = tick.tick(), if bookmarks => {
                        json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                            "metadata": {"resourceVersion": last_version.to_string()}}})
                    }
                    next = feed.recv() => match next {
                        Ok(e) => {
                            last_version = e.resource_version;
                            if !wanted(&e) {
                                continue;
                            }
                            json!({"type": e.kind, "object": e.object})
                        }
                        // A watcher too slow to keep up must start over, as with the API server.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let _ = sender.send(line(&json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                                "metadata": {}, "status": "Failure", "message": "watch fell behind", "reason": "Expired", "code": 410}}))).await;
                            return;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                };
                if sender.send(line(&event)).await.is_err() {
                    return;
                }
            }
        });
        let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(body)
            .expect("a static set of valid headers")
    }

    /// What a new watch sends first: the current objects (from version `0` or none), the
    /// changes since `since`, or a `410 Expired` error when those are no longer kept.
    fn backlog(&self, since: &str, wanted: &dyn Fn(&Event) -> bool) -> Vec<Value> {
        if since.is_empty() || since == "0" {
            return self
                .objects
                .iter()
                .filter(|((g, p, ns, _), o)| {
                    wanted(&Event {
                        resource_version: 0,
                        kind: "ADDED",
                        group: g.clone(),
                        plural: p.clone(),
                        namespace: ns.clone(),
                        object: (*o).clone(),
                    })
                })
                .map(|(_, o)| json!({"type": "ADDED", "object": o}))
                .collect();
        }
        let since: u64 = since.parse().unwrap_or(0);
        let oldest = self.history.front().map_or(self.resource_version + 1, |e| e.resource_version);
        if since + 1 < oldest && self.history.len() == HISTORY {
            let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("too old resource version: {since} ({})", oldest - 1), "reason": "Expired", "code": 410});
            return vec![json!({"type": "ERROR", "object": gone})];
        }
        self.history
            .iter()
            .filter(|e| e.resource_version > since && wanted(e))
            .map(|e| json!({"type": e.kind, "object": e.object}))
            .collect()
    }

    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn serve(&mut self, method: &Method, r: &Request) -> Response {
        if r.ty.namespaced && r.namespace.is_none() && r.name.is_some() {
            return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None);
        }
        if r.sub.as_deref().is_some_and(|s| s != "status" || !r.ty.status) {
            return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None);
        }
        match (method.as_str(), &r.name) {
            ("GET", None) if r.q.get("watch").is_some_and(|w| w == "true" || w == "1") => self.watch(r),
            ("GET", None) => self.list(r),
            ("GET", Some(name)) => match self.objects.get(&r.key(name)) {
                Some(o) => ok(StatusCode::OK, o.clone()),
                None => r.not_found(name),
            },
            ("POST", None) => self.create(r),
            ("PUT", Some(name)) => self.replace(r, name),
            ("PATCH", Some(name)) => self.patch(r, name),
            ("DELETE", Some(name)) => self.delete(r, name),
            ("DELETE", None) if r.ty.collection_delete() => self.delete_collection(r),
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                None,
            ),
        }
    }

    /// The objects of the request's type (in its namespace, if any) that the selectors match,
    /// in key order.
    fn selected<'s>(
        &'s self,
        r: &'s Request,
        labels: &'s LabelSelector,
        fields: &'s FieldSelector,
    ) -> impl Iterator<Item = (&'s Key, &'s Value)> {
        self.objects.iter().filter(move |((g, p, ns, _), o)| {
            *g == r.ty.group
                && *p == r.ty.plural
                && r.namespace.as_ref().is_none_or(|want| want == ns)
                && labels.matches(o.pointer("/metadata/labels"))
                && fields.matches(o)
        })
    }

    fn list(&self, r: &Request) -> Response {
        let (labels, fields) = match r.selectors() {
            Ok(s) => s,
            Err(e) => return e,
        };
        let items: Vec<Value> = self.selected(r, &labels, &fields).map(|(_, o)| o.clone()).collect();
        // Pages: `continue` is the offset into the (stable, key-ordered) result, as text.
        let offset: usize = r.q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = r.q.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
        let total = items.len();
        let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
        let mut list_meta = json!({"resourceVersion": self.resource_version.to_string()});
        if offset.saturating_add(page.len()) < total {
            list_meta["continue"] = json!((offset + page.len()).to_string());
            // Kubernetes counts what remains only when no selector filters the list.
            if !r.q.contains_key("labelSelector") && !r.q.contains_key("fieldSelector") {
                list_meta["remainingItemCount"] = json!(total - offset - page.len());
            }
        }
        ok(
            StatusCode::OK,
            json!({"kind": format!("{}List", r.ty.kind), "apiVersion": r.ty.api_version(), "metadata": list_meta, "items": page}),
        )
    }

    /// Checks the identity fields of a body against the request; the name it names (made from
    /// `generateName` on a create).
    #[expect(clippy::result_large_err, reason = "the error is the HTTP response itself, made once per request")]
    fn check_identity(&mut self, r: &Request, object: &Value, name_in_path: Option<&str>) -> Result<String, Response> {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        if api_version != r.ty.api_version() || kind != r.ty.kind {
            return Err(bad_request(&format!(
                "the API version in the data ({api_version}) and kind ({kind}) do not match {}/{}",
                r.ty.api_version(),
                r.ty.kind
            )));
        }
        let mut name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(path_name) = name_in_path
            && !name.is_empty()
            && name != path_name
        {
            return Err(bad_request("the name of the object does not match the name on the URL"));
        }
        if name.is_empty() {
            name = match (name_in_path, object.pointer("/metadata/generateName").and_then(Value::as_str)) {
                (Some(path_name), _) => path_name.to_string(),
                (None, Some(prefix)) if !prefix.is_empty() => format!("{prefix}{}", self.random_suffix()),
                _ => {
                    let causes = [validate::Cause {
                        reason: "FieldValueRequired",
                        field: "metadata.name".into(),
                        message: "Required value: name or generateName is required".into(),
                    }];
                    return Err(invalid(r, "", &causes));
                }
            };
        }
        if let Some(ns) = object.pointer("/metadata/namespace").and_then(Value::as_str)
            && r.namespace.as_deref().is_some_and(|want| want != ns)
        {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        if r.ty.namespaced {
            let ns = r.namespace.clone().unwrap_or_default();
            if !self.objects.contains_key(&namespace_key(&ns)) {
                return Err(status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("namespaces {ns:?} not found"),
                    Some(json!({"name": ns, "kind": "namespaces"})),
                ));
            }
        }
        Ok(name)
    }

    /// Five characters for `generateName`, from the alphabet Kubernetes uses (no vowels).
    fn random_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.uids += 1;
        let mut n = self.uids.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
        (0..5)
            .map(|_| {
                let c = ALPHABET[usize::try_from(n % 27).expect("below 27")];
                n /= 27;
                char::from(c)
            })
            .collect()
    }

    fn create(&mut self, r: &Request) -> Response {
        if r.on_status() {
            return status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "create is not allowed on status", None);
        }
        let object = match r.body_object() {
            Ok(o) => o,
            Err(e) => return e,
        };
        let name = match self.check_identity(r, &object, None) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let key = r.key(&name);
        if self.objects.contains_key(&key) {
            return status(
                StatusCode::CONFLICT,
                "AlreadyExists",
                &format!("{} already exists", r.describe(&name)),
                Some(r.details(&name)),
            );
        }
        let object = ssa::update(&Value::Null, &object, &r.manager(), &now(), &ssa::Schema::default());
        self.commit(r, &key, None, object)
    }

    /// The one way a written object reaches the store: the API server's checks, the fields it
    /// owns, finalizers, then the watches and the controllers.
    fn commit(&mut self, r: &Request, key: &Key, old: Option<&Value>, mut new: Value) -> Response {
        let name = key.3.clone();
        if !r.on_status() {
            if let Some(message) = validate::decode_error(&r.ty.group, &r.ty.kind, &new) {
                return bad_request(&message);
            }
            let causes = validate::validate(&r.ty.group, &r.ty.kind, &name, &new);
            if !causes.is_empty() {
                return invalid(r, &name, &causes);
            }
        }
        let is_namespace = r.ty.group.is_empty() && r.ty.kind == "Namespace";
        let Some(old) = old else {
            if r.ty.namespaced && self.objects.get(&namespace_key(&key.2)).is_some_and(being_deleted) {
                let message = format!(
                    "{} is forbidden: unable to create new content in namespace {} because it is being terminated",
                    r.describe(&name),
                    key.2
                );
                let cause =
                    json!({"reason": "NamespaceTerminating", "message": message, "field": "metadata.namespace"});
                let mut details = r.details(&name);
                details["causes"] = json!([cause]);
                return status(StatusCode::FORBIDDEN, "Forbidden", &message, Some(details));
            }
            self.stamp_new(r, &mut new, &name);
            if is_namespace {
                new["spec"] = json!({"finalizers": ["kubernetes"]});
                new["status"] = json!({"phase": "Active"});
            }
            self.after_write(r, &mut new);
            self.put(key.clone(), new.clone(), "ADDED");
            self.observe(r, key, true);
            return ok(StatusCode::CREATED, new);
        };
        if being_deleted(old) {
            let before = finalizers(old);
            let added: Vec<String> = finalizers(&new).into_iter().filter(|f| !before.contains(f)).collect();
            if !added.is_empty() {
                let detail = format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                );
                return invalid(r, &name, &[validate::Cause::forbidden("metadata.finalizers", &detail)]);
            }
        }
        let rv = self.next_version();
        for field in
            ["uid", "creationTimestamp", "name", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds"]
        {
            match old.pointer(&format!("/metadata/{field}")) {
                Some(v) => metadata(&mut new).insert(field.into(), v.clone()),
                None => metadata(&mut new).remove(field),
            };
        }
        if is_namespace {
            // Only the namespace controller changes a namespace's spec.finalizers.
            new["spec"] = old.get("spec").cloned().unwrap_or_else(|| json!({}));
        }
        let changed_spec = old.get("spec") != new.get("spec");
        if r.ty.generation {
            let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            metadata(&mut new)
                .insert("generation".into(), json!(if changed_spec { generation + 1 } else { generation }));
        } else {
            metadata(&mut new).remove("generation");
        }
        metadata(&mut new).insert("resourceVersion".into(), json!(rv));
        self.after_write(r, &mut new);
        if being_deleted(&new) && finalizers(&new).is_empty() {
            // The last finalizer is gone: the deletion the object was waiting for happens now.
            self.objects.insert(key.clone(), new.clone());
            let gone = self.take(key).expect("inserted above");
            self.after_removal(key);
            return ok(StatusCode::OK, gone);
        }
        self.put(key.clone(), new.clone(), "MODIFIED");
        if changed_spec && !r.on_status() {
            self.observe(r, key, false);
        }
        ok(StatusCode::OK, new)
    }

    /// Fills in what the server owns on a new object.
    fn stamp_new(&mut self, r: &Request, object: &mut Value, name: &str) {
        self.uids += 1;
        let rv = self.next_version();
        let md = metadata(object);
        md.insert("name".into(), json!(name));
        match &r.namespace {
            Some(ns) => md.insert("namespace".into(), json!(ns)),
            // A cluster-scoped object has no namespace, whatever the body says.
            None => md.remove("namespace"),
        };
        md.insert("uid".into(), json!(format!("00000000-0000-4000-8000-{:012x}", self.uids)));
        md.insert("resourceVersion".into(), json!(rv));
        md.insert("creationTimestamp".into(), json!(now()));
        md.remove("deletionTimestamp");
        md.remove("deletionGracePeriodSeconds");
        if r.ty.generation {
            md.insert("generation".into(), json!(1));
        } else {
            md.remove("generation");
        }
    }

    fn after_write(&mut self, r: &Request, object: &mut Value) {
        if r.ty.kind == "CustomResourceDefinition" {
            self.registry.add_crd(object);
            // Established at once: there is no controller to wait for.
            object["status"] = json!({"conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
            ]});
        }
    }

    /// A controlled object was created or its spec changed: its controller starts now and
    /// finishes after the ready delay (or, for a broken Deployment, gives up at its deadline).
    fn observe(&mut self, r: &Request, key: &Key, created: bool) {
        if !controller::controlled(&r.ty.group, &r.ty.kind) || (!created && r.ty.kind == "Pod") {
            return;
        }
        let Some(object) = self.objects.get(key) else { return };
        let uid = object.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string();
        let generation = object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        let deadline = controller::progress_deadline(object);
        self.control(key, &uid, generation, Stage::Started);
        let timer = |delay, stage| Timer { key: key.clone(), uid: uid.clone(), generation, delay, stage };
        self.timers.push(timer(self.ready_delay, Stage::Ready));
        if let Some(seconds) = deadline {
            self.timers.push(timer(self.ready_delay.max(Duration::from_secs(seconds)), Stage::DeadlineExceeded));
        }
    }

    /// A controller's status write, if the object is still the one it was scheduled for.
    fn control(&mut self, key: &Key, uid: &str, generation: i64, stage: Stage) {
        let Some(old) = self.objects.get(key).cloned() else { return };
        let same = old.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid)
            && old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0) == generation;
        if !same || being_deleted(&old) {
            return;
        }
        let Some(status) = controller::status(&old, stage, &now()) else { return };
        if old.get("status") == Some(&status) {
            return;
        }
        let mut new = old.clone();
        new["status"] = status;
        let mut new = ssa::update(&old, &new, CONTROLLER_MANAGER, &now(), &ssa::Schema::default());
        let rv = self.next_version();
        metadata(&mut new).insert("resourceVersion".into(), json!(rv));
        self.put(key.clone(), new, "MODIFIED");
    }

    fn replace(&mut self, r: &Request, name: &str) -> Response {
        let key = r.key(name);
        let Some(old) = self.objects.get(&key).cloned() else { return r.not_found(name) };
        let body = match r.body_object() {
            Ok(o) => o,
            Err(e) => return e,
        };
        if let Err(e) = self.check_identity(r, &body, Some(name)) {
            return e;
        }
        if let Some(rv) = body.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            && Some(rv) != old.pointer("/metadata/resourceVersion").and_then(Value::as_str)
        {
            return status(
                StatusCode::CONFLICT,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {}: the object has been modified; please apply your changes to the latest version and try again",
                    r.describe(name)
                ),
                Some(r.details(name)),
            );
        }
        let new = if r.on_status() { with_status_from(old.clone(), &body) } else { with_status_from(body, &old) };
        let new = ssa::update(&old, &new, &r.manager(), &now(), &ssa::Schema::default());
        self.commit(r, &key, Some(&old), new)
    }

    fn patch(&mut self, r: &Request, name: &str) -> Response {
        let key = r.key(name);
        let live = self.objects.get(&key).cloned();
        let media = r.content_type.split(';').next().unwrap_or_default().trim().to_string();
        if media == "application/apply-patch+yaml" {
            return self.apply(r, name, live);
        }
        let Some(old) = live else { return r.not_found(name) };
        let patch = match r.body_value() {
            Ok(p) => p,
            Err(e) => return e,
        };
        let patched = match media.as_str() {
            "application/merge-patch+json" => {
                let mut new = old.clone();
                merge_patch(&mut new, &patch);
                Ok(new)
            }
            "application/json-patch+json" => flotilla_core::json_patch::apply(&old, &patch).map_err(patch::Error::from),
            "application/strategic-merge-patch+json" if self.registry.is_built_in(&r.ty) => {
                patch::strategic_merge(&old, &patch)
            }
            _ => {
                let accepted = if self.registry.is_built_in(&r.ty) {
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                } else {
                    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                };
                return status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    &format!(
                        "the body of the request was in an unknown format - accepted media types include: {accepted}"
                    ),
                    None,
                );
            }
        };
        let new = match patched {
            Ok(new) if new.is_object() => new,
            Ok(_) => return bad_request("the patch made the object something other than an object"),
            Err(e) => {
                return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e.to_string(), Some(r.details(name)));
            }
        };
        let new = if r.on_status() { with_status_from(old.clone(), &new) } else { with_status_from(new, &old) };
        if let Err(e) = self.check_identity(r, &new, Some(name)) {
            return e;
        }
        let new = ssa::update(&old, &new, &r.manager(), &now(), &ssa::Schema::default());
        self.commit(r, &key, Some(&old), new)
    }

    /// Server-side apply: creates when missing.
    fn apply(&mut self, r: &Request, name: &str, live: Option<Value>) -> Response {
        let Some(manager) = r.q.get("fieldManager").cloned() else {
            return status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                None,
            );
        };
        let patch = match r.body_object() {
            Ok(p) => p,
            Err(e) => return e,
        };
        let force = r.q.get("force").is_some_and(|f| f == "true");
        if let Err(e) = self.check_identity(r, &patch, Some(name)) {
            return e;
        }
        let merged = match ssa::apply(live.as_ref(), &patch, &manager, force, &now(), &ssa::Schema::default()) {
            Ok(m) => m,
            Err(ssa::Error::Conflicts(c)) => {
                let causes: Vec<Value> =
                    c.0.iter()
                        .map(|x| json!({"reason": "FieldManagerConflict", "message": x.message(), "field": x.field}))
                        .collect();
                let mut details = r.details(name);
                details["causes"] = json!(causes);
                return status(StatusCode::CONFLICT, "Conflict", &c.to_string(), Some(details));
            }
            Err(e) => {
                return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e.to_string(), Some(r.details(name)));
            }
        };
        let key = r.key(name);
        match live {
            None if r.on_status() => r.not_found(name),
            None => self.commit(r, &key, None, merged),
            Some(old) => {
                let new = if r.on_status() { with_status_from(old.clone(), &merged) } else { merged };
                self.commit(r, &key, Some(&old), new)
            }
        }
    }

    fn delete(&mut self, r: &Request, name: &str) -> Response {
        let key = r.key(name);
        let Some(object) = self.objects.get(&key).cloned() else { return r.not_found(name) };
        if let Ok(options) = serde_json::from_slice::<Value>(&r.body) {
            for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
                let wanted = options.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str);
                let actual = object.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).unwrap_or_default();
                if let Some(wanted) = wanted
                    && wanted != actual
                {
                    let message = format!(
                        "Operation cannot be fulfilled on {}: Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {actual}",
                        r.describe(name)
                    );
                    return status(StatusCode::CONFLICT, "Conflict", &message, Some(r.details(name)));
                }
            }
        }
        if r.ty.group.is_empty() && r.ty.kind == "Namespace" {
            self.terminate_namespace(name);
            // The namespace, Terminating or already gone.
            let state = self.objects.get(&key).cloned().unwrap_or(object);
            return ok(StatusCode::OK, state);
        }
        match self.delete_object(&key) {
            Some((true, gone)) if r.ty.kind == "Pod" => ok(StatusCode::OK, gone),
            Some((true, gone)) => deleted(r, &gone),
            Some((false, pending)) => ok(StatusCode::OK, pending),
            None => r.not_found(name),
        }
    }

    /// `deletecollection`: every object the selectors match, each as a single delete would.
    fn delete_collection(&mut self, r: &Request) -> Response {
        let (labels, fields) = match r.selectors() {
            Ok(s) => s,
            Err(e) => return e,
        };
        let keys: Vec<Key> = self.selected(r, &labels, &fields).map(|(k, _)| k.clone()).collect();
        for key in &keys {
            self.delete_object(key);
        }
        ok(StatusCode::OK, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}))
    }

    /// Deletes an object, or with finalizers marks it deleted and leaves it to them. Returns
    /// whether it is gone, and its last state.
    fn delete_object(&mut self, key: &Key) -> Option<(bool, Value)> {
        let object = self.objects.get(key)?.clone();
        if finalizers(&object).is_empty() {
            let gone = self.take(key)?;
            self.after_removal(key);
            return Some((true, gone));
        }
        if being_deleted(&object) {
            return Some((false, object));
        }
        let mut marked = object;
        let rv = self.next_version();
        let md = metadata(&mut marked);
        md.insert("deletionTimestamp".into(), json!(now()));
        md.insert("deletionGracePeriodSeconds".into(), json!(0));
        md.insert("resourceVersion".into(), json!(rv));
        self.put(key.clone(), marked.clone(), "MODIFIED");
        Some((false, marked))
    }

    /// Marks a namespace Terminating, deletes what it holds, and removes it once it is empty.
    fn terminate_namespace(&mut self, name: &str) {
        let key = namespace_key(name);
        let Some(mut ns) = self.objects.get(&key).cloned() else { return };
        if !being_deleted(&ns) {
            let rv = self.next_version();
            metadata(&mut ns).insert("deletionTimestamp".into(), json!(now()));
            metadata(&mut ns).insert("deletionGracePeriodSeconds".into(), json!(0));
            metadata(&mut ns).insert("resourceVersion".into(), json!(rv));
            ns["status"] = json!({"phase": "Terminating"});
            self.put(key.clone(), ns, "MODIFIED");
        }
        let inside: Vec<Key> = self.objects.keys().filter(|(_, _, n, _)| n == name).cloned().collect();
        for k in inside {
            self.delete_object(&k);
        }
        self.finish_namespace(name);
    }

    /// Removes a terminating namespace that holds nothing and has no finalizers left.
    fn finish_namespace(&mut self, name: &str) {
        let key = namespace_key(name);
        let done = self.objects.get(&key).is_some_and(|ns| being_deleted(ns) && finalizers(ns).is_empty())
            && !self.objects.keys().any(|(_, _, n, _)| n == name);
        if done {
            self.take(&key);
        }
    }

    /// After an object is gone: its namespace may be waiting for it.
    fn after_removal(&mut self, key: &Key) {
        if !key.2.is_empty() {
            self.finish_namespace(&key.2.clone());
        }
    }
}

/// A `422 Invalid` with one cause per field.
fn invalid(r: &Request, name: &str, causes: &[validate::Cause]) -> Response {
    let message = validate::message(&r.ty.kind, &r.ty.group, name, causes);
    let causes: Vec<Value> =
        causes.iter().map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field})).collect();
    status(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        &message,
        Some(json!({"name": name, "group": r.ty.group, "kind": r.ty.kind, "causes": causes})),
    )
}

fn metadata(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"].as_object_mut().expect("made a mapping above")
}

/// `target` with the `status` of `source` (or none, if `source` has none). A write to the main
/// resource keeps the stored status; a write to `/status` takes only the written one.
fn with_status_from(mut target: Value, source: &Value) -> Value {
    match source.get("status") {
        Some(s) => target["status"] = s.clone(),
        None => {
            if let Some(m) = target.as_object_mut() {
                m.remove("status");
            }
        }
    }
    target
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("made a mapping above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The current time as RFC 3339 in UTC, to the second, as Kubernetes writes timestamps.
fn now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    flotilla_core::calendar::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}
