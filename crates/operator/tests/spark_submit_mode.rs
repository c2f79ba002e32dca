//! The per-application annotation that chooses the submitter. The lifecycle in spark-submit mode,
//! through Spark's own `spark-submit`, is tested by the scenarios of application.rs and retries.rs,
//! which run in both modes.

use spark_operator::config::ControllerConfig;
use spark_operator_api::ApplicationStateType as State;
use testkit::fixtures::spark_pi;
use testkit::{Env, Mode, eventually};

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

/// A stopping operator finishes the spark-submit runs under way and starts no more: the
/// applications still waiting for their turn are left, unsubmitted, to the next operator, which
/// submits each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_operator_starts_no_more_spark_submit_runs() {
    let Some(mut env) = Env::without_operator_in(Mode::SparkSubmit).await else {
        return;
    };
    let mut config = env.config();
    config.spark_submit.max_concurrent = 1;
    env.start_operator_with(config);
    let names: Vec<String> = (0..4).map(|i| format!("queued-{i}")).collect();
    for name in &names {
        env.create(&spark_pi(name, r#""localcluster/run-seconds": "0.2""#, ""))
            .await;
    }
    // The first run has created its driver; the others wait for it.
    eventually(120, || async {
        let drivers = env.pods().list(&driver_pods()).await.ok()?.items;
        (!drivers.is_empty()).then_some(())
    })
    .await;
    env.stop_operator().await;

    let submitted_before_the_stop = env.pods().list(&driver_pods()).await.unwrap().items.len();
    assert!(
        submitted_before_the_stop < names.len(),
        "every queued spark-submit run went ahead after the stop"
    );
    for name in &names {
        let status = env.app(name).await.and_then(|app| app.status);
        let state = status.as_ref().map(|s| s.application_state.state);
        assert!(
            !matches!(
                state,
                Some(State::Failed | State::SubmissionFailed | State::Failing)
            ),
            "{name} is {state:?}: a run left to the next operator must not fail the application"
        );
    }

    env.start_operator();
    for name in &names {
        let status = env
            .wait_for(name, State::Completed, 120)
            .await
            .status
            .unwrap();
        assert_eq!(status.submission_attempts, Some(1), "{name}");
        let submissions = env
            .events_with_reason(name, "SparkApplicationSubmitted")
            .await;
        assert_eq!(submissions, 1, "{name}: SparkApplicationSubmitted events");
    }
}

fn driver_pods() -> kube::api::ListParams {
    kube::api::ListParams::default().labels("spark-role=driver")
}
