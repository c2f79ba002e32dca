//! The SparkConnect controller: what it watches and how each reconcile is started. It runs in
//! the process of the other two, per watched namespace, behind the same leader election, and
//! reports its caches to the same readiness. Each reconcile (`reconcile`) reads the caches this
//! module keeps: the SparkConnects, and the pods, ConfigMaps and Services labelled with a
//! SparkConnect's name (`sparkoperator.k8s.io/connect-name`): its server pod and the executors
//! the server made, its executor template and its Service. A change of any of them reconciles
//! its SparkConnect, so a deleted server pod or Service is made again at once.

mod reconcile;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus, Service};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use spark_operator_api::SparkConnect;
use tracing::{debug, info, warn};

use super::backoff::Backoffs;
use super::event_recorder::EventPublisher;
use super::watch_backoff::recovering;
use super::{api, stopped_before_filled, watched_namespaces};
use crate::config::ControllerConfig;
use crate::connect::LABEL_CONNECT_NAME;
use crate::error::Error;
use crate::shapes::Slim;

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub config: ControllerConfig,
    pub events: EventPublisher,
    /// Server and executor pods of SparkConnects (metadata and status).
    pub pods: Store<Slim<Pod, PodStatus>>,
    pub config_maps: Store<ConfigMap>,
    pub services: Store<Service>,
    /// How long each SparkConnect whose reconciles fail waits before the next.
    pub backoffs: Backoffs,
    /// Server pods that failed in a row, per SparkConnect.
    pub failures: ServerFailures,
    /// Cancelled when the controller begins to stop.
    pub stopping: tokio_util::sync::CancellationToken,
}

impl Context {
    /// Resolves once the pod, ConfigMap and Service caches hold their first listing.
    async fn caches_ready(&self) {
        let _ = self.pods.wait_until_ready().await;
        let _ = self.config_maps.wait_until_ready().await;
        let _ = self.services.wait_until_ready().await;
    }
}

/// The server pods of each SparkConnect that failed in a row (by the uid of the last one, so a
/// pod is counted once however often it is seen), which the back-off of the next replacement
/// follows. Kept in memory: a restarted operator starts the count again.
#[derive(Debug, Default)]
pub struct ServerFailures {
    by_connect: Mutex<HashMap<(String, String), (u32, String)>>,
}

impl ServerFailures {
    /// Servers that failed in a row before now.
    pub fn count(&self, namespace: &str, name: &str) -> u32 {
        let map = self.by_connect.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(namespace.into(), name.into()))
            .map_or(0, |(count, _)| *count)
    }

    /// The server pod `uid` failed (and was replaced).
    pub fn failed(&self, namespace: &str, name: &str, uid: &str) {
        let mut map = self.by_connect.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map
            .entry((namespace.into(), name.into()))
            .or_insert((0, String::new()));
        if entry.1 != uid {
            *entry = (entry.0.saturating_add(1), uid.to_string());
        }
    }

    /// A server is ready again.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut map = self.by_connect.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(namespace.into(), name.into()));
    }
}

/// The SparkConnect an object belongs to, by its label.
fn owning_connect<K: Resource>(object: K) -> Option<ObjectRef<SparkConnect>> {
    let name = object.labels().get(LABEL_CONNECT_NAME)?;
    Some(ObjectRef::new(name).within(&object.meta().namespace.clone()?))
}

fn labelled() -> watcher::Config {
    watcher::Config::default().labels(LABEL_CONNECT_NAME)
}

/// Runs the SparkConnect controller until `shutdown` resolves; reconciles in flight finish.
pub async fn run(
    client: Client,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + Clone + 'static,
) {
    let controllers = watched_namespaces(&config)
        .into_iter()
        .map(|namespace| run_in(namespace, client.clone(), &config, shutdown.clone()));
    futures::future::join_all(controllers).await;
}

async fn run_in(
    namespace: Option<String>,
    client: Client,
    config: &ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let readiness = &config.readiness;
    let (pods, pod_writer) = reflector::store();
    let pod_events = recovering(
        watcher(api::<Slim<Pod, PodStatus>>(&client, &namespace), labelled()),
        readiness.clone(),
        "sparkconnect pods",
    )
    .reflect(pod_writer)
    .touched_objects();
    let (config_maps, config_map_writer) = reflector::store();
    let config_map_events = recovering(
        watcher(api::<ConfigMap>(&client, &namespace), labelled()),
        readiness.clone(),
        "sparkconnect configmaps",
    )
    .reflect(config_map_writer)
    .touched_objects();
    let (services, service_writer) = reflector::store();
    let service_events = recovering(
        watcher(api::<Service>(&client, &namespace), labelled()),
        readiness.clone(),
        "sparkconnect services",
    )
    .reflect(service_writer)
    .touched_objects();
    let (connects, connect_writer) = reflector::store();
    let connect_events = recovering(
        watcher(
            api::<SparkConnect>(&client, &namespace),
            watcher::Config::default(),
        ),
        readiness.clone(),
        "sparkconnects",
    )
    .reflect(connect_writer)
    .applied_objects();

    let stopping = tokio_util::sync::CancellationToken::new();
    let context = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        events: EventPublisher::new(client, &config.reporter),
        pods,
        config_maps,
        services,
        backoffs: Backoffs::default(),
        failures: ServerFailures::default(),
        stopping: stopping.clone(),
    });
    let filled = context.clone();
    readiness.track(async move { filled.caches_ready().await });
    info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        "starting SparkConnect controller"
    );
    let shutdown = futures::FutureExt::shared(Box::pin(async move {
        shutdown.await;
        stopping.cancel();
    }));
    let unfilled_at_stop = stopped_before_filled(shutdown.clone(), connects.clone());
    let reconciles = Controller::for_stream(connect_events, connects)
        .watches_stream(pod_events, owning_connect)
        .watches_stream(config_map_events, owning_connect)
        .watches_stream(service_events, owning_connect)
        .with_config(
            kube::runtime::controller::Config::default().concurrency(config.controller_threads),
        )
        .graceful_shutdown_on(shutdown)
        .run(
            |connect, ctx| Box::pin(reconcile::start(connect, ctx)),
            reconcile::error_policy,
            context,
        )
        .for_each(|result| async move {
            use kube::runtime::controller::Error::ReconcilerFailed;
            match result {
                Err(ReconcilerFailed(error, _)) if error.is_conflict() => {
                    debug!(%error, "SparkConnect status conflict; reconciling again")
                }
                Err(ReconcilerFailed(Error::Stopping, _)) => {}
                Err(error) => warn!(%error, "SparkConnect reconcile failed"),
                Ok(_) => {}
            }
        });
    tokio::select! {
        _ = reconciles => {}
        _ = unfilled_at_stop => {}
    }
}
