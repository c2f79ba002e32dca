//! Following the driver of the current attempt: Kubeflow's driver state and the application state
//! it implies.

use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use spark_operator_api::{ApplicationStateType, SparkApplicationStatus};

use super::events::{self, DriverState};
use super::observe::{DriverObservation, DriverPod, PodPhase};
use super::{Action, Observation};

/// Kubeflow's `GetDriverState`: the phase, corrected by how the driver container ended (a pod can
/// still be Running after its driver container exited, or Failed although it exited with 0).
pub fn driver_state(pod: &DriverPod) -> DriverState {
    let exit_code = pod.terminated.as_ref().map(|t| t.exit_code);
    match pod.phase {
        PodPhase::Pending => DriverState::Pending,
        PodPhase::Running => match exit_code {
            Some(0) => DriverState::Completed,
            Some(_) => DriverState::Failed,
            None => DriverState::Running,
        },
        PodPhase::Succeeded => DriverState::Completed,
        PodPhase::Failed if exit_code == Some(0) => DriverState::Completed,
        PodPhase::Failed => DriverState::Failed,
        PodPhase::Unknown => DriverState::Unknown,
    }
}

fn application_state(driver: DriverState) -> ApplicationStateType {
    match driver {
        DriverState::Pending => ApplicationStateType::Submitted,
        DriverState::Running => ApplicationStateType::Running,
        DriverState::Completed => ApplicationStateType::Succeeding,
        DriverState::Failed => ApplicationStateType::Failing,
        DriverState::Unknown => ApplicationStateType::Unknown,
    }
}

/// Whether `pod` was created by the attempt `status` records. A status without a submission id
/// (written by another operator) is matched by the recorded driver name.
pub fn is_current_attempt(pod: &DriverPod, status: &SparkApplicationStatus) -> bool {
    match &status.submission_id {
        Some(id) => pod.submission_id.as_ref() == Some(id),
        None => status.driver_info.pod_name.as_ref() == Some(&pod.name),
    }
}

/// The error message of a failed driver.
fn failure_message(pod: &DriverPod) -> String {
    match &pod.terminated {
        Some(terminated) => {
            let mut message = format!(
                "driver container failed with ExitCode: {}, Reason: {}",
                terminated.exit_code,
                terminated.reason.as_deref().unwrap_or_default()
            );
            if let Some(detail) = &terminated.message {
                message.push_str(", Message: ");
                message.push_str(detail.trim_end());
            }
            message
        }
        None => match &pod.pod_message {
            Some(detail) => format!("driver container status missing: {detail}"),
            None => "driver container status missing".to_string(),
        },
    }
}

/// Kubeflow's `updateDriverState`: moves `status` along with the driver of the current attempt.
/// Returns the time left of the creation grace period when a just submitted driver is not there
/// yet, in which case nothing else is updated.
pub fn update_driver_state(
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    actions: &mut Vec<Action>,
) -> Option<SignedDuration> {
    let current = match &observed.driver {
        DriverObservation::Pod(pod) if is_current_attempt(pod, status) => pod,
        _ => return driver_missing(status, observed, actions),
    };
    if let Some(app_id) = &current.spark_app_id {
        status.spark_application_id = Some(app_id.clone());
    }
    let driver = driver_state(current);
    if matches!(driver, DriverState::Completed | DriverState::Failed) {
        status.termination_time.get_or_insert(Time(observed.now));
    }
    if driver == DriverState::Failed {
        status.application_state.error_message = Some(failure_message(current));
    }
    let next = application_state(driver);
    if next != status.application_state.state {
        actions.push(events::driver(driver, current));
        status.application_state.state = next;
    }
    None
}

fn driver_missing(
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    actions: &mut Vec<Action>,
) -> Option<SignedDuration> {
    let grace = observed.settings.driver_pod_creation_grace_period;
    let pod = status.driver_info.pod_name.clone().unwrap_or_default();
    let event = if status.application_state.state == ApplicationStateType::Submitted {
        let grace_left = status
            .last_submission_attempt_time
            .as_ref()
            .map(|Time(last)| {
                SignedDuration::try_from(grace)
                    .unwrap_or(SignedDuration::MAX)
                    .saturating_sub(observed.now.duration_since(*last))
            });
        // Kubeflow waits while no more than the grace period has passed.
        if let Some(left) = grace_left.filter(|left| !left.is_negative()) {
            return Some(left);
        }
        events::driver_not_found(&pod, Some(grace))
    } else {
        events::driver_not_found(&pod, None)
    };
    actions.push(event);
    status.application_state.state = ApplicationStateType::Failing;
    status.application_state.error_message = Some("driver pod not found".to_string());
    status.termination_time = Some(Time(observed.now));
    None
}
