//! One reconcile of one SparkConnect: validate it, build its objects, observe what the caches
//! hold of them, let `connect::decide` choose, then carry its actions out against the API server
//! and write the status it chose (a merge patch guarded by the resourceVersion it was decided
//! on).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use spark_operator_api::validation::{describe, validate_connect};
use spark_operator_api::{SparkConnect, SparkConnectStatus};
use tracing::{debug, info};

use super::Context;
use crate::connect::{
    self, Action, Decision, LABEL_CONNECT_NAME, Observation, ServerObjects, ServerPod,
};
use crate::controller::status_patch::merge_patch;
use crate::error::{Error, Result};
use crate::install::FIELD_MANAGER;
use crate::submission::{LABEL_LAUNCHED_BY, LABEL_SPARK_ROLE, ROLE_EXECUTOR};

/// How soon a reconcile that lost a race with another writer runs again.
const CONFLICT_RETRY: Duration = Duration::from_millis(200);

/// A reconcile of `connect` as the cache holds it, once the caches are filled. A SparkConnect of
/// a namespace the operator does not select (`--namespace-selector`) is left as it is.
pub async fn start(connect: Arc<SparkConnect>, ctx: Arc<Context>) -> Result<Requeue> {
    let namespace = connect.namespace().unwrap_or_default();
    if !ctx.config.namespace_selection.selects(&namespace).await {
        return Ok(Requeue::requeue(ctx.config.resync_period));
    }
    tokio::select! {
        biased;
        () = ctx.caches_ready() => {}
        () = ctx.stopping.cancelled() => return Err(Error::Stopping),
    }
    let metrics = ctx.config.metrics.clone();
    metrics.observe_connect(&connect);
    let result = metrics
        .reconciled_by("sparkconnect", reconcile(&connect, &ctx))
        .await;
    if result.is_ok() {
        ctx.backoffs.succeeded(&namespace, &connect.name_any());
    }
    result
}

/// When a failed reconcile is tried again: at once after a conflict, with a growing back-off
/// otherwise.
pub fn error_policy(connect: Arc<SparkConnect>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let after = if error.is_conflict() {
        CONFLICT_RETRY
    } else {
        let namespace = connect.namespace().unwrap_or_default();
        ctx.backoffs.failed(&namespace, &connect.name_any())
    };
    debug!(connect = %connect.name_any(), %error, ?after, "will retry");
    Requeue::requeue(after)
}

async fn reconcile(connect: &SparkConnect, ctx: &Context) -> Result<Requeue> {
    if connect.metadata.deletion_timestamp.is_some() {
        // Owner references make the API server delete everything the SparkConnect made.
        return Ok(Requeue::await_change());
    }
    let now = jiff::Timestamp::now();
    let problems = validate_connect(connect);
    let master_url = ctx.config.master_url.as_deref().unwrap_or_default();
    let objects = if problems.is_empty() {
        connect::build(connect, master_url).map_err(|error| error.to_string())
    } else {
        Err(describe(&problems))
    };
    let objects = match objects {
        Ok(objects) => objects,
        Err(problems) => {
            let decision = connect::reject_invalid(connect, &problems, now);
            carry_out(connect, ctx, None, &decision).await?;
            return Ok(Requeue::await_change());
        }
    };
    let observed = observe(connect, ctx, &objects, now);
    let settings = ctx.config.connect.clone();
    let decision = connect::decide(connect, &objects, &observed, &settings);
    carry_out(connect, ctx, Some((&objects, &observed)), &decision).await?;
    Ok(Requeue::requeue(
        decision.requeue_after.unwrap_or(ctx.config.resync_period),
    ))
}

/// What the caches hold of the SparkConnect's objects.
fn observe(
    connect: &SparkConnect,
    ctx: &Context,
    objects: &ServerObjects,
    now: jiff::Timestamp,
) -> Observation {
    let namespace = connect.namespace().unwrap_or_default();
    let name = connect.name_any();
    let server = ctx
        .pods
        .get(&ObjectRef::new(&objects.server_pod.name_any()).within(&namespace))
        .filter(|pod| pod.labels().get(LABEL_CONNECT_NAME) == Some(&name))
        .map(|pod| ServerPod::of(&pod.metadata, pod.status.as_ref()));
    let executor_phases = ctx
        .pods
        .state()
        .iter()
        .filter(|pod| pod.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|pod| {
            let labels = pod.labels();
            labels.get(LABEL_CONNECT_NAME) == Some(&name)
                && labels.get(LABEL_LAUNCHED_BY).map(String::as_str) == Some("true")
                && labels.get(LABEL_SPARK_ROLE).map(String::as_str) == Some(ROLE_EXECUTOR)
        })
        .map(|pod| pod.status.as_ref().and_then(|s| s.phase.clone()))
        .collect();
    let config_map_current = ctx
        .config_maps
        .get(&ObjectRef::from_obj(&objects.config_map))
        .is_some_and(|cm| connect::config_map_is_current(&cm, &objects.config_map));
    let service_current = ctx
        .services
        .get(&ObjectRef::from_obj(&objects.service))
        .is_some_and(|svc| connect::service_is_current(&svc, &objects.service));
    Observation {
        server,
        executor_phases,
        config_map_current,
        service_current,
        failures: ctx.failures.count(&namespace, &name),
        now,
    }
}

/// Writes the decision's status, then carries out its actions in order. The status goes first
/// because its write is guarded by the resourceVersion the decision was made on: a decision on a
/// stale SparkConnect fails there and acts on nothing, and a server replaced for failing is
/// recorded as Failed before it disappears.
async fn carry_out(
    connect: &SparkConnect,
    ctx: &Context,
    built: Option<(&ServerObjects, &Observation)>,
    decision: &Decision,
) -> Result<()> {
    let namespace = connect.namespace().unwrap_or_default();
    let name = connect.name_any();
    let client = &ctx.client;
    write_status(connect, ctx, &decision.status).await?;
    // A server pod the cache did not show yet is there already: no second Event says it was made.
    let mut created = true;
    for action in &decision.actions {
        match (action, built) {
            (Action::ApplyConfigMap, Some((objects, _))) => {
                apply(
                    &Api::namespaced(client.clone(), &namespace),
                    &objects.config_map,
                )
                .await?
            }
            (Action::ApplyService, Some((objects, _))) => {
                apply(
                    &Api::namespaced(client.clone(), &namespace),
                    &objects.service,
                )
                .await?
            }
            (Action::CreateServer, Some((objects, _))) => {
                created = create_server(ctx, &namespace, &objects.server_pod).await?
            }
            (Action::DeleteServer { failed }, Some((_, observed))) => {
                if let Some(server) = &observed.server
                    && delete_server(ctx, &namespace, server).await?
                    && *failed
                {
                    ctx.failures.failed(&namespace, &name, &server.uid);
                }
            }
            (Action::ForgetFailures, _) => ctx.failures.forget(&namespace, &name),
            (
                Action::Event {
                    warning,
                    reason,
                    message,
                },
                _,
            ) => {
                if *reason == connect::reasons::SERVER_CREATED && !created {
                    continue;
                }
                ctx.events
                    .publish_on(&connect.object_ref(&()), *warning, reason, message.clone())
                    .await
            }
            _ => {}
        }
    }
    Ok(())
}

/// Creates or updates `object` by server-side apply: only the fields the operator sets are
/// its, so what others add (a Service's cluster IP, annotations of other tools) stays.
async fn apply<K>(api: &Api<K>, object: &K) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let request = format!("applying {} {}", K::kind(&()), object.name_any());
    api.patch(
        &object.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|source| Error::Request { request, source })?;
    Ok(())
}

/// Creates the server pod; whether it made it. One of that name already there (the cache is
/// behind) is left to the next reconcile to judge.
async fn create_server(ctx: &Context, namespace: &str, pod: &Pod) -> Result<bool> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    match api.create(&PostParams::default(), pod).await {
        Ok(_) => {
            info!(pod = %pod.name_any(), namespace, "created Spark Connect server pod");
            Ok(true)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(source) => Err(Error::Request {
            request: format!("creating Pod {namespace}/{}", pod.name_any()),
            source,
        }),
    }
}

/// Deletes the server pod seen as `server` (and no later pod of that name); whether it was
/// there to delete.
async fn delete_server(ctx: &Context, namespace: &str, server: &ServerPod) -> Result<bool> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(server.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    match api.delete(&server.name, &params).await {
        Ok(_) => {
            info!(pod = %server.name, namespace, "deleted Spark Connect server pod to replace it");
            Ok(true)
        }
        Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => Ok(false),
        Err(source) => Err(Error::Request {
            request: format!("deleting Pod {namespace}/{}", server.name),
            source,
        }),
    }
}

/// Writes the status when it changed: a merge patch from the status the decision was made on,
/// guarded by that resourceVersion, so a decision on a stale SparkConnect is a conflict.
async fn write_status(
    connect: &SparkConnect,
    ctx: &Context,
    next: &SparkConnectStatus,
) -> Result<()> {
    let current = connect.status.clone().unwrap_or_default();
    if connect.status.as_ref() == Some(next) {
        return Ok(());
    }
    let namespace = connect.namespace().unwrap_or_default();
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": connect.metadata.resource_version},
        "status": merge_patch(&serde_json::to_value(&connect.status)?, &serde_json::to_value(next)?),
    });
    let api: Api<SparkConnect> = Api::namespaced(ctx.client.clone(), &namespace);
    api.patch_status(
        &connect.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    ctx.config
        .metrics
        .connect_status_written(connect, &current, next);
    Ok(())
}
