//! Applications that cannot make progress say why, on their status and in Events, and start
//! timeouts end what cannot start, with the restart policy following.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, ResourceQuota};

use spark_operator_api::{
    ApplicationStateType as State, RestartPolicy, RestartPolicyType, SparkApplication,
};
use testkit::Env;
use testkit::fixtures::SparkApplicationFixture;

/// The scheduler's words for a node selector no node matches.
const NO_NODE: &str = "didn't match Pod's node affinity/selector";

fn selecting_no_node(name: &str) -> SparkApplication {
    SparkApplication::spark_pi(name)
        .runs_for("0.2")
        .with(|app| {
            app.spec
                .driver
                .pod
                .node_selector
                .insert("disk".into(), "nvme".into());
        })
}

async fn error_message(env: &Env, name: &str) -> Option<String> {
    env.app(name).await?.status?.application_state.error_message
}

#[tokio::test]
async fn an_unschedulable_driver_is_said_on_the_application() {
    let env = Env::start().await;
    env.create(&selecting_no_node("stuck").to_yaml()).await;
    let message = testkit::eventually(10, || async {
        error_message(&env, "stuck")
            .await
            .filter(|m| m.contains(NO_NODE))
    })
    .await;
    assert!(
        message.starts_with(
            "driver pod stuck-driver is not running: Unschedulable: 0/3 nodes are available"
        ),
        "{message}"
    );
    assert_eq!(
        env.app("stuck")
            .await
            .unwrap()
            .status
            .unwrap()
            .application_state
            .state,
        State::Submitted
    );
    let reasons = env
        .event_reasons_including("stuck", &["SparkDriverUnschedulable"])
        .await;
    assert_eq!(
        reasons
            .iter()
            .filter(|r| *r == "SparkDriverUnschedulable")
            .count(),
        1,
        "one Event for the reason: {reasons:?}"
    );
    let driver = env.pods().get("stuck-driver").await.unwrap();
    assert_eq!(
        driver.spec.unwrap().enable_service_links,
        Some(false),
        "Spark pods take no Service environment variables"
    );
    // A node that matches: the application goes on, and the reason goes.
    let node = env.cluster.client().map(kube::Api::<Node>::all).unwrap();
    let first = node.list(&Default::default()).await.unwrap().items[0].clone();
    let name = first.metadata.name.unwrap();
    env.kubectl("label")
        .ok(&["label", "node", &name, "disk=nvme"])
        .await;
    let done = env.wait_for("stuck", State::Completed, 30).await;
    assert_eq!(done.status.unwrap().application_state.error_message, None);
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_is_said() {
    let env = Env::start().await;
    let app = SparkApplication::spark_pi("unpulled").with(|app| {
        app.spec.image = Some("registry.example.com/spark:gone".into());
        app.spec.driver.pod.annotations.insert(
            "localcluster/unpullable-images".into(),
            "registry.example.com/*".into(),
        );
    });
    env.create(&app.to_yaml()).await;
    let message = testkit::eventually(10, || async {
        error_message(&env, "unpulled")
            .await
            .filter(|m| m.contains("not running"))
    })
    .await;
    assert!(
        message.contains("ErrImagePull") || message.contains("ImagePullBackOff"),
        "{message}"
    );
    assert!(
        message.contains("registry.example.com/spark:gone"),
        "{message}"
    );
    env.event_reasons_including("unpulled", &["SparkDriverImagePullFailed"])
        .await;
}

#[tokio::test]
async fn a_missing_config_map_is_said_with_the_kubelet_s_words() {
    let env = Env::start().await;
    let app = SparkApplication::spark_pi("unmounted").with(|app| {
        app.spec.driver.pod.config_maps.push(
            serde_json::from_value(
                serde_json::json!({"name": "settings", "path": "/etc/settings"}),
            )
            .unwrap(),
        );
    });
    env.create(&app.to_yaml()).await;
    let message = testkit::eventually(20, || async {
        error_message(&env, "unmounted")
            .await
            .filter(|m| m.contains("FailedMount"))
    })
    .await;
    assert!(
        message.contains(r#"configmap "settings" not found"#),
        "{message}"
    );
    env.event_reasons_including("unmounted", &["SparkDriverMountFailed"])
        .await;
}

#[tokio::test]
async fn executors_a_quota_refuses_are_said() {
    let env = Env::start().await;
    let quota: ResourceQuota = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "compute"},
        "spec": {"hard": {"requests.cpu": "1"}},
    }))
    .unwrap();
    kube::Api::<ResourceQuota>::namespaced(env.client.clone(), "default")
        .create(&Default::default(), &quota)
        .await
        .unwrap();
    let app = SparkApplication::spark_pi("crowded")
        .runs_for("forever")
        .executors(1);
    env.create(&app.to_yaml()).await;
    env.wait_for("crowded", State::Running, 30).await;
    let message = testkit::eventually(20, || async {
        error_message(&env, "crowded")
            .await
            .filter(|m| m.contains("quota"))
    })
    .await;
    assert_eq!(
        message,
        "0 of 1 executor pods exist: exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=1, limited: requests.cpu=1"
    );
    env.event_reasons_including("crowded", &["SparkExecutorQuotaExceeded"])
        .await;
}

#[tokio::test]
async fn a_driver_that_does_not_start_in_time_fails_after_its_retries() {
    let mut env = Env::without_operator().await;
    let mut config = env.config();
    config.lifecycle.driver_start_timeout = Some(Duration::from_secs(2));
    env.start_operator_with(config);
    let app = selecting_no_node("late").with(|app| {
        app.spec.restart_policy = Some(RestartPolicy {
            policy_type: Some(RestartPolicyType::OnFailure),
            on_failure_retries: Some(1),
            on_failure_retry_interval: Some(1),
            ..RestartPolicy::default()
        })
    });
    env.create(&app.to_yaml()).await;
    let failed = env.wait_for("late", State::Failed, 30).await;
    let status = failed.status.unwrap();
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(
        message.contains("driver pod late-driver did not start within 2s")
            && message.contains(NO_NODE),
        "{message}"
    );
    assert_eq!(
        status.execution_attempts,
        Some(2),
        "retried once, as OnFailure says"
    );
    assert_eq!(
        env.events_with_reason("late", "SparkDriverStartTimeout")
            .await,
        2
    );
    testkit::eventually(10, || async {
        env.pod_names("late", "driver")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn executors_that_do_not_start_in_time_fail_the_application() {
    let mut env = Env::without_operator().await;
    let mut config = env.config();
    config.lifecycle.executor_start_timeout = Some(Duration::from_secs(2));
    env.start_operator_with(config);
    let app = SparkApplication::spark_pi("lonely")
        .runs_for("forever")
        .executors(1)
        .with(|app| {
            app.spec
                .executor
                .pod
                .node_selector
                .insert("disk".into(), "nvme".into());
        });
    env.create(&app.to_yaml()).await;
    let failed = env.wait_for("lonely", State::Failed, 30).await;
    let message = failed
        .status
        .unwrap()
        .application_state
        .error_message
        .unwrap_or_default();
    assert!(
        message.starts_with("no executor started within 2s of the driver: 1 of 1 executor pods are not running: Unschedulable")
            && message.contains(NO_NODE),
        "{message}"
    );
    assert!(
        env.event_reasons("lonely")
            .await
            .iter()
            .any(|r| r == "SparkExecutorUnschedulable")
    );
}
