//! The Events of the lifecycle, with Kubeflow's reasons, messages and types.

use spark_operator_api::ExecutorState;

use super::Action;
use super::observe::{DriverPod, Termination};

/// Kubeflow's Event reasons.
pub mod reasons {
    pub const APPLICATION_ADDED: &str = "SparkApplicationAdded";
    pub const APPLICATION_SUBMITTED: &str = "SparkApplicationSubmitted";
    pub const APPLICATION_SUBMISSION_FAILED: &str = "SparkApplicationSubmissionFailed";
    pub const APPLICATION_COMPLETED: &str = "SparkApplicationCompleted";
    pub const APPLICATION_FAILED: &str = "SparkApplicationFailed";
    pub const APPLICATION_PENDING_RERUN: &str = "SparkApplicationPendingRerun";
    pub const APPLICATION_SUSPENDING: &str = "SparkApplicationSuspending";
    pub const APPLICATION_SUSPENDED: &str = "SparkApplicationSuspended";
    pub const APPLICATION_RESUMING: &str = "SparkApplicationResuming";
    pub const APPLICATION_WEBHOOK_FIELDS_UPDATED: &str = "SparkApplicationWebhookFieldsUpdated";
    pub const DRIVER_NOT_FOUND: &str = "SparkDriverNotFound";
    pub const DRIVER_PENDING: &str = "SparkDriverPending";
    pub const DRIVER_RUNNING: &str = "SparkDriverRunning";
    pub const DRIVER_COMPLETED: &str = "SparkDriverCompleted";
    pub const DRIVER_FAILED: &str = "SparkDriverFailed";
    pub const DRIVER_UNKNOWN: &str = "SparkDriverUnknown";
    pub const EXECUTOR_PENDING: &str = "SparkExecutorPending";
    pub const EXECUTOR_RUNNING: &str = "SparkExecutorRunning";
    pub const EXECUTOR_COMPLETED: &str = "SparkExecutorCompleted";
    pub const EXECUTOR_FAILED: &str = "SparkExecutorFailed";
    pub const EXECUTOR_UNKNOWN: &str = "SparkExecutorUnknown";
}

use reasons::*;

fn normal(reason: &'static str, message: String) -> Action {
    Action::Event {
        warning: false,
        reason,
        message,
    }
}

fn warning(reason: &'static str, message: String) -> Action {
    Action::Event {
        warning: true,
        reason,
        message,
    }
}

pub fn added(app: &str) -> Action {
    normal(
        APPLICATION_ADDED,
        format!("SparkApplication {app} was added, enqueuing it for submission"),
    )
}

/// Kubeflow's event for an edit of the executors' placement taken without a rerun
/// (PartialRestart).
pub fn executor_placement_updated(app: &str) -> Action {
    normal(
        APPLICATION_WEBHOOK_FIELDS_UPDATED,
        format!(
            "SparkApplication {app} webhook-patched fields updated, new pods will use updated values"
        ),
    )
}

pub fn submitted(app: &str) -> Action {
    normal(
        APPLICATION_SUBMITTED,
        format!("SparkApplication {app} was submitted successfully"),
    )
}

pub fn submission_failed(app: &str, error: &str) -> Action {
    warning(
        APPLICATION_SUBMISSION_FAILED,
        format!("failed to submit SparkApplication {app}: {error}"),
    )
}

pub fn completed(app: &str) -> Action {
    normal(
        APPLICATION_COMPLETED,
        format!("SparkApplication {app} completed"),
    )
}

pub fn failed(app: &str, error: &str) -> Action {
    warning(
        APPLICATION_FAILED,
        format!("SparkApplication {app} failed: {error}"),
    )
}

// Kubeflow reports rerun, suspension and resumption as warnings.
pub fn pending_rerun(app: &str) -> Action {
    warning(
        APPLICATION_PENDING_RERUN,
        format!("SparkApplication {app} is pending rerun"),
    )
}

pub fn suspending(app: &str) -> Action {
    warning(
        APPLICATION_SUSPENDING,
        format!("SparkApplication {app} is suspending"),
    )
}

pub fn suspended(app: &str) -> Action {
    warning(
        APPLICATION_SUSPENDED,
        format!("SparkApplication {app} is suspended"),
    )
}

pub fn resuming(app: &str) -> Action {
    warning(
        APPLICATION_RESUMING,
        format!("SparkApplication {app} is resuming"),
    )
}

pub fn driver_not_found(pod: &str, grace_period: Option<std::time::Duration>) -> Action {
    let message = match grace_period {
        Some(grace) => format!(
            "Driver pod {pod} not found after grace period {}s, marking application as Failing",
            grace.as_secs_f64()
        ),
        None => format!("Driver pod {pod} not found, marking application as Failing"),
    };
    warning(DRIVER_NOT_FOUND, message)
}

/// The driver state Kubeflow derives from the pod phase and the driver container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverState {
    Pending,
    Running,
    Completed,
    Failed,
    Unknown,
}

pub fn driver(state: DriverState, driver: &DriverPod) -> Action {
    let pod = &driver.name;
    match state {
        DriverState::Pending => normal(DRIVER_PENDING, format!("Driver {pod} is pending")),
        DriverState::Running => normal(DRIVER_RUNNING, format!("Driver {pod} is running")),
        DriverState::Completed => normal(DRIVER_COMPLETED, format!("Driver {pod} completed")),
        DriverState::Failed => warning(DRIVER_FAILED, format!("Driver {pod} failed")),
        DriverState::Unknown => warning(DRIVER_UNKNOWN, format!("Driver {pod} in unknown state")),
    }
}

pub fn executor(
    state: ExecutorState,
    pod: &str,
    terminated: Option<&Termination>,
    pod_message: Option<&str>,
) -> Action {
    match state {
        ExecutorState::Pending => normal(EXECUTOR_PENDING, format!("Executor {pod} is pending")),
        ExecutorState::Running => normal(EXECUTOR_RUNNING, format!("Executor {pod} is running")),
        ExecutorState::Completed => normal(EXECUTOR_COMPLETED, format!("Executor {pod} completed")),
        ExecutorState::Failed => {
            // Kubeflow's unambiguous stand-ins when the container status is gone.
            let (exit_code, reason) = match terminated {
                Some(t) => (t.exit_code, t.reason.as_deref().unwrap_or_default()),
                None => (-1, "Unknown (Container not Found)"),
            };
            let message = pod_message.unwrap_or_default();
            warning(
                EXECUTOR_FAILED,
                format!(
                    "Executor {pod} failed with ExitCode: {exit_code}, Reason: {reason}, Pod Message: {message}"
                ),
            )
        }
        ExecutorState::Unknown => {
            warning(EXECUTOR_UNKNOWN, format!("Executor {pod} in unknown state"))
        }
    }
}
