//! The HTTP surface: discovery, get, list, create, replace, patch (server-side apply and merge
//! patch), delete and the `status` subresource, over an in-memory store, with Kubernetes'
//! `Status` error bodies. Served on 127.0.0.1 by [`TestServer`], or in-process as an axum
//! [`Router`] (a tower service).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};
use crate::ssa;

/// How many past events a watch can resume from; older versions get `410 Gone`.
const HISTORY: usize = 1_000;

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

/// Everything the server holds.
#[derive(Debug)]
struct Store {
    registry: Registry,
    /// (group, plural, namespace, name) → object.
    objects: BTreeMap<(String, String, String, String), Value>,
    resource_version: u64,
    uids: u64,
    /// The last [`HISTORY`] events, oldest first, for watches that resume.
    history: std::collections::VecDeque<Event>,
    /// Live events for open watches.
    events: tokio::sync::broadcast::Sender<Event>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            resource_version: 0,
            uids: 0,
            history: std::collections::VecDeque::new(),
            events: tokio::sync::broadcast::channel(HISTORY).0,
        }
    }
}

type Shared = Arc<Mutex<Store>>;

/// The API as an axum router, for in-process use (one per simulated cluster).
pub fn router() -> Router {
    let shared: Shared = Arc::new(Mutex::new(Store::default()));
    Router::new().fallback(handle).with_state(shared)
}

/// A server on 127.0.0.1 with its own runtime thread; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts on a free port and returns once it accepts connections.
    pub fn start() -> std::io::Result<TestServer> {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts on `addr` (`127.0.0.1:6443`, or port 0 for a free one).
    pub fn start_on(addr: &str) -> std::io::Result<TestServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a tokio runtime for the test server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                // Stopping drops the runtime, which ends open watches too (a graceful drain
                // would wait for each watch's timeout).
                tokio::select! {
                    _ = axum::serve(listener, router()) => {}
                    _ = rx => {}
                }
            });
        });
        Ok(TestServer { url, shutdown: Some(tx), thread: Some(thread) })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
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

async fn handle(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut store = shared.lock().expect("the store lock is never poisoned: handlers do not panic");
    let q = query(&uri);
    let Some(route) = route(&store, uri.path()) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None);
    };
    match route {
        Route::Version => ok(
            StatusCode::OK,
            json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-flotilla-testserver", "platform": "linux/amd64"}),
        ),
        Route::CoreVersions => ok(
            StatusCode::OK,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        Route::Groups => ok(StatusCode::OK, store.registry.group_list()),
        Route::Resources { group, version } => match store.registry.resource_list(&group, &version) {
            Some(list) => ok(StatusCode::OK, list),
            None => status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource", None),
        },
        Route::Objects { ty, namespace, name, sub } => {
            let content_type =
                headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let request = Request { ty, namespace, name, sub, q, content_type, body };
            store.serve(&method, &request)
        }
    }
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
}

impl Request {
    fn key(&self, name: &str) -> (String, String, String, String) {
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
}

impl Store {
    /// Stores an object whose resourceVersion was just stamped, and tells the watches.
    fn put(&mut self, key: (String, String, String, String), object: Value, kind: &'static str) {
        self.record(&key, kind, object.clone());
        self.objects.insert(key, object);
    }

    /// Removes an object, with a fresh resourceVersion on the deletion event.
    fn take(&mut self, key: &(String, String, String, String)) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        let rv = self.next_version();
        metadata(&mut object).insert("resourceVersion".into(), json!(rv));
        self.record(key, "DELETED", object.clone());
        Some(object)
    }

    fn record(&mut self, key: &(String, String, String, String), kind: &'static str, object: Value) {
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
        let selector = r.q.get("labelSelector").cloned().unwrap_or_default();
        let (group, plural, namespace) = (r.ty.group.clone(), r.ty.plural.clone(), r.namespace.clone());
        let wanted = move |e: &Event| {
            e.group == group
                && e.plural == plural
                && namespace.as_ref().is_none_or(|n| *n == e.namespace)
                && labels_match(&selector, e.object.pointer("/metadata/labels"))
        };
        let since = r.q.get("resourceVersion").map(String::as_str).unwrap_or_default();
        let mut initial: Vec<Value> = Vec::new();
        if since.is_empty() || since == "0" {
            for ((g, p, ns, _), o) in &self.objects {
                let e = Event {
                    resource_version: 0,
                    kind: "ADDED",
                    group: g.clone(),
                    plural: p.clone(),
                    namespace: ns.clone(),
                    object: o.clone(),
                };
                if wanted(&e) {
                    initial.push(json!({"type": "ADDED", "object": o}));
                }
            }
        } else {
            let since: u64 = since.parse().unwrap_or(0);
            let oldest = self.history.front().map_or(self.resource_version + 1, |e| e.resource_version);
            if since + 1 < oldest && self.history.len() == HISTORY {
                let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("too old resource version: {since} ({})", oldest - 1), "reason": "Expired", "code": 410});
                initial.push(json!({"type": "ERROR", "object": gone}));
            } else {
                initial.extend(
                    self.history
                        .iter()
                        .filter(|e| e.resource_version > since && wanted(e))
                        .map(|e| json!({"type": e.kind, "object": e.object})),
                );
            }
        }
        let closed_at_once = initial.iter().any(|e| e["type"] == "ERROR");
        let mut feed = self.events.subscribe();
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

    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn serve(&mut self, method: &Method, r: &Request) -> Response {
        if r.ty.namespaced && r.namespace.is_none() && r.name.is_some() {
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
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                None,
            ),
        }
    }

    fn list(&self, r: &Request) -> Response {
        let selector = r.q.get("labelSelector").cloned().unwrap_or_default();
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((g, p, ns, _), _)| {
                *g == r.ty.group && *p == r.ty.plural && r.namespace.as_ref().is_none_or(|want| want == ns)
            })
            .map(|(_, o)| o.clone())
            .filter(|o| labels_match(&selector, o.pointer("/metadata/labels")))
            .collect();
        // Pages: `continue` is the offset into the (stable, key-ordered) result, as text.
        let offset: usize = r.q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = r.q.get("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX);
        let total = items.len();
        let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
        let mut list_meta = json!({"resourceVersion": self.resource_version.to_string()});
        if offset.saturating_add(page.len()) < total {
            list_meta["continue"] = json!((offset + page.len()).to_string());
            list_meta["remainingItemCount"] = json!(total - offset - page.len());
        }
        ok(
            StatusCode::OK,
            json!({"kind": format!("{}List", r.ty.kind), "apiVersion": r.ty.api_version(), "metadata": list_meta, "items": page}),
        )
    }

    #[expect(clippy::result_large_err, reason = "the error is the HTTP response itself, made once per request")]
    fn parse_body(r: &Request) -> Result<Value, Response> {
        serde_json::from_slice::<Value>(&r.body)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| status(StatusCode::BAD_REQUEST, "BadRequest", "the request body is not a JSON object", None))
    }

    /// Checks the identity fields of a body against the request; the name it names.
    #[expect(clippy::result_large_err, reason = "the error is the HTTP response itself, made once per request")]
    fn check_identity(&self, r: &Request, object: &Value, name_in_path: Option<&str>) -> Result<String, Response> {
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
        if api_version != r.ty.api_version() || kind != r.ty.kind {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "the API version in the data ({api_version}) and kind ({kind}) do not match {}/{}",
                    r.ty.api_version(),
                    r.ty.kind
                ),
                None,
            ));
        }
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(path_name) = name_in_path
            && !name.is_empty()
            && name != path_name
        {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "the name of the object does not match the name on the URL",
                None,
            ));
        }
        let name = if name.is_empty() { name_in_path.unwrap_or_default().to_string() } else { name };
        if !valid_name(&name) {
            return Err(status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                &format!(
                    "{} {name:?} is invalid: metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
                    r.ty.kind
                ),
                Some(r.details(&name)),
            ));
        }
        if let Some(ns) = object.pointer("/metadata/namespace").and_then(Value::as_str)
            && r.namespace.as_deref().is_some_and(|want| want != ns)
        {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
                None,
            ));
        }
        if r.ty.namespaced {
            let ns = r.namespace.clone().unwrap_or_default();
            if !self.objects.contains_key(&(String::new(), "namespaces".into(), String::new(), ns.clone())) {
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

    /// Fills in what the server owns on a new object.
    fn stamp_new(&mut self, r: &Request, object: &mut Value, name: &str) {
        self.uids += 1;
        let rv = self.next_version();
        let md = metadata(object);
        md.insert("name".into(), json!(name));
        if let Some(ns) = &r.namespace {
            md.insert("namespace".into(), json!(ns));
        }
        md.insert("uid".into(), json!(format!("00000000-0000-4000-8000-{:012x}", self.uids)));
        md.insert("resourceVersion".into(), json!(rv));
        md.insert("creationTimestamp".into(), json!(now()));
        md.insert("generation".into(), json!(1));
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

    fn create(&mut self, r: &Request) -> Response {
        let mut object = match Self::parse_body(r) {
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
        object = ssa::update(&Value::Null, &object, &r.manager(), &now(), &ssa::Schema::default());
        self.stamp_new(r, &mut object, &name);
        self.after_write(r, &mut object);
        self.put(key, object.clone(), "ADDED");
        ok(StatusCode::CREATED, object)
    }

    /// Stores `new` in place of `old`, keeping what the server owns and counting generations.
    fn store_update(
        &mut self,
        r: &Request,
        key: (String, String, String, String),
        old: &Value,
        mut new: Value,
    ) -> Response {
        let rv = self.next_version();
        for field in ["uid", "creationTimestamp", "name", "namespace"] {
            if let Some(v) = old.pointer(&format!("/metadata/{field}")) {
                metadata(&mut new).insert(field.into(), v.clone());
            }
        }
        let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let changed_spec = old.get("spec") != new.get("spec");
        metadata(&mut new).insert("generation".into(), json!(if changed_spec { generation + 1 } else { generation }));
        metadata(&mut new).insert("resourceVersion".into(), json!(rv));
        self.after_write(r, &mut new);
        self.put(key, new.clone(), "MODIFIED");
        ok(StatusCode::OK, new)
    }

    fn replace(&mut self, r: &Request, name: &str) -> Response {
        let key = r.key(name);
        let Some(old) = self.objects.get(&key).cloned() else { return r.not_found(name) };
        let body = match Self::parse_body(r) {
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
        let new = if r.sub.as_deref() == Some("status") {
            with_status_from(old.clone(), &body)
        } else {
            with_status_from(body, &old)
        };
        let new = ssa::update(&old, &new, &r.manager(), &now(), &ssa::Schema::default());
        self.store_update(r, key, &old, new)
    }

    fn patch(&mut self, r: &Request, name: &str) -> Response {
        let key = r.key(name);
        let live = self.objects.get(&key).cloned();
        let Ok(patch) = serde_json::from_slice::<Value>(&r.body) else {
            return status(StatusCode::BAD_REQUEST, "BadRequest", "the patch is not valid JSON", None);
        };
        let media = r.content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/apply-patch+yaml" => {
                let Some(manager) = r.q.get("fieldManager").cloned() else {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                        None,
                    );
                };
                let force = r.q.get("force").is_some_and(|f| f == "true");
                if let Err(e) = self.check_identity(r, &patch, Some(name)) {
                    return e;
                }
                let merged = match ssa::apply(live.as_ref(), &patch, &manager, force, &now(), &ssa::Schema::default()) {
                    Ok(m) => m,
                    Err(ssa::Error::Conflicts(c)) => {
                        let causes: Vec<Value> = c
                            .0
                            .iter()
                            .map(
                                |x| json!({"reason": "FieldManagerConflict", "message": x.message(), "field": x.field}),
                            )
                            .collect();
                        return status(
                            StatusCode::CONFLICT,
                            "Conflict",
                            &c.to_string(),
                            Some(json!({"name": name, "group": r.ty.group, "kind": r.ty.plural, "causes": causes})),
                        );
                    }
                    Err(e) => {
                        return status(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "Invalid",
                            &e.to_string(),
                            Some(r.details(name)),
                        );
                    }
                };
                match live {
                    None => {
                        let mut object = merged;
                        self.stamp_new(r, &mut object, name);
                        self.after_write(r, &mut object);
                        self.put(key, object.clone(), "ADDED");
                        ok(StatusCode::CREATED, object)
                    }
                    Some(old) => {
                        let new = if r.sub.as_deref() == Some("status") {
                            with_status_from(old.clone(), &merged)
                        } else {
                            merged
                        };
                        self.store_update(r, key, &old, new)
                    }
                }
            }
            "application/merge-patch+json" => {
                let Some(old) = live else { return r.not_found(name) };
                let mut new = old.clone();
                merge_patch(&mut new, &patch);
                let new = if r.sub.as_deref() == Some("status") {
                    with_status_from(old.clone(), &new)
                } else {
                    with_status_from(new, &old)
                };
                let new = ssa::update(&old, &new, &r.manager(), &now(), &ssa::Schema::default());
                self.store_update(r, key, &old, new)
            }
            other => status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml, application/merge-patch+json (not {other:?})"
                ),
                None,
            ),
        }
    }

    fn delete(&mut self, r: &Request, name: &str) -> Response {
        let key = r.key(name);
        if !self.objects.contains_key(&key) {
            return r.not_found(name);
        }
        if r.ty.kind == "Namespace" {
            // Its objects go with it (the namespace controller's work, done at once here).
            let inside: Vec<_> = self.objects.keys().filter(|(_, _, ns, _)| ns == name).cloned().collect();
            for k in inside {
                self.take(&k);
            }
        }
        let object = self.take(&key).expect("checked above");
        ok(StatusCode::OK, object)
    }
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// Equality-based label selectors (`a=b`, `a==b`, `a!=b`), `key` and `!key`.
fn labels_match(selector: &str, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            get(k.trim()).is_none()
        } else {
            get(term).is_some()
        }
    })
}

/// The current time as RFC 3339 in UTC, to the second, as Kubernetes writes timestamps.
fn now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, (rem % 3_600) / 60, rem % 60)
}
