//! Kubeflow's restart policy (whether and when to run again), time to live, attempt counters and
//! the deterministic submission id.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use sha2::{Digest, Sha256};
use spark_operator_api::{
    ApplicationStateType, RestartPolicy, RestartPolicyType, SparkApplication,
    SparkApplicationStatus,
};

/// The id of the next submission attempt of `app`. It is derived from the application's uid, its
/// generation and the attempt counters, so every attempt of the application's life has its own id
/// (the counters are reset only with a new generation), and deciding the same step twice gives
/// the same id.
pub fn submission_id(app: &SparkApplication, status: &SparkApplicationStatus) -> String {
    // An object from the API server always has a uid; the name keeps ids apart without one.
    let identity = app
        .uid()
        .unwrap_or_else(|| format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()));
    let digest = Sha256::new()
        .chain_update(b"sparkoperator.k8s.io/submission-id\0")
        .chain_update(identity.as_bytes())
        .chain_update(app.metadata.generation.unwrap_or(0).to_be_bytes())
        .chain_update(count(status.execution_attempts).to_be_bytes())
        .chain_update((count(status.submission_attempts) + 1).to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

/// An attempt counter; Kubeflow omits zero.
pub fn count(counter: Option<i32>) -> i32 {
    counter.unwrap_or(0)
}

pub fn set_count(counter: &mut Option<i32>, value: i32) {
    *counter = (value != 0).then_some(value);
}

pub fn increment(counter: &mut Option<i32>) {
    set_count(counter, count(*counter).saturating_add(1));
}

/// Kubeflow's `ShouldRetry`: whether the application in `status` runs again.
pub fn should_retry(policy: &RestartPolicy, status: &SparkApplicationStatus) -> bool {
    let policy_type = policy.policy_type.unwrap_or_default();
    let within = |retries: Option<i32>, attempts: Option<i32>| {
        retries.is_some_and(|retries| count(attempts) <= retries)
    };
    match status.application_state.state {
        ApplicationStateType::Succeeding => policy_type == RestartPolicyType::Always,
        ApplicationStateType::Failing => match policy_type {
            RestartPolicyType::Always => true,
            RestartPolicyType::OnFailure => {
                within(policy.on_failure_retries, status.execution_attempts)
            }
            RestartPolicyType::Never => false,
        },
        ApplicationStateType::SubmissionFailed => match policy_type {
            RestartPolicyType::Always => true,
            RestartPolicyType::OnFailure => within(
                policy.on_submission_failure_retries,
                status.submission_attempts,
            ),
            RestartPolicyType::Never => false,
        },
        _ => false,
    }
}

/// Kubeflow's `TimeUntilNextRetryDue`: a linear backoff of the retry interval times the
/// submission attempts so far, counted from the last submission attempt. Zero or less is due.
/// A status without the interval, the time or an attempt is due at once (Kubeflow would stall).
pub fn time_until_retry(
    policy: &RestartPolicy,
    status: &SparkApplicationStatus,
    now: Timestamp,
) -> SignedDuration {
    let interval = match status.application_state.state {
        ApplicationStateType::SubmissionFailed => policy.on_submission_failure_retry_interval,
        ApplicationStateType::Failing => policy.on_failure_retry_interval,
        _ => None,
    };
    let attempts = count(status.submission_attempts);
    match (interval, &status.last_submission_attempt_time) {
        (Some(interval), Some(Time(last))) if attempts > 0 => SignedDuration::from_secs(interval)
            .saturating_mul(attempts)
            .saturating_sub(now.duration_since(*last)),
        _ => SignedDuration::ZERO,
    }
}

/// Kubeflow's effective TTL: the application's own, even zero or less (expire at once), else the
/// operator default when positive.
pub fn effective_ttl_seconds(own: Option<i64>, default: Option<i64>) -> Option<i64> {
    own.or(default.filter(|seconds| *seconds > 0))
}

/// How long a finished application has left to live: `None` when it never expires, zero or less
/// once it has expired (Kubeflow: more than the TTL has passed since termination).
pub fn time_to_live_left(
    ttl_seconds: Option<i64>,
    termination_time: Option<&Time>,
    now: Timestamp,
) -> Option<SignedDuration> {
    let ttl = SignedDuration::from_secs(ttl_seconds?);
    let survived = now.duration_since(termination_time?.0);
    let left = ttl.saturating_sub(survived);
    // Expiry is strict, so a TTL exactly used up has not expired yet.
    Some(if left.is_zero() {
        SignedDuration::from_nanos(1)
    } else {
        left
    })
}

/// A requeue delay for a deadline `left` away: never zero, so that a deadline that is exactly due
/// is looked at again just after it.
pub fn requeue_in(left: SignedDuration) -> Duration {
    Duration::try_from(left)
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_millis(1))
}
