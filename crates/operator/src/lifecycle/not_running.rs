//! Why an application is not making progress, said on the application: its driver pending
//! (unschedulable, an image that cannot be pulled, a ConfigMap or Secret that is missing) or its
//! executors pending or refused by a quota. The reason goes into `applicationState.errorMessage`
//! while the application is SUBMITTED or RUNNING, with one Warning Event each time the kind of
//! trouble changes, and is cleared once nothing holds the pods back. With a start timeout
//! (`--driver-start-timeout`, `--executor-start-timeout`, or the application's annotations), a
//! driver or executors that do not start in time end the attempt as a failure, which the restart
//! policy then follows.
//!
//! Kubeflow's operator leaves such an application SUBMITTED in silence: the most reported of its
//! bugs. The Event reasons here are this operator's additions.

use std::time::Duration;

use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use spark_operator_api::SparkApplicationStatus;
use spark_operator_api::{ApplicationStateType as State, SparkApplication, SparkApplicationSpec};

use super::driver_state::is_current_attempt;
use super::observe::{DriverObservation, DriverPod, PodPhase, Waiting};
use super::{Action, Observation};

/// Per-application start timeouts, overriding the operator's: a duration (`300s`, `5m`, `1h`,
/// or seconds), `0` for none.
pub const DRIVER_START_TIMEOUT_ANNOTATION: &str = "sparkoperator.k8s.io/driver-start-timeout";
pub const EXECUTOR_START_TIMEOUT_ANNOTATION: &str = "sparkoperator.k8s.io/executor-start-timeout";

/// The Event reasons of this module.
pub mod reasons {
    pub const DRIVER_UNSCHEDULABLE: &str = "SparkDriverUnschedulable";
    pub const DRIVER_IMAGE_PULL_FAILED: &str = "SparkDriverImagePullFailed";
    pub const DRIVER_CONFIG_ERROR: &str = "SparkDriverConfigError";
    pub const DRIVER_MOUNT_FAILED: &str = "SparkDriverMountFailed";
    pub const DRIVER_START_TIMEOUT: &str = "SparkDriverStartTimeout";
    pub const EXECUTOR_UNSCHEDULABLE: &str = "SparkExecutorUnschedulable";
    pub const EXECUTOR_IMAGE_PULL_FAILED: &str = "SparkExecutorImagePullFailed";
    pub const EXECUTOR_CONFIG_ERROR: &str = "SparkExecutorConfigError";
    pub const EXECUTOR_MOUNT_FAILED: &str = "SparkExecutorMountFailed";
    pub const EXECUTOR_QUOTA_EXCEEDED: &str = "SparkExecutorQuotaExceeded";
    pub const EXECUTOR_START_TIMEOUT: &str = "SparkExecutorStartTimeout";
}

/// The kinds of trouble that hold a pod back, each with its Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    Unschedulable,
    ImagePull,
    Config,
    Mount,
    Quota,
}

impl Trouble {
    /// The trouble a waiting reason is, if it is one (`ContainerCreating` and `PodInitializing`
    /// are the way to running, not a trouble in themselves).
    pub fn of(reason: &str) -> Option<Trouble> {
        match reason {
            "Unschedulable" | "SchedulerError" => Some(Trouble::Unschedulable),
            "ErrImagePull"
            | "ImagePullBackOff"
            | "InvalidImageName"
            | "ErrImageNeverPull"
            | "RegistryUnavailable" => Some(Trouble::ImagePull),
            "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError" => {
                Some(Trouble::Config)
            }
            "FailedMount" | "FailedAttachVolume" => Some(Trouble::Mount),
            "ExceededQuota" => Some(Trouble::Quota),
            _ => None,
        }
    }

    fn reason(self, driver: bool) -> &'static str {
        use reasons::*;
        match (self, driver) {
            (Trouble::Unschedulable, true) => DRIVER_UNSCHEDULABLE,
            (Trouble::ImagePull, true) => DRIVER_IMAGE_PULL_FAILED,
            (Trouble::Config, true) => DRIVER_CONFIG_ERROR,
            (Trouble::Mount | Trouble::Quota, true) => DRIVER_MOUNT_FAILED,
            (Trouble::Unschedulable, false) => EXECUTOR_UNSCHEDULABLE,
            (Trouble::ImagePull, false) => EXECUTOR_IMAGE_PULL_FAILED,
            (Trouble::Config, false) => EXECUTOR_CONFIG_ERROR,
            (Trouble::Mount, false) => EXECUTOR_MOUNT_FAILED,
            (Trouble::Quota, false) => EXECUTOR_QUOTA_EXCEEDED,
        }
    }
}

/// What holds a pod back: its own waiting reason when that is a trouble, else what the
/// reconciler found in its Events while it is being created (a failed mount).
fn trouble_of<'a>(
    name: &str,
    waiting: Option<&'a Waiting>,
    observed: &'a Observation,
) -> Option<(Trouble, &'a Waiting)> {
    let waiting = waiting?;
    if let Some(trouble) = Trouble::of(&waiting.reason) {
        return Some((trouble, waiting));
    }
    let found = observed.pod_troubles.get(name)?;
    Trouble::of(&found.reason).map(|trouble| (trouble, found))
}

fn describe(waiting: &Waiting) -> String {
    match &waiting.message {
        Some(message) => format!("{}: {message}", waiting.reason),
        None => waiting.reason.clone(),
    }
}

/// What follows from the pods not running: the status's message, Events, and when to look again
/// for a timeout. Call after the driver and executors were followed.
pub fn explain(
    app: &SparkApplication,
    spec: &SparkApplicationSpec,
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    actions: &mut Vec<Action>,
) -> Option<Duration> {
    let driver = match &observed.driver {
        DriverObservation::Pod(pod) if is_current_attempt(pod, status) => Some(pod),
        _ => None,
    };
    match status.application_state.state {
        State::Submitted => match driver.filter(|d| d.phase == PodPhase::Pending) {
            Some(driver) => explain_driver(app, driver, status, observed, actions),
            None => None,
        },
        State::Running => explain_executors(app, spec, driver, status, observed, actions),
        _ => None,
    }
}

fn explain_driver(
    app: &SparkApplication,
    driver: &DriverPod,
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    actions: &mut Vec<Action>,
) -> Option<Duration> {
    let trouble = trouble_of(&driver.name, driver.waiting.as_ref(), observed);
    let subject = format!("driver pod {} is not running", driver.name);
    let why = trouble.map(|(kind, waiting)| (kind, format!("{subject}: {}", describe(waiting))));
    report(status, why.as_ref(), true, actions);
    let timeout = start_timeout(
        app,
        DRIVER_START_TIMEOUT_ANNOTATION,
        observed.settings.driver_start_timeout,
    )?;
    let since = status.last_submission_attempt_time.as_ref()?.0;
    let left = time_left(timeout, since, observed.now);
    if left.is_positive() {
        return Some(super::retry::requeue_in(left));
    }
    let detail = trouble.map_or_else(|| "it is still pending".to_string(), |(_, w)| describe(w));
    let message = format!(
        "driver pod {} did not start within {}: {detail}",
        driver.name,
        crate::duration::show(timeout)
    );
    time_out(
        status,
        observed,
        reasons::DRIVER_START_TIMEOUT,
        message,
        actions,
    )
}

fn explain_executors(
    app: &SparkApplication,
    spec: &SparkApplicationSpec,
    driver: Option<&DriverPod>,
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    actions: &mut Vec<Action>,
) -> Option<Duration> {
    let current: Vec<_> = observed
        .executors
        .iter()
        .filter(|e| status.submission_id.is_none() || e.submission_id == status.submission_id)
        .collect();
    let started = current
        .iter()
        .filter(|e| matches!(e.phase, PodPhase::Running | PodPhase::Succeeded))
        .count();
    let pending: Vec<_> = current
        .iter()
        .filter(|e| e.phase == PodPhase::Pending)
        .collect();
    let requested = super::quota::requested_executors(spec);
    let held_back = pending
        .iter()
        .find_map(|e| trouble_of(&e.name, e.waiting.as_ref(), observed))
        .map(|(kind, waiting)| {
            let subject = format!(
                "{} of {} executor pods are not running",
                pending.len(),
                current.len()
            );
            (kind, format!("{subject}: {}", describe(waiting)))
        });
    let refused = observed
        .quota_exceeded
        .as_ref()
        .filter(|_| (current.len() as u32) < requested)
        .map(|quota| {
            let message = format!(
                "{} of {requested} executor pods exist: {quota}",
                current.len()
            );
            (Trouble::Quota, message)
        });
    let why = held_back.or(refused);
    report(status, why.as_ref(), false, actions);
    if started > 0 || requested == 0 {
        return None;
    }
    let timeout = start_timeout(
        app,
        EXECUTOR_START_TIMEOUT_ANNOTATION,
        observed.settings.executor_start_timeout,
    )?;
    let since = driver?.started?;
    let left = time_left(timeout, since, observed.now);
    if left.is_positive() {
        return Some(super::retry::requeue_in(left));
    }
    let detail = why.map_or_else(
        || format!("{} executor pods exist, none running", current.len()),
        |(_, message)| message,
    );
    let message = format!(
        "no executor started within {} of the driver: {detail}",
        crate::duration::show(timeout)
    );
    time_out(
        status,
        observed,
        reasons::EXECUTOR_START_TIMEOUT,
        message,
        actions,
    )
}

/// Sets the status's message to `why` (clearing it when nothing holds the pods back), with an
/// Event when the kind of trouble is new. An image pull keeps its first message: the kubelet
/// alternates between `ErrImagePull`, which says why, and `ImagePullBackOff`, which does not.
fn report(
    status: &mut SparkApplicationStatus,
    why: Option<&(Trouble, String)>,
    driver: bool,
    actions: &mut Vec<Action>,
) {
    let current = &mut status.application_state.error_message;
    let Some((trouble, message)) = why else {
        *current = None;
        return;
    };
    let before = current.as_deref().and_then(trouble_in_message);
    if before != Some(*trouble) {
        actions.push(Action::Event {
            warning: true,
            reason: trouble.reason(driver),
            message: message.clone(),
        });
    } else if *trouble == Trouble::ImagePull {
        return;
    }
    *current = Some(message.clone());
}

/// The trouble a message of this module names, read back from it.
fn trouble_in_message(message: &str) -> Option<Trouble> {
    if let Some((_, rest)) = message.split_once(" not running: ") {
        return Trouble::of(rest.split(':').next()?.trim());
    }
    message
        .contains(" executor pods exist: ")
        .then_some(Trouble::Quota)
}

fn time_out(
    status: &mut SparkApplicationStatus,
    observed: &Observation,
    reason: &'static str,
    message: String,
    actions: &mut Vec<Action>,
) -> Option<Duration> {
    actions.push(Action::Event {
        warning: true,
        reason,
        message: message.clone(),
    });
    // The pods that did not start go with the attempt, so that none starts late and runs.
    actions.push(Action::DeleteAttemptResources);
    status.application_state.state = State::Failing;
    status.application_state.error_message = Some(message);
    status.termination_time = Some(Time(observed.now));
    Some(Duration::ZERO)
}

/// The application's timeout from its annotation, else the operator's; `None` when neither
/// sets one (or the annotation says `0`). An annotation that cannot be read is ignored.
fn start_timeout(
    app: &SparkApplication,
    annotation: &str,
    operator: Option<Duration>,
) -> Option<Duration> {
    match app
        .annotations()
        .get(annotation)
        .and_then(|v| crate::duration::parse_or_seconds(v))
    {
        Some(timeout) => Some(timeout).filter(|t| !t.is_zero()),
        None => operator.filter(|t| !t.is_zero()),
    }
}

fn time_left(timeout: Duration, since: jiff::Timestamp, now: jiff::Timestamp) -> SignedDuration {
    SignedDuration::try_from(timeout)
        .unwrap_or(SignedDuration::MAX)
        .saturating_sub(now.duration_since(since))
}
