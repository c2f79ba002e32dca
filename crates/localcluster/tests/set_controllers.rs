//! The StatefulSet and DaemonSet controllers at work, through kube-rs and the real kubectl:
//! ordinal pods made in order and removed from the top, replaced under the same name, rolled
//! from the highest ordinal with ControllerRevisions recording the templates; one daemon pod
//! per node that fits, rolled out node by node; and `kubectl rollout status` for both.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use localcluster::LocalCluster;
use localcluster::simulation::NodesConfig;
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::cluster;
use testkit::wait::eventually;

#[path = "set_controllers/daemon_sets.rs"]
mod daemon_sets;

async fn start() -> LocalCluster {
    cluster::start_with_nodes(NodesConfig::default()).await
}

fn stateful_set(name: &str, replicas: i32, policy: &str, annotations: Value) -> StatefulSet {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
        "replicas": replicas,
        "serviceName": name,
        "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": name}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}],
        "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
            "spec": {"containers": [{"name": "main", "image": "nginx:1"}]}}}}))
    .unwrap()
}

fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pods of app `app`, by name.
pub async fn pods_of(pods: &Api<Pod>, app: &str) -> BTreeMap<String, Pod> {
    pods.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| (p.metadata.name.clone().unwrap(), p))
        .collect()
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Watches `app`'s pods until `done` holds, checking `rule` on every list seen.
async fn observe(
    pods: &Api<Pod>,
    app: &str,
    rule: impl Fn(&BTreeMap<String, Pod>),
    done: impl Fn(&BTreeMap<String, Pod>) -> bool,
) {
    eventually(60, || async {
        let seen = pods_of(pods, app).await;
        rule(&seen);
        done(&seen).then_some(())
    })
    .await
}

fn all_ready(seen: &BTreeMap<String, Pod>, names: &[&str]) -> bool {
    seen.len() == names.len() && names.iter().all(|n| seen.get(*n).is_some_and(is_ready))
}

#[tokio::test]
async fn ordered_ready_pods_start_in_order_keep_their_names_and_go_from_the_top() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let sets: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    sets.create(
        &PostParams::default(),
        &stateful_set("web", 3, "OrderedReady", json!({})),
    )
    .await
    .unwrap();
    // No pod exists before the one below it is Ready.
    let in_order = |seen: &BTreeMap<String, Pod>| {
        for (lower, higher) in [("web-0", "web-1"), ("web-1", "web-2")] {
            if seen.contains_key(higher) {
                assert!(
                    seen.get(lower).is_some_and(is_ready),
                    "{higher} before {lower} was ready"
                );
            }
        }
    };
    observe(&pods, "web", in_order, |seen| {
        all_ready(seen, &["web-0", "web-1", "web-2"])
    })
    .await;
    let seen = pods_of(&pods, "web").await;
    let web1 = &seen["web-1"];
    let spec = web1.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-1"));
    assert_eq!(spec.subdomain.as_deref(), Some("web"));
    assert_eq!(
        label(web1, "statefulset.kubernetes.io/pod-name"),
        Some("web-1")
    );
    assert_eq!(label(web1, "apps.kubernetes.io/pod-index"), Some("1"));
    let volume = &spec.volumes.as_ref().unwrap()[0];
    assert_eq!(
        volume.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data-web-1"
    );
    assert!(claims.get_opt("data-web-2").await.unwrap().is_some());

    // A deleted pod comes back under its name.
    let old_uid = web1.metadata.uid.clone();
    pods.delete("web-1", &Default::default()).await.unwrap();
    eventually(30, || async {
        let pod = pods.get_opt("web-1").await.unwrap()?;
        (pod.metadata.uid != old_uid && is_ready(&pod)).then_some(())
    })
    .await;
    let set = eventually(30, || async {
        let set = sets.get("web").await.unwrap();
        let status = set.status.clone()?;
        (status.ready_replicas == Some(3)).then_some(set)
    })
    .await;
    let status = set.status.unwrap();
    assert_eq!(status.replicas, 3);
    assert_eq!(status.current_replicas, Some(3));
    assert_eq!(status.updated_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(3));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.current_revision, status.update_revision);

    // Scaling down removes web-2 before web-1.
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["scale", "statefulset/web", "--replicas=1"])
        .await;
    let from_the_top = |seen: &BTreeMap<String, Pod>| {
        if !seen.contains_key("web-1") {
            assert!(!seen.contains_key("web-2"), "web-1 went before web-2");
        }
    };
    observe(&pods, "web", from_the_top, |seen| {
        all_ready(seen, &["web-0"])
    })
    .await;
    // The claims stay after a scale down, and go with the set.
    assert!(claims.get_opt("data-web-2").await.unwrap().is_some());
    kubectl
        .ok(&["delete", "statefulset", "web", "--wait=true"])
        .await;
    eventually(30, || async {
        let left = pods_of(&pods, "web").await;
        let claims_left = claims.list(&ListParams::default()).await.unwrap().items;
        (left.is_empty() && claims_left.is_empty()).then_some(())
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_template_change_rolls_from_the_highest_ordinal_with_revisions() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let sets: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let revisions: Api<ControllerRevision> = Api::default_namespaced(client.clone());
    sets.create(
        &PostParams::default(),
        &stateful_set("db", 3, "OrderedReady", json!({})),
    )
    .await
    .unwrap();
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["rollout", "status", "statefulset/db", "--timeout=60s"])
        .await;
    let first = sets.get("db").await.unwrap().status.unwrap();
    let old = first.update_revision.clone().unwrap();
    assert!(old.starts_with("db-"));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:2"}]}}}});
    sets.patch("db", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    // Pods take the new revision from the top down: a lower ordinal is never newer than a
    // higher one.
    let top_down = |seen: &BTreeMap<String, Pod>| {
        let old_at = |name: &str| {
            seen.get(name)
                .and_then(|p| label(p, "controller-revision-hash"))
                == Some(old.as_str())
        };
        for (lower, higher) in [("db-0", "db-1"), ("db-1", "db-2")] {
            if seen.contains_key(lower) && !old_at(lower) && seen.contains_key(higher) {
                assert!(!old_at(higher), "{lower} was updated before {higher}");
            }
        }
    };
    observe(&pods, "db", top_down, |seen| {
        all_ready(seen, &["db-0", "db-1", "db-2"])
            && seen
                .values()
                .all(|p| label(p, "controller-revision-hash") != Some(old.as_str()))
    })
    .await;
    kubectl
        .ok(&["rollout", "status", "statefulset/db", "--timeout=60s"])
        .await;
    let status = sets.get("db").await.unwrap().status.unwrap();
    let new = status.update_revision.clone().unwrap();
    assert_ne!(new, old);
    assert_eq!(status.current_revision.as_deref(), Some(new.as_str()));
    for pod in pods_of(&pods, "db").await.values() {
        assert_eq!(label(pod, "controller-revision-hash"), Some(new.as_str()));
        let image = pod.spec.as_ref().unwrap().containers[0].image.clone();
        assert_eq!(image.as_deref(), Some("nginx:2"));
    }
    let mut listed: Vec<(Option<i64>, String)> = revisions
        .list(&ListParams::default().labels("app=db"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| (r.revision, r.metadata.name.unwrap()))
        .collect();
    listed.sort();
    assert_eq!(listed, [(Some(1), old), (Some(2), new)]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn parallel_makes_every_pod_at_once_where_ordered_ready_waits() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let sets: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    // Pods that never become ready: their image cannot be pulled.
    let stuck = json!({"localcluster/unpullable-images": "nginx*"});
    for (name, policy) in [("fast", "Parallel"), ("slow", "OrderedReady")] {
        sets.create(
            &PostParams::default(),
            &stateful_set(name, 3, policy, stuck.clone()),
        )
        .await
        .unwrap();
    }
    eventually(30, || async {
        (pods_of(&pods, "fast").await.len() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let slow: Vec<String> = pods_of(&pods, "slow").await.into_keys().collect();
    assert_eq!(slow, ["slow-0"]);
    cluster.shutdown().await;
}
