//! The SparkApplication controller: what it watches and how each reconcile is started. Each
//! reconcile (`reconcile`) reads the caches this module keeps current: the pods, ConfigMaps and
//! Services of applications, found by their `sparkoperator.k8s.io/app-name` label.

mod reconcile;
mod troubles;
mod unreadable;

use std::sync::Arc;

use futures::StreamExt;
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus, Service};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tracing::{debug, info, warn};

use super::backoff::Backoffs;
use super::cache::index::AppIndex;
use super::cache::status_writes::StatusWrites;
use super::event_recorder::EventPublisher;
use super::watch_backoff::recovering;
use super::{api, stopped_before_filled, watched_namespaces};
use crate::config::ControllerConfig;
use crate::error::{Error, Result};
use crate::lifecycle::ObservedPod;
use crate::runtime::readiness::Readiness;
use crate::shapes::{CachedApplication, Metadata, Slim};
use crate::submission::{LABEL_APP_NAME, LABEL_SUBMISSION_ID};
use crate::submitter::Submitter;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub config: ControllerConfig,
    pub events: EventPublisher,
    /// The pods of applications, kept current by a watch, so reconciles read no pods from the API.
    pub pods: AppIndex<ObservedPod>,
    /// The submission ids of the ConfigMaps and Services of applications: which attempts still
    /// have them.
    pub config_maps: AppIndex<String>,
    pub services: AppIndex<String>,
    /// Status writes whose watch event may not have reached the application cache yet.
    pub status_writes: StatusWrites,
    /// How long each application whose reconciles fail waits before the next.
    pub backoffs: Backoffs,
    /// Creates the objects of submission attempts.
    pub submitter: Submitter,
    /// Cancelled when the controller begins to stop: work that has not started by then is left
    /// to the next operator instead of holding up the stop.
    pub stopping: tokio_util::sync::CancellationToken,
}

impl Context {
    /// Resolves once the pod, ConfigMap and Service indexes hold their first complete listing.
    pub async fn caches_ready(&self) {
        self.pods.wait_until_ready().await;
        self.config_maps.wait_until_ready().await;
        self.services.wait_until_ready().await;
    }
}

/// Runs the SparkApplication controller until `shutdown` resolves; reconciles in flight are
/// finished first.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) -> Result<()> {
    let master_url = config.master_url.clone().ok_or_else(|| {
        Error::Config("the API server URL for drivers (--master-url) is not known".into())
    })?;
    let mut controllers = Vec::new();
    for namespace in watched_namespaces(&config) {
        controllers.push(run_in(
            namespace,
            client.clone(),
            &config,
            &master_url,
            shutdown.clone(),
        ));
    }
    futures::future::join_all(controllers).await;
    Ok(())
}

/// The objects the operator makes for applications: those labelled with an application name.
fn labelled() -> watcher::Config {
    watcher::Config::default().labels(LABEL_APP_NAME)
}

/// Watch `events` of labelled objects kept in `index` as their `digest`, yielding each object
/// whose digest changed (a pod being bound to a node, say, is not news to its application).
fn indexed<K, V>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    index: AppIndex<V>,
    digest: fn(&K) -> V,
    readiness: Readiness,
    what: &'static str,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send,
    V: Clone + PartialEq + Send + Sync + 'static,
{
    recovering(events, readiness, what)
        .try_filter(move |event| {
            let changed = index.apply(event, digest);
            let keep = changed || matches!(event, watcher::Event::Init | watcher::Event::InitDone);
            std::future::ready(keep)
        })
        .touched_objects()
}

/// The `sparkoperator.k8s.io/submission-id` label: the attempt an object belongs to.
fn submission_of<K: Resource>(object: &K) -> String {
    object
        .labels()
        .get(LABEL_SUBMISSION_ID)
        .cloned()
        .unwrap_or_default()
}

/// The application an object belongs to, by its label.
fn owning_application<K: Resource>(object: K) -> Option<ObjectRef<CachedApplication>> {
    let app = object.labels().get(LABEL_APP_NAME)?;
    Some(ObjectRef::new(app).within(&object.meta().namespace.clone()?))
}

async fn run_in(
    namespace: Option<String>,
    client: Client,
    config: &ControllerConfig,
    master_url: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let stopping = tokio_util::sync::CancellationToken::new();
    let context = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        events: EventPublisher::new(client.clone(), &config.reporter),
        pods: AppIndex::default(),
        config_maps: AppIndex::default(),
        services: AppIndex::default(),
        status_writes: StatusWrites::default(),
        backoffs: Backoffs::new(config.requeue_limits),
        submitter: Submitter::new(
            client.clone(),
            config.clone(),
            master_url.to_string(),
            stopping.clone(),
        ),
        stopping: stopping.clone(),
    });
    let shutdown = futures::FutureExt::shared(Box::pin(async move {
        shutdown.await;
        info!("stopping: reconciles under way finish, spark-submit runs not yet started do not");
        stopping.cancel();
    }));
    // Reconciles must not read the caches before they hold every object: an application whose
    // driver is not yet in the cache would look as if its driver were gone.
    let filled = context.clone();
    config.readiness.track(async move {
        filled.caches_ready().await;
    });
    info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        "starting SparkApplication controller"
    );
    // What asks for reconciles, counted as controller-runtime counts its queue's adds.
    let queue = config.metrics.workqueue(reconcile::CONTROLLER);
    queue.set_max_workers(config.controller_threads);
    let pod_queue = queue.clone();
    let pod_events = indexed(
        watcher(api::<Slim<Pod, PodStatus>>(&client, &namespace), labelled()),
        context.pods.clone(),
        |pod| ObservedPod::of(&pod.metadata, pod.status.as_ref()),
        config.readiness.clone(),
        "pods",
    )
    .inspect_ok(move |pod| {
        if let Some(app) = owning_application(pod.clone()) {
            pod_queue.added(&reconcile::queue_key(app.namespace.as_deref(), &app.name));
        }
    });
    // Only the pods' changes call for a reconcile. The ConfigMaps and Services only keep their
    // index current: an application waiting for them to go looks again on its own schedule.
    let indexes = index_config_maps_and_services(&client, &namespace, context.clone());
    // Applications are cached with their spec and status as compact JSON, decoded per reconcile
    // (see `shapes`): any object of the kind is cached, so one the types cannot read is reported
    // on its own instead of breaking the watch of every other application. Like every watched
    // shape, it is read without its `managedFields`.
    let (applications, application_writer) = reflector::store();
    let application_events = recovering(
        watcher(
            api::<CachedApplication>(&client, &namespace),
            application_watch(config),
        ),
        config.readiness.clone(),
        "sparkapplications",
    )
    .reflect(application_writer)
    .applied_objects()
    .inspect_ok(move |app| {
        queue.added(&reconcile::queue_key(
            app.metadata.namespace.as_deref(),
            &app.name_any(),
        ))
    });
    let unfilled_at_stop = stopped_before_filled(shutdown.clone(), applications.clone());
    let reconciles = Controller::for_stream(application_events, applications)
        .watches_stream(pod_events, owning_application)
        .with_config(
            kube::runtime::controller::Config::default().concurrency(config.controller_threads),
        )
        .graceful_shutdown_on(shutdown)
        // Boxed: the controller moves each reconcile future as it queues and polls it, and this
        // one (an application and its decision inside) is kilobytes large.
        .run(
            |app, ctx| Box::pin(reconcile::start(app, ctx)),
            reconcile::error_policy,
            context,
        )
        .for_each(|result| async move { log_outcome(result) });
    // The indexes' watches end with the controller.
    tokio::select! {
        _ = reconciles => {}
        _ = indexes => {}
        _ = unfilled_at_stop => {}
    }
}

/// The applications this controller follows: all, or those `--label-selector-filter` selects.
fn application_watch(config: &ControllerConfig) -> watcher::Config {
    match &config.label_selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    }
}

/// Keeps the ConfigMap and Service indexes of `context` current. Of ConfigMaps and Services only
/// the labels are read: the API server sends their metadata alone, not the Spark configuration
/// and pod template each ConfigMap carries.
async fn index_config_maps_and_services(
    client: &Client,
    namespace: &Option<String>,
    context: Arc<Context>,
) {
    let config_map_events = indexed(
        watcher(api::<Metadata<ConfigMap>>(client, namespace), labelled()),
        context.config_maps.clone(),
        submission_of,
        context.config.readiness.clone(),
        "configmaps",
    );
    let service_events = indexed(
        watcher(api::<Metadata<Service>>(client, namespace), labelled()),
        context.services.clone(),
        submission_of,
        context.config.readiness.clone(),
        "services",
    );
    futures::join!(
        config_map_events.for_each(|_| async {}),
        service_events.for_each(|_| async {})
    );
}

type ReconcileResult = std::result::Result<
    (
        ObjectRef<CachedApplication>,
        kube::runtime::controller::Action,
    ),
    kube::runtime::controller::Error<Error, watcher::Error>,
>;

/// Logs how a reconcile ended, at the level its kind of failure deserves.
fn log_outcome(result: ReconcileResult) {
    use kube::runtime::controller::Error::ReconcilerFailed;
    match result {
        // Another writer got there first; the reconcile is simply run again.
        Err(ReconcilerFailed(error, _)) if error.is_conflict() => {
            debug!(%error, "status conflict; reconciling again")
        }
        Err(ReconcilerFailed(Error::Stopping, app)) => {
            debug!(app = %app.name, "left to the next operator: this one is stopping")
        }
        Err(error) => warn!(%error, "reconcile failed"),
        Ok(_) => {}
    }
}
