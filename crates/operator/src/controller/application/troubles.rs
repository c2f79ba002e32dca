//! What the caches do not say about pods that do not start, read from the API server for the
//! applications that need it only: the kubelet's Events of a pod stuck being created (its status
//! says `ContainerCreating`; the Event says `configmap "x" not found`), and the namespace's
//! ResourceQuotas when executors the driver asked for do not exist (the API server refused them,
//! which leaves no object behind).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, ResourceQuota};
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use spark_operator_api::{ApplicationStateType as State, SparkApplication};

use super::Context;
use crate::error::Result;
use crate::lifecycle::{DriverObservation, Observation, PodPhase, Waiting, quota};
use tracing::debug;

/// How long a pod may be on its way (pulling, mounting) before its Events are read.
const CREATING_FOR: Duration = Duration::from_secs(3);
/// How long after the driver started its executors may take to appear.
const EXECUTORS_WITHIN: Duration = Duration::from_secs(5);
/// At most this many pods' Events are read per reconcile.
const MOST_PODS: usize = 3;
/// The kubelet's Event reasons that say why a pod is not being created.
const KUBELET_TROUBLES: &[&str] = &["FailedMount", "FailedAttachVolume"];

/// Adds to `observed` what the API server knows of `app`'s pods that do not start. What it
/// cannot read (a cluster that serves no ResourceQuotas, a request that fails) is left out: the
/// explanation is a help, and must never hold up the reconcile.
pub async fn enrich(app: &SparkApplication, ctx: &Context, observed: &mut Observation) {
    if let Err(error) = read_troubles(app, ctx, observed).await {
        debug!(app = %app.name_any(), %error, "why the pods do not start could not be read");
    }
}

async fn read_troubles(
    app: &SparkApplication,
    ctx: &Context,
    observed: &mut Observation,
) -> Result<()> {
    let state = app
        .status
        .as_ref()
        .map(|s| s.application_state.state)
        .unwrap_or_default();
    let namespace = app.namespace().unwrap_or_default();
    let stuck = stuck_creating(state, observed);
    if !stuck.is_empty() {
        let events = Api::<Event>::namespaced(ctx.client.clone(), &namespace);
        for pod in stuck.into_iter().take(MOST_PODS) {
            if let Some(trouble) = kubelet_trouble(&events, &pod).await? {
                observed.pod_troubles.insert(pod, trouble);
            }
        }
    }
    if state == State::Running && executors_missing(app, observed) {
        let quotas = Api::<ResourceQuota>::namespaced(ctx.client.clone(), &namespace);
        let quotas = quotas.list(&ListParams::default()).await?.items;
        let executor = quota::ExecutorRequest::of(&app.spec);
        observed.quota_exceeded = quota::refusal(&quotas, &executor);
    }
    Ok(())
}

/// The pods of the state's concern that have been `ContainerCreating` for a while.
fn stuck_creating(state: State, observed: &Observation) -> Vec<String> {
    let long_enough = |created: Option<jiff::Timestamp>| {
        created.is_some_and(|at| observed.now.duration_since(at).unsigned_abs() >= CREATING_FOR)
    };
    let creating = |waiting: &Option<Waiting>| {
        waiting
            .as_ref()
            .is_some_and(|w| w.reason == "ContainerCreating")
    };
    match (state, &observed.driver) {
        (State::Submitted, DriverObservation::Pod(driver))
            if creating(&driver.waiting) && long_enough(driver.created) =>
        {
            vec![driver.name.clone()]
        }
        (State::Running, _) => observed
            .executors
            .iter()
            .filter(|e| {
                e.phase == PodPhase::Pending && creating(&e.waiting) && long_enough(e.created)
            })
            .map(|e| e.name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// The latest of the kubelet's Warning Events that say why `pod` is not being created.
async fn kubelet_trouble(events: &Api<Event>, pod: &str) -> Result<Option<Waiting>> {
    let selector = format!("involvedObject.kind=Pod,involvedObject.name={pod},type=Warning");
    let listed = events
        .list(&ListParams::default().fields(&selector))
        .await?;
    let latest = listed
        .items
        .into_iter()
        .filter(|event| {
            event
                .reason
                .as_deref()
                .is_some_and(|r| KUBELET_TROUBLES.contains(&r))
        })
        .max_by_key(|event| {
            event
                .last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or(event.event_time.as_ref().map(|t| t.0))
        });
    Ok(latest.map(|event| Waiting {
        reason: event.reason.unwrap_or_default(),
        message: event.message,
    }))
}

/// Whether the running application has fewer executor pods of its attempt than it asks for, a
/// while after its driver started.
fn executors_missing(app: &SparkApplication, observed: &Observation) -> bool {
    let DriverObservation::Pod(driver) = &observed.driver else {
        return false;
    };
    if driver.phase != PodPhase::Running {
        return false;
    }
    let settled = driver
        .started
        .is_some_and(|at| observed.now.duration_since(at).unsigned_abs() >= EXECUTORS_WITHIN);
    let attempt = app.status.as_ref().and_then(|s| s.submission_id.as_ref());
    let existing = observed
        .executors
        .iter()
        .filter(|e| attempt.is_none() || e.submission_id.as_ref() == attempt)
        .count() as u32;
    settled && existing < quota::requested_executors(&app.spec)
}
