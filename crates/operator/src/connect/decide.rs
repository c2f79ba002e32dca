//! One reconcile of a SparkConnect as a pure function: from the resource, the objects it should
//! have and what the cluster holds, the next status, the Events, and which objects to create,
//! update or replace. The controller carries the actions out in order and writes the status.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodStatus;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::ResourceExt;
use spark_operator_api::{SparkConnect, SparkConnectServerStatus, SparkConnectStatus};

use super::objects::ServerObjects;
use super::{CONDITION_SERVER_POD_READY, CONNECT_PORT, SERVER_HASH_ANNOTATION, State, connect_url};
use crate::lifecycle::{PodPhase, Termination, Waiting, driver_from_parts};
use crate::submission::DRIVER_CONTAINER;

/// The Event reasons of SparkConnects.
pub mod reasons {
    pub const SERVER_CREATED: &str = "SparkConnectServerCreated";
    pub const READY: &str = "SparkConnectReady";
    pub const NOT_READY: &str = "SparkConnectNotReady";
    pub const SERVER_FAILED: &str = "SparkConnectServerFailed";
    pub const SPEC_CHANGED: &str = "SparkConnectSpecChanged";
    pub const INVALID: &str = "SparkConnectInvalid";
}

/// Kubeflow's condition reasons.
const REASON_READY: &str = "ServerPodReady";
const REASON_NOT_READY: &str = "ServerPodNotReady";

/// Operator-wide settings of SparkConnects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long the replacement of a failed server waits when servers failed before it: the
    /// first replacement is at once, the next ones after this, doubling up to
    /// `replacement_backoff_cap`.
    pub replacement_backoff: Duration,
    pub replacement_backoff_cap: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            replacement_backoff: Duration::from_secs(10),
            replacement_backoff_cap: Duration::from_secs(300),
        }
    }
}

impl Settings {
    /// The wait before replacing a server that failed after `failures` others in a row.
    pub fn replacement_delay(&self, failures: u32) -> Duration {
        match failures {
            0 => Duration::ZERO,
            n => self
                .replacement_backoff
                .saturating_mul(1 << (n - 1).min(16))
                .min(self.replacement_backoff_cap),
        }
    }
}

/// The server pod as a reconcile sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPod {
    pub name: String,
    pub uid: String,
    pub phase: PodPhase,
    /// The `Ready` condition is true.
    pub ready: bool,
    /// Being deleted.
    pub deleting: bool,
    /// Its `SERVER_HASH_ANNOTATION`.
    pub hash: Option<String>,
    pub pod_ip: Option<String>,
    /// Restarts of the server container.
    pub restarts: i32,
    pub terminated: Option<Termination>,
    /// Why a pending pod is not running.
    pub waiting: Option<Waiting>,
    /// Why a running container is waiting (`CrashLoopBackOff`, say).
    pub running_waiting: Option<Waiting>,
    pub pod_message: Option<String>,
    /// When the server container ended.
    pub finished: Option<Timestamp>,
}

impl ServerPod {
    /// The server pod with metadata `meta` and status `status`.
    pub fn of(meta: &ObjectMeta, status: Option<&PodStatus>) -> ServerPod {
        let driver = driver_from_parts(meta, status);
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let container = status
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|all| {
                all.iter()
                    .find(|c| c.name == DRIVER_CONTAINER)
                    .or(all.first())
            });
        let state = container.and_then(|c| c.state.as_ref());
        ServerPod {
            name: driver.name,
            uid: meta.uid.clone().unwrap_or_default(),
            phase: driver.phase,
            ready,
            deleting: meta.deletion_timestamp.is_some(),
            hash: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(SERVER_HASH_ANNOTATION))
                .cloned(),
            pod_ip: status
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty()),
            restarts: container.map_or(0, |c| c.restart_count),
            terminated: driver.terminated,
            waiting: driver.waiting,
            running_waiting: state.and_then(|s| s.waiting.as_ref()).map(|w| Waiting {
                reason: w.reason.clone().unwrap_or_default(),
                message: w.message.clone().filter(|m| !m.is_empty()),
            }),
            pod_message: driver.pod_message,
            finished: state
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.finished_at.as_ref())
                .map(|t| t.0),
        }
    }
}

/// What the cluster holds of a SparkConnect, from the controller's caches.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub server: Option<ServerPod>,
    /// `status.phase` of each executor pod the server made.
    pub executor_phases: Vec<Option<String>>,
    /// The ConfigMap and Service are there, as the spec says.
    pub config_map_current: bool,
    pub service_current: bool,
    /// Server pods of this SparkConnect that failed in a row before the current one.
    pub failures: u32,
    pub now: Timestamp,
}

/// One step of a reconcile, carried out in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create or update the ConfigMap with the executor pod template.
    ApplyConfigMap,
    /// Create or update the server's Service.
    ApplyService,
    /// Create the server pod.
    CreateServer,
    /// Delete the server pod, to replace it; `failed` when it is replaced because it failed,
    /// which counts towards the back-off of the next replacement.
    DeleteServer { failed: bool },
    /// The server is ready: failed servers in a row start again from none.
    ForgetFailures,
    Event {
        warning: bool,
        reason: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: SparkConnectStatus,
    pub actions: Vec<Action>,
    /// When to look again even if nothing changes.
    pub requeue_after: Option<Duration>,
}

fn event(warning: bool, reason: &'static str, message: String) -> Action {
    Action::Event {
        warning,
        reason,
        message,
    }
}

/// The decision for `connect`, whose objects are `objects`, given `observed`.
pub fn decide(
    connect: &SparkConnect,
    objects: &ServerObjects,
    observed: &Observation,
    settings: &Settings,
) -> Decision {
    let previous = connect.status.clone().unwrap_or_default();
    let namespace = connect.namespace().unwrap_or_default();
    let service = objects.service.name_any();
    let mut actions = Vec::new();
    if !observed.config_map_current {
        actions.push(Action::ApplyConfigMap);
    }
    if !observed.service_current {
        actions.push(Action::ApplyService);
    }
    let was = State::parse(previous.state.as_deref());
    let server_name = objects.server_pod.name_any();
    let mut requeue_after = None;
    // The server goes away on the operator's own account: the Event says so already.
    let replacing = observed.server.as_ref().is_some_and(|pod| {
        pod.deleting || pod.hash.as_ref().is_some_and(|h| *h != objects.server_hash)
    });
    let (state, why, pod_ip) = match &observed.server {
        None => {
            actions.push(Action::CreateServer);
            actions.push(event(
                false,
                reasons::SERVER_CREATED,
                format!("created Spark Connect server pod {server_name}"),
            ));
            (State::Provisioning, "it is being created".to_string(), None)
        }
        Some(pod) if pod.deleting => {
            requeue_after = Some(Duration::from_secs(2));
            let state = match was {
                Some(State::Failed) => State::Failed,
                _ => State::NotReady,
            };
            (state, "it is being replaced".to_string(), None)
        }
        Some(pod) if pod.hash.as_ref().is_some_and(|h| *h != objects.server_hash) => {
            actions.push(Action::DeleteServer { failed: false });
            actions.push(event(
                false,
                reasons::SPEC_CHANGED,
                format!("the spec changed: server pod {} is replaced", pod.name),
            ));
            requeue_after = Some(Duration::from_secs(2));
            (
                State::NotReady,
                "it is being replaced for the changed spec".to_string(),
                pod.pod_ip.clone(),
            )
        }
        Some(pod) if matches!(pod.phase, PodPhase::Failed | PodPhase::Succeeded) => {
            let why = ended(pod);
            let wait = settings.replacement_delay(observed.failures);
            let finished = pod.finished.unwrap_or(observed.now);
            let elapsed = observed.now.duration_since(finished).unsigned_abs();
            let remaining = wait.saturating_sub(elapsed);
            if was != Some(State::Failed) {
                let when = match remaining {
                    Duration::ZERO => "now".to_string(),
                    later => format!("in {}s", later.as_secs().max(1)),
                };
                actions.push(event(
                    true,
                    reasons::SERVER_FAILED,
                    format!("server pod {} {why}; it is replaced {when}", pod.name),
                ));
            }
            if remaining.is_zero() {
                actions.push(Action::DeleteServer { failed: true });
                requeue_after = Some(Duration::from_secs(2));
            } else {
                requeue_after = Some(remaining);
            }
            (State::Failed, why, None)
        }
        Some(pod) if pod.phase == PodPhase::Running && pod.ready => {
            if observed.failures > 0 {
                actions.push(Action::ForgetFailures);
            }
            (State::Ready, String::new(), pod.pod_ip.clone())
        }
        Some(pod) if pod.phase == PodPhase::Running => {
            let been_up = pod.restarts > 0 || matches!(was, Some(State::Ready | State::NotReady));
            let state = if been_up {
                State::NotReady
            } else {
                State::Provisioning
            };
            (state, not_ready(pod), pod.pod_ip.clone())
        }
        Some(pod) => (State::Provisioning, pending(pod), pod.pod_ip.clone()),
    };

    if was != Some(state) {
        match state {
            State::Ready => actions.push(event(
                false,
                reasons::READY,
                format!(
                    "server pod {server_name} is ready: clients connect to {}",
                    connect_url(&service, &namespace)
                ),
            )),
            State::NotReady if was == Some(State::Ready) && !replacing => actions.push(event(
                true,
                reasons::NOT_READY,
                format!("server pod {server_name} is not ready: {why}"),
            )),
            _ => {}
        }
    }

    let mut status = previous.clone();
    status.start_time.get_or_insert(Time(observed.now));
    status.state = Some(state.as_str().to_string());
    let (ready, message) = match state {
        State::Ready => (true, "Server pod is ready".to_string()),
        _ => (false, format!("Server pod is not ready: {why}")),
    };
    set_condition(&mut status, connect, ready, message, observed.now);
    status.server = Some(SparkConnectServerStatus {
        pod_name: Some(server_name),
        pod_ip,
        service_name: Some(service),
    });
    status.executors = executor_counts(&observed.executor_phases);
    stamp(&mut status, &previous, observed.now);
    Decision {
        status,
        actions,
        requeue_after,
    }
}

/// The decision for a SparkConnect that fails validation: `Failed` with every problem, one
/// Warning Event, and nothing created (a server already running is left as it is).
pub fn reject_invalid(connect: &SparkConnect, problems: &str, now: Timestamp) -> Decision {
    let previous = connect.status.clone().unwrap_or_default();
    let message = format!("Server pod is not ready: invalid SparkConnect: {problems}");
    let mut status = previous.clone();
    status.start_time.get_or_insert(Time(now));
    status.state = Some(State::Failed.as_str().to_string());
    set_condition(&mut status, connect, false, message.clone(), now);
    let unchanged = previous.conditions == status.conditions && previous.state == status.state;
    let actions = if unchanged {
        vec![]
    } else {
        vec![event(
            true,
            reasons::INVALID,
            format!("invalid SparkConnect: {problems}"),
        )]
    };
    stamp(&mut status, &previous, now);
    Decision {
        status,
        actions,
        requeue_after: None,
    }
}

/// Executor pods by phase, lower-cased (`running`, `pending`, ...), as Kubeflow counts them.
pub fn executor_counts(phases: &[Option<String>]) -> BTreeMap<String, i32> {
    let mut counts = BTreeMap::new();
    for phase in phases {
        let phase = phase.as_deref().unwrap_or_default().to_lowercase();
        *counts.entry(phase).or_insert(0) += 1;
    }
    counts
}

/// `ServerPodReady`, its transition time kept while its status stays.
fn set_condition(
    status: &mut SparkConnectStatus,
    connect: &SparkConnect,
    ready: bool,
    message: String,
    now: Timestamp,
) {
    let value = if ready { "True" } else { "False" };
    let existing = status
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION_SERVER_POD_READY);
    let since = match existing {
        Some(c) if c.status == value => c.last_transition_time.clone(),
        _ => Time(now),
    };
    let condition = Condition {
        type_: CONDITION_SERVER_POD_READY.into(),
        status: value.into(),
        reason: if ready {
            REASON_READY
        } else {
            REASON_NOT_READY
        }
        .into(),
        message,
        last_transition_time: since,
        observed_generation: connect.metadata.generation,
    };
    status
        .conditions
        .retain(|c| c.type_ != CONDITION_SERVER_POD_READY);
    status.conditions.push(condition);
}

/// `lastUpdateTime` is now when anything else of the status changed.
fn stamp(status: &mut SparkConnectStatus, previous: &SparkConnectStatus, now: Timestamp) {
    let mut before = previous.clone();
    before.last_update_time = None;
    status.last_update_time = None;
    status.last_update_time = if *status == before {
        previous.last_update_time.clone()
    } else {
        Some(Time(now))
    };
}

fn described(waiting: &Waiting) -> String {
    match &waiting.message {
        Some(message) => format!("{}: {message}", waiting.reason),
        None => waiting.reason.clone(),
    }
}

/// Why a pending server pod is not running yet.
fn pending(pod: &ServerPod) -> String {
    match &pod.waiting {
        Some(waiting) => described(waiting),
        None => "the pod is pending".into(),
    }
}

/// Why a running server pod is not ready.
fn not_ready(pod: &ServerPod) -> String {
    match &pod.running_waiting {
        Some(waiting) if !waiting.reason.is_empty() => described(waiting),
        _ => format!(
            "the Spark Connect server does not accept connections on port {CONNECT_PORT} yet"
        ),
    }
}

/// How a server pod that ended ended.
fn ended(pod: &ServerPod) -> String {
    let mut why = match &pod.terminated {
        Some(t) => {
            let mut text = format!("exited with code {}", t.exit_code);
            if let Some(reason) = &t.reason {
                text.push_str(&format!(" ({reason})"));
            }
            if let Some(message) = &t.message {
                text.push_str(&format!(": {message}"));
            }
            text
        }
        None if pod.phase == PodPhase::Succeeded => "stopped".to_string(),
        None => "failed".to_string(),
    };
    if let Some(message) = &pod.pod_message {
        why.push_str(&format!(" ({message})"));
    }
    why
}
