//! DaemonSets on a cluster of three nodes: one pod per node that fits its selector and taints,
//! a rolling update node by node, and cascade deletion.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::wait::eventually;

use super::{is_ready, label, pods_of, start};

fn daemon_set(name: &str, extra: Value) -> DaemonSet {
    let mut spec = json!({"containers": [{"name": "main", "image": "agent:1"}]});
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}))
    .unwrap()
}

/// The nodes `app`'s ready pods run on, once there are `count` of them, one per node.
async fn ready_on(pods: &Api<Pod>, app: &str, count: usize) -> BTreeSet<String> {
    eventually(30, || async {
        let seen = pods_of(pods, app).await;
        let nodes: BTreeSet<String> = seen
            .values()
            .filter(|p| is_ready(p))
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect();
        (seen.len() == count && nodes.len() == count).then_some(nodes)
    })
    .await
}

fn node(i: usize) -> String {
    format!("localcluster-node-{i}")
}

#[tokio::test]
async fn a_daemon_set_runs_one_pod_on_each_node_that_fits_and_rolls_them() {
    let cluster = start().await;
    let client = cluster.client().unwrap();
    let sets: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl
        .ok(&["taint", "node", &node(2), "dedicated=infra:NoSchedule"])
        .await;
    kubectl.ok(&["label", "node", &node(0), "role=edge"]).await;
    let tolerate = json!({"tolerations": [{"key": "dedicated", "operator": "Exists"}]});
    let edge_only = json!({"nodeSelector": {"role": "edge"}});
    for (name, extra) in [
        ("agent", json!({})),
        ("infra", tolerate),
        ("edge", edge_only),
    ] {
        sets.create(&PostParams::default(), &daemon_set(name, extra))
            .await
            .unwrap();
    }
    // The tainted node gets no pod unless the pod tolerates its taint.
    assert_eq!(
        ready_on(&pods, "agent", 2).await,
        BTreeSet::from([node(0), node(1)])
    );
    assert_eq!(ready_on(&pods, "infra", 3).await.len(), 3);
    assert_eq!(ready_on(&pods, "edge", 1).await, BTreeSet::from([node(0)]));

    // Pods are pinned by node affinity and tolerate what Kubernetes adds.
    let agent = pods_of(&pods, "agent").await.into_values().next().unwrap();
    let spec = agent.spec.as_ref().unwrap();
    let required = spec
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap();
    let field = &required.node_selector_terms[0]
        .match_fields
        .as_ref()
        .unwrap()[0];
    assert_eq!(field.key, "metadata.name");
    assert_eq!(
        field.values.as_deref(),
        Some(&[spec.node_name.clone().unwrap()][..])
    );
    let keys: BTreeSet<String> = spec
        .tolerations
        .iter()
        .flatten()
        .filter_map(|t| t.key.clone())
        .collect();
    for key in [
        "not-ready",
        "unreachable",
        "disk-pressure",
        "memory-pressure",
        "pid-pressure",
        "unschedulable",
    ] {
        assert!(
            keys.contains(&format!("node.kubernetes.io/{key}")),
            "no toleration of {key}"
        );
    }
    let old_hash = label(&agent, "controller-revision-hash")
        .unwrap()
        .to_string();
    assert_eq!(label(&agent, "pod-template-generation"), Some("1"));

    // A node that stops matching loses its pod; one that starts matching gets one.
    kubectl.ok(&["label", "node", &node(0), "role-"]).await;
    kubectl.ok(&["label", "node", &node(1), "role=edge"]).await;
    eventually(30, || async {
        let seen = pods_of(&pods, "edge").await;
        let on = |p: &Pod| p.spec.as_ref()?.node_name.clone();
        let moved = seen.len() == 1 && seen.values().all(|p| is_ready(p) && on(p) == Some(node(1)));
        moved.then_some(())
    })
    .await;

    kubectl
        .ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"])
        .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "agent:2"}]}}}});
    sets.patch("agent", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    kubectl
        .ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"])
        .await;
    ready_on(&pods, "agent", 2).await;
    for pod in pods_of(&pods, "agent").await.values() {
        assert_ne!(
            label(pod, "controller-revision-hash"),
            Some(old_hash.as_str())
        );
        let image = pod.spec.as_ref().unwrap().containers[0].image.clone();
        assert_eq!(image.as_deref(), Some("agent:2"));
    }
    let status = eventually(30, || async {
        let status = sets.get("agent").await.unwrap().status?;
        (status.number_available == Some(2)).then_some(status)
    })
    .await;
    assert_eq!(status.desired_number_scheduled, 2);
    assert_eq!(status.current_number_scheduled, 2);
    assert_eq!(status.updated_number_scheduled, Some(2));
    assert_eq!(status.number_ready, 2);
    assert_eq!(status.number_available, Some(2));
    assert_eq!(status.number_misscheduled, 0);
    assert_eq!(status.observed_generation, Some(2));
    let history = kubectl.ok(&["rollout", "history", "daemonset/agent"]).await;
    assert!(history.contains('1') && history.contains('2'), "{history}");

    kubectl
        .ok(&["delete", "daemonset", "agent", "--wait=true"])
        .await;
    eventually(30, || async {
        pods_of(&pods, "agent").await.is_empty().then_some(())
    })
    .await;
    cluster.shutdown().await;
}
