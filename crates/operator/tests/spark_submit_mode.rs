//! The spark-submit submission mode: Spark's own `spark-submit` (from pyspark, which `.ci/run`
//! installs) against the local cluster, driving the same lifecycle as native submission; and the
//! per-application annotation that chooses it.

mod common;

use common::{Env, spark_pi};
use kube::ResourceExt;
use spark_operator::config::{ControllerConfig, SubmitterKind};
use spark_operator::submission::spark_submit::find_spark_home;
use spark_operator_api::ApplicationStateType as State;

/// An operator submitting through spark-submit, or `None` (with a notice) without Spark.
async fn spark_submit_env(name: &str) -> Option<Env> {
    if let Err(error) = find_spark_home(None) {
        eprintln!("skipping: {error}");
        return None;
    }
    let mut env = Env::without_operator().await;
    let kubeconfig = std::env::temp_dir().join(format!(
        "spark-submit-mode-{}-{name}.kubeconfig",
        std::process::id()
    ));
    env.cluster.write_kubeconfig(&kubeconfig).unwrap();
    let mut config = env.config();
    config.submitter = SubmitterKind::SparkSubmit;
    config.spark_submit.kubeconfig = Some(kubeconfig);
    config.spark_submit.timeout = std::time::Duration::from_secs(300);
    env.start_operator_with(config);
    Some(env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_pi_completes_through_spark_submit() {
    let Some(env) = spark_submit_env("pi").await else {
        return;
    };
    env.create(&spark_pi(
        "pi-submitted",
        r#""localcluster/run-seconds": "1""#,
        "",
    ))
    .await;
    let app = env.wait_for("pi-submitted", State::Completed, 240).await;
    let status = app.status.clone().unwrap();
    assert_eq!(
        (status.submission_attempts, status.execution_attempts),
        (Some(1), Some(1))
    );
    assert_eq!(
        status.driver_info.pod_name.as_deref(),
        Some("pi-submitted-driver")
    );
    assert_eq!(
        status.driver_info.web_ui_service_name.as_deref(),
        Some("pi-submitted-ui-svc")
    );
    assert!(
        status
            .spark_application_id
            .as_deref()
            .is_some_and(|id| id.starts_with("spark-"))
    );
    assert_eq!(
        status.executor_state.len(),
        2,
        "executors created from spark-submit's properties"
    );
    let driver = env.pods().get("pi-submitted-driver").await.unwrap();
    assert!(
        driver
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == app.metadata.uid.as_ref()),
        "owned by the application"
    );
    assert_eq!(
        driver.labels().get("sparkoperator.k8s.io/submission-id"),
        status.submission_id.as_ref(),
        "the attempt's id is on spark-submit's driver, so a restarted operator adopts it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_resubmitted_through_spark_submit() {
    let Some(env) = spark_submit_env("retry").await else {
        return;
    };
    let policy = "  restartPolicy:\n    type: OnFailure\n    onFailureRetries: 1\n    onFailureRetryInterval: 1\n";
    let annotations = r#""localcluster/run-seconds": "0.5", "localcluster/exit-codes": "1,0""#;
    env.create(&spark_pi("resubmitted", annotations, policy))
        .await;
    let status = env
        .wait_for("resubmitted", State::Completed, 300)
        .await
        .status
        .unwrap();
    assert_eq!(
        (status.submission_attempts, status.execution_attempts),
        (Some(2), Some(2))
    );
}

#[tokio::test]
async fn the_annotation_chooses_the_submitter_per_application() {
    let mut env = Env::without_operator().await;
    let mut config: ControllerConfig = env.config();
    // An installation that is not there: an application that asks for spark-submit says so.
    config.spark_submit.spark_home = Some("/nonexistent/spark".into());
    env.start_operator_with(config);
    let annotate = |name: &str, submitter: &str| {
        spark_pi(name, r#""localcluster/run-seconds": "0.2""#, "")
            .replacen("  namespace: default\n", &format!("  namespace: default\n  annotations: {{sparkoperator.k8s.io/submitter: {submitter}}}\n"), 1)
    };
    env.create(&annotate("via-spark-submit", "spark-submit"))
        .await;
    env.create(&annotate("via-native", "native")).await;
    env.create(&annotate("via-typo", "spark-sumbit")).await;

    env.wait_for("via-native", State::Completed, 30).await;
    let failed = env
        .wait_for("via-spark-submit", State::Failed, 30)
        .await
        .status
        .unwrap();
    let message = failed.application_state.error_message.unwrap_or_default();
    assert!(
        message.contains("spark-submit not found") && message.contains("/nonexistent/spark"),
        "{message}"
    );
    let typo = env
        .wait_for("via-typo", State::Failed, 30)
        .await
        .status
        .unwrap();
    let message = typo.application_state.error_message.unwrap_or_default();
    assert!(
        message.contains("sparkoperator.k8s.io/submitter") && message.contains("spark-sumbit"),
        "{message}"
    );
}
