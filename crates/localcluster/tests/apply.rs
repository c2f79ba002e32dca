//! Server-side apply through kube-rs: creation, field ownership and conflicts between managers,
//! `force`, and applies and merge patches of the status subresource.

mod common;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

#[tokio::test]
async fn apply_tracks_owners_and_reports_conflicts() {
    let cluster = common::start().await;
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
    let cluster = common::start().await;
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
