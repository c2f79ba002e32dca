//! Restart policies end to end: drivers that fail and then succeed, and driver pods that the API
//! server rejects (a submission failure: a hook refusing them, or a service account that does not
//! exist), retried as the policy says; in both submission modes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use localcluster::admission::{Admission, AdmissionRequest, Operation};
use localcluster::error::ApiError;
use spark_operator_api::ApplicationStateType as State;
use testkit::fixtures::spark_pi;
use testkit::{Env, Mode, in_both_modes};

in_both_modes!(
    a_failed_driver_is_retried_and_the_retry_succeeds,
    a_rejected_driver_pod_is_resubmitted_per_policy,
    submission_failures_beyond_the_retries_end_failed_with_the_reason,
    a_missing_service_account_fails_the_submission_with_the_api_servers_words,
);

async fn a_failed_driver_is_retried_and_the_retry_succeeds(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let policy = "  restartPolicy:\n    type: OnFailure\n    onFailureRetries: 2\n    onFailureRetryInterval: 1\n";
    let annotations = r#""localcluster/run-seconds": "0.2", "localcluster/exit-codes": "1,0""#;
    env.create(&spark_pi("second-time", annotations, policy))
        .await;
    let status = env
        .wait_for("second-time", State::Completed, 60)
        .await
        .status
        .unwrap();
    assert_eq!(
        status.execution_attempts,
        Some(2),
        "the first run failed, the second completed"
    );
    assert_eq!(status.submission_attempts, Some(2));
    let expected = [
        "SparkDriverFailed",
        "SparkApplicationPendingRerun",
        "SparkApplicationCompleted",
    ];
    let reasons = env.event_reasons_including("second-time", &expected).await;
    for expected in expected {
        assert!(
            reasons.iter().any(|r| r == expected),
            "no {expected} in {reasons:?}"
        );
    }
}

/// Rejects the creation of the driver pods of one application, `times` times.
struct RejectDrivers {
    app: &'static str,
    times: usize,
    rejected: AtomicUsize,
}

impl Admission for RejectDrivers {
    fn validate<'a>(
        &'a self,
        request: &'a AdmissionRequest,
    ) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let labels = request.object.as_ref().map(|o| &o["metadata"]["labels"]);
            let ours = request.resource.plural == "pods"
                && matches!(request.operation, Operation::Create)
                && labels.is_some_and(|l| {
                    l["spark-role"] == "driver" && l["sparkoperator.k8s.io/app-name"] == self.app
                });
            if ours && self.rejected.fetch_add(1, Ordering::SeqCst) < self.times {
                return Err(ApiError::forbidden(
                    "pods are not admitted in this namespace right now",
                ));
            }
            Ok(())
        })
    }
}

async fn a_rejected_driver_pod_is_resubmitted_per_policy(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let hook = Arc::new(RejectDrivers {
        app: "rejected",
        times: 2,
        rejected: AtomicUsize::new(0),
    });
    env.cluster.cluster().set_admission(hook.clone());
    let policy = "  restartPolicy:\n    type: OnFailure\n    onSubmissionFailureRetries: 3\n    onSubmissionFailureRetryInterval: 1\n";
    env.create(&spark_pi(
        "rejected",
        r#""localcluster/run-seconds": "0.2""#,
        policy,
    ))
    .await;
    let status = env
        .wait_for("rejected", State::Completed, 60)
        .await
        .status
        .unwrap();
    assert_eq!(
        status.submission_attempts,
        Some(3),
        "two rejected submissions, then one that went through"
    );
    assert_eq!(status.execution_attempts, Some(1));
    assert_submission_failed_event(&env, "rejected").await;
}

async fn submission_failures_beyond_the_retries_end_failed_with_the_reason(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let hook = Arc::new(RejectDrivers {
        app: "never-admitted",
        times: usize::MAX,
        rejected: AtomicUsize::new(0),
    });
    env.cluster.cluster().set_admission(hook.clone());
    let policy = "  restartPolicy:\n    type: OnFailure\n    onSubmissionFailureRetries: 1\n    onSubmissionFailureRetryInterval: 1\n";
    env.create(&spark_pi("never-admitted", "", policy)).await;
    let status = env
        .wait_for("never-admitted", State::Failed, 60)
        .await
        .status
        .unwrap();
    assert_eq!(status.submission_attempts, Some(2));
    assert_eq!(status.execution_attempts.unwrap_or(0), 0);
    let message = status.application_state.error_message.unwrap_or_default();
    assert!(message.contains("not admitted"), "{message}");
    assert!(env.pod_names("never-admitted", "driver").await.is_empty());
}

/// Kubeflow's `bad_examples/fail-submission.yaml`: the driver names a service account nobody
/// made, which the API server's ServiceAccount admission refuses.
async fn a_missing_service_account_fails_the_submission_with_the_api_servers_words(mode: Mode) {
    let Some(env) = Env::start_in(mode).await else {
        return;
    };
    let policy = "  restartPolicy:\n    type: OnFailure\n    onSubmissionFailureRetries: 1\n    onSubmissionFailureRetryInterval: 1\n";
    let app = spark_pi("no-account", "", policy)
        .replace("serviceAccount: spark", "serviceAccount: ghost");
    env.create(&app).await;
    let status = env
        .wait_for("no-account", State::Failed, 60)
        .await
        .status
        .unwrap();
    assert_eq!(status.submission_attempts, Some(2), "retried once");
    assert_eq!(status.execution_attempts.unwrap_or(0), 0);
    let message = status.application_state.error_message.unwrap_or_default();
    let refusal = "pods \"no-account-driver\" is forbidden: error looking up service account \
                   default/ghost: serviceaccount \"ghost\" not found";
    match mode {
        Mode::Native => assert_eq!(
            message,
            format!(
                "failed to submit spark application: creating Pod default/no-account-driver: \
                 403 Forbidden: {refusal}"
            )
        ),
        // spark-submit's Kubernetes client reports the API server's refusal in its own words.
        Mode::SparkSubmit => assert!(
            message.contains("serviceaccount \"ghost\" not found"),
            "{message}"
        ),
    }
    assert_submission_failed_event(&env, "no-account").await;
    assert!(env.pod_names("no-account", "driver").await.is_empty());
}

/// The application's Events include a submission failure.
async fn assert_submission_failed_event(env: &Env, name: &str) {
    let failed = "SparkApplicationSubmissionFailed";
    let reasons = env.event_reasons_including(name, &[failed]).await;
    assert!(reasons.iter().any(|r| r == failed), "{reasons:?}");
}
