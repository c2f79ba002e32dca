//! One reconcile of one SparkApplication: observe, decide (pure), act, record.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::Request;
use kube::runtime::controller::Action as Requeue;
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::validation::{describe, validate_application};
use spark_operator_api::{
    ApplicationStateType, DriverInfo, SparkApplication, SparkApplicationStatus,
};
use tracing::{debug, info, warn};

use super::Context;
use super::cached::{CachedApplication, Slim};
use super::resources::delete_labelled;
use super::status_patch::merge_patch;
use crate::error::{Error, Result};
use crate::lifecycle::{self, Action, Decision, Observation, ObservedPod, SubmissionOutcome};

/// One reconcile of `app`, decoded from `stored`, the application as the cache holds it.
pub async fn reconcile(
    app: Arc<SparkApplication>,
    stored: &CachedApplication,
    ctx: Arc<Context>,
) -> Result<Requeue> {
    if app.metadata.deletion_timestamp.is_some() {
        // Owner references make the API server delete everything the application made.
        return Ok(Requeue::await_change());
    }
    let now = jiff::Timestamp::now();
    let current = app.status.clone().unwrap_or_default();

    let problems = validate_application(&app);
    if !problems.is_empty() {
        return reject_invalid(&app, &ctx, stored, &describe(&problems), now).await;
    }

    let observed = observe(&app, &ctx, now);
    let mut decision = lifecycle::decide(&app, &observed);
    if decision.concludes_driver_missing() && driver_exists(&app, &ctx, &current).await? {
        debug!(app = %app.name_any(), "the driver pod is not in the cache yet; looking again");
        // The pod's watch event brings the application back; the requeue is a fallback.
        return Ok(Requeue::requeue(CACHE_BEHIND_RETRY));
    }
    // Events describe transitions; they are recorded once the status holding the transition is
    // written, so a reconcile repeated after a conflict does not report the same step twice.
    let mut events = Vec::new();
    let mut follow_up = None;
    for action in std::mem::take(&mut decision.actions) {
        if let Action::Event { .. } = action {
            events.push(action);
        } else if let Some(next) = act(&app, &ctx, &decision.status, action, now).await? {
            follow_up = Some(next);
        }
    }
    if let Some(mut next) = follow_up {
        for action in std::mem::take(&mut next.actions) {
            if let Action::Event { .. } = action {
                events.push(action);
            } else {
                act(&app, &ctx, &next.status, action, now).await?;
            }
        }
        decision = Decision {
            actions: Vec::new(),
            ..next
        };
    }
    write_status(&app, &ctx, stored, decision.status).await?;
    for event in events {
        act(&app, &ctx, &current, event, now).await?;
    }
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after),
        None => Requeue::requeue(ctx.config.resync_period),
    })
}

/// How soon an application whose driver pod the cache has not caught up with is looked at again.
const CACHE_BEHIND_RETRY: Duration = Duration::from_secs(1);

/// Whether the driver pod of the attempt `status` follows exists, asked of the API server rather
/// than the cache: the cache runs behind it whenever the operator or the watch is slow, and an
/// application must not fail because its driver was not seen in time.
async fn driver_exists(
    app: &SparkApplication,
    ctx: &Context,
    status: &SparkApplicationStatus,
) -> Result<bool> {
    let Some(name) = status.driver_info.pod_name.as_deref() else {
        return Ok(false);
    };
    let namespace = app.namespace().unwrap_or_default();
    let pods = Api::<Slim<Pod, PodStatus>>::namespaced(ctx.client.clone(), &namespace);
    Ok(match pods.get_opt(name).await? {
        Some(pod) => lifecycle::is_attempt_driver(
            &ObservedPod::of(&pod.metadata, pod.status.as_ref()),
            status,
        ),
        None => false,
    })
}

pub fn error_policy(app: Arc<CachedApplication>, error: &Error, _ctx: Arc<Context>) -> Requeue {
    debug!(app = %app.name_any(), %error, category = error.metric_label(), "will retry");
    match error {
        Error::Kube(kube::Error::Api(status)) if status.code == 409 => {
            Requeue::requeue(Duration::from_millis(200))
        }
        _ => Requeue::requeue(Duration::from_secs(5)),
    }
}

/// An application whose spec the types cannot read ends FAILED with the reason, written by a merge
/// patch that needs no typed copy; nothing is submitted.
pub async fn report_unreadable(
    cached: &CachedApplication,
    problem: String,
    ctx: &Context,
) -> Result<Requeue> {
    let name = cached.name_any();
    let namespace = cached.namespace().unwrap_or_default();
    let apps = Api::<SparkApplication>::namespaced(ctx.client.clone(), &namespace);
    let problem = locate_unreadable(&apps, &name).await.unwrap_or(problem);
    let message = format!(
        "the SparkApplication cannot be read: {problem}; correct that field and apply it again"
    );
    warn!(app = %name, %namespace, "{message}");
    let reference = cached.object_ref(&());
    ctx.events
        .publish_on(&reference, true, "SparkApplicationFailed", message.clone())
        .await;
    let patch = serde_json::json!({"status": {
        "applicationState": {"state": "FAILED", "errorMessage": message},
        "observedGeneration": cached.metadata.generation,
    }});
    apps.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(Requeue::await_change())
}

/// The path of the field that the types cannot read, with serde's reason.
async fn locate_unreadable(apps: &Api<SparkApplication>, name: &str) -> Option<String> {
    let resource = kube::api::ApiResource::erase::<SparkApplication>(&());
    let namespace = apps.namespace()?;
    let raw: Api<kube::api::DynamicObject> =
        Api::namespaced_with(apps.clone().into_client(), namespace, &resource);
    let raw = serde_json::to_value(raw.get(name).await.ok()?).ok()?;
    let error = serde_path_to_error::deserialize::<_, SparkApplication>(raw.clone()).err()?;
    let path = error.path().to_string();
    // serde loses the path inside the driver's and executors' flattened pod fields: look again
    // there with the pod fields' own type.
    let pointer = format!("/{}", path.replace('.', "/"));
    if path.ends_with(".driver") || path.ends_with(".executor") {
        let inner = raw.pointer(&pointer).cloned()?;
        if let Err(inner) =
            serde_path_to_error::deserialize::<_, spark_operator_api::SparkPodSpec>(inner)
        {
            return Some(format!("{path}.{}: {}", inner.path(), inner.inner()));
        }
    }
    Some(format!("{path}: {}", error.inner()))
}

/// What the cluster holds of the application right now, from the caches.
fn observe(app: &SparkApplication, ctx: &Context, now: jiff::Timestamp) -> Observation {
    let name = app.name_any();
    let namespace = app.namespace().unwrap_or_default();
    let mut observed = lifecycle::observe_pods(app, ctx.pods.of(&namespace, &name), now);
    let attempts = ctx.config_maps.of(&namespace, &name);
    observed.attempts_with_resources.extend(attempts);
    observed
        .attempts_with_resources
        .extend(ctx.services.of(&namespace, &name));
    observed.settings = ctx.config.lifecycle.clone();
    observed
}

/// Carries out one action; a submission returns the decision that follows from its outcome.
async fn act(
    app: &SparkApplication,
    ctx: &Context,
    status: &SparkApplicationStatus,
    action: Action,
    now: jiff::Timestamp,
) -> Result<Option<Decision>> {
    let namespace = app.namespace().unwrap_or_default();
    match action {
        Action::Submit { submission_id } => {
            let mut web_ui = DriverInfo::default();
            let submit = super::submit::submit(app, ctx, &submission_id, now, &mut web_ui);
            let outcome = match Box::pin(submit).await {
                Ok(outcome) => outcome,
                Err(Error::Kube(kube::Error::Api(status))) if status.code != 409 => {
                    SubmissionOutcome::Failed {
                        message: status.message,
                    }
                }
                Err(Error::Submission(message)) => SubmissionOutcome::Failed { message },
                Err(other) => return Err(other),
            };
            let mut decision = lifecycle::after_submission(app, status, outcome, now);
            if decision.status.application_state.state == ApplicationStateType::Submitted {
                let info = &mut decision.status.driver_info;
                info.web_ui_service_name = web_ui.web_ui_service_name;
                info.web_ui_port = web_ui.web_ui_port;
                info.web_ui_address = web_ui.web_ui_address;
                info.web_ui_ingress_name = web_ui.web_ui_ingress_name;
                info.web_ui_ingress_address = web_ui.web_ui_ingress_address;
            }
            Ok(Some(decision))
        }
        Action::DeleteAttemptResources => {
            let client = ctx.client.clone();
            let name = app.name_any();
            delete_labelled(&Api::<Pod>::namespaced(client.clone(), &namespace), &name).await?;
            delete_labelled(
                &Api::<Service>::namespaced(client.clone(), &namespace),
                &name,
            )
            .await?;
            delete_labelled(
                &Api::<ConfigMap>::namespaced(client.clone(), &namespace),
                &name,
            )
            .await?;
            delete_labelled(&Api::<Ingress>::namespaced(client, &namespace), &name).await?;
            Ok(None)
        }
        Action::DeleteApplication => {
            info!(app = %app.name_any(), "time to live expired: deleting the application");
            let apps = Api::<SparkApplication>::namespaced(ctx.client.clone(), &namespace);
            match apps
                .delete(&app.name_any(), &DeleteParams::background())
                .await
            {
                Ok(_) => Ok(None),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
                Err(error) => Err(error.into()),
            }
        }
        Action::Event {
            warning,
            reason,
            message,
        } => {
            ctx.events.publish(app, warning, reason, message).await;
            Ok(None)
        }
    }
}

/// An application that fails validation ends FAILED with every problem in its error message.
async fn reject_invalid(
    app: &SparkApplication,
    ctx: &Context,
    stored: &CachedApplication,
    problems: &str,
    now: jiff::Timestamp,
) -> Result<Requeue> {
    let current = app.status.clone().unwrap_or_default();
    let message = format!("invalid SparkApplication:\n{problems}");
    let already = current.application_state.state == ApplicationStateType::Failed
        && current.application_state.error_message.as_deref() == Some(message.as_str());
    if !already {
        ctx.events
            .publish(app, true, "SparkApplicationFailed", message.clone())
            .await;
        let mut status = current.clone();
        status.application_state.state = ApplicationStateType::Failed;
        status.application_state.error_message = Some(message);
        status.termination_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
        status.observed_generation = app.metadata.generation;
        write_status(app, ctx, stored, status).await?;
    }
    Ok(Requeue::await_change())
}

/// Writes the status when it changed: a merge patch of the status alone, from the status of
/// `stored` (the one the decision was made on, as the cluster holds it) to `next`, guarded by
/// the resourceVersion the decision was made on. The answer (the whole application) is not read.
async fn write_status(
    app: &SparkApplication,
    ctx: &Context,
    stored: &CachedApplication,
    next: SparkApplicationStatus,
) -> Result<()> {
    let current = app.status.clone().unwrap_or_default();
    if current == next && app.status.is_some() {
        return Ok(());
    }
    let namespace = app.namespace().unwrap_or_default();
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": app.metadata.resource_version},
        "status": merge_patch(&stored.status_json(), &serde_json::to_value(&next)?),
    });
    let request = Request::new(SparkApplication::url_path(&(), Some(&namespace)))
        .patch_subresource(
            "status",
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    ctx.client.request_text(request).await?;
    ctx.status_writes
        .written(app, app.metadata.resource_version.clone());
    ctx.config.metrics.status_written(app, &current, &next);
    Ok(())
}
