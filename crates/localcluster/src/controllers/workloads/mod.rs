//! The workload controllers of kube-controller-manager: Deployments make ReplicaSets, ReplicaSets
//! and ReplicationControllers keep their number of pods, Jobs run pods to completion, CronJobs
//! make Jobs on schedule, StatefulSets keep ordinal pods and DaemonSets one pod per node.
//!
//! Each controller is a reconcile of one object from what storage holds now: read the object and
//! what it owns, take one step (create, scale, delete), write its status. Every write is a change
//! that comes back through the watch and queues the owner again, so a rollout advances step by
//! step as the kubelets report pods ready, as in Kubernetes. Reading storage directly, the
//! controllers always see their own writes: Kubernetes' informer caches and "expectations" that
//! guard against stale reads are not needed.
//!
//! The decisions (how many to create or delete, which, the next step of a rollout, the next
//! scheduled time) are pure functions in each controller's module, unit-tested apart from I/O.

mod cron_job;
mod daemon_plan;
mod daemon_set;
mod deployment;
mod history;
mod job;
mod pods;
mod replica_set;
mod rollout;
mod stateful_plan;
mod stateful_set;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::registry::{Cluster, DeleteOptions, Propagation, WriteOptions};
use crate::storage::{Preconditions, StoreEvent};

/// The field manager of the controllers' writes, as kube-controller-manager's.
const MANAGER: &str = "kube-controller-manager";

/// How often every workload is looked at again without a change: time alone moves availability
/// (`minReadySeconds`), deadlines, schedules and TTLs.
const RESYNC: Duration = Duration::from_secs(1);

/// The kinds with a controller here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Deployment,
    ReplicaSet,
    ReplicationController,
    Job,
    CronJob,
    StatefulSet,
    DaemonSet,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::CronJob,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::ReplicationController,
        Kind::Job,
        Kind::StatefulSet,
        Kind::DaemonSet,
    ];

    fn storage_key(self) -> &'static str {
        match self {
            Kind::Deployment => "deployments.apps",
            Kind::ReplicaSet => "replicasets.apps",
            Kind::ReplicationController => "replicationcontrollers",
            Kind::Job => "jobs.batch",
            Kind::CronJob => "cronjobs.batch",
            Kind::StatefulSet => "statefulsets.apps",
            Kind::DaemonSet => "daemonsets.apps",
        }
    }

    fn of_storage_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.storage_key() == key)
    }

    fn of_owner_kind(kind: &str) -> Option<Kind> {
        match kind {
            "Deployment" => Some(Kind::Deployment),
            "ReplicaSet" => Some(Kind::ReplicaSet),
            "ReplicationController" => Some(Kind::ReplicationController),
            "Job" => Some(Kind::Job),
            "CronJob" => Some(Kind::CronJob),
            "StatefulSet" => Some(Kind::StatefulSet),
            "DaemonSet" => Some(Kind::DaemonSet),
            _ => None,
        }
    }
}

/// One object to reconcile.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    kind: Kind,
    namespace: String,
    name: String,
}

/// The objects a change asks to look at: a workload itself, and the controller of what changed.
fn targets_of(event: &StoreEvent) -> Vec<Target> {
    let object = &event.object;
    let namespace = meta::namespace(object).to_string();
    let mut targets = Vec::new();
    if let Some(kind) = Kind::of_storage_key(&event.resource) {
        targets.push(Target {
            kind,
            namespace: namespace.clone(),
            name: meta::name(object).to_string(),
        });
    }
    for reference in meta::owner_references(object) {
        if reference["controller"] != true {
            continue;
        }
        if let (Some(kind), Some(name)) = (
            reference["kind"].as_str().and_then(Kind::of_owner_kind),
            reference["name"].as_str(),
        ) {
            targets.push(Target {
                kind,
                namespace: namespace.clone(),
                name: name.to_string(),
            });
        }
    }
    targets
}

/// Every workload object, for a resync.
fn all_targets(cluster: &Cluster) -> BTreeSet<Target> {
    Kind::ALL
        .into_iter()
        .flat_map(|kind| {
            let (objects, _) = cluster.store().list(kind.storage_key(), None);
            objects.into_iter().map(move |object| Target {
                kind,
                namespace: meta::namespace(&object).to_string(),
                name: meta::name(&object).to_string(),
            })
        })
        .collect()
}

/// Runs the workload controllers until `shutdown` resolves.
pub(super) async fn run(cluster: Cluster, shutdown: impl std::future::Future<Output = ()>) {
    let mut events = match cluster.store().watch(None, None, None) {
        Ok(events) => events,
        Err(error) => {
            tracing::error!(%error, "the workload controllers cannot watch storage");
            return;
        }
    };
    let mut dirty = all_targets(&cluster);
    let mut ticker = tokio::time::interval(RESYNC);
    tokio::pin!(shutdown);
    loop {
        for target in std::mem::take(&mut dirty) {
            reconcile(&cluster, &target).await;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            event = events.recv() => {
                let Some(event) = event else { return };
                dirty.extend(targets_of(&event));
                while let Ok(event) = events.try_recv() {
                    dirty.extend(targets_of(&event));
                }
            }
            _ = ticker.tick() => dirty.extend(all_targets(&cluster)),
        }
    }
}

async fn reconcile(cluster: &Cluster, target: &Target) {
    let key =
        crate::storage::ObjectKey::new(target.kind.storage_key(), &target.namespace, &target.name);
    let live = cluster
        .store()
        .get(&key)
        .filter(|object| meta::deletion_timestamp(object).is_none());
    let Some(object) = live else {
        if target.kind == Kind::Job {
            job::release_orphans(cluster, &target.namespace, &target.name).await;
        }
        return;
    };
    let result = match target.kind {
        Kind::Deployment => deployment::reconcile(cluster, &object).await,
        Kind::ReplicaSet | Kind::ReplicationController => {
            replica_set::reconcile(cluster, &object).await
        }
        Kind::Job => job::reconcile(cluster, &object).await,
        Kind::CronJob => cron_job::reconcile(cluster, &object).await,
        Kind::StatefulSet => stateful_set::reconcile(cluster, &object).await,
        Kind::DaemonSet => daemon_set::reconcile(cluster, &object).await,
    };
    if let Err(error) = result
        && error.code != 409
        && error.code != 404
    {
        tracing::debug!(%error, kind = ?target.kind, name = target.name, "reconcile failed");
    }
}

/// The objects of `storage_key` in `namespace` whose controller is `owner`.
fn owned(cluster: &Cluster, storage_key: &str, owner: &Value) -> Vec<Arc<Value>> {
    let uid = meta::uid(owner);
    let (objects, _) = cluster
        .store()
        .list(storage_key, Some(meta::namespace(owner)));
    objects
        .into_iter()
        .filter(|o| pods::controller_uid(o) == Some(uid))
        .collect()
}

fn options() -> WriteOptions {
    WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..WriteOptions::default()
    }
}

async fn create(cluster: &Cluster, plural: (&str, &str), object: Value) -> Result<Value, ApiError> {
    let resource = cluster.resource(plural.0, plural.1)?;
    let namespace = meta::namespace(&object).to_string();
    cluster
        .create(&resource, &namespace, object, &options())
        .await
}

/// Replaces `object` (as read, changed by the caller) where it is stored, if still unchanged.
async fn update(cluster: &Cluster, object: Value) -> Result<Value, ApiError> {
    let (resource, namespace, name) = located(cluster, &object)?;
    cluster
        .update(&resource, &namespace, &name, object, &options())
        .await
}

/// Writes `status` as the object's status unless it already is.
async fn write_status(cluster: &Cluster, object: &Value, status: Value) -> Result<(), ApiError> {
    if object["status"] == status {
        return Ok(());
    }
    let (resource, namespace, name) = located(cluster, object)?;
    let mut changed = object.clone();
    changed["status"] = status;
    let options = WriteOptions {
        subresource: Some("status".into()),
        ..options()
    };
    cluster
        .update(&resource, &namespace, &name, changed, &options)
        .await
        .map(|_| ())
}

/// Deletes an object in the background, as a controller deletes what it owns.
async fn delete(cluster: &Cluster, object: &Value) -> Result<(), ApiError> {
    let (resource, namespace, name) = located(cluster, object)?;
    let options = DeleteOptions {
        propagation: Some(Propagation::Background),
        preconditions: Preconditions {
            uid: Some(meta::uid(object).to_string()),
            resource_version: None,
        },
        ..Default::default()
    };
    match cluster.delete(&resource, &namespace, &name, &options).await {
        Err(error) if error.code != 404 => Err(error),
        _ => Ok(()),
    }
}

fn located(
    cluster: &Cluster,
    object: &Value,
) -> Result<(Arc<crate::kinds::ResourceType>, String, String), ApiError> {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let kind = object["kind"].as_str().unwrap_or_default();
    let resource = cluster.resource_for_kind(api_version, kind)?;
    Ok((
        resource,
        meta::namespace(object).to_string(),
        meta::name(object).to_string(),
    ))
}

/// An integer field, 0 when absent.
fn int(object: &Value, path: &[&str]) -> i64 {
    meta::value_at(object, path)
        .and_then(Value::as_i64)
        .unwrap_or(0)
}
