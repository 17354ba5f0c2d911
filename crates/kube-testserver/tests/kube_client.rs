//! kube-rs, as the agent uses it, against the test server over real HTTP on 127.0.0.1.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use kube_testserver::TestServer;
use serde_json::json;

fn client(server: &TestServer) -> kube::Client {
    let config = kube::Config::new(server.url.parse().expect("a URL"));
    kube::Client::try_from(config).expect("a client")
}

/// The Namespace API and the ConfigMap API of namespace `shop` (which is not created here).
fn shop_apis(server: &TestServer) -> (Api<DynamicObject>, Api<DynamicObject>) {
    let client = client(server);
    let namespaces = Api::all_with(client.clone(), &ApiResource::erase::<Namespace>(&()));
    let config_maps = Api::namespaced_with(client, "shop", &ApiResource::erase::<ConfigMap>(&()));
    (namespaces, config_maps)
}

async fn create_shop(namespaces: &Api<DynamicObject>) {
    let shop = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    namespaces.create(&PostParams::default(), &shop).await.unwrap();
}

fn object(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).expect("a DynamicObject")
}

#[tokio::test]
async fn discovery_finds_built_in_kinds_and_crds_once_created() {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (deployments, caps) = discovery.resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment")).unwrap();
    assert_eq!(deployments.plural, "deployments");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    assert!(discovery.resolve_gvk(&GroupVersionKind::gvk("", "v1", "ConfigMap")).is_some());
    assert!(discovery.resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")).is_none());

    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd = object(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    }));
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let conditions = created.data["status"]["conditions"].as_array().unwrap();
    assert!(conditions.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
    let discovery = Discovery::new(client).run().await.unwrap();
    assert!(discovery.resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")).is_some());
}

#[tokio::test]
async fn create_apply_get_list_conflict_and_delete() {
    let server = TestServer::start().unwrap();
    let (namespaces, config_maps) = shop_apis(&server);

    // A namespaced object in a missing namespace is refused.
    let cm = object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "labels": {"tier": "web"}}, "data": {"a": "1"}}),
    );
    let err = config_maps.patch("app", &PatchParams::apply("flotilla"), &Patch::Apply(&cm)).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 404), "{err:?}");

    create_shop(&namespaces).await;
    let applied = config_maps.patch("app", &PatchParams::apply("flotilla"), &Patch::Apply(&cm)).await.unwrap();
    assert_eq!(applied.data["data"]["a"], "1");
    let uid = applied.metadata.uid.clone().unwrap();
    let fields = applied.metadata.managed_fields.clone().unwrap();
    assert_eq!((fields[0].manager.as_deref(), fields[0].operation.as_deref()), (Some("flotilla"), Some("Apply")));

    // Another manager applying a different value conflicts, naming the owner; force wins.
    let other =
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"a": "2"}}));
    let err = config_maps.patch("app", &PatchParams::apply("intruder"), &Patch::Apply(&other)).await.unwrap_err();
    match &err {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(s.message.contains("conflict with \"flotilla\""), "{}", s.message);
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    let forced =
        config_maps.patch("app", &PatchParams::apply("intruder").force(), &Patch::Apply(&other)).await.unwrap();
    assert_eq!(forced.data["data"]["a"], "2");
    assert_eq!(forced.metadata.uid.as_deref(), Some(uid.as_str()), "same object");

    // The first manager drops `data.a` from its config: the field now belongs to `intruder`, so it stays.
    let fewer = object(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "labels": {"tier": "web"}}}),
    );
    let after = config_maps.patch("app", &PatchParams::apply("flotilla"), &Patch::Apply(&fewer)).await.unwrap();
    assert_eq!(after.data["data"]["a"], "2");

    let got = config_maps.get("app").await.unwrap();
    assert_eq!(got.metadata.resource_version, after.metadata.resource_version);
    assert_eq!(config_maps.list(&ListParams::default().labels("tier=web")).await.unwrap().items.len(), 1);
    assert_eq!(config_maps.list(&ListParams::default().labels("tier=db")).await.unwrap().items.len(), 0);

    // Pages of two, followed by their continue tokens.
    for i in 0..4 {
        let extra = object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("page-{i}")}}));
        config_maps.create(&PostParams::default(), &extra).await.unwrap();
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2);
    loop {
        let page = config_maps.list(&params).await.unwrap();
        assert!(page.items.len() <= 2);
        names.extend(page.items.iter().map(|o| o.metadata.name.clone().unwrap()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names, ["app", "page-0", "page-1", "page-2", "page-3"]);

    // A stale replace is refused with 409.
    let mut stale = got.clone();
    stale.metadata.resource_version = Some("1".into());
    let err = config_maps.replace("app", &PostParams::default(), &stale).await.unwrap_err();
    assert!(matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict"), "{err:?}");

    config_maps.delete("app", &DeleteParams::default()).await.unwrap();
    let err = config_maps.get("app").await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 404 && s.message == "configmaps \"app\" not found"),
        "{err:?}"
    );
}

#[tokio::test]
async fn watch_sends_current_state_then_changes_resumes_and_expires() {
    use futures::{StreamExt as _, TryStreamExt as _};
    use kube::api::{WatchEvent, WatchParams};
    let server = TestServer::start().unwrap();
    let (namespaces, config_maps) = shop_apis(&server);
    create_shop(&namespaces).await;
    let cm = |name: &str, value: &str| {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}))
    };
    config_maps.create(&PostParams::default(), &cm("one", "1")).await.unwrap();

    let name_of = |e: &WatchEvent<DynamicObject>| match e {
        WatchEvent::Added(o) => format!("added {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Modified(o) => format!("modified {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Deleted(o) => format!("deleted {}", o.metadata.name.clone().unwrap()),
        WatchEvent::Bookmark(_) => "bookmark".into(),
        WatchEvent::Error(e) => format!("error {}", e.code),
    };
    // Bookmarks come on a timer; the changes are what is checked here.
    let events = |s: futures::stream::BoxStream<'static, kube::Result<WatchEvent<DynamicObject>>>| {
        s.try_filter(|e| futures::future::ready(!matches!(e, WatchEvent::Bookmark(_)))).boxed()
    };
    let mut stream = events(config_maps.watch(&WatchParams::default().timeout(10), "0").await.unwrap().boxed());
    assert_eq!(name_of(&stream.try_next().await.unwrap().unwrap()), "added one");
    config_maps.create(&PostParams::default(), &cm("two", "2")).await.unwrap();
    let changed =
        config_maps.patch("one", &PatchParams::apply("t").force(), &Patch::Apply(&cm("one", "9"))).await.unwrap();
    config_maps.delete("two", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(name_of(&stream.try_next().await.unwrap().unwrap()));
    }
    assert_eq!(seen, ["added two", "modified one", "deleted two"]);

    // Resuming from a version replays what came after it.
    let since = changed.metadata.resource_version.unwrap();
    let mut resumed = events(config_maps.watch(&WatchParams::default().timeout(10), &since).await.unwrap().boxed());
    assert_eq!(name_of(&resumed.try_next().await.unwrap().unwrap()), "deleted two");

    // Once a thousand more changes have passed, that version is gone: 410.
    for i in 0..1_001 {
        config_maps
            .patch("one", &PatchParams::apply("t").force(), &Patch::Apply(&cm("one", &i.to_string())))
            .await
            .unwrap();
    }
    let mut expired = events(config_maps.watch(&WatchParams::default().timeout(10), &since).await.unwrap().boxed());
    assert_eq!(name_of(&expired.try_next().await.unwrap().unwrap()), "error 410");
}
