//! What the lifecycle needs to know of the pods of an application, read from Kubernetes pods.

use std::borrow::Borrow;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use spark_operator_api::SparkApplication;
use spark_operator_api::naming::driver_pod_name;

use super::retry::submission_id;
use super::{Observation, Settings};
use crate::submission::{
    DRIVER_CONTAINER, LABEL_APP_NAME, LABEL_SPARK_APP_SELECTOR, LABEL_SPARK_ROLE,
    LABEL_SUBMISSION_ID, ROLE_DRIVER, ROLE_EXECUTOR,
};

/// Spark's labels on the executor pods it runs.
const LABEL_SPARK_EXECUTOR_ID: &str = "spark-exec-id";
/// The executor's container under Spark 3+ and before.
const EXECUTOR_CONTAINERS: [&str; 2] = ["spark-kubernetes-executor", "executor"];

/// A pod's `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// `Unknown`, missing or unrecognised.
    Unknown,
}

impl PodPhase {
    pub fn parse(phase: Option<&str>) -> Self {
        match phase {
            Some("Pending") => Self::Pending,
            Some("Running") => Self::Running,
            Some("Succeeded") => Self::Succeeded,
            Some("Failed") => Self::Failed,
            _ => Self::Unknown,
        }
    }
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub reason: Option<String>,
    pub message: Option<String>,
}

impl From<&ContainerStateTerminated> for Termination {
    fn from(state: &ContainerStateTerminated) -> Self {
        Self {
            exit_code: state.exit_code,
            reason: non_empty(state.reason.as_deref()),
            message: non_empty(state.message.as_deref()),
        }
    }
}

/// Why a pending pod is not running, in its status' words: the scheduler's `PodScheduled=False`
/// condition, or the kubelet's waiting reason of a container (`ErrImagePull`,
/// `CreateContainerConfigError`, `ContainerCreating`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: Option<String>,
}

/// A driver pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverPod {
    pub name: String,
    /// The `sparkoperator.k8s.io/submission-id` label: the attempt that created the pod.
    pub submission_id: Option<String>,
    /// The `spark-app-selector` label.
    pub spark_app_id: Option<String>,
    pub phase: PodPhase,
    /// How the driver container ended, if it did.
    pub terminated: Option<Termination>,
    /// The pod's own `reason: message` (an eviction, say), if any.
    pub pod_message: Option<String>,
    /// Why the pod is not running yet, while it is pending.
    pub waiting: Option<Waiting>,
    pub created: Option<jiff::Timestamp>,
    /// When the driver container started running.
    pub started: Option<jiff::Timestamp>,
}

// One per reconcile, moved once into the observation: boxing the pod would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverObservation {
    NotFound,
    Pod(DriverPod),
}

/// An executor pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorObservation {
    pub name: String,
    pub submission_id: Option<String>,
    pub spark_app_id: Option<String>,
    /// The `spark-exec-id` label, when it is a number.
    pub executor_id: Option<i64>,
    pub phase: PodPhase,
    /// How the executor container ended, if it did.
    pub terminated: Option<Termination>,
    /// The pod's `status.message`, if any.
    pub pod_message: Option<String>,
    /// Why the pod is not running yet, while it is pending.
    pub waiting: Option<Waiting>,
    pub created: Option<jiff::Timestamp>,
}

/// A pod as the lifecycle sees it, by its `spark-role` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObservedPod {
    Driver(DriverPod),
    Executor(ExecutorObservation),
    /// Neither a driver nor an executor.
    Other,
}

impl ObservedPod {
    /// The pod with metadata `meta` and status `status`; nothing else of a pod is read.
    pub fn of(meta: &ObjectMeta, status: Option<&PodStatus>) -> Self {
        match role(meta) {
            Some(ROLE_DRIVER) => Self::Driver(driver_from_parts(meta, status)),
            Some(ROLE_EXECUTOR) => Self::Executor(executor_from_parts(meta, status)),
            _ => Self::Other,
        }
    }
}

/// The observation of `app` from the pods of its namespace (other pods are ignored). The driver is
/// the one of the attempt about to be submitted, else of the current attempt, else the one named
/// as the application's driver, else any. Only driver pods are counted in `attempts_with_resources`: the reconciler adds the
/// Services, ConfigMaps and Ingresses it sees, and may change `settings`.
pub fn observe<P: Borrow<Pod>>(
    app: &SparkApplication,
    pods: &[P],
    now: jiff::Timestamp,
) -> Observation {
    let name = app.name_any();
    let namespace = app.namespace();
    let own = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|pod| pod.namespace() == namespace)
        .filter(|pod| pod.labels().get(LABEL_APP_NAME) == Some(&name))
        .map(|pod| ObservedPod::of(&pod.metadata, pod.status.as_ref()));
    observe_pods(app, own, now)
}

/// [`observe`] from the application's own pods, already seen as [`ObservedPod`]s.
pub fn observe_pods(
    app: &SparkApplication,
    pods: impl IntoIterator<Item = ObservedPod>,
    now: jiff::Timestamp,
) -> Observation {
    let mut drivers = Vec::new();
    let mut executors = Vec::new();
    for pod in pods {
        match pod {
            ObservedPod::Driver(driver) => drivers.push(driver),
            ObservedPod::Executor(executor) => executors.push(executor),
            ObservedPod::Other => {}
        }
    }
    let attempts_with_resources = drivers
        .iter()
        .map(|driver| driver.submission_id.clone().unwrap_or_default())
        .collect();
    let preference = DriverPreference::new(app);
    drivers.sort_by_key(|driver| (preference.rank(driver), driver.name.clone()));
    let driver = match drivers.into_iter().next() {
        Some(pod) => DriverObservation::Pod(pod),
        None => DriverObservation::NotFound,
    };
    executors.sort_by(|a, b| a.name.cmp(&b.name));

    Observation {
        now,
        driver,
        executors,
        attempts_with_resources,
        pod_troubles: Default::default(),
        quota_exceeded: None,
        settings: Settings::default(),
    }
}

/// Which driver pod is the application's: lower is better.
struct DriverPreference {
    /// The attempt about to be submitted: a repeated submission adopts its driver.
    next_attempt: String,
    current_attempt: Option<String>,
    names: [Option<String>; 2],
}

impl DriverPreference {
    fn new(app: &SparkApplication) -> Self {
        let status = app.status.clone().unwrap_or_default();
        Self {
            next_attempt: submission_id(app, &status),
            current_attempt: status.submission_id,
            names: [status.driver_info.pod_name, Some(driver_pod_name(app))],
        }
    }

    fn rank(&self, driver: &DriverPod) -> u8 {
        let attempt = driver.submission_id.as_ref();
        if attempt == Some(&self.next_attempt) {
            0
        } else if attempt.is_some() && attempt == self.current_attempt.as_ref() {
            1
        } else if self.names.contains(&Some(driver.name.clone())) {
            2
        } else {
            3
        }
    }
}

fn name_any(meta: &ObjectMeta) -> String {
    meta.name
        .clone()
        .or_else(|| meta.generate_name.clone())
        .unwrap_or_default()
}

fn role(meta: &ObjectMeta) -> Option<&str> {
    meta.labels
        .as_ref()?
        .get(LABEL_SPARK_ROLE)
        .map(String::as_str)
}

/// The driver as the lifecycle sees it.
pub fn driver_from_pod(pod: &Pod) -> DriverPod {
    driver_from_parts(&pod.metadata, pod.status.as_ref())
}

/// The driver as the lifecycle sees it, from the pod's metadata and status.
pub fn driver_from_parts(meta: &ObjectMeta, status: Option<&PodStatus>) -> DriverPod {
    DriverPod {
        name: name_any(meta),
        submission_id: label(meta, LABEL_SUBMISSION_ID),
        spark_app_id: label(meta, LABEL_SPARK_APP_SELECTOR),
        phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
        terminated: container_termination(status, &[DRIVER_CONTAINER]),
        pod_message: status.and_then(pod_reason_and_message),
        waiting: waiting(status, &[DRIVER_CONTAINER]),
        created: meta.creation_timestamp.as_ref().map(|t| t.0),
        started: container_started(status, &[DRIVER_CONTAINER]),
    }
}

/// An executor as the lifecycle sees it.
pub fn executor_from_pod(pod: &Pod) -> ExecutorObservation {
    executor_from_parts(&pod.metadata, pod.status.as_ref())
}

fn executor_from_parts(meta: &ObjectMeta, status: Option<&PodStatus>) -> ExecutorObservation {
    ExecutorObservation {
        name: name_any(meta),
        submission_id: label(meta, LABEL_SUBMISSION_ID),
        spark_app_id: label(meta, LABEL_SPARK_APP_SELECTOR),
        executor_id: label(meta, LABEL_SPARK_EXECUTOR_ID).and_then(|id| id.parse().ok()),
        phase: PodPhase::parse(status.and_then(|s| s.phase.as_deref())),
        terminated: container_termination(status, &EXECUTOR_CONTAINERS),
        pod_message: status.and_then(|s| non_empty(s.message.as_deref())),
        waiting: waiting(status, &EXECUTOR_CONTAINERS),
        created: meta.creation_timestamp.as_ref().map(|t| t.0),
    }
}

fn label(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.labels
        .as_ref()?
        .get(key)
        .and_then(|v| non_empty(Some(v)))
}

/// The terminated state of the first of `containers` that has terminated.
fn container_termination(status: Option<&PodStatus>, containers: &[&str]) -> Option<Termination> {
    let statuses = status?.container_statuses.as_ref()?;
    containers.iter().find_map(|name| {
        let status = statuses.iter().find(|status| status.name == *name)?;
        status
            .state
            .as_ref()?
            .terminated
            .as_ref()
            .map(Termination::from)
    })
}

/// Why a pending pod is not running: unscheduled, else the first waiting init container that is
/// not simply waiting for its turn, else the watched container's waiting reason.
fn waiting(status: Option<&PodStatus>, containers: &[&str]) -> Option<Waiting> {
    let status = status?;
    if PodPhase::parse(status.phase.as_deref()) != PodPhase::Pending {
        return None;
    }
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == "PodScheduled" && condition.status == "False");
    if let Some(condition) = unscheduled {
        return Some(Waiting {
            reason: non_empty(condition.reason.as_deref())
                .unwrap_or_else(|| "Unschedulable".into()),
            message: non_empty(condition.message.as_deref()),
        });
    }
    let waiting_of = |status: &k8s_openapi::api::core::v1::ContainerStatus| {
        let waiting = status.state.as_ref()?.waiting.as_ref()?;
        Some(Waiting {
            reason: non_empty(waiting.reason.as_deref())?,
            message: non_empty(waiting.message.as_deref()),
        })
    };
    let init = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter_map(waiting_of)
        .find(|waiting| waiting.reason != "PodInitializing");
    init.or_else(|| {
        let statuses = status.container_statuses.as_ref()?;
        containers.iter().find_map(|name| {
            statuses
                .iter()
                .find(|status| status.name == *name)
                .and_then(waiting_of)
        })
    })
}

/// When the first of `containers` that runs (or ran) started.
fn container_started(status: Option<&PodStatus>, containers: &[&str]) -> Option<jiff::Timestamp> {
    let statuses = status?.container_statuses.as_ref()?;
    containers.iter().find_map(|name| {
        let state = statuses
            .iter()
            .find(|status| status.name == *name)?
            .state
            .as_ref()?;
        let running = state.running.as_ref().and_then(|r| r.started_at.as_ref());
        let ran = state
            .terminated
            .as_ref()
            .and_then(|t| t.started_at.as_ref());
        running.or(ran).map(|time| time.0)
    })
}

fn pod_reason_and_message(status: &PodStatus) -> Option<String> {
    let reason = non_empty(status.reason.as_deref());
    let message = non_empty(status.message.as_deref());
    match (reason, message) {
        (Some(reason), Some(message)) => Some(format!("{reason}: {message}")),
        (one, other) => one.or(other),
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}
