//! Restart policies: whether an application runs again, how often, and when.

use super::*;
use crate::lifecycle::reasons::*;

fn on_failure(retries: i32, interval: i64) -> RestartPolicy {
    RestartPolicy {
        on_failure_retries: Some(retries),
        on_failure_retry_interval: Some(interval),
        ..policy(RestartPolicyType::OnFailure)
    }
}

fn on_submission_failure(retries: i32, interval: i64) -> RestartPolicy {
    RestartPolicy {
        on_submission_failure_retries: Some(retries),
        on_submission_failure_retry_interval: Some(interval),
        ..policy(RestartPolicyType::OnFailure)
    }
}

/// Submits, starts and fails the driver of the current attempt; ends FAILING.
fn run_and_fail(run: &mut Run) {
    assert_eq!(effects(&run.reconcile().actions).len(), 1, "a submission");
    assert_eq!(run.state(), State::Submitted);
    run.driver_is(PodPhase::Running, None);
    run.reconcile();
    run.driver_is(PodPhase::Failed, exited(1, "Error"));
    run.reconcile();
    assert_eq!(run.state(), State::Failing);
}

#[test]
fn never_fails_for_good() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run_and_fail(&mut run);
    let failed = run.reconcile();
    assert_eq!(run.state(), State::Failed);
    assert_eq!(failed.reasons(), vec![APPLICATION_FAILED]);
    assert_eq!(
        effects(&failed.actions),
        vec![Action::ReleaseEnded],
        "an ended application's Services go"
    );
    let Some(Action::Event { message, .. }) = failed
        .actions
        .iter()
        .find(|a| matches!(a, Action::Event { .. }))
    else {
        panic!("an event")
    };
    assert_eq!(
        message,
        "SparkApplication pi failed: driver container failed with ExitCode: 1, Reason: Error"
    );
    assert_eq!(run.status().execution_attempts, Some(1));
    assert_eq!(failed.requeue_after, None);
}

#[test]
fn never_succeeds_once() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    run.driver_is(PodPhase::Succeeded, exited(0, "Completed"));
    run.reconcile();
    assert_eq!(run.state(), State::Succeeding);
    let completed = run.reconcile();
    assert_eq!(run.state(), State::Completed);
    assert_eq!(completed.reasons(), vec![APPLICATION_COMPLETED]);
    assert_eq!(effects(&completed.actions), vec![Action::ReleaseEnded]);
    assert_eq!(run.status().termination_time, Some(Time(at(0))));
}

#[test]
fn on_failure_retries_until_the_retries_are_used_and_counts_every_run() {
    let mut run = Run::new(on_failure(2, 10));
    for execution in 1..=3 {
        run_and_fail(&mut run);
        assert_eq!(run.status().execution_attempts, Some(execution));
        assert_eq!(run.status().submission_attempts, Some(execution));
        if execution == 3 {
            break;
        }
        // Kubeflow's linear backoff: interval × submission attempts since the last submission.
        let wait = run.reconcile();
        assert_eq!(
            wait.requeue_after,
            Some(Duration::from_secs(10 * execution as u64))
        );
        assert_eq!(run.state(), State::Failing);
        run.advance(10 * i64::from(execution));
        let rerun = run.reconcile();
        assert_eq!(run.state(), State::PendingRerun);
        assert_eq!(rerun.reasons(), vec![APPLICATION_PENDING_RERUN]);
        assert_eq!(
            effects(&rerun.actions),
            vec![Action::DeleteAttemptResources]
        );
    }
    let failed = run.reconcile();
    assert_eq!(run.state(), State::Failed);
    assert_eq!(failed.reasons(), vec![APPLICATION_FAILED]);
    assert_eq!(run.status().execution_attempts, Some(3), "retries + 1 runs");
    assert_eq!(run.submitted.len(), 3);
}

#[test]
fn on_failure_without_retries_does_not_retry() {
    let mut run = Run::new(policy(RestartPolicyType::OnFailure));
    run_and_fail(&mut run);
    run.reconcile();
    assert_eq!(run.state(), State::Failed);
}

#[test]
fn on_failure_completes_after_success() {
    let mut run = Run::new(on_failure(3, 1));
    run.reconcile();
    run.driver_is(PodPhase::Succeeded, None);
    run.reconcile_until(State::Completed, 3);
    assert_eq!(run.submitted.len(), 1);
}

#[test]
fn submission_failures_retry_until_the_submission_retries_are_used() {
    let mut run = Run::new(on_submission_failure(2, 20));
    run.submissions = Submissions::Fail;
    let first = run.reconcile();
    assert_eq!(
        first.reasons(),
        vec![APPLICATION_ADDED, APPLICATION_SUBMISSION_FAILED]
    );
    assert_eq!(first.requeue_after, Some(Duration::ZERO));
    assert_eq!(run.state(), State::SubmissionFailed);
    assert_eq!(
        run.status().application_state.error_message.as_deref(),
        Some("failed to submit spark application: admission webhook denied the pod")
    );
    for attempt in 1..=2 {
        assert_eq!(run.status().submission_attempts, Some(attempt));
        run.advance(5);
        let wait = run.reconcile();
        let left = 20 * u64::try_from(attempt).unwrap() - 5;
        assert_eq!(wait.requeue_after, Some(Duration::from_secs(left)));
        assert_eq!(wait.actions, vec![]);
        run.advance(i64::try_from(left).unwrap());
        let retry = run.reconcile();
        assert_eq!(retry.reasons(), vec![APPLICATION_SUBMISSION_FAILED]);
        assert_eq!(run.state(), State::SubmissionFailed);
    }
    run.advance(100);
    let failed = run.reconcile();
    assert_eq!(run.state(), State::Failed);
    assert_eq!(failed.reasons(), vec![APPLICATION_FAILED]);
    assert_eq!(
        run.status().submission_attempts,
        Some(3),
        "retries + 1 submissions"
    );
    assert_eq!(run.status().execution_attempts, None);
    assert_eq!(run.status().termination_time, Some(Time(run.now)));
    assert_eq!(run.submitted.len(), 3);
}

#[test]
fn a_retried_submission_that_succeeds_runs() {
    let mut run = Run::new(on_submission_failure(1, 5));
    run.submissions = Submissions::Fail;
    run.reconcile();
    run.submissions = Submissions::Succeed;
    run.advance(5);
    let submitted = run.reconcile();
    assert_eq!(submitted.reasons(), vec![APPLICATION_SUBMITTED]);
    assert_eq!(run.state(), State::Submitted);
    assert_eq!(run.status().application_state.error_message, None);
    assert_eq!(run.status().submission_attempts, Some(2));
    assert_eq!(run.status().execution_attempts, Some(1));
}

#[test]
fn never_does_not_retry_a_failed_submission() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.submissions = Submissions::Fail;
    run.reconcile();
    run.advance(3);
    run.reconcile();
    assert_eq!(run.state(), State::Failed);
    assert_eq!(run.status().termination_time, Some(Time(at(3))));
    assert_eq!(run.submitted.len(), 1);
}

#[test]
fn always_reruns_after_success_and_failure_with_default_intervals() {
    let mut run = Run::new(policy(RestartPolicyType::Always));
    run.reconcile();
    run.driver_is(PodPhase::Succeeded, exited(0, "Completed"));
    run.reconcile();
    let rerun = run.reconcile();
    assert_eq!(run.state(), State::PendingRerun);
    assert_eq!(rerun.reasons(), vec![APPLICATION_PENDING_RERUN]);
    let status = run.status();
    assert_eq!(status.termination_time, None);
    assert_eq!(status.spark_application_id, None);
    assert_eq!(status.driver_info, Default::default());
    assert_eq!(status.execution_attempts, Some(1), "kept across reruns");

    run.reconcile();
    assert_eq!(run.state(), State::Submitted);
    run.driver_is(PodPhase::Failed, exited(2, "Error"));
    run.reconcile();
    // The default interval of 5 s, times 2 submissions, from the last one.
    assert_eq!(run.reconcile().requeue_after, Some(Duration::from_secs(10)));
    run.advance(10);
    run.reconcile();
    assert_eq!(run.state(), State::PendingRerun);
    assert_eq!(run.status().application_state.error_message, None);

    run.submissions = Submissions::Fail;
    run.reconcile();
    assert_eq!(run.state(), State::SubmissionFailed);
    assert_eq!(run.reconcile().requeue_after, Some(Duration::from_secs(15)));
}

#[test]
fn a_long_run_is_due_for_retry_at_once() {
    let mut run = Run::new(on_failure(1, 30));
    run.reconcile();
    run.advance(600);
    run.driver_is(PodPhase::Failed, exited(1, "Error"));
    run.reconcile();
    run.reconcile();
    assert_eq!(run.state(), State::PendingRerun);
}

#[test]
fn retry_waits_for_the_last_attempts_objects_to_go() {
    let mut run = Run::new(on_failure(1, 1));
    run.deletions_hang = true;
    run_and_fail(&mut run);
    run.advance(1);
    run.reconcile();
    assert_eq!(run.state(), State::PendingRerun);
    for _ in 0..3 {
        let waiting = run.reconcile();
        assert_eq!(
            effects(&waiting.actions),
            vec![Action::DeleteAttemptResources]
        );
        assert_eq!(waiting.requeue_after, Some(Duration::from_secs(1)));
        assert_eq!(run.state(), State::PendingRerun);
    }
    run.deletions_hang = false;
    run.reconcile();
    assert_eq!(run.submitted.len(), 1, "deleted, not yet submitted");
    run.reconcile();
    assert_eq!(run.state(), State::Submitted);
    assert_eq!(run.submitted.len(), 2);
}
