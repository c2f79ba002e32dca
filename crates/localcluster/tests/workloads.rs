//! The workload kinds as the API server serves them, through kube-rs and the real kubectl:
//! Deployments defaulted and scaled (`kubectl scale`, the `scale` subresource), Jobs with the
//! selector made from their uid, CronJobs, StatefulSets, DaemonSets, ReplicaSets,
//! ReplicationControllers, ControllerRevisions and APIServices served with their defaults and
//! checks.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::cluster;

fn template(labels: Value, restart: &str) -> Value {
    json!({"metadata": {"labels": labels},
        "spec": {"restartPolicy": restart, "containers": [{"name": "main", "image": "busybox:1.36"}]}})
}

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"app": name}},
        "template": template(json!({"app": name}), "Always")}}))
    .unwrap()
}

#[tokio::test]
async fn deployments_are_defaulted_checked_and_scaled() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let created = deployments
        .create(&PostParams::default(), &deployment("web"))
        .await
        .unwrap();
    let spec = created.spec.clone();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let strategy = spec.strategy.unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let rolling = strategy.rolling_update.unwrap();
    assert_eq!(
        (rolling.max_surge, rolling.max_unavailable),
        (
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into())),
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("25%".into()))
        )
    );
    let pod_spec = spec.template.spec.unwrap();
    assert_eq!(pod_spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod_spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(
        pod_spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(created.metadata.generation, Some(1));

    // A selector that does not select the template is refused, naming the field.
    let mut mismatched = deployment("api");
    mismatched.spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into());
    let kube::Error::Api(refused) = deployments
        .create(&PostParams::default(), &mismatched)
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert_eq!(refused.code, 422);
    assert!(
        refused.message.contains(
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\"}: `selector` does not match template `labels`"
        ),
        "{}",
        refused.message
    );

    // kubectl scale goes through the scale subresource.
    let kubectl = Kubectl::for_cluster(&cluster);
    let scaled = kubectl
        .ok(&["scale", "deployment", "web", "--replicas=3"])
        .await;
    assert_eq!(scaled.trim(), "deployment.apps/web scaled");
    let now = deployments.get("web").await.unwrap();
    assert_eq!(now.spec.replicas, Some(3));
    assert_eq!(now.metadata.generation, Some(2));
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(3));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let (ok, negative) = kubectl
        .run(&["scale", "deployment", "web", "--replicas=-1"])
        .await;
    assert!(!ok, "{negative}");
    cluster.shutdown().await;
}

#[tokio::test]
async fn jobs_and_cron_jobs_are_defaulted_and_checked() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let job: Job = serde_json::from_value(
        json!({"metadata": {"name": "pi"}, "spec": {"template": template(json!({}), "Never")}}),
    )
    .unwrap();
    let created = jobs.create(&PostParams::default(), &job).await.unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(
        (spec.completions, spec.parallelism, spec.backoff_limit),
        (Some(1), Some(1), Some(6))
    );
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    let selected = spec.selector.unwrap().match_labels.unwrap();
    assert_eq!(selected["batch.kubernetes.io/controller-uid"], uid);
    let labels = spec.template.metadata.unwrap().labels.unwrap();
    assert_eq!(labels["job-name"], "pi");
    assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);

    let always: Job = serde_json::from_value(
        json!({"metadata": {"name": "bad"}, "spec": {"template": template(json!({}), "Always")}}),
    )
    .unwrap();
    let kube::Error::Api(refused) = jobs
        .create(&PostParams::default(), &always)
        .await
        .unwrap_err()
    else {
        panic!("expected an API error")
    };
    assert!(
        refused.message.contains(
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
        ),
        "{}",
        refused.message
    );

    let cron_jobs: Api<CronJob> = Api::default_namespaced(client.clone());
    let cron: CronJob = serde_json::from_value(json!({"metadata": {"name": "nightly"}, "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {"spec": {"template": template(json!({}), "OnFailure")}}}}))
    .unwrap();
    let created = cron_jobs
        .create(&PostParams::default(), &cron)
        .await
        .unwrap();
    let spec = created.spec;
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Allow"));
    assert_eq!(
        (
            spec.successful_jobs_history_limit,
            spec.failed_jobs_history_limit
        ),
        (Some(3), Some(1))
    );
    let kubectl = Kubectl::for_cluster(&cluster);
    let listed = kubectl.ok(&["get", "jobs,cronjobs", "-o", "name"]).await;
    assert_eq!(listed.trim(), "job.batch/pi\ncronjob.batch/nightly");
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_other_workload_kinds_are_served() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let sets: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let set: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
        "template": template(json!({"app": "db"}), "Always")}}))
    .unwrap();
    let created = sets.create(&PostParams::default(), &set).await.unwrap();
    let spec = created.spec;
    assert_eq!(spec.pod_management_policy.as_deref(), Some("OrderedReady"));
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(created.status.unwrap().replicas, 0);

    let daemons: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let daemon: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": template(json!({"app": "agent"}), "Always")}}))
    .unwrap();
    let created = daemons
        .create(&PostParams::default(), &daemon)
        .await
        .unwrap();
    assert_eq!(
        created.spec.update_strategy.unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );

    let controllers: Api<ReplicationController> = Api::default_namespaced(client.clone());
    let controller: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {"template": template(json!({"app": "legacy"}), "Always")}}))
    .unwrap();
    let created = controllers
        .create(&PostParams::default(), &controller)
        .await
        .unwrap();
    let selector = created.spec.unwrap().selector.unwrap();
    assert_eq!(
        selector["app"], "legacy",
        "the selector defaults to the template's labels"
    );

    let kubectl = Kubectl::for_cluster(&cluster);
    let (applied, output) = kubectl
        .apply(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: front\nspec:\n  selector:\n    matchLabels:\n      app: front\n  template:\n    metadata:\n      labels:\n        app: front\n    spec:\n      containers:\n      - name: main\n        image: busybox:1.36\n---\napiVersion: apps/v1\nkind: ControllerRevision\nmetadata:\n  name: db-1\nrevision: 1\ndata: {}\n---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: v1beta1.metrics.k8s.io\nspec:\n  group: metrics.k8s.io\n  version: v1beta1\n  groupPriorityMinimum: 100\n  versionPriority: 100\n  insecureSkipTLSVerify: true\n  service:\n    name: metrics-server\n    namespace: kube-system\n",
        )
        .await;
    assert!(applied, "{output}");
    let listed = kubectl
        .ok(&[
            "get",
            "statefulsets,daemonsets,replicasets,replicationcontrollers",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        listed.trim(),
        "statefulset.apps/db\ndaemonset.apps/agent\nreplicaset.apps/front\nreplicationcontroller/legacy"
    );
    // Beside the one applied, the StatefulSet's and DaemonSet's controllers record theirs.
    let revisions = kubectl
        .ok(&["get", "controllerrevisions", "-o", "name"])
        .await;
    assert!(
        revisions
            .lines()
            .any(|r| r == "controllerrevision.apps/db-1"),
        "{revisions}"
    );
    let scaled = kubectl
        .ok(&["scale", "replicaset", "front", "--replicas=2"])
        .await;
    assert_eq!(scaled.trim(), "replicaset.apps/front scaled");
    let services = kubectl.ok(&["get", "apiservices", "-o", "name"]).await;
    assert_eq!(
        services.trim(),
        "apiservice.apiregistration.k8s.io/v1beta1.metrics.k8s.io"
    );
    cluster.shutdown().await;
}
