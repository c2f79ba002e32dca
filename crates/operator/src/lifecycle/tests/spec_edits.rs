//! Edits that Kubeflow does not rerun an application for: `timeToLiveSeconds` or `suspend`
//! alone, and the executors' placement with the PartialRestart feature gate.

use super::*;
use crate::lifecycle::reasons::*;

fn completed() -> Run {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.reconcile();
    run.driver_is(PodPhase::Succeeded, None);
    run.reconcile_until(State::Completed, 3);
    assert_eq!(run.submitted.len(), 1);
    run
}

#[test]
fn editing_only_the_time_to_live_of_a_finished_application_does_not_rerun_it() {
    let mut run = completed();
    run.edit(|spec| spec.time_to_live_seconds = Some(30));
    let decision = run.reconcile();
    assert_eq!(run.state(), State::Completed);
    assert_eq!(decision.actions, vec![]);
    assert_eq!(run.status().observed_generation, Some(2));
    // The new time to live is the one that applies.
    assert_eq!(decision.requeue_after, Some(Duration::from_secs(30)));
    run.advance(31);
    run.reconcile();
    assert!(run.deleted);
    assert_eq!(run.submitted.len(), 1, "never submitted again");
}

#[test]
fn un_suspending_a_finished_application_does_not_rerun_it() {
    let mut run = completed();
    run.edit(|spec| spec.suspend = Some(true));
    run.reconcile();
    run.edit(|spec| spec.suspend = Some(false));
    let decision = run.reconcile();
    assert_eq!(run.state(), State::Completed);
    assert_eq!(decision.actions, vec![]);
    run.reconcile();
    assert_eq!(run.submitted.len(), 1);
}

#[test]
fn any_other_edit_of_a_finished_application_still_reruns_it() {
    let mut run = completed();
    run.edit(|spec| {
        spec.time_to_live_seconds = Some(30);
        spec.arguments = vec!["10".into()];
    });
    run.reconcile_until(State::Submitted, 4);
    assert_eq!(run.submitted.len(), 2);
}

fn running_with(partial_restart: bool) -> Run {
    let mut run = Run::new(policy(RestartPolicyType::Never));
    run.settings.partial_restart = partial_restart;
    run.reconcile();
    run.driver_is(PodPhase::Running, None);
    run.reconcile();
    assert_eq!(run.state(), State::Running);
    run
}

fn move_executors(spec: &mut SparkApplicationSpec) {
    spec.executor
        .pod
        .node_selector
        .insert("pool".into(), "spot".into());
    spec.executor.pod.scheduler_name = Some("batch".into());
}

#[test]
fn partial_restart_takes_an_executor_placement_edit_without_a_rerun() {
    let mut run = running_with(true);
    run.edit(move_executors);
    let decision = run.reconcile();
    assert_eq!(run.state(), State::Running);
    assert_eq!(decision.reasons(), vec![APPLICATION_WEBHOOK_FIELDS_UPDATED]);
    assert_eq!(run.status().observed_generation, Some(2));
    // Taken once: the next reconcile has nothing to say about it.
    assert_eq!(run.reconcile().reasons(), Vec::<&str>::new());
    assert_eq!(run.submitted.len(), 1);
    // The driver's placement is not the executors': it reruns.
    run.edit(|spec| {
        spec.driver
            .pod
            .node_selector
            .insert("pool".into(), "spot".into());
    });
    run.reconcile();
    assert_eq!(run.state(), State::Invalidating);
}

#[test]
fn without_partial_restart_an_executor_placement_edit_reruns() {
    let mut run = running_with(false);
    run.edit(move_executors);
    run.reconcile();
    assert_eq!(run.state(), State::Invalidating);
}
