//! The test server's responses against real kube-apiserver responses recorded from Kubernetes'
//! documentation and source (`tests/data/fixtures`, provenance in its README.md). Each test makes
//! the request the fixture answers, over real HTTP on 127.0.0.1, and checks that the answer has the
//! fixture's shape (every key a real response has, with the same JSON type) and the values clients
//! rely on. A hand-written HTTP/1.1 client keeps the bytes on the wire in view: a watch must be one
//! JSON object per line. This is not a test of behaviour (tests/kube_client.rs is).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use kube_testserver::TestServer;
use serde_json::{Map, Value, json};

/// Keys of real responses that the test server leaves out on purpose.
const NOT_SERVED: &[&str] = &[
    // An APIResource's hash of its storage version, there for the storage version migrator to
    // notice a change of storage version. Nothing is stored here, so nothing can migrate; the key is
    // optional in real documents too (subresources never have it).
    "storageVersionHash",
];

fn fixture(name: &str) -> Value {
    let text = fixture_text(name);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

fn fixture_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where `ours` lacks the shape of `real`: a key of `real` missing from `ours`, or a value of
/// another JSON type. Keys only `ours` has are not differences. Arrays are compared by their
/// elements: each of ours against the real element with the same `name` (or `groupVersion`), or
/// else against what every real element has.
fn shape(real: &Value, ours: &Value) -> Vec<String> {
    let mut differences = Vec::new();
    compare(real, ours, "$", &mut differences);
    differences
}

fn compare(real: &Value, ours: &Value, path: &str, differences: &mut Vec<String>) {
    match (real, ours) {
        (Value::Object(real), Value::Object(ours)) => {
            for (key, real_value) in real {
                let here = format!("{path}.{key}");
                match ours.get(key) {
                    Some(value) => compare(real_value, value, &here, differences),
                    None if NOT_SERVED.contains(&key.as_str()) => {}
                    None => differences.push(format!("{here}: missing (real: {})", type_of(real_value))),
                }
            }
        }
        (Value::Array(real), Value::Array(ours)) => compare_elements(real, ours, path, differences),
        _ if type_of(real) != type_of(ours) => {
            differences.push(format!("{path}: {} (real: {})", type_of(ours), type_of(real)));
        }
        _ => {}
    }
}

fn compare_elements(real: &[Value], ours: &[Value], path: &str, differences: &mut Vec<String>) {
    // An empty real array says nothing about its elements.
    let Some(first) = real.first() else { return };
    if ours.is_empty() {
        differences.push(format!("{path}: empty (real: {} elements)", real.len()));
    }
    let common = common_keys(real).unwrap_or_else(|| first.clone());
    for (i, element) in ours.iter().enumerate() {
        let id = identity(element);
        let here = format!("{path}[{}]", id.map_or_else(|| i.to_string(), str::to_string));
        let twin = id.and_then(|id| real.iter().find(|r| identity(r) == Some(id)));
        compare(twin.unwrap_or(&common), element, &here, differences);
    }
}

/// What names an element of a list in discovery documents.
fn identity(element: &Value) -> Option<&str> {
    ["name", "groupVersion"].iter().find_map(|key| element.get(key)).and_then(Value::as_str)
}

/// The keys that every element has (with the first element's values), if all are objects.
fn common_keys(elements: &[Value]) -> Option<Value> {
    let objects: Vec<&Map<String, Value>> = elements.iter().map(Value::as_object).collect::<Option<_>>()?;
    let common = objects
        .first()?
        .iter()
        .filter(|(key, _)| objects.iter().all(|o| o.contains_key(*key)))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    Some(Value::Object(common))
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn shape_reports_missing_keys_other_types_and_element_shapes_but_not_extra_keys() {
    let real = json!({"kind": "X", "n": 1, "storageVersionHash": "h", "resources": [
        {"name": "a", "verbs": ["get"], "categories": ["all"]},
        {"name": "a/status", "verbs": ["get"]},
    ]});
    let ours = json!({"kind": "X", "n": "1", "extra": true, "resources": [
        {"name": "a", "verbs": ["get", 2]},
        {"name": "b", "verbs": []},
    ]});
    assert_eq!(
        shape(&real, &ours),
        [
            "$.n: string (real: number)",
            "$.resources[a].categories: missing (real: array)",
            "$.resources[a].verbs[1]: number (real: string)",
            "$.resources[b].verbs: empty (real: 1 elements)",
        ]
    );
}

/// Every difference from the real server found in one test, so that a run lists them all.
#[derive(Default)]
struct Differences(Vec<String>);

impl Differences {
    fn shape(&mut self, fixture: &str, real: &Value, ours: &Value) {
        self.0.extend(shape(real, ours).into_iter().map(|d| format!("{fixture}: {d}")));
    }

    fn same(&mut self, what: &str, ours: &Value, real: &Value) {
        if ours != real {
            self.0.push(format!("{what}: we serve {ours}, real: {real}"));
        }
    }

    fn holds(&mut self, holds: bool, what: &str) {
        if !holds {
            self.0.push(what.to_string());
        }
    }

    fn assert_none(&self) {
        assert!(self.0.is_empty(), "the test server differs from kube-apiserver:\n  {}", self.0.join("\n  "));
    }
}

/// An HTTP response: the status code and the (de-chunked) body.
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("a {} reply that is not JSON ({e}): {}", self.status, self.body))
    }
}

/// One HTTP/1.1 exchange on a fresh connection, read until the server closes it.
fn request(server: &TestServer, method: &str, path: &str, content_type: &str, body: &str) -> Reply {
    let address = server.url.strip_prefix("http://").expect("the test server speaks plain HTTP");
    let mut stream = TcpStream::connect(address).expect("the test server accepts connections");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("a read timeout");
    let content_type =
        if content_type.is_empty() { String::new() } else { format!("Content-Type: {content_type}\r\n") };
    let length = body.len();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{content_type}Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("the request head is sent");
    stream.write_all(body.as_bytes()).expect("the request body is sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a response, ended by closing the connection");

    let end_of_head = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = std::str::from_utf8(&raw[..end_of_head]).expect("an ASCII response head").to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let chunked = head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = &raw[end_of_head + 4..];
    let body = if chunked { dechunk(body) } else { body.to_vec() };
    Reply { status, body: String::from_utf8(body).expect("a UTF-8 body") }
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let line = std::str::from_utf8(&rest[..end]).expect("an ASCII chunk size line");
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).expect("a hexadecimal chunk size");
        rest = &rest[end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn get(server: &TestServer, path: &str) -> Reply {
    request(server, "GET", path, "", "")
}

fn post(server: &TestServer, path: &str, object: &Value) -> Reply {
    let reply = request(server, "POST", path, "application/json", &object.to_string());
    assert_eq!(reply.status, 201, "creating {object}: {}", reply.body);
    reply
}

/// A server-side apply of `object` (JSON is YAML) as `manager`, without force.
fn apply(server: &TestServer, path: &str, manager: &str, object: &Value) -> Reply {
    let path = format!("{path}?fieldManager={manager}");
    request(server, "PATCH", &path, "application/apply-patch+yaml", &object.to_string())
}

fn create_namespace(server: &TestServer, name: &str) {
    post(server, "/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}));
}

/// A Deployment a real API server accepts (selector and pod template included).
fn deployment(name: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
    })
}

/// The shape and the values every `Status` failure shares, and the HTTP status code it rides on.
fn status_values(d: &mut Differences, fixture_name: &str, real: &Value, reply: &Reply) -> Value {
    let ours = reply.json();
    d.shape(fixture_name, real, &ours);
    for key in ["kind", "apiVersion", "status", "reason", "code"] {
        d.same(&format!("{fixture_name}: $.{key}"), &ours[key], &real[key]);
    }
    d.same(&format!("{fixture_name}: HTTP status"), &json!(reply.status), &real["code"]);
    ours
}

/// Discovery values a client acts on, for each of our resources that the real document lists
/// too; and every `/status` subresource the real document has for a resource we serve.
fn resource_values(d: &mut Differences, fixture_name: &str, real: &Value, ours: &Value) {
    let real_resources = real["resources"].as_array().expect("a real APIResourceList");
    let our_resources = ours["resources"].as_array().cloned().unwrap_or_default();
    let named = |list: &[Value], name: &str| list.iter().find(|r| r["name"] == name).cloned();
    for resource in &our_resources {
        let name = resource["name"].as_str().unwrap_or_default();
        let Some(twin) = named(real_resources, name) else { continue };
        for key in ["kind", "namespaced", "singularName"] {
            d.same(&format!("{fixture_name}: $.resources[{name}].{key}"), &resource[key], &twin[key]);
        }
        // Real documents leave out an empty list of short names.
        let short_names = |r: &Value| r.get("shortNames").cloned().unwrap_or_else(|| json!([]));
        d.same(&format!("{fixture_name}: $.resources[{name}].shortNames"), &short_names(resource), &short_names(&twin));
        let real_verbs = twin["verbs"].as_array().cloned().unwrap_or_default();
        for verb in resource["verbs"].as_array().into_iter().flatten() {
            d.holds(
                real_verbs.contains(verb),
                &format!("{fixture_name}: $.resources[{name}].verbs: {verb} is not a real verb of {name}"),
            );
        }
        let status = format!("{name}/status");
        if !name.contains('/') && named(real_resources, &status).is_some() {
            d.holds(
                named(&our_resources, &status).is_some(),
                &format!("{fixture_name}: $.resources: {status} missing"),
            );
        }
    }
}

#[test]
fn version_has_the_fields_of_a_real_version_info() {
    let server = TestServer::start().unwrap();
    let real = fixture("version.json");
    let reply = get(&server, "/version");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    d.shape("version.json", &real, &ours);
    let (major, minor) = (ours["major"].as_str().unwrap_or_default(), ours["minor"].as_str().unwrap_or_default());
    d.holds(!major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()), "version.json: $.major is not a number");
    let git_version = ours["gitVersion"].as_str().unwrap_or_default();
    d.holds(
        git_version.starts_with(&format!("v{major}.{minor}.")),
        "version.json: $.gitVersion does not match major.minor",
    );
    d.assert_none();
}

#[test]
fn core_versions_match_a_real_api_document() {
    let server = TestServer::start().unwrap();
    let real = fixture("api.json");
    let reply = get(&server, "/api");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    d.shape("api.json", &real, &ours);
    d.same("api.json: $.kind", &ours["kind"], &real["kind"]);
    d.same("api.json: $.versions", &ours["versions"], &real["versions"]);
    d.assert_none();
}

#[test]
fn group_list_matches_a_real_apis_document() {
    let server = TestServer::start().unwrap();
    let real = fixture("apis.json");
    let reply = get(&server, "/apis");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    d.shape("apis.json", &real, &ours);
    d.same("apis.json: $.kind", &ours["kind"], &real["kind"]);
    d.same("apis.json: $.apiVersion", &ours["apiVersion"], &real["apiVersion"]);
    let real_groups = real["groups"].as_array().expect("real groups");
    for group in ours["groups"].as_array().into_iter().flatten() {
        let name = group["name"].as_str().unwrap_or_default();
        // The core group is served at /api, never in this list.
        d.holds(!name.is_empty(), "apis.json: $.groups has the core group");
        let versions = group["versions"].as_array().cloned().unwrap_or_default();
        for version in &versions {
            let expected = json!(format!("{name}/{}", version["version"].as_str().unwrap_or_default()));
            d.same(&format!("apis.json: $.groups[{name}].versions.groupVersion"), &version["groupVersion"], &expected);
        }
        d.holds(
            versions.contains(&group["preferredVersion"]),
            &format!("apis.json: $.groups[{name}]: preferredVersion not among versions"),
        );
        if let Some(twin) = real_groups.iter().find(|g| g["name"] == name) {
            d.same(
                &format!("apis.json: $.groups[{name}].preferredVersion"),
                &group["preferredVersion"],
                &twin["preferredVersion"],
            );
        }
    }
    d.assert_none();
}

#[test]
fn core_resources_match_a_real_api_v1_document() {
    let server = TestServer::start().unwrap();
    let real = fixture("api__v1.json");
    let reply = get(&server, "/api/v1");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    // Includes `categories: ["all"]` on pods and services (what `kubectl get all` lists).
    d.shape("api__v1.json", &real, &ours);
    d.same("api__v1.json: $.kind", &ours["kind"], &real["kind"]);
    d.same("api__v1.json: $.groupVersion", &ours["groupVersion"], &real["groupVersion"]);
    resource_values(&mut d, "api__v1.json", &real, &ours);
    d.assert_none();
}

#[test]
fn apps_resources_match_a_real_apps_v1_document() {
    let server = TestServer::start().unwrap();
    let real = fixture("apis__apps__v1.json");
    let reply = get(&server, "/apis/apps/v1");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    // Includes `categories: ["all"]` on deployments, statefulsets and daemonsets.
    d.shape("apis__apps__v1.json", &real, &ours);
    for key in ["kind", "apiVersion", "groupVersion"] {
        d.same(&format!("apis__apps__v1.json: $.{key}"), &ours[key], &real[key]);
    }
    resource_values(&mut d, "apis__apps__v1.json", &real, &ours);
    d.assert_none();
}

/// The fixture ConfigMap as a client would send it: without what the server fills in.
fn config_map_to_create(real: &Value, name: &str) -> Value {
    json!({"apiVersion": real["apiVersion"], "kind": real["kind"], "metadata": {"name": name}, "data": real["data"]})
}

#[test]
fn an_object_read_back_matches_a_real_config_map() {
    let server = TestServer::start().unwrap();
    let real = fixture("configmap.json");
    let namespace = real["metadata"]["namespace"].as_str().expect("a namespaced fixture");
    create_namespace(&server, namespace);
    post(&server, &format!("/api/v1/namespaces/{namespace}/configmaps"), &config_map_to_create(&real, "game-config"));

    let reply = get(&server, &format!("/api/v1/namespaces/{namespace}/configmaps/game-config"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    d.shape("configmap.json", &real, &ours);
    for pointer in ["/apiVersion", "/kind", "/metadata/name", "/metadata/namespace", "/data"] {
        d.same(
            &format!("configmap.json: {pointer}"),
            &ours.pointer(pointer).cloned().unwrap_or_default(),
            &real.pointer(pointer).cloned().unwrap_or_default(),
        );
    }
    d.assert_none();
}

#[test]
fn a_list_page_matches_a_real_chunked_list() {
    let server = TestServer::start().unwrap();
    let real = fixture("list-chunked.json");
    let object = fixture("configmap.json");
    create_namespace(&server, "shop");
    for i in 0..3 {
        let mut cm = config_map_to_create(&object, &format!("game-config-{i}"));
        cm["metadata"]["labels"] = json!({"tier": "web"});
        post(&server, "/api/v1/namespaces/shop/configmaps", &cm);
    }

    let reply = get(&server, "/api/v1/namespaces/shop/configmaps?limit=1");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = reply.json();
    let mut d = Differences::default();
    d.shape("list-chunked.json", &real, &ours);
    for item in ours["items"].as_array().into_iter().flatten() {
        d.shape("list-chunked.json: $.items (as configmap.json)", &object, item);
    }
    d.same("list-chunked.json: $.kind", &ours["kind"], &json!("ConfigMapList"));
    d.same("list-chunked.json: $.apiVersion", &ours["apiVersion"], &real["apiVersion"]);
    d.holds(
        ours["metadata"]["continue"].as_str().is_some_and(|c| !c.is_empty()),
        "list-chunked.json: $.metadata.continue is empty on a first page",
    );
    d.same("list-chunked.json: $.metadata.remainingItemCount", &ours["metadata"]["remainingItemCount"], &json!(2));

    // The last page has neither a continue token nor a count (api-concepts: "If the list is complete
    // [...] the API server does not include a remainingItemCount field").
    let last = get(&server, "/api/v1/namespaces/shop/configmaps?limit=5").json();
    d.holds(
        last["metadata"]["continue"].as_str().is_none_or(str::is_empty),
        "list-chunked.json: a last page has a continue token",
    );
    d.holds(
        last["metadata"].get("remainingItemCount").is_none(),
        "list-chunked.json: a last page has remainingItemCount",
    );
    // With a label selector the count is unknown and left out (api-concepts: "If
    // the list request contained label or field selectors then the number of remaining items is
    // unknown and the API server does not include a remainingItemCount field").
    let selected = get(&server, "/api/v1/namespaces/shop/configmaps?limit=1&labelSelector=tier%3Dweb").json();
    d.holds(
        selected["metadata"].get("remainingItemCount").is_none(),
        "list-chunked.json: a page of a label-selected list has remainingItemCount",
    );
    d.assert_none();
}

#[test]
fn a_missing_object_is_a_real_404_status() {
    let server = TestServer::start().unwrap();
    let real = fixture("status-404.json");
    create_namespace(&server, "shop");
    let reply = get(&server, "/api/v1/namespaces/shop/configmaps/app");
    let mut d = Differences::default();
    let ours = status_values(&mut d, "status-404.json", &real, &reply);
    // `pods "grafana" not found` for the pod, so `configmaps "app" not found` for this ConfigMap.
    let message = real["message"].as_str().unwrap_or_default().replace("pods", "configmaps").replace("grafana", "app");
    d.same("status-404.json: $.message", &ours["message"], &json!(message));
    d.same("status-404.json: $.details.name", &ours["details"]["name"], &json!("app"));
    d.same("status-404.json: $.details.kind", &ours["details"]["kind"], &json!("configmaps"));
    d.assert_none();
}

#[test]
fn conflicting_appliers_get_a_real_server_side_apply_conflict() {
    let server = TestServer::start().unwrap();
    let real = fixture("status-409-conflict-ssa-applier.json");
    create_namespace(&server, "shop");
    let path = "/apis/apps/v1/namespaces/shop/deployments/web";
    let first = apply(&server, path, "bar", &deployment("web", 1));
    assert_eq!(first.status, 201, "{}", first.body);

    // Another applier, another value, no force: the fixture's conflict, word for word.
    let reply = apply(&server, path, "foo", &deployment("web", 2));
    let mut d = Differences::default();
    let ours = status_values(&mut d, "status-409-conflict-ssa-applier.json", &real, &reply);
    d.same("status-409-conflict-ssa-applier.json: $.message", &ours["message"], &real["message"]);
    d.same(
        "status-409-conflict-ssa-applier.json: $.details.causes",
        &ours["details"]["causes"],
        &real["details"]["causes"],
    );
    d.assert_none();
}

#[test]
fn an_apply_over_an_update_names_the_updater_and_its_api_version() {
    let server = TestServer::start().unwrap();
    let real = fixture("status-409-conflict-ssa-updater.json");
    create_namespace(&server, "shop");
    let path = "/apis/apps/v1/namespaces/shop/deployments/web";
    let applied = apply(&server, path, "flotilla", &deployment("web", 1));
    assert_eq!(applied.status, 201, "{}", applied.body);
    // What client-side `kubectl apply` does: a non-apply patch under its own manager name.
    let patch_path = format!("{path}?fieldManager=kubectl-client-side-apply");
    let updated = request(&server, "PATCH", &patch_path, "application/merge-patch+json", r#"{"spec":{"replicas":3}}"#);
    assert_eq!(updated.status, 200, "{}", updated.body);

    let reply = apply(&server, path, "flotilla", &deployment("web", 1));
    let mut d = Differences::default();
    let ours = status_values(&mut d, "status-409-conflict-ssa-updater.json", &real, &reply);
    d.same("status-409-conflict-ssa-updater.json: $.message", &ours["message"], &real["message"]);
    d.same(
        "status-409-conflict-ssa-updater.json: $.details.causes",
        &ours["details"]["causes"],
        &real["details"]["causes"],
    );
    d.assert_none();
}

#[test]
fn an_invalid_name_is_a_real_422_status_with_causes() {
    let server = TestServer::start().unwrap();
    let real = fixture("status-422-invalid.json");
    create_namespace(&server, "shop");
    let reply = request(
        &server,
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments",
        "application/json",
        &deployment("Bad_Name", 1).to_string(),
    );
    let mut d = Differences::default();
    let ours = status_values(&mut d, "status-422-invalid.json", &real, &reply);
    // The fixture's Lease `test_` is this test's Deployment `Bad_Name`.
    let as_ours =
        |text: &str| text.replace("Lease.coordination.k8s.io", "Deployment.apps").replace("test_", "Bad_Name");
    d.same(
        "status-422-invalid.json: $.message",
        &ours["message"],
        &json!(as_ours(real["message"].as_str().unwrap_or_default())),
    );
    d.same("status-422-invalid.json: $.details.name", &ours["details"]["name"], &json!("Bad_Name"));
    d.same("status-422-invalid.json: $.details.group", &ours["details"]["group"], &json!("apps"));
    // An Invalid status names the Kind, not the resource: NewInvalid takes a GroupKind.
    d.same("status-422-invalid.json: $.details.kind", &ours["details"]["kind"], &json!("Deployment"));
    let real_cause = &real["details"]["causes"][0];
    let cause = json!({"reason": real_cause["reason"], "message": as_ours(real_cause["message"].as_str().unwrap_or_default()), "field": real_cause["field"]});
    d.same("status-422-invalid.json: $.details.causes", &ours["details"]["causes"], &json!([cause]));
    d.assert_none();
}

/// The events of a watch body, checking that it is one JSON object per line.
fn watch_events(d: &mut Differences, body: &str) -> Vec<Value> {
    d.holds(body.ends_with('\n'), "watch.jsonl: the last event does not end its line");
    body.lines()
        .filter_map(|line| match serde_json::from_str::<Value>(line) {
            Ok(event) if event.is_object() => Some(event),
            _ => {
                d.holds(false, &format!("watch.jsonl: a line that is not one JSON object: {line}"));
                None
            }
        })
        .collect()
}

#[test]
fn a_watch_is_one_event_per_line_like_the_documented_stream() {
    let server = TestServer::start().unwrap();
    let real: Vec<Value> =
        fixture_text("watch.jsonl").lines().map(|l| serde_json::from_str(l).expect("a fixture event")).collect();
    let real_event = |kind: &str| real.iter().find(|e| e["type"] == kind).expect("a fixture event of that type");
    create_namespace(&server, "shop");
    let list = get(&server, "/api/v1/namespaces/shop/configmaps").json();
    let since = list["metadata"]["resourceVersion"].as_str().expect("a list resourceVersion").to_string();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}, "data": {"v": "1"}});
    post(&server, "/api/v1/namespaces/shop/configmaps", &cm);
    let patched = request(
        &server,
        "PATCH",
        "/api/v1/namespaces/shop/configmaps/one",
        "application/merge-patch+json",
        r#"{"data":{"v":"2"}}"#,
    );
    assert_eq!(patched.status, 200, "{}", patched.body);
    let deleted = request(&server, "DELETE", "/api/v1/namespaces/shop/configmaps/one", "", "");
    assert_eq!(deleted.status, 200, "{}", deleted.body);

    // The changes since the list replay at once; the watch then ends after its timeout, with a
    // bookmark or two (they come every second) on the way.
    let path = format!(
        "/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion={since}&allowWatchBookmarks=true&timeoutSeconds=2"
    );
    let reply = get(&server, &path);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut d = Differences::default();
    let events = watch_events(&mut d, &reply.body);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    d.holds(types.starts_with(&["ADDED", "MODIFIED", "DELETED"]), &format!("watch.jsonl: events {types:?}"));
    d.holds(types.contains(&"BOOKMARK"), &format!("watch.jsonl: no BOOKMARK in {types:?}"));
    for event in &events {
        let kind = event["type"].as_str().unwrap_or_default();
        let keys: Vec<&String> = event.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        d.holds(keys == ["object", "type"], &format!("watch.jsonl: a {kind} event with keys {keys:?}"));
        d.holds(
            ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"].contains(&kind),
            &format!("watch.jsonl: event type {kind}"),
        );
        // The documentation shows no DELETED event; it carries the object's last state, as ADDED does.
        let real = if kind == "DELETED" { real_event("ADDED") } else { real_event(kind) };
        d.shape(&format!("watch.jsonl ({kind})"), real, event);
        d.same(&format!("watch.jsonl ({kind}): $.object.kind"), &event["object"]["kind"], &json!("ConfigMap"));
        d.same(&format!("watch.jsonl ({kind}): $.object.apiVersion"), &event["object"]["apiVersion"], &json!("v1"));
        if kind == "BOOKMARK" {
            // api-concepts: a bookmark "only includes a .metadata.resourceVersion field".
            d.same(
                "watch.jsonl (BOOKMARK): $.object.metadata",
                &json!(event["object"]["metadata"].as_object().map(|m| m.keys().collect::<Vec<_>>())),
                &json!(["resourceVersion"]),
            );
        }
    }
    d.assert_none();
}

#[test]
fn a_watch_from_before_the_history_is_a_real_expired_error_event() {
    let server = TestServer::start().unwrap();
    let real = fixture("status-410-expired.json");
    create_namespace(&server, "shop");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "busy"}, "data": {"n": "0"}});
    post(&server, "/api/v1/namespaces/shop/configmaps", &cm);
    // The server keeps the last 1,000 events; this pushes version 1 out of them.
    for n in 1..=1_000 {
        let patch = json!({"data": {"n": n.to_string()}}).to_string();
        let reply = request(
            &server,
            "PATCH",
            "/api/v1/namespaces/shop/configmaps/busy",
            "application/merge-patch+json",
            &patch,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    // The real watch cache answers 200 and a single ERROR event, then ends the stream.
    let reply = get(&server, "/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=1&timeoutSeconds=5");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut d = Differences::default();
    let events = watch_events(&mut d, &reply.body);
    d.holds(events.len() == 1, &format!("status-410-expired.json: {} events, real: one", events.len()));
    let event = events.first().cloned().unwrap_or_default();
    d.same("status-410-expired.json: event type", &event["type"], &json!("ERROR"));
    let ours = &event["object"];
    d.shape("status-410-expired.json", &real, ours);
    for key in ["kind", "apiVersion", "status", "reason", "code"] {
        d.same(&format!("status-410-expired.json: $.{key}"), &ours[key], &real[key]);
    }
    // `too old resource version: %d (%d)`: the version asked for, then the last one forgotten.
    let message = ours["message"].as_str().unwrap_or_default();
    let oldest = message.strip_prefix("too old resource version: 1 (").and_then(|rest| rest.strip_suffix(')'));
    d.holds(
        oldest.is_some_and(|n| n.parse::<u64>().is_ok()),
        &format!("status-410-expired.json: $.message {message:?}"),
    );
    d.assert_none();
}
