//! What one status change means for the metrics, as a pure function of the old and new status.
//! Counters move only on a change of state between the status a reconcile read and the one it
//! wrote, so a restart, a resync or a second look at the same status never counts twice.

use spark_operator_api::{
    ApplicationStateType as State, ExecutorState, SparkApplication, SparkApplicationStatus,
};

/// The counter and latency updates of one status change.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    /// The application was seen by the operator for the first time (left NEW).
    pub app_started: bool,
    /// An attempt was submitted.
    pub submitted: bool,
    /// A submission failed.
    pub submission_failed: bool,
    /// COMPLETED, with the execution time in seconds when it is known.
    pub succeeded: Option<Option<f64>>,
    /// FAILED, with the execution time in seconds when it is known.
    pub failed: Option<Option<f64>>,
    /// Seconds from creation to the first submission.
    pub submit_latency: Option<f64>,
    /// Seconds from creation to the first RUNNING.
    pub start_latency: Option<f64>,
    /// Executors that newly reached COMPLETED or FAILED.
    pub executors_succeeded: u64,
    pub executors_failed: u64,
}

fn state(status: &SparkApplicationStatus) -> State {
    status.application_state.state
}

fn seconds_between(from: jiff::Timestamp, to: jiff::Timestamp) -> Option<f64> {
    let seconds = to.duration_since(from).as_secs_f64();
    (seconds >= 0.0).then_some(seconds)
}

/// Kubeflow's execution time: from the last submission to termination.
fn execution_time(status: &SparkApplicationStatus) -> Option<f64> {
    let submitted = status.last_submission_attempt_time.as_ref()?.0;
    let terminated = status.termination_time.as_ref()?.0;
    seconds_between(submitted, terminated)
}

/// The metric updates of the change from `old` to `new`, `now` being when it was written.
pub fn changes(
    app: &SparkApplication,
    old: &SparkApplicationStatus,
    new: &SparkApplicationStatus,
    now: jiff::Timestamp,
) -> Changes {
    let (before, after) = (state(old), state(new));
    let mut changes = Changes::default();
    let created = app.metadata.creation_timestamp.as_ref().map(|t| t.0);
    if before != after {
        changes.app_started = before == State::New;
        changes.submitted = after == State::Submitted;
        changes.submission_failed = after == State::SubmissionFailed;
        if after == State::Completed {
            changes.succeeded = Some(execution_time(new));
        }
        if after == State::Failed {
            changes.failed = Some(execution_time(new));
        }
        let first_attempt = new.submission_attempts.unwrap_or(0) <= 1;
        if changes.submitted && first_attempt {
            changes.submit_latency = created.and_then(|c| seconds_between(c, now));
        }
        let first_run = new.execution_attempts.unwrap_or(0) <= 1;
        if after == State::Running && first_run {
            changes.start_latency = created.and_then(|c| seconds_between(c, now));
        }
    }
    for (pod, executor) in &new.executor_state {
        if old.executor_state.get(pod) == Some(executor) {
            continue;
        }
        match executor {
            ExecutorState::Completed => changes.executors_succeeded += 1,
            ExecutorState::Failed => changes.executors_failed += 1,
            _ => {}
        }
    }
    changes
}

/// What the gauges count of one application: whether it runs, and how many executors run.
pub fn running(status: Option<&SparkApplicationStatus>) -> (bool, u64) {
    let Some(status) = status else {
        return (false, 0);
    };
    let executors = status
        .executor_state
        .values()
        .filter(|s| **s == ExecutorState::Running)
        .count() as u64;
    (state(status) == State::Running, executors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn app() -> SparkApplication {
        let mut app: SparkApplication = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0"}
        }))
        .unwrap();
        app.metadata.creation_timestamp = Some(Time(at(0)));
        app
    }

    fn status(state: State, attempts: i32) -> SparkApplicationStatus {
        let mut status = SparkApplicationStatus::default();
        status.application_state.state = state;
        status.submission_attempts = Some(attempts);
        status.execution_attempts = Some(attempts);
        status
    }

    #[test]
    fn the_first_submission_counts_the_app_its_submission_and_latency() {
        let c = changes(
            &app(),
            &SparkApplicationStatus::default(),
            &status(State::Submitted, 1),
            at(3),
        );
        assert!(c.app_started && c.submitted && !c.submission_failed);
        assert_eq!(c.submit_latency, Some(3.0));
    }

    #[test]
    fn an_unchanged_state_counts_nothing() {
        let running = status(State::Running, 1);
        assert_eq!(
            changes(&app(), &running, &running, at(9)),
            Changes::default()
        );
    }

    #[test]
    fn running_completed_and_failed_carry_their_times() {
        let c = changes(
            &app(),
            &status(State::Submitted, 1),
            &status(State::Running, 1),
            at(5),
        );
        assert_eq!(c.start_latency, Some(5.0));
        assert!(!c.app_started);
        let mut done = status(State::Completed, 1);
        done.last_submission_attempt_time = Some(Time(at(1)));
        done.termination_time = Some(Time(at(11)));
        let c = changes(&app(), &status(State::Succeeding, 1), &done, at(12));
        assert_eq!(c.succeeded, Some(Some(10.0)));
        let c = changes(
            &app(),
            &status(State::Failing, 1),
            &status(State::Failed, 1),
            at(12),
        );
        assert_eq!(c.failed, Some(None));
    }

    #[test]
    fn a_retry_counts_its_submission_but_not_the_first_latencies_again() {
        let c = changes(
            &app(),
            &status(State::PendingRerun, 2),
            &status(State::Submitted, 2),
            at(30),
        );
        assert!(c.submitted && c.submit_latency.is_none());
        let c = changes(
            &app(),
            &status(State::Submitted, 2),
            &status(State::Running, 2),
            at(31),
        );
        assert!(c.start_latency.is_none());
        let c = changes(
            &app(),
            &status(State::New, 1),
            &status(State::SubmissionFailed, 1),
            at(1),
        );
        assert!(c.submission_failed && c.app_started);
    }

    #[test]
    fn executors_count_once_when_they_end_and_gauges_count_the_running() {
        let mut old = status(State::Running, 1);
        old.executor_state
            .insert("e1".into(), ExecutorState::Running);
        old.executor_state
            .insert("e2".into(), ExecutorState::Running);
        let mut new = old.clone();
        new.executor_state
            .insert("e1".into(), ExecutorState::Completed);
        new.executor_state
            .insert("e3".into(), ExecutorState::Failed);
        let c = changes(&app(), &old, &new, at(1));
        assert_eq!((c.executors_succeeded, c.executors_failed), (1, 1));
        assert_eq!(changes(&app(), &new, &new, at(2)), Changes::default());
        assert_eq!(running(Some(&old)), (true, 2));
        assert_eq!(running(Some(&new)), (true, 1));
        assert_eq!(running(None), (false, 0));
    }
}
