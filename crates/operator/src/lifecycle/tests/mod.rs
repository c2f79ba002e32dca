//! Tests of the lifecycle: single transitions from hand-made statuses, and whole lives driven
//! through `Run`, a model cluster on which the controller's own protocol
//! (`protocol::reconcile`) carries out each decision.

mod driver_states;
mod executors;
mod lives;
mod not_running;
mod observe;
mod retries;
mod spec_edits;
mod suspend_and_changes;

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use spark_operator_api::{
    ApplicationStateType as State, RestartPolicy, RestartPolicyType, SparkApplication,
    SparkApplicationSpec, SparkApplicationStatus,
};

use super::*;

pub const UID: &str = "0b7d2c2e-5d0f-4b8e-9a57-3c1f1e0d9a11";

/// A fixed clock: `at(s)` is `s` seconds after a fixed instant.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_767_225_600 + seconds).expect("a valid instant")
}

pub fn policy(policy_type: RestartPolicyType) -> RestartPolicy {
    RestartPolicy {
        policy_type: Some(policy_type),
        ..RestartPolicy::default()
    }
}

/// Application `pi` at generation 1, never looked at.
pub fn new_app(policy: RestartPolicy) -> SparkApplication {
    let mut app = SparkApplication::new(
        "pi",
        SparkApplicationSpec {
            restart_policy: Some(policy),
            ..SparkApplicationSpec::default()
        },
    );
    app.metadata.namespace = Some("default".into());
    app.metadata.uid = Some(UID.into());
    app.metadata.generation = Some(1);
    app
}

/// Application `pi` with `status`, which was submitted from the current generation.
pub fn app_in(policy: RestartPolicy, mut status: SparkApplicationStatus) -> SparkApplication {
    let mut app = new_app(policy);
    status.observed_generation = app.metadata.generation;
    app.status = Some(status);
    app
}

/// A status in `state` whose attempt `attempt-1` was submitted at `at(0)` and runs driver
/// `pi-driver`.
pub fn status_in(state: State) -> SparkApplicationStatus {
    let mut status = SparkApplicationStatus::default();
    status.application_state.state = state;
    status.submission_id = Some("attempt-1".into());
    status.driver_info.pod_name = Some("pi-driver".into());
    status.last_submission_attempt_time = Some(Time(at(0)));
    status.submission_attempts = Some(1);
    status.execution_attempts = Some(1);
    status
}

pub fn observation(now: Timestamp) -> Observation {
    Observation {
        now,
        driver: DriverObservation::NotFound,
        executors: Vec::new(),
        attempts_with_resources: BTreeSet::new(),
        pod_troubles: Default::default(),
        quota_exceeded: None,
        settings: Settings::default(),
    }
}

pub fn driver_pod(submission_id: &str, phase: PodPhase) -> DriverPod {
    DriverPod {
        name: "pi-driver".into(),
        submission_id: Some(submission_id.into()),
        spark_app_id: Some(format!("spark-{submission_id}")),
        phase,
        terminated: None,
        pod_message: None,
        waiting: None,
        created: None,
        started: None,
    }
}

pub fn exited(exit_code: i32, reason: &str) -> Option<Termination> {
    Some(Termination {
        exit_code,
        reason: Some(reason.into()),
        message: None,
    })
}

pub fn executor_pod(name: &str, submission_id: &str, phase: PodPhase) -> ExecutorObservation {
    ExecutorObservation {
        name: name.into(),
        submission_id: Some(submission_id.into()),
        spark_app_id: None,
        executor_id: name.rsplit('-').next().and_then(|id| id.parse().ok()),
        phase,
        terminated: None,
        pod_message: None,
        waiting: None,
        created: None,
    }
}

/// The event reasons among `actions`, in order.
pub fn reasons(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Event { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

/// The actions that are not events.
pub fn effects(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|action| !matches!(action, Action::Event { .. }))
        .cloned()
        .collect()
}

pub fn state_of(decision: &Decision) -> State {
    decision.status.application_state.state
}

/// What submitting does in a `Run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submissions {
    Succeed,
    Fail,
}

/// One application and the cluster around it, reconciled as the controller does: the decision's
/// actions are carried out (a submission creates a pending driver, deletion removes every object
/// unless `deletions_hang`), and its status is written.
pub struct Run {
    pub app: SparkApplication,
    pub now: Timestamp,
    pub driver: DriverObservation,
    pub executors: Vec<ExecutorObservation>,
    pub resources: BTreeSet<String>,
    pub settings: Settings,
    pub submissions: Submissions,
    pub deletions_hang: bool,
    pub deleted: bool,
    /// Every submission id submitted, in order.
    pub submitted: Vec<String>,
}

impl protocol::Reconciled {
    pub fn reasons(&self) -> Vec<&'static str> {
        reasons(&self.actions)
    }
}

/// The model cluster's answers: a submission creates a pending driver (or fails, as the `Run`
/// says), deletion removes every object unless `deletions_hang`, the status is stored on the
/// application, and the cache is never behind.
impl protocol::Effects for Run {
    type Error = std::convert::Infallible;

    async fn driver_exists(
        &mut self,
        _status: &SparkApplicationStatus,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn submit(&mut self, submission_id: &str) -> Result<SubmissionOutcome, Self::Error> {
        Ok(self.create_attempt(submission_id))
    }

    async fn delete_attempt_resources(&mut self) -> Result<(), Self::Error> {
        if !self.deletions_hang {
            self.resources.clear();
            self.driver = DriverObservation::NotFound;
            self.executors.clear();
        }
        Ok(())
    }

    async fn release_ended(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn delete_application(&mut self) -> Result<(), Self::Error> {
        self.deleted = true;
        Ok(())
    }

    async fn write_status(&mut self, status: SparkApplicationStatus) -> Result<(), Self::Error> {
        self.app.status = Some(status);
        Ok(())
    }

    async fn record_event(
        &mut self,
        _warning: bool,
        _reason: &'static str,
        _message: &str,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl Run {
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            app: new_app(policy),
            now: at(0),
            driver: DriverObservation::NotFound,
            executors: Vec::new(),
            resources: BTreeSet::new(),
            settings: Settings::default(),
            submissions: Submissions::Succeed,
            deletions_hang: false,
            deleted: false,
            submitted: Vec::new(),
        }
    }

    pub fn observation(&self) -> Observation {
        Observation {
            now: self.now,
            driver: self.driver.clone(),
            executors: self.executors.clone(),
            attempts_with_resources: self.resources.clone(),
            pod_troubles: Default::default(),
            quota_exceeded: None,
            settings: self.settings.clone(),
        }
    }

    pub fn status(&self) -> SparkApplicationStatus {
        self.app.status.clone().unwrap_or_default()
    }

    pub fn state(&self) -> State {
        self.status().application_state.state
    }

    pub fn advance(&mut self, seconds: i64) {
        self.now += jiff::SignedDuration::from_secs(seconds);
    }

    /// One reconcile through the controller's protocol, the model cluster answering its effects.
    pub fn reconcile(&mut self) -> protocol::Reconciled {
        let app = self.app.clone();
        let observed = self.observation();
        let reconciled = futures::executor::block_on(protocol::reconcile(&app, &observed, self));
        reconciled.unwrap_or_else(|never: std::convert::Infallible| match never {})
    }

    fn create_attempt(&mut self, submission_id: &str) -> SubmissionOutcome {
        self.submitted.push(submission_id.to_string());
        match self.submissions {
            Submissions::Succeed => {
                self.resources.insert(submission_id.to_string());
                self.driver = DriverObservation::Pod(driver_pod(submission_id, PodPhase::Pending));
                SubmissionOutcome::Submitted(Submitted {
                    driver_pod_name: "pi-driver".into(),
                    app_id: format!("spark-{submission_id}"),
                    web_ui: WebUi::default(),
                })
            }
            Submissions::Fail => SubmissionOutcome::Failed {
                message: "admission webhook denied the pod".into(),
            },
        }
    }

    /// The current attempt's driver moves to `phase`, its container ending with `terminated`.
    pub fn driver_is(&mut self, phase: PodPhase, terminated: Option<Termination>) {
        let id = self.status().submission_id.unwrap_or_default();
        let mut pod = driver_pod(&id, phase);
        pod.terminated = terminated;
        self.driver = DriverObservation::Pod(pod);
    }

    /// The user edits the spec.
    pub fn edit(&mut self, change: impl FnOnce(&mut SparkApplicationSpec)) {
        change(&mut self.app.spec);
        let generation = self.app.metadata.generation.unwrap_or(0);
        self.app.metadata.generation = Some(generation + 1);
    }

    /// Reconciles until the state is `state`, at most `limit` times; returns every action.
    pub fn reconcile_until(&mut self, state: State, limit: usize) -> Vec<Action> {
        let mut actions = Vec::new();
        for _ in 0..limit {
            if self.state() == state {
                return actions;
            }
            actions.extend(self.reconcile().actions);
        }
        assert_eq!(self.state(), state, "not reached in {limit} reconciles");
        actions
    }
}
