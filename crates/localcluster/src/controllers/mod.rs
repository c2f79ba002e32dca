//! The controllers of kube-controller-manager that the API's own semantics rely on, run in
//! process against the [`Cluster`]:
//!
//! - `garbage_collector`: dependents of deleted owners (ownerReferences), and the `orphan` and
//!   `foregroundDeletion` finalizers of the propagation policies.
//! - `namespace`: a terminating namespace is emptied, then goes.
//! - `service_account`: every namespace has a `default` service account.
//! - `pod_gc`: a pod whose deletion grace period ran out with no kubelet confirming it is
//!   removed.
//! - `resource_quota`: each ResourceQuota's `status` (`hard` from its spec, `used` counted).
//!
//! They share one task and one watch of storage: each change is handed to each of them in turn,
//! synchronously, and what was pending before a restart is handled at start. Beside them, in a
//! loop of their own, `workloads`: the Deployment, ReplicaSet, ReplicationController, Job,
//! CronJob, StatefulSet and DaemonSet controllers; and in another, `endpoints`: the Endpoints and
//! EndpointSlice controllers.

mod endpoints;
mod garbage_collector;
mod namespace;
mod pod_gc;
mod resource_quota;
mod service_account;
mod workloads;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::ApiError;
use crate::kinds::ResourceType;
use crate::meta;
use crate::registry::{Cluster, DeleteOptions, INITIAL_NAMESPACES, Propagation, deletion_complete};
use crate::storage::{EventType, ObjectKey, Preconditions, StoreError, StoreEvent};

/// How often `pod_gc` looks for pods whose grace period ran out, and quotas are recounted.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// What the controllers make before the cluster serves, so that clients find it at once: the
/// `default` service account of each initial namespace.
pub async fn bootstrap(cluster: &Cluster) -> Result<(), ApiError> {
    for namespace in INITIAL_NAMESPACES {
        service_account::ensure_default(cluster, namespace).await?;
    }
    Ok(())
}

/// Runs the controllers until `shutdown` resolves.
pub async fn run(cluster: Cluster, shutdown: impl std::future::Future<Output = ()>) {
    let workloads = workloads::run(cluster.clone(), std::future::pending());
    let endpoints = endpoints::run(cluster.clone(), std::future::pending());
    tokio::select! {
        _ = run_api_controllers(cluster, shutdown) => {}
        _ = workloads => {}
        _ = endpoints => {}
    }
}

/// The controllers the API's semantics rely on, in one loop.
async fn run_api_controllers(cluster: Cluster, shutdown: impl std::future::Future<Output = ()>) {
    let mut events = match cluster.store().watch(None, None, None) {
        Ok(events) => events,
        Err(error) => {
            tracing::error!(%error, "the controllers cannot watch storage");
            return;
        }
    };
    let quotas = resource_quota::Dirty::default();
    let dependents = garbage_collector::Dependents::default();
    // Whatever was pending before a restart, with every object's owners known first.
    let stored: Vec<StoreEvent> = cluster
        .store()
        .list_all()
        .into_iter()
        .map(|(resource, object)| StoreEvent {
            event_type: EventType::Added,
            resource,
            object,
            previous: None,
        })
        .collect();
    for event in &stored {
        dependents.follow(event);
    }
    for event in &stored {
        handle(&cluster, &quotas, &dependents, event).await;
    }
    let mut ticker = tokio::time::interval(REAP_INTERVAL);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            event = events.recv() => {
                let Some(event) = event else { return };
                handle(&cluster, &quotas, &dependents, &event).await;
            }
            _ = ticker.tick() => {
                pod_gc::reap(&cluster).await;
                resource_quota::tick(&cluster, &quotas);
            }
        }
    }
}

/// One change, handed to each controller in turn.
async fn handle(
    cluster: &Cluster,
    quotas: &resource_quota::Dirty,
    dependents: &garbage_collector::Dependents,
    event: &StoreEvent,
) {
    service_account::handle(cluster, event).await;
    resource_quota::handle(cluster, quotas, event);
    garbage_collector::handle(cluster, dependents, event).await;
    namespace::handle(cluster, event).await;
}

async fn delete_object(
    cluster: &Cluster,
    resource_key: &str,
    object: &Value,
    propagation: Propagation,
) {
    let Some(resource) = cluster.kinds().by_storage_key(resource_key) else {
        return;
    };
    let options = DeleteOptions {
        propagation: Some(propagation),
        preconditions: Preconditions {
            uid: Some(meta::uid(object).to_string()),
            resource_version: None,
        },
        ..Default::default()
    };
    if let Err(error) = cluster
        .delete(
            &resource,
            meta::namespace(object),
            meta::name(object),
            &options,
        )
        .await
        && error.code != 404
        && error.code != 409
    {
        tracing::warn!(%error, object = meta::name(object), "garbage collection could not delete a dependent");
    }
}

fn finish_if_complete(cluster: &Cluster, resource: &ResourceType, key: &ObjectKey, stored: &Value) {
    if deletion_complete(stored) {
        let preconditions = Preconditions {
            uid: Some(meta::uid(stored).to_string()),
            resource_version: None,
        };
        if let Ok(deleted) = cluster.store().delete(key, &preconditions) {
            cluster.after_delete(resource, &deleted);
        }
    }
}

/// Read-modify-write of a stored object, retried on conflicts; the stored result, if any.
fn modify(cluster: &Cluster, key: &ObjectKey, change: impl Fn(&mut Value)) -> Option<Arc<Value>> {
    loop {
        let current = cluster.store().get(key)?;
        let mut object = Value::clone(&current);
        change(&mut object);
        match cluster
            .store()
            .update(key, object, Some(meta::resource_version(&current)))
        {
            Ok(stored) => return Some(stored),
            Err(StoreError::Conflict { .. }) => continue,
            Err(error) => {
                tracing::warn!(%error, name = key.name, "could not update during garbage collection");
                return None;
            }
        }
    }
}
