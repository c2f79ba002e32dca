//! Why an application is not making progress, on its status and in Events, and the start
//! timeouts that end what cannot start.

use std::time::Duration;

use super::*;
use crate::lifecycle::not_running::DRIVER_START_TIMEOUT_ANNOTATION;
use crate::lifecycle::not_running::reasons::*;

fn waiting(reason: &str, message: &str) -> Option<Waiting> {
    Some(Waiting {
        reason: reason.into(),
        message: Some(message.into()).filter(|m: &String| !m.is_empty()),
    })
}

/// The current attempt's driver is pending, held back by `waiting`.
fn driver_waits(run: &mut Run, why: Option<Waiting>) {
    run.driver_is(PodPhase::Pending, None);
    if let DriverObservation::Pod(pod) = &mut run.driver {
        pod.waiting = why;
    }
}

fn error(run: &Run) -> Option<String> {
    run.status().application_state.error_message
}

const UNSCHEDULABLE: &str =
    "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.";

#[test]
fn an_unschedulable_driver_is_said_once_and_cleared_when_it_runs() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    driver_waits(&mut run, waiting("Unschedulable", UNSCHEDULABLE));
    let first = run.reconcile();
    assert_eq!(run.state(), State::Submitted);
    assert_eq!(first.reasons(), vec![DRIVER_UNSCHEDULABLE]);
    assert_eq!(
        error(&run).as_deref(),
        Some(
            format!("driver pod pi-driver is not running: Unschedulable: {UNSCHEDULABLE}").as_str()
        )
    );
    assert_eq!(run.reconcile().reasons(), Vec::<&str>::new(), "said once");
    run.driver_is(PodPhase::Running, None);
    run.reconcile();
    assert_eq!(run.state(), State::Running);
    assert_eq!(error(&run), None);
}

#[test]
fn an_image_pull_keeps_its_first_message_through_the_back_off() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    let pull = r#"failed to pull image "apache/spark:nope": not found"#;
    driver_waits(&mut run, waiting("ErrImagePull", pull));
    assert_eq!(run.reconcile().reasons(), vec![DRIVER_IMAGE_PULL_FAILED]);
    let said = error(&run);
    driver_waits(
        &mut run,
        waiting(
            "ImagePullBackOff",
            r#"Back-off pulling image "apache/spark:nope""#,
        ),
    );
    assert_eq!(run.reconcile().reasons(), Vec::<&str>::new());
    assert_eq!(error(&run), said);
    assert!(said.unwrap().contains(pull));
}

#[test]
fn a_failed_mount_is_read_from_the_events_of_a_pod_being_created() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    driver_waits(&mut run, waiting("ContainerCreating", ""));
    assert_eq!(run.reconcile().reasons(), Vec::<&str>::new(), "on its way");
    let mount = r#"MountVolume.SetUp failed for volume "conf" : configmap "settings" not found"#;
    let mut observed = run.observation();
    observed.pod_troubles.insert(
        "pi-driver".into(),
        Waiting {
            reason: "FailedMount".into(),
            message: Some(mount.into()),
        },
    );
    let decision = decide(&run.app, &observed);
    assert_eq!(reasons(&decision.actions), vec![DRIVER_MOUNT_FAILED]);
    assert!(
        decision
            .status
            .application_state
            .error_message
            .unwrap()
            .ends_with(mount),
        "the kubelet's words"
    );
}

#[test]
fn a_driver_that_does_not_start_in_time_ends_the_attempt_and_the_policy_retries() {
    let mut run = Run::new(RestartPolicy {
        on_failure_retries: Some(1),
        on_failure_retry_interval: Some(0),
        ..policy(RestartPolicyType::OnFailure)
    });
    run.settings.driver_start_timeout = Some(Duration::from_secs(60));
    run.reconcile();
    driver_waits(&mut run, waiting("Unschedulable", UNSCHEDULABLE));
    run.advance(30);
    let waiting_for_it = run.reconcile();
    assert_eq!(waiting_for_it.requeue_after, Some(Duration::from_secs(30)));
    run.advance(31);
    let timed_out = run.reconcile();
    assert_eq!(run.state(), State::Failing);
    assert_eq!(timed_out.reasons(), vec![DRIVER_START_TIMEOUT]);
    assert_eq!(
        effects(&timed_out.actions),
        vec![Action::DeleteAttemptResources]
    );
    assert_eq!(
        error(&run).as_deref(),
        Some(
            format!(
                "driver pod pi-driver did not start within 1m0s: Unschedulable: {UNSCHEDULABLE}"
            )
            .as_str()
        )
    );
    run.reconcile_until(State::Submitted, 5);
    assert_eq!(run.submitted.len(), 2, "retried as OnFailure says");
}

#[test]
fn the_annotation_overrides_the_operators_timeout() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.settings.driver_start_timeout = Some(Duration::from_secs(60));
    run.app
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(DRIVER_START_TIMEOUT_ANNOTATION.into(), "0".into());
    run.reconcile();
    driver_waits(&mut run, None);
    run.advance(3600);
    run.reconcile();
    assert_eq!(run.state(), State::Submitted, "0 turns it off");
    run.app
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(DRIVER_START_TIMEOUT_ANNOTATION.into(), "10m".into());
    run.reconcile();
    assert_eq!(run.state(), State::Failing);
    assert!(
        error(&run)
            .unwrap()
            .ends_with("did not start within 10m0s: it is still pending")
    );
}

#[test]
fn executors_that_never_start_end_the_attempt() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.settings.executor_start_timeout = Some(Duration::from_secs(30));
    run.reconcile();
    run.driver_is(PodPhase::Running, None);
    if let DriverObservation::Pod(pod) = &mut run.driver {
        pod.started = Some(run.now);
    }
    let id = run.status().submission_id.unwrap();
    let mut executor = executor_pod("pi-exec-1", &id, PodPhase::Pending);
    executor.waiting = waiting("Unschedulable", UNSCHEDULABLE);
    run.executors = vec![executor];
    let first = run.reconcile();
    assert_eq!(run.state(), State::Running);
    assert!(first.reasons().contains(&EXECUTOR_UNSCHEDULABLE));
    assert_eq!(
        error(&run).as_deref(),
        Some(
            format!("1 of 1 executor pods are not running: Unschedulable: {UNSCHEDULABLE}")
                .as_str()
        )
    );
    run.advance(31);
    let timed_out = run.reconcile();
    assert_eq!(timed_out.reasons(), vec![EXECUTOR_START_TIMEOUT]);
    assert_eq!(run.state(), State::Failing);
    run.reconcile();
    assert_eq!(run.state(), State::Failed);
}

#[test]
fn missing_executors_name_the_quota_that_refused_them() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    run.driver_is(PodPhase::Running, None);
    let mut observed = run.observation();
    let quota = r#"exceeded quota: compute, requested: limits.cpu=1, used: limits.cpu=2, limited: limits.cpu=2"#;
    observed.quota_exceeded = Some(quota.into());
    let decision = decide(&run.app, &observed);
    assert_eq!(
        reasons(&decision.actions),
        vec![DRIVER_RUNNING_REASON, EXECUTOR_QUOTA_EXCEEDED]
    );
    assert_eq!(
        decision.status.application_state.error_message.as_deref(),
        Some(format!("0 of 1 executor pods exist: {quota}").as_str())
    );
}

const DRIVER_RUNNING_REASON: &str = crate::lifecycle::reasons::DRIVER_RUNNING;
