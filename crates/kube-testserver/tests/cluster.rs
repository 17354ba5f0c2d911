//! The behaviours beyond plain storage, through kube-rs: finalizers and namespace termination,
//! selectors, validation, dry runs, the controllers, fault injection, and clusters served
//! in-process.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube_testserver::{Cluster, Options, TestServer};
use serde_json::{Value, json};

fn client(server: &TestServer) -> kube::Client {
    kube::Client::try_from(kube::Config::new(server.url.parse().expect("a URL"))).expect("a client")
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a DynamicObject")
}

fn api<K: kube::Resource<DynamicType = ()>>(client: &kube::Client, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<K>(&());
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}));
    api::<Namespace>(client, None).create(&PostParams::default(), &ns).await.unwrap();
}

fn config_map(name: &str, labels: &Value, data: &Value) -> DynamicObject {
    object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": data}))
}

fn deployment(name: &str, image: &str, extra_spec: Value) -> DynamicObject {
    let mut spec = json!({"replicas": 2, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}});
    if let (Some(s), Value::Object(extra)) = (spec.as_object_mut(), extra_spec) {
        s.extend(extra);
    }
    object(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}))
}

fn api_error(err: &kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn condition(object: &DynamicObject, kind: &str) -> Option<(String, String)> {
    let conditions = object.data.pointer("/status/conditions")?.as_array()?;
    let c = conditions.iter().find(|c| c["type"] == kind)?;
    Some((c["status"].as_str()?.to_string(), c["reason"].as_str()?.to_string()))
}

/// Waits (up to 10 s) until `check` holds for the named object; returns it.
async fn eventually(api: &Api<DynamicObject>, name: &str, check: impl Fn(&DynamicObject) -> bool) -> DynamicObject {
    for _ in 0..200 {
        let o = api.get(name).await.unwrap();
        if check(&o) {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached the expected state: {:?}", api.get(name).await.unwrap().data.get("status"));
}

#[tokio::test]
async fn finalizers_hold_a_deletion_until_they_are_removed() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let cms = api::<ConfigMap>(&client, Some("shop"));
    let mut cm = config_map("held", &json!({}), &json!({"a": "1"}));
    cm.metadata.finalizers = Some(vec!["flotilla.dev/inventory".into()]);
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let pending = cms.delete("held", &DeleteParams::default()).await.unwrap().left().expect("the object, not a Status");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let still = cms.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some(), "held by its finalizer");

    // No new finalizer may be added while deleting.
    let more = json!({"metadata": {"finalizers": ["flotilla.dev/inventory", "other"]}});
    let err = cms.patch("held", &PatchParams::default(), &Patch::Merge(&more)).await.unwrap_err();
    let (code, reason, message) = api_error(&err);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(message.contains("metadata.finalizers: Forbidden: no new finalizers can be added"), "{message}");

    // Removing the last finalizer completes the deletion.
    let none = json!({"metadata": {"finalizers": null}});
    cms.patch("held", &PatchParams::default(), &Patch::Merge(&none)).await.unwrap();
    assert_eq!(api_error(&cms.get("held").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn a_namespace_terminates_once_its_objects_are_gone() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let namespaces = api::<Namespace>(&client, None);
    let ns = namespaces.get("shop").await.unwrap();
    assert_eq!(ns.data["status"]["phase"], "Active");
    assert_eq!(ns.data["spec"]["finalizers"], json!(["kubernetes"]));
    let cms = api::<ConfigMap>(&client, Some("shop"));
    let mut held = config_map("held", &json!({}), &json!({}));
    held.metadata.finalizers = Some(vec!["example.com/wait".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.create(&PostParams::default(), &config_map("free", &json!({}), &json!({}))).await.unwrap();

    namespaces.delete("shop", &DeleteParams::default()).await.unwrap();
    let terminating = namespaces.get("shop").await.unwrap();
    assert_eq!(terminating.data["status"]["phase"], "Terminating");
    assert_eq!(api_error(&cms.get("free").await.unwrap_err()).0, 404);
    let err = cms.create(&PostParams::default(), &config_map("late", &json!({}), &json!({}))).await.unwrap_err();
    let (code, reason, message) = api_error(&err);
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being terminated"
    );

    cms.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": []}}))).await.unwrap();
    assert_eq!(api_error(&namespaces.get("shop").await.unwrap_err()).0, 404, "the empty namespace is gone");
}

#[tokio::test]
async fn field_and_set_based_label_selectors() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "a").await;
    namespace(&client, "b").await;
    for (ns, name, tier) in [("a", "one", "web"), ("a", "two", "db"), ("b", "one", "cache")] {
        let cm = config_map(name, &json!({"tier": tier}), &json!({}));
        api::<ConfigMap>(&client, Some(ns)).create(&PostParams::default(), &cm).await.unwrap();
    }
    let all = api::<ConfigMap>(&client, None);
    let names = |list: kube::core::ObjectList<DynamicObject>| -> Vec<String> {
        list.items
            .iter()
            .map(|o| format!("{}/{}", o.metadata.namespace.clone().unwrap(), o.metadata.name.clone().unwrap()))
            .collect()
    };
    assert_eq!(names(all.list(&ListParams::default().fields("metadata.name=one")).await.unwrap()), ["a/one", "b/one"]);
    assert_eq!(
        names(all.list(&ListParams::default().fields("metadata.namespace!=a,metadata.name=one")).await.unwrap()),
        ["b/one"]
    );
    assert_eq!(
        names(all.list(&ListParams::default().labels("tier in (web,cache)")).await.unwrap()),
        ["a/one", "b/one"]
    );
    assert_eq!(names(all.list(&ListParams::default().labels("tier notin (web,cache)")).await.unwrap()), ["a/two"]);
    let err = all.list(&ListParams::default().fields("data.a=1")).await.unwrap_err();
    assert_eq!(api_error(&err), (400, "BadRequest".into(), "field label not supported: data.a".into()));

    // deletecollection takes what the selector matches, in one namespace.
    api::<ConfigMap>(&client, Some("a"))
        .delete_collection(&DeleteParams::default(), &ListParams::default().labels("tier=db"))
        .await
        .unwrap();
    assert_eq!(names(all.list(&ListParams::default()).await.unwrap()), ["a/one", "b/one"]);
}

#[tokio::test]
async fn invalid_objects_are_refused_with_their_fields() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    let namespaces = api::<Namespace>(&client, None);
    let nameless = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}}));
    let (code, _, message) = api_error(&namespaces.create(&PostParams::default(), &nameless).await.unwrap_err());
    assert_eq!(code, 422);
    assert_eq!(message, "Namespace \"\" is invalid: metadata.name: Required value: name or generateName is required");
    let bad = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Shop_1"}}));
    let (code, reason, message) = api_error(&namespaces.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        message.starts_with("Namespace \"Shop_1\" is invalid: metadata.name: Invalid value: \"Shop_1\""),
        "{message}"
    );

    // generateName makes a name.
    let generated = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "shop-"}}));
    let made = namespaces.create(&PostParams::default(), &generated).await.unwrap();
    let name = made.metadata.name.clone().unwrap();
    assert!(name.starts_with("shop-") && name.len() == 10, "{name}");

    let deployments = api::<Deployment>(&client, Some(&name));
    let mut mismatched = deployment("web", "nginx:1", json!({}));
    mismatched.data["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
    let err = deployments.create(&PostParams::default(), &mismatched).await.unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 422);
            assert!(s.message.contains("spec.template.metadata.labels"), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }
    let cms = api::<ConfigMap>(&client, Some(&name));
    let numbers = config_map("numbers", &json!({}), &json!({"replicas": 3}));
    let (code, _, message) = api_error(&cms.create(&PostParams::default(), &numbers).await.unwrap_err());
    assert_eq!(code, 400);
    assert!(message.contains("cannot unmarshal number into Go struct field ConfigMap.data of type string"));
    assert!(cms.list(&ListParams::default()).await.unwrap().items.is_empty(), "nothing half-stored");
}

#[tokio::test]
async fn generation_only_on_kinds_with_a_spec_and_dry_runs_store_nothing() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let cms = api::<ConfigMap>(&client, Some("shop"));
    let deployments = api::<Deployment>(&client, Some("shop"));
    let cm = cms.create(&PostParams::default(), &config_map("app", &json!({}), &json!({}))).await.unwrap();
    assert_eq!(cm.metadata.generation, None);
    let web = deployment("web", "nginx:1", json!({}));
    let d = deployments.patch("web", &PatchParams::apply("flotilla"), &Patch::Apply(&web)).await.unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let changed = deployment("web", "nginx:2", json!({}));
    let d = deployments.patch("web", &PatchParams::apply("flotilla"), &Patch::Apply(&changed)).await.unwrap();
    assert_eq!(d.metadata.generation, Some(2));

    let planned = deployment("web", "nginx:3", json!({}));
    let dry =
        deployments.patch("web", &PatchParams::apply("flotilla").dry_run(), &Patch::Apply(&planned)).await.unwrap();
    assert_eq!(dry.data["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:3");
    let live = deployments.get("web").await.unwrap();
    assert_eq!(live.data["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");
    let new_one = config_map("planned", &json!({}), &json!({}));
    cms.create(&PostParams { dry_run: true, ..PostParams::default() }, &new_one).await.unwrap();
    assert_eq!(api_error(&cms.get("planned").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn applying_fewer_fields_removes_the_dropped_ones() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let cms = api::<ConfigMap>(&client, Some("shop"));
    let both = config_map("app", &json!({"a": "1", "b": "2"}), &json!({"x": "1", "y": "2"}));
    cms.patch("app", &PatchParams::apply("flotilla"), &Patch::Apply(&both)).await.unwrap();
    // Another manager owns a field of its own, which survives.
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"z": "3"}});
    cms.patch("app", &PatchParams::apply("other"), &Patch::Apply(&theirs)).await.unwrap();
    let fewer = config_map("app", &json!({"a": "1"}), &json!({"x": "1"}));
    let after = cms.patch("app", &PatchParams::apply("flotilla"), &Patch::Apply(&fewer)).await.unwrap();
    assert_eq!(after.metadata.labels.unwrap().into_iter().collect::<Vec<_>>(), [("a".into(), "1".into())]);
    assert_eq!(after.data["data"], json!({"x": "1", "z": "3"}));
}

#[tokio::test]
async fn workloads_become_available_after_the_delay_and_broken_ones_never() {
    let server = TestServer::start_with("127.0.0.1:0", &Options { ready_delay: Duration::from_millis(300) }).unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let deployments = api::<Deployment>(&client, Some("shop"));
    let web = deployment("web", "registry.local:5000/web:1.0", json!({}));
    deployments.patch("web", &PatchParams::apply("flotilla"), &Patch::Apply(&web)).await.unwrap();
    let rolling = deployments.get("web").await.unwrap();
    assert_eq!(condition(&rolling, "Available"), Some(("False".into(), "MinimumReplicasUnavailable".into())));
    assert_eq!(rolling.data["status"]["observedGeneration"], 1);
    let ready = eventually(&deployments, "web", |d| d.data["status"]["availableReplicas"] == 2).await;
    assert_eq!(condition(&ready, "Progressing"), Some(("True".into(), "NewReplicaSetAvailable".into())));
    let managers: Vec<_> = ready.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"kube-controller-manager".to_string()), "{managers:?}");

    // A broken image stays unavailable; its progress deadline then passes.
    let broken = deployment("pos", "registry.local:5000/pos:broken", json!({"progressDeadlineSeconds": 1}));
    deployments.patch("pos", &PatchParams::apply("flotilla"), &Patch::Apply(&broken)).await.unwrap();
    let late = eventually(&deployments, "pos", |d| condition(d, "Progressing").is_some_and(|c| c.0 == "False")).await;
    assert_eq!(condition(&late, "Progressing").unwrap().1, "ProgressDeadlineExceeded");
    assert_eq!(condition(&late, "Available").unwrap().0, "False");

    let jobs = api::<Job>(&client, Some("shop"));
    let job = object(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "m:1"}]}}}}));
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let done = eventually(&jobs, "migrate", |j| condition(j, "Complete").is_some()).await;
    assert_eq!(done.data["status"]["succeeded"], 1);

    let pods = api::<Pod>(&client, Some("shop"));
    let pod = object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stuck"},
        "spec": {"containers": [{"name": "c", "image": "c:broken"}]}}));
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let stuck = eventually(&pods, "stuck", |p| {
        p.data.pointer("/status/containerStatuses/0/state/waiting/reason") == Some(&json!("ImagePullBackOff"))
    })
    .await;
    assert_eq!(stuck.data["status"]["phase"], "Pending");
}

#[tokio::test]
async fn a_changed_template_rolls_out_again() {
    let server = TestServer::start_with("127.0.0.1:0", &Options { ready_delay: Duration::from_millis(200) }).unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let deployments = api::<Deployment>(&client, Some("shop"));
    let mut stream = deployments.watch(&WatchParams::default().timeout(20), "0").await.unwrap().boxed();
    for image in ["web:1", "web:2"] {
        let web = deployment("web", image, json!({}));
        deployments.patch("web", &PatchParams::apply("flotilla"), &Patch::Apply(&web)).await.unwrap();
        eventually(&deployments, "web", |d| {
            d.data["status"]["availableReplicas"] == 2
                && d.data["status"]["observedGeneration"] == d.metadata.generation.unwrap()
        })
        .await;
    }
    // The watch saw the rollouts: available, then not, then available again.
    let mut seen = Vec::new();
    while let Ok(next) = tokio::time::timeout(Duration::from_millis(500), stream.try_next()).await {
        let Some(event) = next.unwrap() else { break };
        if let WatchEvent::Added(d) | WatchEvent::Modified(d) = event {
            seen.push(condition(&d, "Available").map(|c| c.0));
        }
    }
    seen.dedup();
    assert_eq!(seen, [None, Some("False".into()), Some("True".into()), Some("False".into()), Some("True".into())]);
}

#[tokio::test]
async fn injected_errors_latency_and_dropped_watches() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let cms = api::<ConfigMap>(&client, Some("shop"));
    let cluster = server.cluster();

    cluster.fail_next(2, 500);
    for _ in 0..2 {
        let (code, reason, _) = api_error(&cms.list(&ListParams::default()).await.unwrap_err());
        assert_eq!((code, reason.as_str()), (500, "InternalError"));
    }
    cms.list(&ListParams::default()).await.unwrap();
    // kube-rs retries a 503 (and a 429) by itself: the second try succeeds.
    let before = cluster.requests();
    cluster.fail_next(1, 503);
    cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(cluster.requests() - before, 2);

    cluster.set_error_rate(0.3, 7);
    let mut failed = 0;
    for _ in 0..200 {
        if cms.list(&ListParams::default()).await.is_err() {
            failed += 1;
        }
    }
    assert!((30..=90).contains(&failed), "{failed} of 200 failed at a 30% error rate");
    cluster.set_error_rate(0.0, 0);

    cluster.set_latency(Duration::from_millis(200));
    let started = std::time::Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200), "the request waited for the latency");
    cluster.set_latency(Duration::ZERO);

    let mut stream = cms.watch(&WatchParams::default().timeout(30), "0").await.unwrap().boxed();
    cms.create(&PostParams::default(), &config_map("one", &json!({}), &json!({}))).await.unwrap();
    assert!(matches!(stream.try_next().await.unwrap(), Some(WatchEvent::Added(_))));
    cluster.drop_watches();
    let end = tokio::time::timeout(Duration::from_secs(5), stream.try_next()).await.expect("the watch ends at once");
    assert!(matches!(end, Ok(None)), "{end:?}");
}

#[tokio::test]
async fn refused_connections_keep_the_store() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    server.refuse_connections();
    let err = api::<Namespace>(&client, None).get("shop").await.unwrap_err();
    assert!(!matches!(err, kube::Error::Api(_)), "a connection error, not an answer: {err:?}");
    let refused = std::net::TcpStream::connect(server.url.trim_start_matches("http://"));
    assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
    server.accept_connections();
    let fresh = self::client(&server);
    assert!(api::<Namespace>(&fresh, None).get("shop").await.is_ok());
}

#[tokio::test]
async fn a_thousand_clusters_in_process() {
    let clusters: Vec<Cluster> = (0..1_000).map(|_| Cluster::default()).collect();
    for (i, cluster) in clusters.iter().enumerate() {
        let client = kube::Client::new(cluster.router(), "default");
        namespace(&client, "store").await;
        let cm = config_map("identity", &json!({}), &json!({"store": format!("store-{i:04}")}));
        api::<ConfigMap>(&client, Some("store"))
            .patch("identity", &PatchParams::apply("flotilla"), &Patch::Apply(&cm))
            .await
            .unwrap();
    }
    // Each cluster kept its own object.
    for i in [0, 499, 999] {
        let client = kube::Client::new(clusters[i].router(), "default");
        let got = api::<ConfigMap>(&client, Some("store")).get("identity").await.unwrap();
        assert_eq!(got.data["data"]["store"], format!("store-{i:04}"));
        assert_eq!(clusters[i].requests(), 3);
    }
}

#[tokio::test]
async fn apply_bodies_may_be_yaml() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  greeting: hello\n";
    let request = http::Request::patch("/api/v1/namespaces/shop/configmaps/app?fieldManager=kubectl")
        .header("content-type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .unwrap();
    let applied: Value = client.request(request).await.unwrap();
    assert_eq!(applied["data"]["greeting"], "hello");
    assert_eq!(applied["metadata"]["managedFields"][0]["manager"], "kubectl");
}

#[tokio::test]
async fn json_and_strategic_merge_patches() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    namespace(&client, "shop").await;
    let deployments = api::<Deployment>(&client, Some("shop"));
    let mut web = deployment("web", "web:1", json!({}));
    web.data["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "proxy:1"}));
    deployments.create(&PostParams::default(), &web).await.unwrap();

    // Strategic: containers merge by name, so the sidecar stays.
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}}}});
    let patched = deployments.patch("web", &PatchParams::default(), &Patch::Strategic(&smp)).await.unwrap();
    let images: Vec<&str> = patched.data["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["web:2", "proxy:1"]);
    assert_eq!(patched.metadata.generation, Some(2));

    // JSON patch: a failed `test` changes nothing.
    let json_patch = |ops: Value| {
        http::Request::patch("/apis/apps/v1/namespaces/shop/deployments/web")
            .header("content-type", "application/json-patch+json")
            .body(serde_json::to_vec(&ops).unwrap())
            .unwrap()
    };
    let ops = json!([{"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3}]);
    let scaled: Value = client.request(json_patch(ops)).await.unwrap();
    assert_eq!(scaled["spec"]["replicas"], 3);
    let stale = json!([{"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 5}]);
    let err = client.request::<Value>(json_patch(stale)).await.unwrap_err();
    assert_eq!(api_error(&err).0, 422);
    assert_eq!(deployments.get("web").await.unwrap().data["spec"]["replicas"], 3);

    // Custom resources take no strategic merge patch, as in Kubernetes.
    let crds = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource::erase::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(&()),
    );
    let crd = object(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}}));
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let widgets = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "shop",
        &ApiResource::from_gvk_with_plural(&kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets"),
    );
    let widget = object(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
    );
    let created = widgets.create(&PostParams::default(), &widget).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let err =
        widgets.patch("w", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"size": 2}}))).await.unwrap_err();
    assert_eq!(api_error(&err).0, 415);
    let merged =
        widgets.patch("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": 2}}))).await.unwrap();
    assert_eq!((merged.data["spec"]["size"].as_i64(), merged.metadata.generation), (Some(2), Some(2)));
}

/// A client whose requests carry `token` (and more headers), as the recorder tells users apart.
fn client_as(server: &TestServer, token: &str, extra: &[(&'static str, &str)]) -> kube::Client {
    let mut config = kube::Config::new(server.url.parse().expect("a URL"));
    let value = |v: &str| http::HeaderValue::from_str(v).expect("a header value");
    config.headers.push((http::header::AUTHORIZATION, value(&format!("Bearer {token}"))));
    for (name, v) in extra {
        config.headers.push((http::HeaderName::from_static(name), value(v)));
    }
    kube::Client::try_from(config).expect("a client")
}

#[tokio::test]
async fn requests_are_recorded_as_the_authorizer_checks_them() {
    let server = TestServer::start().unwrap();
    namespace(&client(&server), "shop").await;
    server.cluster().record_requests();
    let agent = client_as(&server, "agent", &[]);
    agent.apiserver_version().await.unwrap();
    let config_maps = api::<ConfigMap>(&agent, Some("shop"));
    let cm = config_map("web", &json!({"app": "web"}), &json!({"k": "v"}));
    let apply = PatchParams::apply("flotilla").force();
    config_maps.patch("web", &apply, &Patch::Apply(&cm)).await.unwrap();
    config_maps.patch("web", &apply, &Patch::Apply(&cm)).await.unwrap();
    api::<ConfigMap>(&agent, None).list(&ListParams::default().labels("app")).await.unwrap();
    let stream = api::<ConfigMap>(&agent, None).watch(&WatchParams::default().labels("app"), "0").await.unwrap();
    let mut stream = std::pin::pin!(stream);
    assert!(matches!(stream.try_next().await.unwrap(), Some(WatchEvent::Added(_))));
    config_maps.delete("web", &DeleteParams::default()).await.unwrap();
    // Impersonating: checked for the right to impersonate, then as the service account.
    let deployer = client_as(&server, "agent", &[("impersonate-user", "system:serviceaccount:shop:deployer")]);
    api::<ConfigMap>(&deployer, Some("shop")).get_opt("web").await.unwrap();
    // The test's own client carries no token: its requests are recorded without a user.
    api::<ConfigMap>(&client(&server), Some("shop")).get_opt("web").await.unwrap();

    let recorded: Vec<String> = server.cluster().recorded().iter().map(ToString::to_string).collect();
    assert_eq!(
        recorded,
        [
            "get /version (as agent)",
            r#"patch configmaps "web" in shop (as agent)"#,
            r#"create configmaps "web" in shop (as agent)"#,
            r#"patch configmaps "web" in shop (as agent)"#,
            "list configmaps (as agent)",
            "watch configmaps (as agent)",
            r#"delete configmaps "web" in shop (as agent)"#,
            r#"impersonate serviceaccounts "deployer" in shop (as agent)"#,
            r#"get configmaps "web" in shop (as system:serviceaccount:shop:deployer)"#,
            r#"get configmaps "web" in shop"#,
        ]
    );
}
