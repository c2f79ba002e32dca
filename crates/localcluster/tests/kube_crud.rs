//! kube-rs CRUD against the local cluster over HTTPS: status codes, error Status bodies,
//! optimistic concurrency, selectors, pagination, status subresource, deletion semantics.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service, ServiceAccount};
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use kube::{Api, ResourceExt};
use serde_json::json;
use testkit::{cluster, eventually};

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().cloned().collect::<BTreeMap<_, _>>()},
        "data": {"key": "value"},
    }))
    .unwrap()
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_replace_delete_with_kubernetes_errors() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());

    let created = maps
        .create(&PostParams::default(), &config_map("one", &[]))
        .await
        .unwrap();
    assert!(created.uid().is_some());
    assert_eq!(
        created.metadata.generation, None,
        "ConfigMaps have no generation"
    );
    let fetched = maps.get("one").await.unwrap();
    assert_eq!(fetched.resource_version(), created.resource_version());

    let kube::Error::Api(exists) = maps
        .create(&PostParams::default(), &config_map("one", &[]))
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(exists.message, "configmaps \"one\" already exists");

    let mut changed = fetched.clone();
    changed.data = Some(BTreeMap::from([("key".to_string(), "new".to_string())]));
    let replaced = maps
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), fetched.resource_version());
    // The same write again carries a stale resourceVersion.
    let kube::Error::Api(conflict) = maps
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("the object has been modified"),
        "{}",
        conflict.message
    );

    let gone = maps.delete("one", &DeleteParams::default()).await.unwrap();
    let status = gone
        .right()
        .expect("a ConfigMap deleted at once answers a Status");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let details = status.details.expect("the Status names what was deleted");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("one", "configmaps")
    );
    assert_eq!(Some(details.uid), created.uid());
    let kube::Error::Api(missing) = maps.get("one").await.unwrap_err() else {
        panic!("expected an API error")
    };
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "configmaps \"one\" not found");
    cluster.shutdown().await;
}

#[tokio::test]
async fn lists_with_label_selectors_and_pages() {
    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web"), ("d", "web")] {
        maps.create(&PostParams::default(), &config_map(name, &[("tier", tier)]))
            .await
            .unwrap();
    }
    let web = maps
        .list(&ListParams::default().labels("tier=web"))
        .await
        .unwrap();
    assert_eq!(
        web.items.iter().map(|m| m.name_any()).collect::<Vec<_>>(),
        ["a", "c", "d"]
    );
    let not_web = maps
        .list(&ListParams::default().labels("tier!=web,tier"))
        .await
        .unwrap();
    assert_eq!(not_web.items.len(), 1);

    let first = maps.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let rest = maps
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    let names: Vec<String> = first
        .items
        .iter()
        .chain(rest.items.iter())
        .map(|m| m.name_any())
        .collect();
    // kube-root objects of the namespace are not configmaps, so exactly ours are listed.
    assert_eq!(names, ["a", "b", "c", "d"]);
    assert!(
        rest.metadata
            .continue_
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    );

    let by_name = maps
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    cluster.shutdown().await;
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status() {
    let cluster = cluster::start().await;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client().unwrap());
    let created = pods
        .create(&PostParams::default(), &pod("p"))
        .await
        .unwrap();
    assert_eq!(
        created.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    assert_eq!(
        created
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.as_deref()),
        Some("default")
    );

    let status = json!({"status": {"phase": "Running", "podIP": "10.1.0.7"}});
    let running = pods
        .patch_status("p", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(
        running.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Running")
    );

    // A write of the main resource leaves status alone, and the status subresource leaves the
    // rest alone.
    let sneaky = json!({"metadata": {"labels": {"x": "1"}}, "status": {"phase": "Failed"}});
    let labelled = pods
        .patch("p", &PatchParams::default(), &Patch::Merge(&sneaky))
        .await
        .unwrap();
    assert_eq!(labelled.labels().get("x").map(String::as_str), Some("1"));
    assert_eq!(
        labelled.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Running")
    );
    let label_via_status = json!({"metadata": {"labels": {"y": "2"}}});
    let unchanged = pods
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(&label_via_status),
        )
        .await
        .unwrap();
    assert!(!unchanged.labels().contains_key("y"));

    let kube::Error::Api(invalid) = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "c"}]}}),
            )
            .unwrap(),
        )
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        invalid.message,
        "Pod \"bad\" is invalid: spec.containers[0].image: Required value"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    let mut held = config_map("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    let created = maps.create(&PostParams::default(), &held).await.unwrap();

    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("nope".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let kube::Error::Api(precondition) = maps.delete("held", &wrong_uid).await.unwrap_err() else {
        panic!("expected an API error")
    };
    assert_eq!(precondition.code, 409);

    let marked = maps.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = marked.left().expect("still present while finalized");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.generation, None);
    assert_eq!(marked.uid(), created.uid());

    let release = json!({"metadata": {"finalizers": null}});
    maps.patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    assert!(maps.get_opt("held").await.unwrap().is_none());
    cluster.shutdown().await;
}

#[tokio::test]
async fn owners_take_their_dependents_along() {
    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    let owner = maps
        .create(&PostParams::default(), &config_map("owner", &[]))
        .await
        .unwrap();
    let reference = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap(), "blockOwnerDeletion": true}]);
    for name in ["dep-1", "dep-2"] {
        let mut dependent = config_map(name, &[]);
        dependent.metadata.owner_references =
            Some(serde_json::from_value(reference.clone()).unwrap());
        maps.create(&PostParams::default(), &dependent)
            .await
            .unwrap();
    }

    // Foreground: the owner waits, marked, until its dependents are gone.
    let foreground = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    maps.delete("owner", &foreground).await.unwrap();
    eventually(10, || async {
        maps.get_opt("owner").await.unwrap().is_none().then_some(())
    })
    .await;
    assert!(maps.get_opt("dep-1").await.unwrap().is_none());
    assert!(maps.get_opt("dep-2").await.unwrap().is_none());

    // Orphan: dependents stay, without the reference.
    let owner = maps
        .create(&PostParams::default(), &config_map("owner", &[]))
        .await
        .unwrap();
    let mut dependent = config_map("kept", &[]);
    let reference = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap()}]);
    dependent.metadata.owner_references = Some(serde_json::from_value(reference).unwrap());
    maps.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    maps.delete("owner", &DeleteParams::orphan()).await.unwrap();
    eventually(10, || async {
        maps.get_opt("owner").await.unwrap().is_none().then_some(())
    })
    .await;
    let kept = maps.get("kept").await.unwrap();
    assert!(kept.owner_references().is_empty());
    cluster.shutdown().await;
}

#[tokio::test]
async fn namespaces_services_and_accounts_behave_like_a_cluster() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let team: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &team)
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "team");
    eventually(5, || async { accounts.get_opt("default").await.unwrap() }).await;

    let services: Api<Service> = Api::namespaced(client.clone(), "team");
    let service: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    let created = services
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let ip = created
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap();
    assert!(ip.starts_with("10.96."), "{ip}");
    let headless: Service = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}})).unwrap();
    let headless = services
        .create(&PostParams::default(), &headless)
        .await
        .unwrap();
    assert_eq!(
        headless.spec.and_then(|s| s.cluster_ip).as_deref(),
        Some("None")
    );

    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, || async {
        namespaces
            .get_opt("team")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        services
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let kube::Error::Api(forbidden) = namespaces
        .delete("default", &DeleteParams::default())
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!(forbidden.code, 403);
    cluster.shutdown().await;
}

/// Object names are DNS-1123 subdomains: up to 253 characters, with no limit on the parts between
/// dots. Spark's pod template ConfigMap (`<app>-<16 hex>-driver-podspec-conf-map`), applied by
/// fabric8 with server-side apply, is longer than 63 characters for most application names.
#[tokio::test]
async fn names_longer_than_a_label_are_valid_subdomains() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let long = "a-rather-long-application-name-f2a1c2a227576abd-driver-podspec-conf-map";
    assert!(long.len() > 63);
    let applied = maps
        .patch(
            long,
            &PatchParams::apply("fabric8").force(),
            &Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": long}, "data": {"k": "v"}, "immutable": true,
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.name_any(), long);

    let too_long = "b".repeat(254);
    let kube::Error::Api(invalid) = maps
        .create(&PostParams::default(), &config_map(&too_long, &[]))
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    // Services stay DNS-1035 labels (at most 63 characters).
    let services: Api<Service> = Api::default_namespaced(client);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "s".repeat(64)},
        "spec": {"ports": [{"port": 80}]},
    }))
    .unwrap();
    let kube::Error::Api(invalid) = services
        .create(&PostParams::default(), &service)
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!(invalid.code, 422);
}
