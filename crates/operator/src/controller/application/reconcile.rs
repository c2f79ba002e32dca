//! One reconcile of one SparkApplication, as a pipeline: dereference (a deleted application is
//! left to garbage collection), validate (an invalid one ends FAILED, nothing submitted), observe
//! (its objects, from the caches), then the lifecycle's protocol, whose effects this module
//! carries out against the API server.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::Request;
use kube::runtime::controller::Action as Requeue;
use kube::{Api, Resource, ResourceExt};
use spark_operator_api::validation::{describe, validate_application};
use spark_operator_api::{ApplicationStateType, SparkApplication, SparkApplicationStatus};
use tracing::{debug, info};

use super::Context;
use crate::controller::status_patch::merge_patch;
use crate::error::{Error, Result};
use crate::lifecycle::protocol::{self, Effects};
use crate::lifecycle::{self, Observation, ObservedPod, SubmissionOutcome};
use crate::shapes::{CachedApplication, Slim};
use crate::submitter::objects::{delete_if_present, delete_labelled};
use crate::submitter::operator_defaults;
use spark_operator_api::naming::driver_pod_name;

/// The controller's name in the work queue metrics, as Kubeflow's (controller-runtime) names it.
pub const CONTROLLER: &str = "sparkapplication";

/// An application's key in the work queue metrics.
pub fn queue_key(namespace: Option<&str>, name: &str) -> String {
    format!("{}/{name}", namespace.unwrap_or_default())
}

/// A reconcile of `app` as the cache holds it: once the caches are filled and hold the
/// operator's last status write, the application is decoded and reconciled, or reported when it
/// cannot be read. An application of a namespace the operator does not select
/// (`--namespace-selector`) is left as it is.
pub async fn start(app: Arc<CachedApplication>, ctx: Arc<Context>) -> Result<Requeue> {
    let namespace = app.namespace().unwrap_or_default();
    if !ctx.config.namespace_selection.selects(&namespace).await {
        return Ok(Requeue::requeue(ctx.config.resync_period));
    }
    let _running = ctx
        .config
        .metrics
        .workqueue(CONTROLLER)
        .started(&queue_key(Some(&namespace), &app.name_any()));
    // Once the controller stops, it no longer polls the pod watch that fills the pod index: a
    // reconcile still waiting for the caches would wait for ever.
    tokio::select! {
        biased;
        () = ctx.caches_ready() => {}
        () = ctx.stopping.cancelled() => return Err(Error::Stopping),
    }
    if ctx.status_writes.is_stale(app.as_ref()) {
        // The event of the write brings the application back; the requeue is a fallback.
        return Ok(Requeue::requeue(Duration::from_secs(1)));
    }
    let result = match app.decode() {
        Ok(readable) => {
            let metrics = ctx.config.metrics.clone();
            let readable = Arc::new(readable);
            let reconcile = Box::pin(reconcile(readable.clone(), &app, ctx.clone()));
            metrics.reconciled(&readable, reconcile).await
        }
        Err(problem) => super::unreadable::report(&app, problem, &ctx).await,
    };
    if result.is_ok() {
        let namespace = app.namespace().unwrap_or_default();
        ctx.backoffs.succeeded(&namespace, &app.name_any());
    }
    result
}

/// One reconcile of `app`, decoded from `stored`, the application as the cache holds it.
async fn reconcile(
    app: Arc<SparkApplication>,
    stored: &CachedApplication,
    ctx: Arc<Context>,
) -> Result<Requeue> {
    if app.metadata.deletion_timestamp.is_some() {
        // Owner references make the API server delete everything the application made.
        return Ok(Requeue::await_change());
    }
    let now = jiff::Timestamp::now();
    let problems = validate_application(&app);
    if !problems.is_empty() {
        return reject_invalid(&app, &ctx, stored, &describe(&problems), now).await;
    }
    let mut observed = observe(&app, &ctx, now);
    super::troubles::enrich(&app, &ctx, &mut observed).await;
    let mut effects = ApiEffects {
        app: &app,
        stored,
        ctx: &ctx,
        now,
    };
    let reconciled = protocol::reconcile(&app, &observed, &mut effects).await?;
    let after = reconciled.requeue_after.unwrap_or(ctx.config.resync_period);
    ctx.config.metrics.workqueue(CONTROLLER).requeued(
        &queue_key(app.metadata.namespace.as_deref(), &app.name_any()),
        after,
        false,
    );
    Ok(Requeue::requeue(after))
}

/// When a reconcile that failed is tried again: at once (nearly) after a conflict, which only
/// means the application changed; with a growing back-off otherwise, so that an API server in
/// trouble is not hammered and one back from an outage is used again within seconds.
pub fn error_policy(app: Arc<CachedApplication>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let namespace = app.namespace().unwrap_or_default();
    let after = if error.is_conflict() {
        CONFLICT_RETRY
    } else {
        ctx.backoffs.failed(&namespace, &app.name_any())
    };
    ctx.config.metrics.workqueue(CONTROLLER).requeued(
        &queue_key(Some(&namespace), &app.name_any()),
        after,
        true,
    );
    debug!(app = %app.name_any(), %error, category = error.metric_label(), ?after, "will retry");
    Requeue::requeue(after)
}

/// How soon a reconcile that lost a race with another writer runs again.
const CONFLICT_RETRY: Duration = Duration::from_millis(200);

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

/// The protocol's effects on the API server, for one application.
struct ApiEffects<'a> {
    app: &'a SparkApplication,
    stored: &'a CachedApplication,
    ctx: &'a Context,
    now: jiff::Timestamp,
}

impl ApiEffects<'_> {
    fn namespace(&self) -> String {
        self.app.namespace().unwrap_or_default()
    }

    /// The batch scheduler's PodGroup (one per attempt: a retry makes it again) and the driver's
    /// PodDisruptionBudget.
    async fn delete_scheduling_objects(&self) -> Result<()> {
        let client = &self.ctx.client;
        let namespace = self.namespace();
        let config = &self.ctx.config;
        let app = operator_defaults::with_operator_defaults(self.app, config);
        let pod_group = config
            .batch_scheduling
            .gang_of(&app.spec)
            .and_then(|gang| gang.pod_group(&app.name_any()));
        if let Some(group) = pod_group {
            delete_if_present(client, &group.collection_path(&namespace), &group.name).await?;
        }
        if config.enable_driver_pdb {
            let budgets = crate::submission::disruption_budgets_path(&namespace);
            delete_if_present(client, &budgets, &driver_pod_name(self.app)).await?;
        }
        Ok(())
    }
}

impl Effects for ApiEffects<'_> {
    type Error = Error;

    /// Asked of the API server rather than the cache: the cache runs behind it whenever the
    /// operator or the watch is slow, and an application must not fail because its driver was
    /// not seen in time.
    async fn driver_exists(&mut self, status: &SparkApplicationStatus) -> Result<bool> {
        let Some(name) = status.driver_info.pod_name.as_deref() else {
            return Ok(false);
        };
        let pods =
            Api::<Slim<Pod, PodStatus>>::namespaced(self.ctx.client.clone(), &self.namespace());
        let exists = match pods.get_opt(name).await? {
            Some(pod) => lifecycle::is_attempt_driver(
                &ObservedPod::of(&pod.metadata, pod.status.as_ref()),
                status,
            ),
            None => false,
        };
        if exists {
            debug!(app = %self.app.name_any(), "the driver pod is not in the cache yet; looking again");
        }
        Ok(exists)
    }

    async fn submit(&mut self, submission_id: &str) -> Result<SubmissionOutcome> {
        let submit = self.ctx.submitter.submit(self.app, submission_id, self.now);
        match Box::pin(submit).await {
            Ok(submitted) => Ok(SubmissionOutcome::Submitted(submitted)),
            Err(error) => match error.attempt_failure() {
                Some(message) => Ok(SubmissionOutcome::Failed { message }),
                None => Err(error),
            },
        }
    }

    async fn delete_attempt_resources(&mut self) -> Result<()> {
        let client = &self.ctx.client;
        let namespace = self.namespace();
        let name = self.app.name_any();
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
        delete_labelled(
            &Api::<Ingress>::namespaced(client.clone(), &namespace),
            &name,
        )
        .await?;
        self.delete_scheduling_objects().await
    }

    async fn release_ended(&mut self) -> Result<()> {
        let client = &self.ctx.client;
        let namespace = self.namespace();
        let name = self.app.name_any();
        delete_labelled(
            &Api::<Service>::namespaced(client.clone(), &namespace),
            &name,
        )
        .await?;
        delete_labelled(
            &Api::<Ingress>::namespaced(client.clone(), &namespace),
            &name,
        )
        .await?;
        self.delete_scheduling_objects().await
    }

    async fn delete_application(&mut self) -> Result<()> {
        info!(app = %self.app.name_any(), "time to live expired: deleting the application");
        let apps = Api::<SparkApplication>::namespaced(self.ctx.client.clone(), &self.namespace());
        match apps
            .delete(&self.app.name_any(), &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn write_status(&mut self, status: SparkApplicationStatus) -> Result<()> {
        write_status(self.app, self.ctx, self.stored, status).await
    }

    async fn record_event(
        &mut self,
        warning: bool,
        reason: &'static str,
        message: &str,
    ) -> Result<()> {
        self.ctx
            .events
            .publish(self.app, warning, reason, message.to_string())
            .await;
        Ok(())
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
        lifecycle::spec_change::observe(&mut status, app);
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
