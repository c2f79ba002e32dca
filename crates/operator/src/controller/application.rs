//! One reconcile of one SparkApplication: observe, decide (pure), act, record.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Api, ResourceExt};
use spark_operator_api::validation::{describe, validate_application};
use spark_operator_api::{ApplicationStateType, SparkApplication, SparkApplicationStatus};
use tracing::{debug, info};

use super::Context;
use super::resources::{APP_NAME_LABEL, SUBMISSION_ID_LABEL, create_or_adopt, delete_labelled};
use crate::error::{Error, Result};
use crate::lifecycle::{self, Action, Decision, Observation, SubmissionOutcome};
use crate::submission::{self, SubmissionContext};

pub async fn reconcile(app: Arc<SparkApplication>, ctx: Arc<Context>) -> Result<Requeue> {
    if app.metadata.deletion_timestamp.is_some() {
        // Owner references make the API server delete everything the application made.
        return Ok(Requeue::await_change());
    }
    let now = jiff::Timestamp::now();
    let current = app.status.clone().unwrap_or_default();

    let problems = validate_application(&app);
    if !problems.is_empty() {
        return reject_invalid(&app, &ctx, &current, &describe(&problems), now).await;
    }

    let observed = observe(&app, &ctx, now);
    let mut decision = lifecycle::decide(&app, &observed);
    let mut follow_up = None;
    for action in std::mem::take(&mut decision.actions) {
        if let Some(next) = act(&app, &ctx, &decision.status, action, now).await? {
            follow_up = Some(next);
        }
    }
    if let Some(mut next) = follow_up {
        for action in std::mem::take(&mut next.actions) {
            act(&app, &ctx, &next.status, action, now).await?;
        }
        decision = Decision {
            actions: Vec::new(),
            ..next
        };
    }
    write_status(&app, &ctx, &current, decision.status).await?;
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after),
        None => Requeue::requeue(ctx.config.resync_period),
    })
}

pub fn error_policy(app: Arc<SparkApplication>, error: &Error, _ctx: Arc<Context>) -> Requeue {
    debug!(app = %app.name_any(), %error, category = error.metric_label(), "will retry");
    match error {
        Error::Kube(kube::Error::Api(status)) if status.code == 409 => {
            Requeue::requeue(Duration::from_millis(200))
        }
        _ => Requeue::requeue(Duration::from_secs(5)),
    }
}

/// What the cluster holds of the application right now, from the caches.
fn observe(app: &SparkApplication, ctx: &Context, now: jiff::Timestamp) -> Observation {
    let name = app.name_any();
    let namespace = app.namespace();
    let belongs = |meta: &kube::api::ObjectMeta| {
        meta.namespace == namespace
            && meta.labels.as_ref().and_then(|l| l.get(APP_NAME_LABEL)) == Some(&name)
    };
    let pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|pod| belongs(&pod.metadata))
        .collect();
    let mut observed = lifecycle::observe(app, &pods, now);
    let attempt_of = |meta: &kube::api::ObjectMeta| {
        meta.labels
            .as_ref()
            .and_then(|l| l.get(SUBMISSION_ID_LABEL))
            .cloned()
            .unwrap_or_default()
    };
    for config_map in ctx.config_maps.state() {
        if belongs(&config_map.metadata) {
            observed
                .attempts_with_resources
                .insert(attempt_of(&config_map.metadata));
        }
    }
    for service in ctx.services.state() {
        if belongs(&service.metadata) {
            observed
                .attempts_with_resources
                .insert(attempt_of(&service.metadata));
        }
    }
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
            let outcome = match submit(app, ctx, &submission_id, now).await {
                Ok(outcome) => outcome,
                Err(Error::Kube(kube::Error::Api(status))) if status.code != 409 => {
                    SubmissionOutcome::Failed {
                        message: status.message,
                    }
                }
                Err(Error::Submission(message)) => SubmissionOutcome::Failed { message },
                Err(other) => return Err(other),
            };
            Ok(Some(lifecycle::after_submission(app, status, outcome, now)))
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

/// Creates the objects of one attempt; the driver pod last, so that it starts with everything it
/// mounts already there.
async fn submit(
    app: &SparkApplication,
    ctx: &Context,
    submission_id: &str,
    now: jiff::Timestamp,
) -> Result<SubmissionOutcome> {
    let context = SubmissionContext::new(
        app,
        submission_id,
        now.as_millisecond(),
        &ctx.master_url,
        &ctx.config,
    );
    let plan = submission::plan(app, &context).map_err(|e| Error::Submission(e.to_string()))?;
    let namespace = app.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
    let services = Api::<Service>::namespaced(client.clone(), &namespace);
    for config_map in plan.config_maps() {
        create_or_adopt(&config_maps, config_map, submission_id).await?;
    }
    for service in plan.services() {
        create_or_adopt(&services, service, submission_id).await?;
    }
    let ingresses = Api::<Ingress>::namespaced(client.clone(), &namespace);
    for ingress in plan.ingresses() {
        create_or_adopt(&ingresses, ingress, submission_id).await?;
    }
    let driver = create_or_adopt(
        &Api::<Pod>::namespaced(client, &namespace),
        plan.driver_pod(),
        submission_id,
    )
    .await?;
    Ok(SubmissionOutcome::Submitted {
        driver_pod_name: driver.name_any(),
        app_id: context.app_id.clone(),
    })
}

/// An application that fails validation ends FAILED with every problem in its error message.
async fn reject_invalid(
    app: &SparkApplication,
    ctx: &Context,
    current: &SparkApplicationStatus,
    problems: &str,
    now: jiff::Timestamp,
) -> Result<Requeue> {
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
        write_status(app, ctx, current, status).await?;
    }
    Ok(Requeue::await_change())
}

/// Replaces the status when it changed, guarded by the resourceVersion the decision was made on.
async fn write_status(
    app: &SparkApplication,
    ctx: &Context,
    current: &SparkApplicationStatus,
    next: SparkApplicationStatus,
) -> Result<()> {
    if *current == next && app.status.is_some() {
        return Ok(());
    }
    let namespace = app.namespace().unwrap_or_default();
    let apps = Api::<SparkApplication>::namespaced(ctx.client.clone(), &namespace);
    let mut updated = app.clone();
    updated.status = Some(next);
    apps.replace_status(&app.name_any(), &PostParams::default(), &updated)
        .await?;
    Ok(())
}
