//! `executorState` and the executor events.

use spark_operator_api::ExecutorState;

use super::*;
use crate::lifecycle::reasons::*;

fn running_app() -> SparkApplication {
    app_in(policy(RestartPolicyType::Never), status_in(State::Running))
}

fn observed_with(executors: Vec<ExecutorObservation>) -> Observation {
    let mut observed = observation(at(5));
    observed.driver = DriverObservation::Pod(driver_pod("attempt-1", PodPhase::Running));
    observed.executors = executors;
    observed
}

#[test]
fn every_phase_maps_to_an_executor_state_with_its_event() {
    let phases = [
        (PodPhase::Pending, ExecutorState::Pending, EXECUTOR_PENDING),
        (PodPhase::Running, ExecutorState::Running, EXECUTOR_RUNNING),
        (
            PodPhase::Succeeded,
            ExecutorState::Completed,
            EXECUTOR_COMPLETED,
        ),
        (PodPhase::Failed, ExecutorState::Failed, EXECUTOR_FAILED),
        (PodPhase::Unknown, ExecutorState::Unknown, EXECUTOR_UNKNOWN),
    ];
    for (phase, state, reason) in phases {
        let observed = observed_with(vec![executor_pod("pi-exec-1", "attempt-1", phase)]);
        let decision = decide(&running_app(), &observed);
        assert_eq!(
            decision.status.executor_state["pi-exec-1"], state,
            "{phase:?}"
        );
        assert_eq!(reasons(&decision.actions), vec![reason], "{phase:?}");
    }
}

#[test]
fn events_only_for_new_or_changed_executors() {
    let mut app = running_app();
    let observed = observed_with(vec![
        executor_pod("pi-exec-1", "attempt-1", PodPhase::Running),
        executor_pod("pi-exec-2", "attempt-1", PodPhase::Pending),
    ]);
    let first = decide(&app, &observed);
    assert_eq!(
        reasons(&first.actions),
        vec![EXECUTOR_RUNNING, EXECUTOR_PENDING]
    );
    app.status = Some(first.status);
    let again = decide(&app, &observed);
    assert_eq!(again.actions, vec![]);
    assert_eq!(Some(&again.status), app.status.as_ref());

    let changed = observed_with(vec![
        executor_pod("pi-exec-1", "attempt-1", PodPhase::Running),
        executor_pod("pi-exec-2", "attempt-1", PodPhase::Running),
    ]);
    assert_eq!(
        reasons(&decide(&app, &changed).actions),
        vec![EXECUTOR_RUNNING]
    );
}

#[test]
fn failed_executor_event_names_exit_code_reason_and_message() {
    let mut failed = executor_pod("pi-exec-3", "attempt-1", PodPhase::Failed);
    failed.terminated = exited(143, "Error");
    failed.pod_message = Some("killed".into());
    let mut gone = executor_pod("pi-exec-4", "attempt-1", PodPhase::Failed);
    gone.pod_message = None;
    let decision = decide(&running_app(), &observed_with(vec![failed, gone]));
    let messages: Vec<_> = decision
        .actions
        .iter()
        .map(|action| match action {
            Action::Event {
                warning, message, ..
            } => (*warning, message.as_str()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        messages,
        vec![
            (
                true,
                "Executor pi-exec-3 failed with ExitCode: 143, Reason: Error, Pod Message: killed"
            ),
            (
                true,
                "Executor pi-exec-4 failed with ExitCode: -1, Reason: Unknown (Container not Found), Pod Message: "
            ),
        ]
    );
}

#[test]
fn executors_of_other_attempts_and_beyond_the_limit_are_not_tracked() {
    let mut observed = observed_with(vec![
        executor_pod("old-exec-1", "attempt-0", PodPhase::Running),
        executor_pod("pi-exec-1", "attempt-1", PodPhase::Running),
        executor_pod("pi-exec-3", "attempt-1", PodPhase::Running),
    ]);
    observed.settings.max_tracked_executors = 2;
    let status = decide(&running_app(), &observed).status;
    let tracked: Vec<_> = status.executor_state.keys().map(String::as_str).collect();
    assert_eq!(tracked, vec!["pi-exec-1"]);
}

#[test]
fn the_executors_application_id_wins_over_the_drivers() {
    let mut executor = executor_pod("pi-exec-1", "attempt-1", PodPhase::Running);
    executor.spark_app_id = Some("spark-from-executor".into());
    let status = decide(&running_app(), &observed_with(vec![executor])).status;
    assert_eq!(
        status.spark_application_id.as_deref(),
        Some("spark-from-executor")
    );
}

/// The states of executors whose pods are gone, by the application state they vanish in.
#[test]
fn vanished_executors_follow_the_application() {
    let tracked = |state| {
        let mut status = status_in(state);
        status.termination_time = Some(Time(at(0)));
        status.executor_state = [
            ("pi-exec-1".to_string(), ExecutorState::Running),
            ("pi-exec-2".to_string(), ExecutorState::Pending),
            ("pi-exec-3".to_string(), ExecutorState::Failed),
        ]
        .into();
        app_in(policy(RestartPolicyType::Never), status)
    };
    let driver = |phase| DriverObservation::Pod(driver_pod("attempt-1", phase));
    let cases = [
        (
            State::Running,
            driver(PodPhase::Running),
            ExecutorState::Unknown,
        ),
        // The driver ends in the same reconcile as its executors disappear.
        (
            State::Running,
            driver(PodPhase::Succeeded),
            ExecutorState::Completed,
        ),
        (
            State::Running,
            driver(PodPhase::Failed),
            ExecutorState::Failed,
        ),
        (
            State::Completed,
            driver(PodPhase::Succeeded),
            ExecutorState::Completed,
        ),
        (
            State::Failed,
            driver(PodPhase::Failed),
            ExecutorState::Failed,
        ),
    ];
    for (state, driver, expected) in cases {
        let mut observed = observation(at(5));
        observed.driver = driver;
        let status = decide(&tracked(state), &observed).status;
        assert_eq!(status.executor_state["pi-exec-1"], expected, "{state:?}");
        assert_eq!(status.executor_state["pi-exec-2"], expected, "{state:?}");
        // A terminated executor keeps its state.
        assert_eq!(
            status.executor_state["pi-exec-3"],
            ExecutorState::Failed,
            "{state:?}"
        );
    }
}

#[test]
fn executors_still_running_when_the_application_ends_are_followed_until_they_go() {
    let mut status = status_in(State::Completed);
    status.termination_time = Some(Time(at(0)));
    status.executor_state = [("pi-exec-1".to_string(), ExecutorState::Running)].into();
    let mut app = app_in(policy(RestartPolicyType::Never), status);
    let mut observed = observation(at(5));
    observed.executors = vec![executor_pod("pi-exec-1", "attempt-1", PodPhase::Running)];
    let still = decide(&app, &observed);
    assert_eq!(
        still.status.executor_state["pi-exec-1"],
        ExecutorState::Running
    );
    assert_eq!(
        still.actions,
        vec![],
        "nothing is deleted: Spark winds its executors down"
    );

    observed.executors[0].phase = PodPhase::Succeeded;
    let done = decide(&app, &observed);
    assert_eq!(
        done.status.executor_state["pi-exec-1"],
        ExecutorState::Completed
    );
    assert_eq!(reasons(&done.actions), vec![EXECUTOR_COMPLETED]);
    app.status = Some(done.status);

    observed.executors.clear();
    let gone = decide(&app, &observed);
    assert_eq!(
        gone.status.executor_state["pi-exec-1"],
        ExecutorState::Completed
    );
    assert_eq!(gone.actions, vec![]);
}

#[test]
fn executors_are_not_looked_at_while_waiting_for_the_driver() {
    let app = app_in(
        policy(RestartPolicyType::Never),
        status_in(State::Submitted),
    );
    let mut observed = observation(at(2));
    observed.executors = vec![executor_pod("pi-exec-1", "attempt-1", PodPhase::Running)];
    let decision = decide(&app, &observed);
    assert_eq!(decision.status.executor_state.len(), 0);
    assert_eq!(decision.actions, vec![]);
}
