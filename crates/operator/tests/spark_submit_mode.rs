//! The per-application annotation that chooses the submitter. The lifecycle in spark-submit mode,
//! through Spark's own `spark-submit`, is tested by the scenarios of application.rs and retries.rs,
//! which run in both modes.

mod common;

use common::{Env, spark_pi};
use spark_operator::config::ControllerConfig;
use spark_operator_api::ApplicationStateType as State;

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
