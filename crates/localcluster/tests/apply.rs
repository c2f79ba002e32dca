//! Server-side apply through kube-rs: creation, field ownership and conflicts between managers,
//! `force`, and applies and merge patches of the status subresource.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use testkit::{cluster, eventually};

#[tokio::test]
async fn apply_tracks_owners_and_reports_conflicts() {
    let cluster = cluster::start().await;
    let maps: Api<ConfigMap> = Api::default_namespaced(cluster.client().unwrap());
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}});
    let created = maps
        .patch("cfg", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap()["a"], "1");
    let managers: Vec<String> = created
        .managed_fields()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["alice"]);

    // Another manager changing alice's field conflicts, unless it forces.
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "9"}});
    let kube::Error::Api(conflict) = maps
        .patch("cfg", &PatchParams::apply("bob"), &Patch::Apply(&bob))
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("conflict with \"alice\""),
        "{}",
        conflict.message
    );
    assert!(conflict.message.contains(".data.a"), "{}", conflict.message);
    let forced = maps
        .patch(
            "cfg",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&bob),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "9");

    // Alice stops applying b: it goes, as she was its only owner.
    let alice_again =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {}});
    let pruned = maps
        .patch(
            "cfg",
            &PatchParams::apply("alice"),
            &Patch::Apply(&alice_again),
        )
        .await
        .unwrap();
    let data = pruned.data.unwrap_or_default();
    assert!(!data.contains_key("b"), "{data:?}");
    assert_eq!(data["a"], "9");

    // Applies must name their manager.
    let kube::Error::Api(unnamed) = maps
        .patch("cfg", &PatchParams::default(), &Patch::Apply(&bob))
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!(unnamed.code, 400);
    cluster.shutdown().await;
}

#[tokio::test]
async fn status_is_applied_and_patched_through_its_subresource() {
    let cluster = cluster::start().await;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client().unwrap());
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}})).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    let status = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running", "hostIP": "127.0.0.1"}});
    let applied = pods
        .patch_status(
            "p",
            &PatchParams::apply("kubelet").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Running")
    );
    let entry = applied
        .managed_fields()
        .iter()
        .find(|m| m.manager.as_deref() == Some("kubelet"))
        .cloned()
        .expect("kubelet owns status");
    assert_eq!(entry.subresource.as_deref(), Some("status"));

    let merged = pods
        .patch_status(
            "p",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"podIP": "10.0.0.9"}})),
        )
        .await
        .unwrap();
    let status = merged.status.unwrap();
    assert_eq!(
        (status.phase.as_deref(), status.pod_ip.as_deref()),
        (Some("Running"), Some("10.0.0.9"))
    );
    assert_eq!(
        merged.spec.unwrap().containers[0].image.as_deref(),
        Some("busybox:1")
    );
    assert_eq!(pods.get("p").await.unwrap().name_any(), "p");
    cluster.shutdown().await;
}

/// Every write is recorded in `managedFields`, as the API server records it: under the
/// `fieldManager` the request names, else under its user agent up to the first `/`, else under
/// no name at all; and the simulated kubelet's status writes under `kubelet`.
#[tokio::test]
async fn every_write_is_recorded_under_its_manager_or_user_agent() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let simulated = tokio::spawn(localcluster::simulation::run(
        client.clone(),
        localcluster::simulation::NodesConfig::default(),
    ));
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "unnamed"}, "data": {"a": "1"}}))
            .unwrap();
    let created = maps.create(&PostParams::default(), &map).await.unwrap();
    let entries = created.managed_fields();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].manager, None, "kube-rs sends no user agent");
    assert_eq!(entries[0].operation.as_deref(), Some("Update"));

    let mut config = cluster.client_config().unwrap();
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static("my-tool/1.2 (linux/amd64)"),
    ));
    let tool: Api<ConfigMap> = Api::default_namespaced(kube::Client::try_from(config).unwrap());
    let patched = tool
        .patch(
            "unnamed",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"b": "2"}})),
        )
        .await
        .unwrap();
    let names: Vec<Option<&str>> = patched
        .managed_fields()
        .iter()
        .map(|m| m.manager.as_deref())
        .collect();
    assert_eq!(names, [None, Some("my-tool")]);

    let pods = cluster::create_pod(&cluster, "runs", "busybox:1").await;
    let kubelet = eventually(10, || async {
        let pod = pods.get("runs").await.ok()?;
        pod.managed_fields()
            .iter()
            .find(|m| m.manager.as_deref() == Some("kubelet"))
            .cloned()
    })
    .await;
    assert_eq!(kubelet.subresource.as_deref(), Some("status"));
    simulated.abort();
    cluster.shutdown().await;
}
