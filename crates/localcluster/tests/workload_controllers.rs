//! The workload controllers at work, through kube-rs and the real kubectl: Deployments make
//! ReplicaSets that make pods, roll out new templates and scale; ReplicaSets and
//! ReplicationControllers replace pods that go; deleting an owner deletes what it made unless
//! asked to orphan it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use localcluster::LocalCluster;
use localcluster::simulation::NodesConfig;
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::cluster;
use testkit::wait::eventually;

fn deployment(name: &str, replicas: i32, image: &str, strategy: Value) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
        "replicas": replicas,
        "strategy": strategy,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": image}]}}}}))
    .unwrap()
}

/// The running, ready pods that `selector` selects, by name.
async fn ready_pods(pods: &Api<Pod>, selector: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .collect()
}

async fn wait_ready(pods: &Api<Pod>, selector: &str, count: usize) -> Vec<Pod> {
    let pods = pods.clone();
    let selector = selector.to_string();
    eventually(20, move || {
        let (pods, selector) = (pods.clone(), selector.clone());
        async move {
            let ready = ready_pods(&pods, &selector).await;
            (ready.len() == count).then_some(ready)
        }
    })
    .await
}

async fn replica_sets_of(sets: &Api<ReplicaSet>, app: &str) -> BTreeMap<String, ReplicaSet> {
    sets.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| (s.metadata.name.clone().unwrap(), s))
        .collect()
}

/// A cluster whose simulated nodes run the pods.
async fn start() -> LocalCluster {
    cluster::start_with_nodes(NodesConfig::default()).await
}

#[tokio::test]
async fn a_deployment_runs_its_pods_through_a_replica_set_and_replaces_lost_ones() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deployments
        .create(
            &PostParams::default(),
            &deployment("web", 3, "nginx:1.27", Value::Null),
        )
        .await
        .unwrap();
    let running = wait_ready(&pods, "app=web", 3).await;

    let set = replica_sets_of(&sets, "web")
        .await
        .into_values()
        .next()
        .unwrap();
    let hash = set.metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(
        set.metadata.name.as_deref(),
        Some(format!("web-{hash}").as_str())
    );
    let owner = &set.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(
        set.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );
    for pod in &running {
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()["pod-template-hash"],
            hash
        );
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("ReplicaSet", Some(true))
        );
        assert!(
            pod.metadata
                .name
                .as_ref()
                .unwrap()
                .starts_with(&format!("web-{hash}-"))
        );
    }

    let done = eventually(20, || async {
        let d = deployments.get("web").await.unwrap();
        let status = d.status.clone().unwrap_or_default();
        (status.available_replicas == Some(3) && status.updated_replicas == Some(3)).then_some(d)
    })
    .await;
    let status = done.status.unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.ready_replicas, Some(3));
    let reasons: Vec<(String, String)> = serde_json::to_value(status.conditions.unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().into(),
                c["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("Available".into(), "MinimumReplicasAvailable".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("Progressing".into(), "NewReplicaSetAvailable".into())),
        "{reasons:?}"
    );
    assert_eq!(
        done.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "1"
    );

    // A deleted pod is replaced by a new one.
    let lost = running[0].metadata.name.clone().unwrap();
    pods.delete(&lost, &DeleteParams::default()).await.unwrap();
    let again = wait_ready(&pods, "app=web", 3).await;
    assert!(
        again
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(lost.as_str()))
    );

    // kubectl scale and rollout status.
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["scale", "deployment", "web", "--replicas=5"])
        .await;
    let rolled = kubectl
        .ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert!(rolled.contains("successfully rolled out"), "{rolled}");
    wait_ready(&pods, "app=web", 5).await;
    kubectl
        .ok(&["scale", "deployment", "web", "--replicas=2"])
        .await;
    wait_ready(&pods, "app=web", 2).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_rolling_update_keeps_the_pods_available_and_empties_the_old_replica_set() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let strategy = json!({"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    deployments
        .create(
            &PostParams::default(),
            &deployment("api", 3, "api:1", strategy),
        )
        .await
        .unwrap();
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["rollout", "status", "deployment/api", "--timeout=30s"])
        .await;

    kubectl
        .ok(&["set", "image", "deployment/api", "main=api:2"])
        .await;
    // While it rolls, at least 3 ready pods serve at every moment (maxUnavailable 0), and never
    // more than 4 pods exist (maxSurge 1).
    let watch = {
        let pods = pods.clone();
        tokio::spawn(async move {
            let mut fewest = usize::MAX;
            let mut most = 0;
            for _ in 0..200 {
                let all = pods
                    .list(&ListParams::default().labels("app=api"))
                    .await
                    .unwrap()
                    .items;
                let live = all
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .count();
                most = most.max(live);
                fewest = fewest.min(ready_pods(&pods, "app=api").await.len());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            (fewest, most)
        })
    };
    let rolled = kubectl
        .ok(&["rollout", "status", "deployment/api", "--timeout=60s"])
        .await;
    assert!(rolled.contains("successfully rolled out"), "{rolled}");
    let (fewest, most) = watch.await.unwrap();
    assert!(fewest >= 3, "only {fewest} ready pods during the rollout");
    assert!(most <= 4, "{most} pods during the rollout");

    let by_name = replica_sets_of(&sets, "api").await;
    assert_eq!(by_name.len(), 2, "{:?}", by_name.keys());
    let replicas: Vec<(String, i32, String)> = by_name
        .values()
        .map(|s| {
            (
                s.spec
                    .template
                    .as_ref()
                    .unwrap()
                    .spec
                    .as_ref()
                    .unwrap()
                    .containers[0]
                    .image
                    .clone()
                    .unwrap(),
                s.spec.replicas.unwrap(),
                s.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"]
                    .clone(),
            )
        })
        .collect();
    assert!(
        replicas.contains(&("api:1".into(), 0, "1".into())),
        "{replicas:?}"
    );
    assert!(
        replicas.contains(&("api:2".into(), 3, "2".into())),
        "{replicas:?}"
    );
    let ready = wait_ready(&pods, "app=api", 3).await;
    assert!(
        ready
            .iter()
            .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref() == Some("api:2"))
    );

    // Undo goes back to the first template as revision 3.
    kubectl.ok(&["rollout", "undo", "deployment/api"]).await;
    kubectl
        .ok(&["rollout", "status", "deployment/api", "--timeout=60s"])
        .await;
    let d = deployments.get("api").await.unwrap();
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "3"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn recreate_removes_the_old_pods_before_making_new_ones() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deployments
        .create(
            &PostParams::default(),
            &deployment("db", 2, "db:1", json!({"type": "Recreate"})),
        )
        .await
        .unwrap();
    wait_ready(&pods, "app=db", 2).await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "db:2"}]}}}});
    deployments
        .patch("db", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    // Never old and new pods at once.
    let saw_mixed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = eventually(30, || {
        let pods = pods.clone();
        let saw = saw_mixed.clone();
        async move {
            let all = pods
                .list(&ListParams::default().labels("app=db"))
                .await
                .unwrap()
                .items;
            let images: Vec<String> = all
                .iter()
                .map(|p| {
                    p.spec.as_ref().unwrap().containers[0]
                        .image
                        .clone()
                        .unwrap()
                })
                .collect();
            if images.contains(&"db:1".to_string()) && images.contains(&"db:2".to_string()) {
                saw.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            (images.len() == 2 && images.iter().all(|i| i == "db:2")).then_some(())
        }
    });
    done.await;
    assert!(
        !saw_mixed.load(std::sync::atomic::Ordering::Relaxed),
        "old and new pods ran at once"
    );
    wait_ready(&pods, "app=db", 2).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn deleting_a_deployment_cascades_unless_orphaning() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    for name in ["gone", "kept"] {
        deployments
            .create(
                &PostParams::default(),
                &deployment(name, 2, "app:1", Value::Null),
            )
            .await
            .unwrap();
        wait_ready(&pods, &format!("app={name}"), 2).await;
    }
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["delete", "deployment", "gone", "--wait=true"])
        .await;
    eventually(20, || async {
        let left = pods
            .list(&ListParams::default().labels("app=gone"))
            .await
            .unwrap()
            .items;
        let sets_left = replica_sets_of(&sets, "gone").await;
        (left.is_empty() && sets_left.is_empty()).then_some(())
    })
    .await;

    kubectl
        .ok(&["delete", "deployment", "kept", "--cascade=orphan"])
        .await;
    eventually(20, || async {
        deployments
            .get_opt("kept")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let orphaned = replica_sets_of(&sets, "kept").await;
    assert_eq!(orphaned.len(), 1);
    let set = orphaned.into_values().next().unwrap();
    assert!(set.metadata.owner_references.unwrap_or_default().is_empty());
    // The orphaned ReplicaSet keeps its pods.
    wait_ready(&pods, "app=kept", 2).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn replica_sets_and_replication_controllers_keep_their_count() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let controllers: Api<ReplicationController> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let set: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "cache"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "cache"}},
        "template": {"metadata": {"labels": {"app": "cache"}},
            "spec": {"containers": [{"name": "main", "image": "redis:7"}]}}}}))
    .unwrap();
    sets.create(&PostParams::default(), &set).await.unwrap();
    let rc: ReplicationController = serde_json::from_value(json!({"metadata": {"name": "legacy"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "legacy"}},
            "spec": {"containers": [{"name": "main", "image": "legacy:1"}]}}}}))
    .unwrap();
    controllers
        .create(&PostParams::default(), &rc)
        .await
        .unwrap();
    let first = wait_ready(&pods, "app=cache", 3).await;
    wait_ready(&pods, "app=legacy", 2).await;
    assert!(
        first
            .iter()
            .all(|p| p.metadata.generate_name.as_deref() == Some("cache-"))
    );

    let status = eventually(20, || async {
        let s = sets.get("cache").await.unwrap().status.unwrap();
        (s.available_replicas == Some(3)).then_some(s)
    })
    .await;
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.fully_labeled_replicas
        ),
        (3, Some(3), Some(3))
    );
    assert_eq!(status.observed_generation, Some(1));
    eventually(20, || async {
        let s = controllers.get("legacy").await.unwrap().status.unwrap();
        (s.ready_replicas == Some(2) && s.available_replicas == Some(2)).then_some(())
    })
    .await;

    // Scaling down keeps the oldest; a pod deleted is replaced.
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["scale", "replicaset", "cache", "--replicas=1"])
        .await;
    let left = wait_ready(&pods, "app=cache", 1).await;
    let oldest = first
        .iter()
        .min_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
        .unwrap();
    assert_eq!(
        left[0].metadata.creation_timestamp,
        oldest.metadata.creation_timestamp
    );
    kubectl
        .ok(&["delete", "pod", "-l", "app=legacy", "--wait=false"])
        .await;
    wait_ready(&pods, "app=legacy", 2).await;
    cluster.shutdown().await;
}
