//! SUBMITTED, RUNNING and UNKNOWN follow the driver of the current attempt.

use super::*;
use crate::lifecycle::reasons::*;

struct Case {
    name: &'static str,
    from: State,
    driver: DriverObservation,
    now: i64,
    to: State,
    events: &'static [&'static str],
    error: Option<&'static str>,
    requeue: Option<Duration>,
}

fn pod(phase: PodPhase, terminated: Option<Termination>) -> DriverObservation {
    DriverObservation::Pod(DriverPod {
        terminated,
        ..driver_pod("attempt-1", phase)
    })
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use PodPhase::*;
    let at_once = Some(Duration::ZERO);
    let evicted = DriverObservation::Pod(DriverPod {
        pod_message: Some("Evicted: The node was low on resource: memory.".into()),
        ..driver_pod("attempt-1", Failed)
    });
    vec![
        Case { name: "pending driver stays submitted", from: State::Submitted, driver: pod(Pending, None), now: 30, to: State::Submitted, events: &[], error: None, requeue: None },
        Case { name: "driver starts", from: State::Submitted, driver: pod(Running, None), now: 30, to: State::Running, events: &[DRIVER_RUNNING], error: None, requeue: None },
        Case { name: "running stays running", from: State::Running, driver: pod(Running, None), now: 30, to: State::Running, events: &[], error: None, requeue: None },
        Case { name: "driver succeeds", from: State::Running, driver: pod(Succeeded, exited(0, "Completed")), now: 30, to: State::Succeeding, events: &[DRIVER_COMPLETED], error: None, requeue: at_once },
        Case { name: "driver succeeds before it was seen running", from: State::Submitted, driver: pod(Succeeded, None), now: 30, to: State::Succeeding, events: &[DRIVER_COMPLETED], error: None, requeue: at_once },
        Case { name: "driver fails", from: State::Running, driver: pod(Failed, exited(1, "Error")), now: 30, to: State::Failing, events: &[DRIVER_FAILED], error: Some("driver container failed with ExitCode: 1, Reason: Error"), requeue: at_once },
        Case { name: "driver container exited 0 in a running pod", from: State::Running, driver: pod(Running, exited(0, "Completed")), now: 30, to: State::Succeeding, events: &[DRIVER_COMPLETED], error: None, requeue: at_once },
        Case { name: "driver container failed in a running pod", from: State::Running, driver: pod(Running, exited(137, "OOMKilled")), now: 30, to: State::Failing, events: &[DRIVER_FAILED], error: Some("driver container failed with ExitCode: 137, Reason: OOMKilled"), requeue: at_once },
        Case { name: "failed pod whose driver exited 0 succeeded", from: State::Running, driver: pod(Failed, exited(0, "Completed")), now: 30, to: State::Succeeding, events: &[DRIVER_COMPLETED], error: None, requeue: at_once },
        Case { name: "evicted driver without container status", from: State::Running, driver: evicted, now: 30, to: State::Failing, events: &[DRIVER_FAILED], error: Some("driver container status missing: Evicted: The node was low on resource: memory."), requeue: at_once },
        Case { name: "driver phase unknown", from: State::Running, driver: pod(Unknown, None), now: 30, to: State::Unknown, events: &[DRIVER_UNKNOWN], error: None, requeue: None },
        Case { name: "driver back from unknown", from: State::Unknown, driver: pod(Running, None), now: 30, to: State::Running, events: &[DRIVER_RUNNING], error: None, requeue: None },
        Case { name: "driver pending again", from: State::Running, driver: pod(Pending, None), now: 30, to: State::Submitted, events: &[DRIVER_PENDING], error: None, requeue: None },
        Case { name: "running driver vanishes", from: State::Running, driver: DriverObservation::NotFound, now: 30, to: State::Failing, events: &[DRIVER_NOT_FOUND], error: Some("driver pod not found"), requeue: at_once },
        Case { name: "unknown driver vanishes", from: State::Unknown, driver: DriverObservation::NotFound, now: 1, to: State::Failing, events: &[DRIVER_NOT_FOUND], error: Some("driver pod not found"), requeue: at_once },
        Case { name: "only another attempt's driver is there", from: State::Running, driver: DriverObservation::Pod(driver_pod("attempt-0", PodPhase::Running)), now: 30, to: State::Failing, events: &[DRIVER_NOT_FOUND], error: Some("driver pod not found"), requeue: at_once },
        Case { name: "missing driver within the grace period", from: State::Submitted, driver: DriverObservation::NotFound, now: 4, to: State::Submitted, events: &[], error: None, requeue: Some(Duration::from_secs(6)) },
        Case { name: "missing driver at the end of the grace period", from: State::Submitted, driver: DriverObservation::NotFound, now: 10, to: State::Submitted, events: &[], error: None, requeue: Some(Duration::from_millis(1)) },
        Case { name: "missing driver after the grace period", from: State::Submitted, driver: DriverObservation::NotFound, now: 11, to: State::Failing, events: &[DRIVER_NOT_FOUND], error: Some("driver pod not found"), requeue: at_once },
    ]
}

#[test]
fn every_driver_observation_moves_the_application_as_kubeflow_does() {
    for case in cases() {
        let app = app_in(policy(RestartPolicyType::Never), status_in(case.from));
        let mut observed = observation(at(case.now));
        observed.driver = case.driver;
        let decision = decide(&app, &observed);
        let status = &decision.status;
        assert_eq!(status.application_state.state, case.to, "{}", case.name);
        assert_eq!(reasons(&decision.actions), case.events, "{}", case.name);
        assert_eq!(effects(&decision.actions), vec![], "{}", case.name);
        assert_eq!(
            status.application_state.error_message.as_deref(),
            case.error,
            "{}",
            case.name
        );
        assert_eq!(decision.requeue_after, case.requeue, "{}", case.name);
        // Only a decision drawn from a missing driver is confirmed with the API server first.
        assert_eq!(
            decision.concludes_driver_missing(),
            case.events.contains(&DRIVER_NOT_FOUND),
            "{}",
            case.name
        );
        let ended = matches!(case.to, State::Succeeding | State::Failing);
        let termination = status.termination_time.as_ref().map(|t| t.0);
        assert_eq!(termination, ended.then(|| at(case.now)), "{}", case.name);
    }
}

#[test]
fn driver_labels_give_the_spark_application_id() {
    let app = app_in(
        policy(RestartPolicyType::Never),
        status_in(State::Submitted),
    );
    let mut observed = observation(at(1));
    observed.driver = DriverObservation::Pod(driver_pod("attempt-1", PodPhase::Running));
    let status = decide(&app, &observed).status;
    assert_eq!(
        status.spark_application_id.as_deref(),
        Some("spark-attempt-1")
    );
}

#[test]
fn a_termination_message_joins_the_error() {
    let app = app_in(policy(RestartPolicyType::Never), status_in(State::Running));
    let mut observed = observation(at(1));
    observed.driver = pod(
        PodPhase::Failed,
        Some(Termination {
            exit_code: 1,
            reason: Some("Error".into()),
            message: Some("java.lang.IllegalStateException: boom\n".into()),
        }),
    );
    let status = decide(&app, &observed).status;
    assert_eq!(
        status.application_state.error_message.as_deref(),
        Some(
            "driver container failed with ExitCode: 1, Reason: Error, Message: java.lang.IllegalStateException: boom"
        )
    );
}

#[test]
fn the_grace_period_is_a_setting() {
    let app = app_in(
        policy(RestartPolicyType::Never),
        status_in(State::Submitted),
    );
    let mut observed = observation(at(20));
    observed.settings.driver_pod_creation_grace_period = Duration::from_secs(30);
    assert_eq!(
        decide(&app, &observed).requeue_after,
        Some(Duration::from_secs(10))
    );
    observed.now = at(31);
    let decision = decide(&app, &observed);
    assert_eq!(state_of(&decision), State::Failing);
    let Action::Event { message, .. } = &decision.actions[0] else {
        panic!("an event")
    };
    assert_eq!(
        message,
        "Driver pod pi-driver not found after grace period 30s, marking application as Failing"
    );
}

#[test]
fn a_status_without_submission_id_matches_the_driver_by_name() {
    let mut status = status_in(State::Submitted);
    status.submission_id = None;
    let app = app_in(policy(RestartPolicyType::Never), status);
    let mut observed = observation(at(1));
    observed.driver = DriverObservation::Pod(DriverPod {
        submission_id: None,
        ..driver_pod("", PodPhase::Running)
    });
    assert_eq!(state_of(&decide(&app, &observed)), State::Running);
}

#[test]
fn a_driver_read_from_the_server_counts_only_for_the_current_attempt() {
    let status = status_in(State::Running);
    let current = ObservedPod::Driver(driver_pod("attempt-1", PodPhase::Running));
    let earlier = ObservedPod::Driver(driver_pod("attempt-0", PodPhase::Running));
    assert!(is_attempt_driver(&current, &status));
    assert!(!is_attempt_driver(&earlier, &status));
    assert!(!is_attempt_driver(&ObservedPod::Other, &status));
}
