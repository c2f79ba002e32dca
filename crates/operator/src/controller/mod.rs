//! The controllers: SparkApplication (`application`), ScheduledSparkApplication (`scheduled`) and
//! SparkConnect (`connect`), one of each per watched namespace (or one for all), and the caches
//! they read (`cache`). Decisions are made by the pure `lifecycle`, `scheduling` and `connect`
//! modules and objects are created by the `submitter`; this module observes and wires them
//! together.

pub mod application;
pub mod backoff;
pub mod cache;
pub mod connect;
pub mod event_recorder;
pub mod scheduled;
pub mod status_patch;
pub mod watch_backoff;

use kube::runtime::reflector;
use kube::{Api, Client, Resource};
use tracing::debug;

use crate::config::ControllerConfig;
use crate::error::Result;

/// Runs the SparkApplication, ScheduledSparkApplication and SparkConnect controllers until
/// `shutdown` resolves.
pub async fn run_all(
    client: Client,
    config: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    let namespaces = watched_namespaces(&config);
    let scheduled = futures::future::join_all(namespaces.iter().map(|namespace| {
        scheduled::run(
            client.clone(),
            namespace.clone(),
            config.clone(),
            shutdown.clone(),
        )
    }));
    let connects = connect::run(client.clone(), config.clone(), shutdown.clone());
    let (selection, watch_client, readiness) = (
        config.namespace_selection.clone(),
        client.clone(),
        config.readiness.clone(),
    );
    let selection = async move { selection.keep_current(watch_client, readiness).await };
    tokio::select! {
        (applications, _, _) = async {
            futures::join!(application::run(client, config, shutdown), scheduled, connects)
        } => applications,
        // The namespace watch ends only with the process.
        () = selection => Ok(()),
    }
}

/// One watch per namespace of `--namespaces`, or one of every namespace (without it, or with a
/// `--namespace-selector`, whose namespaces are only known as they come).
pub(crate) fn watched_namespaces(config: &ControllerConfig) -> Vec<Option<String>> {
    if config.namespaces.is_empty() || config.namespace_selection.has_selector() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    }
}

pub(crate) fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<DynamicType = ()>,
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Resolves once `shutdown` has, if `store` was not yet filled by then. A controller's runner is
/// held until its store is filled, so it has started no reconcile; and a stopped controller no
/// longer polls the watch that would fill it, so its graceful stop would wait for ever. There is
/// nothing to finish: the controller can be dropped.
pub(crate) async fn stopped_before_filled<K>(
    shutdown: impl std::future::Future<Output = ()>,
    store: reflector::Store<K>,
) where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    shutdown.await;
    if let Some(Ok(())) = futures::FutureExt::now_or_never(store.wait_until_ready()) {
        std::future::pending::<()>().await;
    }
    debug!("stopped before the controller's first listing: nothing to finish");
}
