//! Containers that end are restarted in place, as a kubelet does under `restartPolicy: Always`
//! or `OnFailure`: the pod stays (same uid, still Running), its `restartCount` grows and it waits
//! in `CrashLoopBackOff` between runs, so a ReplicaSet makes no new pod for it; a Job whose
//! `OnFailure` pods keep failing ends at its back-off limit by their restarts.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use localcluster::simulation::NodesConfig;
use serde_json::json;
use testkit::Kubectl;
use testkit::cluster;
use testkit::wait::eventually;

#[tokio::test]
async fn a_crashing_container_restarts_in_place_with_a_back_off() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let client = cluster.client().unwrap();
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let template = json!({"metadata": {"labels": {"app": "crash"},
        "annotations": {"localcluster/run-seconds": "0.2", "localcluster/exit-code": "1"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}});
    let set = json!({"metadata": {"name": "crash"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "crash"}}, "template": template}});
    sets.create(
        &PostParams::default(),
        &serde_json::from_value(set).unwrap(),
    )
    .await
    .unwrap();

    let selector = ListParams::default().labels("app=crash");
    let waiting = eventually(30, || async {
        let pod = pods
            .list(&selector)
            .await
            .unwrap()
            .items
            .into_iter()
            .next()?;
        let status = serde_json::to_value(pod.status.clone()?).ok()?;
        let container = &status["containerStatuses"][0];
        (container["state"]["waiting"]["reason"] == "CrashLoopBackOff").then_some((pod, status))
    })
    .await;
    let (pod, status) = waiting;
    let container = &status["containerStatuses"][0];
    assert_eq!(status["phase"], "Running", "{status}");
    assert_eq!(container["restartCount"], 1, "{status}");
    assert_eq!(container["lastState"]["terminated"]["exitCode"], 1);
    assert!(
        container["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .starts_with("back-off 10s restarting failed container=main pod="),
        "{status}"
    );
    // The same pod, and no other: nothing failed for the ReplicaSet to replace.
    let all = pods.list(&selector).await.unwrap().items;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].metadata.uid, pod.metadata.uid);

    // kubectl shows it as a user knows it.
    let kubectl = Kubectl::for_cluster(&cluster);
    let shown = kubectl.ok(&["get", "pods", "-l", "app=crash"]).await;
    assert!(shown.contains("CrashLoopBackOff"), "{shown}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn an_on_failure_job_ends_at_its_back_off_limit_by_restarts() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let client = cluster.client().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let job = json!({"metadata": {"name": "flaky"}, "spec": {"backoffLimit": 1, "template": {
        "metadata": {"annotations": {"localcluster/run-seconds": "0.2", "localcluster/exit-code": "1"}},
        "spec": {"restartPolicy": "OnFailure",
                 "containers": [{"name": "main", "image": "busybox"}]}}}});
    jobs.create(
        &PostParams::default(),
        &serde_json::from_value(job).unwrap(),
    )
    .await
    .unwrap();
    let failed = eventually(30, || async {
        let job = jobs.get("flaky").await.unwrap();
        let status = serde_json::to_value(job.status?).ok()?;
        status["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Failed" && c["status"] == "True")
            .cloned()
    })
    .await;
    assert_eq!(failed["reason"], "BackoffLimitExceeded", "{failed}");
    cluster.shutdown().await;
}
