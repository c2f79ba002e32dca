//! `executorState`: the state of each executor pod of the current attempt, as Kubeflow keeps it.

use std::collections::BTreeMap;

use spark_operator_api::{ApplicationStateType, ExecutorState, SparkApplicationStatus};

use super::observe::{ExecutorObservation, PodPhase};
use super::{Action, Observation, events};

/// Kubeflow's `GetExecutorState`: the pod phase.
pub fn executor_state(phase: PodPhase) -> ExecutorState {
    match phase {
        PodPhase::Pending => ExecutorState::Pending,
        PodPhase::Running => ExecutorState::Running,
        PodPhase::Succeeded => ExecutorState::Completed,
        PodPhase::Failed => ExecutorState::Failed,
        PodPhase::Unknown => ExecutorState::Unknown,
    }
}

fn is_terminated(state: ExecutorState) -> bool {
    matches!(state, ExecutorState::Completed | ExecutorState::Failed)
}

/// Whether Kubeflow tracks `executor`: one of the current attempt (when the status names one),
/// within the tracking limit (an executor id that is not a number counts as 0, as in Kubeflow).
fn is_tracked(executor: &ExecutorObservation, status: &SparkApplicationStatus, limit: u32) -> bool {
    let same_attempt = match &status.submission_id {
        Some(id) => executor.submission_id.as_ref() == Some(id),
        None => true,
    };
    same_attempt && executor.executor_id.unwrap_or(0) <= i64::from(limit)
}

/// What becomes of an executor in the status whose pod is gone, by the application state (after
/// the driver was looked at): unknown while the application runs, else completed once the driver
/// succeeded (Spark removes its executors when it ends), else failed.
fn vanished(state: ApplicationStateType) -> ExecutorState {
    match state {
        ApplicationStateType::Running => ExecutorState::Unknown,
        ApplicationStateType::Succeeding | ApplicationStateType::Completed => {
            ExecutorState::Completed
        }
        _ => ExecutorState::Failed,
    }
}

/// Kubeflow's `updateExecutorState`: records the state of every tracked executor pod, an event
/// for each one that is new or changed, Spark's application id as the executors know it, and the
/// fate of executors whose pods are gone.
pub fn update_executor_states(
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    actions: &mut Vec<Action>,
) {
    let limit = observed.settings.max_tracked_executors;
    let mut seen = BTreeMap::new();
    let mut executor_app_id = None;
    for executor in observed
        .executors
        .iter()
        .filter(|executor| is_tracked(executor, status, limit))
    {
        let state = executor_state(executor.phase);
        if status.executor_state.get(&executor.name) != Some(&state) {
            actions.push(events::executor(
                state,
                &executor.name,
                executor.terminated.as_ref(),
                executor.pod_message.as_deref(),
            ));
        }
        seen.insert(executor.name.clone(), state);
        executor_app_id = executor_app_id.or(executor.spark_app_id.as_ref());
    }
    // Executors may carry another application id than the driver (SPARK-25922); theirs wins.
    if let Some(app_id) = executor_app_id {
        status.spark_application_id = Some(app_id.clone());
    }

    let gone = vanished(status.application_state.state);
    for (name, state) in status.executor_state.iter_mut() {
        if let Some(observed) = seen.remove(name) {
            *state = observed;
        } else if !is_terminated(*state) {
            *state = gone;
        }
    }
    status.executor_state.extend(seen);
}
