//! Spec changes, suspension and resumption, time to live, deletion.

use spark_operator_api::ExecutorState;

use super::*;
use crate::lifecycle::reasons::*;

fn running(run: &mut Run) {
    run.reconcile();
    run.driver_is(PodPhase::Running, None);
    run.executors = vec![executor_pod(
        "pi-exec-1",
        &run.status().submission_id.unwrap_or_default(),
        PodPhase::Running,
    )];
    run.reconcile();
    assert_eq!(run.state(), State::Running);
}

#[test]
fn a_spec_change_invalidates_the_run_and_submits_the_new_spec() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    running(&mut run);
    let first = run.status().submission_id;
    run.edit(|spec| spec.arguments = vec!["1000".into()]);

    let invalidating = run.reconcile();
    assert_eq!(run.state(), State::Invalidating);
    assert_eq!(invalidating.actions, vec![]);
    assert_eq!(invalidating.requeue_after, Some(Duration::ZERO));
    assert_eq!(run.status().observed_generation, Some(2));

    run.deletions_hang = true;
    let pending = run.reconcile();
    assert_eq!(run.state(), State::PendingRerun);
    assert_eq!(
        effects(&pending.actions),
        vec![Action::DeleteAttemptResources]
    );
    let status = run.status();
    assert_eq!(status.submission_attempts, None, "counters start afresh");
    assert_eq!(status.execution_attempts, None);
    assert_eq!(status.last_submission_attempt_time, None);
    assert_eq!(status.executor_state.len(), 0);

    let waiting = run.reconcile();
    assert_eq!(
        effects(&waiting.actions),
        vec![Action::DeleteAttemptResources]
    );
    run.deletions_hang = false;
    run.reconcile();
    run.reconcile();
    assert_eq!(run.state(), State::Submitted);
    let status = run.status();
    assert_eq!(status.submission_attempts, Some(1));
    assert_eq!(status.execution_attempts, Some(1));
    assert_eq!(status.observed_generation, Some(2));
    assert_ne!(status.submission_id, first);
}

#[test]
fn a_finished_application_whose_spec_changes_runs_again() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    run.driver_is(PodPhase::Succeeded, None);
    run.reconcile_until(State::Completed, 3);
    run.edit(|spec| spec.main_class = Some("org.example.Other".into()));
    run.reconcile_until(State::Submitted, 4);
    assert_eq!(run.submitted.len(), 2);
    assert_eq!(run.status().termination_time, None);
}

#[test]
fn suspending_a_running_application_deletes_it_and_resuming_submits_it_again() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    running(&mut run);
    run.edit(|spec| spec.suspend = Some(true));

    let suspending = run.reconcile();
    assert_eq!(run.state(), State::Suspending);
    assert_eq!(suspending.reasons(), vec![APPLICATION_SUSPENDING]);
    assert_eq!(run.status().observed_generation, Some(2));

    run.deletions_hang = true;
    let deleting = run.reconcile();
    assert_eq!(run.state(), State::Suspending, "until the objects are gone");
    assert_eq!(deleting.actions, vec![Action::DeleteAttemptResources]);
    run.deletions_hang = false;
    run.reconcile();
    let suspended = run.reconcile();
    assert_eq!(run.state(), State::Suspended);
    assert_eq!(suspended.reasons(), vec![APPLICATION_SUSPENDED]);
    let status = run.status();
    assert_eq!(status.spark_application_id, None);
    assert_eq!(status.driver_info, Default::default());
    assert_eq!(status.executor_state.len(), 0);
    assert_eq!(status.execution_attempts, Some(1), "kept while suspended");

    let idle = run.reconcile();
    assert_eq!((idle.actions, idle.requeue_after), (vec![], None));
    run.edit(|spec| spec.image = Some("spark:4.0.1".into()));
    let still = run.reconcile();
    assert_eq!((run.state(), still.actions), (State::Suspended, vec![]));
    assert_eq!(run.status().observed_generation, Some(3));

    run.edit(|spec| spec.suspend = Some(false));
    let resuming = run.reconcile();
    assert_eq!(run.state(), State::Resuming);
    assert_eq!(resuming.reasons(), vec![APPLICATION_RESUMING]);
    let submitted = run.reconcile();
    assert_eq!(submitted.reasons(), vec![APPLICATION_SUBMITTED]);
    let status = run.status();
    assert_eq!(status.application_state.state, State::Submitted);
    assert_eq!(status.submission_attempts, Some(2));
    assert_eq!(status.execution_attempts, Some(2));
    assert_eq!(status.observed_generation, Some(4));
    assert_eq!(run.submitted.len(), 2);
}

#[test]
fn a_new_application_created_suspended_waits_without_submitting() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.app.spec.suspend = Some(true);
    run.reconcile_until(State::Suspended, 3);
    assert_eq!(run.submitted.len(), 0);
    run.edit(|spec| spec.suspend = None);
    run.reconcile_until(State::Submitted, 3);
    assert_eq!(run.submitted.len(), 1);
}

#[test]
fn suspension_reaches_every_unfinished_state() {
    for state in [
        State::New,
        State::Submitted,
        State::Running,
        State::Succeeding,
        State::Failing,
        State::SubmissionFailed,
        State::PendingRerun,
        State::Invalidating,
        State::Resuming,
        State::Unknown,
    ] {
        let mut app = app_in(policy(RestartPolicyType::Always), status_in(state));
        app.spec.suspend = Some(true);
        let decision = decide(&app, &observation(at(1)));
        assert_eq!(state_of(&decision), State::Suspending, "{state:?}");
        assert_eq!(reasons(&decision.actions), vec![APPLICATION_SUSPENDING]);
    }
}

#[test]
fn finished_applications_are_not_suspended() {
    for state in [State::Completed, State::Failed] {
        let mut run = Run::new(policy(RestartPolicyType::Never));
        run.app = app_in(policy(RestartPolicyType::Never), status_in(state));
        run.edit(|spec| spec.suspend = Some(true));
        let decision = run.reconcile();
        assert_eq!(run.state(), state);
        assert_eq!(decision.actions, vec![]);
        assert_eq!(run.status().observed_generation, Some(2));
    }
}

#[test]
fn a_resume_during_suspension_still_ends_suspended_then_resumes() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    running(&mut run);
    run.edit(|spec| spec.suspend = Some(true));
    run.reconcile();
    run.edit(|spec| spec.suspend = Some(false));
    run.reconcile_until(State::Submitted, 5);
    assert_eq!(run.submitted.len(), 2);
}

#[test]
fn the_time_to_live_deletes_a_finished_application() {
    let mut status = status_in(State::Completed);
    status.termination_time = Some(Time(at(100)));
    let mut app = app_in(policy(RestartPolicyType::Never), status);
    app.spec.time_to_live_seconds = Some(60);
    let decide_at = |seconds| decide(&app, &observation(at(seconds)));

    let early = decide_at(130);
    assert_eq!(
        (early.actions, early.requeue_after),
        (vec![], Some(Duration::from_secs(30)))
    );
    let exactly = decide_at(160);
    assert_eq!(exactly.actions, vec![], "expiry is strict, as in Kubeflow");
    assert_eq!(exactly.requeue_after, Some(Duration::from_millis(1)));
    let late = decide_at(161);
    assert_eq!(late.actions, vec![Action::DeleteApplication]);
    assert_eq!(Some(&late.status), app.status.as_ref());
}

#[test]
fn the_time_to_live_comes_from_the_spec_else_the_operator_default() {
    let mut status = status_in(State::Failed);
    status.termination_time = Some(Time(at(0)));
    let mut app = app_in(policy(RestartPolicyType::Never), status);
    let mut observed = observation(at(10));
    assert_eq!(decide(&app, &observed).requeue_after, None, "kept forever");

    observed.settings.default_time_to_live_seconds = Some(0);
    assert_eq!(
        decide(&app, &observed).requeue_after,
        None,
        "a default of 0 is none"
    );
    observed.settings.default_time_to_live_seconds = Some(20);
    assert_eq!(
        decide(&app, &observed).requeue_after,
        Some(Duration::from_secs(10))
    );
    app.spec.time_to_live_seconds = Some(0);
    assert_eq!(
        decide(&app, &observed).actions,
        vec![Action::DeleteApplication]
    );
}

#[test]
fn completion_looks_again_when_the_time_to_live_ends() {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.app.spec.time_to_live_seconds = Some(300);
    run.reconcile();
    run.driver_is(PodPhase::Succeeded, None);
    run.reconcile();
    run.advance(1);
    let completed = run.reconcile();
    assert_eq!(run.state(), State::Completed);
    assert_eq!(completed.requeue_after, Some(Duration::from_secs(299)));
    run.advance(300);
    run.reconcile();
    assert!(run.deleted);
}

#[test]
fn an_application_being_deleted_is_left_alone() {
    let mut app = app_in(policy(RestartPolicyType::Always), status_in(State::Running));
    app.metadata.deletion_timestamp = Some(Time(at(0)));
    if let Some(status) = app.status.as_mut() {
        status
            .executor_state
            .insert("pi-exec-1".into(), ExecutorState::Running);
    }
    let decision = decide(&app, &observation(at(50)));
    assert_eq!(decision.actions, vec![]);
    assert_eq!(Some(&decision.status), app.status.as_ref());
}
