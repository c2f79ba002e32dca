//! The SparkApplication state machine of Kubeflow's Spark operator, as a pure function.
//!
//! The reconciler observes the cluster (`observe` turns the application's pods into an
//! [`Observation`]) and runs [`protocol::reconcile`], which calls [`decide`], carries out the
//! [`Action`]s in order through the reconciler's [`protocol::Effects`], and writes the status of
//! the [`Decision`]. When one of the actions is a [`Action::Submit`] (always the last one), the
//! attempt's objects are created and the outcome passed to [`after_submission`], whose decision
//! replaces the first. The controller and this module's tests run that one protocol.
//!
//! Every decision is a function of its inputs only: the same application and observation give the
//! same decision, so a reconcile that is repeated (its status write lost, say) repeats the same
//! submission with the same deterministic submission id instead of starting a second one, and a
//! driver of that pending attempt that already exists is adopted instead of submitted again.
//!
//! # Differences from Kubeflow
//!
//! - A spec change is `metadata.generation > status.observedGeneration`, told apart by the
//!   digests the status keeps (`spec_change`); Kubeflow compares the old and new spec in its watch
//!   filter, which misses edits made while it is down. As in Kubeflow, an edit of `suspend` or
//!   `timeToLiveSeconds` alone never reruns an application (un-suspending a finished one leaves
//!   it finished), nor, with the PartialRestart gate, one of the executors' placement alone. A
//!   change while the application is suspended, suspending or resuming only updates
//!   `observedGeneration`: the next submission uses the new spec (Kubeflow invalidates it). A
//!   completed or failed application whose spec changes while `suspend` is true stays as it is.
//!   An application whose status predates the digests is rerun by any edit.
//! - With PartialRestart, the executor pod template of the running attempt is not rewritten: the
//!   new placement applies from the next attempt on (Kubeflow's mutating webhook applies it to
//!   executors created afterwards).
//! - SUSPENDING waits until the attempt's objects are gone before SUSPENDED (Kubeflow moves on
//!   after issuing the deletes and checks in SUSPENDED); PENDING_RERUN, SUBMISSION_FAILED and
//!   RESUMING likewise submit only once nothing of an earlier attempt is left.
//! - `sparkApplicationId` is set as soon as the submission succeeds (the native submission knows
//!   it); Kubeflow reads it from the pods' `spark-app-selector` label, which later overrides it.
//! - `SparkApplicationAdded`, `SparkApplicationCompleted` and `SparkApplicationFailed` are emitted
//!   on the transitions to submission, COMPLETED and FAILED; Kubeflow defines but no longer emits
//!   the first two on those paths. Each event is emitted once per transition, not per reconcile.
//! - Executors that vanish after the driver succeeded are COMPLETED (Kubeflow: only once the
//!   application is COMPLETED, FAILED while it is SUCCEEDING).
//! - A failed driver's error message also carries the container's termination message, or the
//!   pod's reason and message when the container status is missing.

mod attempt;
mod driver_state;
mod events;
mod executors;
pub mod not_running;
mod observe;
pub mod protocol;
pub mod quota;
mod retry;
pub mod spec_change;
mod states;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use spark_operator_api::{SparkApplication, SparkApplicationStatus};

pub use events::reasons;
pub use observe::{
    DriverObservation, DriverPod, ExecutorObservation, ObservedPod, PodPhase, Termination, Waiting,
    driver_from_parts, driver_from_pod, executor_from_pod, observe, observe_pods,
};
pub use retry::submission_id;

/// Kubeflow's default `--driver-pod-creation-grace-period`.
pub const DEFAULT_DRIVER_POD_CREATION_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Kubeflow's default `--max-tracked-executor-per-app`.
pub const DEFAULT_MAX_TRACKED_EXECUTORS: u32 = 1000;

/// Operator-wide settings that shape decisions, named after Kubeflow's flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long after a submission a missing driver pod is still awaited.
    pub driver_pod_creation_grace_period: Duration,
    /// Time to live of finished applications that set no `timeToLiveSeconds`; `None` or a value
    /// of zero or less keeps them.
    pub default_time_to_live_seconds: Option<i64>,
    /// Executors with a higher Spark executor id are left out of `executorState`.
    pub max_tracked_executors: u32,
    /// A driver not running this long after its submission ends the attempt (`None`: never).
    pub driver_start_timeout: Option<Duration>,
    /// No executor running this long after the driver started ends the attempt (`None`: never).
    pub executor_start_timeout: Option<Duration>,
    /// Kubeflow's PartialRestart feature gate: an edit of the executors' placement alone does not
    /// rerun the application.
    pub partial_restart: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            driver_pod_creation_grace_period: DEFAULT_DRIVER_POD_CREATION_GRACE_PERIOD,
            default_time_to_live_seconds: None,
            max_tracked_executors: DEFAULT_MAX_TRACKED_EXECUTORS,
            driver_start_timeout: None,
            executor_start_timeout: None,
            partial_restart: false,
        }
    }
}

/// What the reconciler saw of one application, right now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub now: jiff::Timestamp,
    /// The application's driver pod, preferring the one of the current attempt.
    pub driver: DriverObservation,
    /// The application's executor pods, of every attempt.
    pub executors: Vec<ExecutorObservation>,
    /// The submission ids of the attempts that still have objects (driver pod, Service,
    /// ConfigMap, Ingress); an object without the label counts under the empty id. Objects of
    /// the attempt about to be submitted are that submission resumed; any other attempt's objects
    /// are deleted before the next submission.
    pub attempts_with_resources: BTreeSet<String>,
    /// What the reconciler found in the Events of pods stuck being created (a `FailedMount`,
    /// say), by pod name: their status says only `ContainerCreating`.
    pub pod_troubles: BTreeMap<String, Waiting>,
    /// Set when the application has fewer executor pods than it asks for and a ResourceQuota of
    /// its namespace has no room for another: what the quota says.
    pub quota_exceeded: Option<String>,
    pub settings: Settings,
}

/// Something the reconciler must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the objects of the attempt `submission_id` (idempotently: objects carrying the same
    /// id are the attempt's own), then call [`after_submission`].
    Submit { submission_id: String },
    /// Delete every object of the application's attempts: driver pod, Services, ConfigMaps and
    /// Ingresses.
    DeleteAttemptResources,
    /// Delete what an ended application no longer needs: its Services and Ingresses (a Service
    /// would only give every new pod of the namespace its environment variables; the status
    /// keeps where the UI was), its batch scheduler's PodGroup (which would hold the queue's
    /// resources) and its driver's PodDisruptionBudget.
    ReleaseEnded,
    /// Delete the SparkApplication: its time to live is over.
    DeleteApplication,
    /// Record a Kubernetes Event on the application, with one of Kubeflow's [`reasons`].
    Event {
        warning: bool,
        reason: &'static str,
        message: String,
    },
}

/// The outcome of one reconcile: the status to write, what to do first, and when to look again.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: SparkApplicationStatus,
    pub actions: Vec<Action>,
    /// When the application needs another look even if nothing changes; `None` leaves it to the
    /// reconciler's periodic resync (and to the watches of the application and its pods).
    pub requeue_after: Option<Duration>,
}

impl Decision {
    /// Whether this decision ends the attempt because its driver pod was not seen. That is a
    /// conclusion from absence, which a watch cache running behind the API server draws wrongly
    /// (a busy operator, a slow watch): the reconciler confirms it with the API server first.
    pub fn concludes_driver_missing(&self) -> bool {
        self.actions.iter().any(|action| {
            matches!(action, Action::Event { reason, .. } if *reason == reasons::DRIVER_NOT_FOUND)
        })
    }
}

/// Whether `pod`, as read from the API server, is the driver of the attempt `status` follows: if
/// so, a decision that the driver is missing was made on a cache that has not seen it yet.
pub fn is_attempt_driver(pod: &ObservedPod, status: &SparkApplicationStatus) -> bool {
    matches!(pod, ObservedPod::Driver(driver) if driver_state::is_current_attempt(driver, status))
}

/// Where an attempt's Spark UI is served, as its Service and Ingress were created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebUi {
    pub service_name: Option<String>,
    pub port: Option<i32>,
    /// `clusterIP:port` of the UI Service.
    pub address: Option<String>,
    pub ingress_name: Option<String>,
    pub ingress_address: Option<String>,
}

/// An attempt every object of which exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub driver_pod_name: String,
    /// Spark's application id of the attempt (`spark-app-selector`).
    pub app_id: String,
    pub web_ui: WebUi,
}

/// How a [`Action::Submit`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionOutcome {
    Submitted(Submitted),
    /// The attempt could not be created; `message` says why.
    Failed {
        message: String,
    },
}

/// The next step of `app` given what was observed.
pub fn decide(app: &SparkApplication, observed: &Observation) -> Decision {
    states::decide(app, observed)
}

/// The decision after a submission: `status` is the status [`decide`] returned along with the
/// [`Action::Submit`] (it already counts the attempt).
pub fn after_submission(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    outcome: SubmissionOutcome,
    now: jiff::Timestamp,
) -> Decision {
    attempt::after_submission(app, status, outcome, now)
}
