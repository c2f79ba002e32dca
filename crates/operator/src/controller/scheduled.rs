//! The ScheduledSparkApplication controller: starts runs when the schedule says so, trims the
//! history, and keeps the status. The decision is `scheduling::decide`; this module acts on it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use spark_operator_api::{ScheduledSparkApplication, SparkApplication};
use tracing::{info, warn};

use super::watch_backoff::recovering;
use crate::config::ControllerConfig;
use crate::error::{Error, Result};
use crate::scheduling::{self, Run};

/// Label that ties a run to its ScheduledSparkApplication, as in Kubeflow.
pub const SCHEDULED_APP_NAME_LABEL: &str = "sparkoperator.k8s.io/scheduled-app-name";

struct Context {
    client: Client,
    /// Every run of every schedule, kept current by a watch.
    runs: Store<SparkApplication>,
    config: ControllerConfig,
}

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let readiness = config.readiness.clone();
    let (scheduled, apps): (Api<ScheduledSparkApplication>, Api<SparkApplication>) =
        match &namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
    let (runs, writer) = reflector::store();
    let run_events = recovering(
        watcher(
            apps,
            watcher::Config::default().labels(SCHEDULED_APP_NAME_LABEL),
        ),
        readiness.clone(),
        "scheduled runs",
    )
    .reflect(writer)
    .touched_objects();
    let (schedules, schedule_writer) = reflector::store();
    let schedule_events = recovering(
        watcher(scheduled, watcher::Config::default()),
        readiness,
        "scheduledsparkapplications",
    )
    .reflect(schedule_writer)
    .applied_objects();
    let ready = runs.clone();
    let context = Arc::new(Context {
        client,
        runs,
        config,
    });
    info!("starting ScheduledSparkApplication controller");
    let controller = Controller::for_stream(schedule_events, schedules).watches_stream(
        run_events,
        |run: SparkApplication| {
            let owner = run.labels().get(SCHEDULED_APP_NAME_LABEL)?;
            Some(ObjectRef::<ScheduledSparkApplication>::new(owner).within(&run.namespace()?))
        },
    );
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let unfilled_at_stop = super::stopped_before_filled(shutdown.clone(), controller.store());
    let reconciles = controller
        .graceful_shutdown_on(shutdown)
        .run(
            move |scheduled, ctx| {
                let ready = ready.clone();
                async move {
                    let _ = ready.wait_until_ready().await;
                    reconcile(scheduled, ctx).await
                }
            },
            |_, error: &Error, _| {
                warn!(%error, "scheduled reconcile failed");
                Requeue::requeue(Duration::from_secs(2))
            },
            context,
        )
        .for_each(|_| async {});
    tokio::select! {
        _ = reconciles => {}
        _ = unfilled_at_stop => {}
    }
}

async fn reconcile(
    scheduled: Arc<ScheduledSparkApplication>,
    ctx: Arc<Context>,
) -> Result<Requeue> {
    if scheduled.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::await_change());
    }
    let namespace = scheduled.namespace().unwrap_or_default();
    if !ctx.config.namespace_selection.selects(&namespace).await {
        return Ok(Requeue::requeue(ctx.config.resync_period));
    }
    let name = scheduled.name_any();
    let runs: Vec<Run> = ctx
        .runs
        .state()
        .iter()
        .filter(|app| app.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|app| app.labels().get(SCHEDULED_APP_NAME_LABEL) == Some(&name))
        .filter(|app| app.metadata.deletion_timestamp.is_none())
        .map(|app| Run {
            name: app.name_any(),
            created: app
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .unwrap_or_else(jiff::Timestamp::now),
            state: app
                .status
                .as_ref()
                .map(|s| s.application_state.state)
                .unwrap_or_default(),
        })
        .collect();
    let decision = scheduling::decide_with_precision(
        &scheduled,
        &runs,
        jiff::Timestamp::now(),
        ctx.config.run_name_precision,
    );
    let apps: Api<SparkApplication> = Api::namespaced(ctx.client.clone(), &namespace);
    for doomed in &decision.delete_runs {
        match apps.delete(doomed, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(run_name) = &decision.start_run {
        start_run(&apps, &scheduled, run_name).await?;
    }
    if scheduled.status.as_ref() != Some(&decision.status) {
        let scheduled_api: Api<ScheduledSparkApplication> =
            Api::namespaced(ctx.client.clone(), &namespace);
        let mut updated = (*scheduled).clone();
        updated.status = Some(decision.status.clone());
        scheduled_api
            .replace_status(&name, &PostParams::default(), &updated)
            .await?;
    }
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after),
        None => Requeue::await_change(),
    })
}

/// Creates the run; one that already exists (created before a crash) is the same run.
async fn start_run(
    apps: &Api<SparkApplication>,
    scheduled: &ScheduledSparkApplication,
    run_name: &str,
) -> Result<()> {
    let mut labels = scheduled.labels().clone();
    labels.insert(SCHEDULED_APP_NAME_LABEL.into(), scheduled.name_any());
    let owner = OwnerReference {
        api_version: ScheduledSparkApplication::api_version(&()).into_owned(),
        kind: ScheduledSparkApplication::kind(&()).into_owned(),
        name: scheduled.name_any(),
        uid: scheduled.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let run = SparkApplication {
        metadata: ObjectMeta {
            name: Some(run_name.into()),
            namespace: scheduled.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: scheduled.spec.template.clone(),
        status: None,
    };
    match apps.create(&PostParams::default(), &run).await {
        Ok(_) => {
            info!(run = run_name, scheduled = %scheduled.name_any(), "started scheduled run");
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error.into()),
    }
}
