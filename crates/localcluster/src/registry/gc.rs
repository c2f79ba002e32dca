//! The controllers the real control plane runs for the API's own semantics: the garbage collector
//! (dependents of deleted owners, `orphan` and `foregroundDeletion` finalizers), the namespace
//! controller (emptying terminating namespaces, default service accounts) and the end of graceful
//! pod deletions whose grace period ran out with nobody confirming them.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use super::{Cluster, DeleteOptions, Propagation};
use crate::kinds::ResourceType;
use crate::meta;
use crate::storage::{EventType, ObjectKey, Preconditions, StoreError, StoreEvent};

const REAP_INTERVAL: Duration = Duration::from_secs(1);

pub(super) async fn run(cluster: Cluster, shutdown: impl std::future::Future<Output = ()>) {
    let mut events = match cluster.store().watch(None, None, None) {
        Ok(events) => events,
        Err(error) => {
            tracing::error!(%error, "garbage collector cannot watch the store");
            return;
        }
    };
    // Whatever was pending before a restart.
    for (resource, object) in cluster.store().list_all() {
        let event = StoreEvent {
            event_type: EventType::Added,
            resource,
            object,
            previous: None,
        };
        handle(&cluster, &event).await;
    }
    let mut ticker = tokio::time::interval(REAP_INTERVAL);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            event = events.recv() => {
                let Some(event) = event else { return };
                handle(&cluster, &event).await;
            }
            _ = ticker.tick() => reap_pods(&cluster).await,
        }
    }
}

async fn handle(cluster: &Cluster, event: &StoreEvent) {
    let object = &event.object;
    let namespace = meta::namespace(object);
    match event.event_type {
        EventType::Deleted => {
            collect_dependents(cluster, meta::uid(object)).await;
            for reference in meta::owner_references(object) {
                if let Some((resource, owner)) = find_owner(cluster, namespace, reference)
                    && meta::finalizers(&owner)
                        .iter()
                        .any(|f| f == FOREGROUND_FINALIZER)
                {
                    finish_foreground(cluster, &resource, &owner).await;
                }
            }
            if !namespace.is_empty() {
                sweep_namespace(cluster, namespace).await;
            }
        }
        EventType::Added | EventType::Modified => {
            if meta::deletion_timestamp(object).is_some() {
                let finalizers = meta::finalizers(object);
                let Some(resource) = cluster.kinds().by_storage_key(&event.resource) else {
                    return;
                };
                if finalizers.iter().any(|f| f == ORPHAN_FINALIZER) {
                    orphan_dependents(cluster, &resource, object).await;
                }
                if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                    finish_foreground(cluster, &resource, object).await;
                }
                if event.resource == "namespaces" {
                    sweep_namespace(cluster, meta::name(object)).await;
                }
                return;
            }
            if event.event_type == EventType::Added && event.resource == "namespaces" {
                let name = meta::name(object);
                if let Err(error) = cluster.ensure_default_service_account(name).await {
                    tracing::debug!(%error, namespace = name, "no default service account");
                }
            }
            let owners_changed = event.previous.as_ref().is_none_or(|previous| {
                meta::owner_references(previous) != meta::owner_references(object)
            });
            if owners_changed && !meta::owner_references(object).is_empty() {
                delete_if_orphaned(cluster, &event.resource, object).await;
            }
        }
    }
}

/// The owner an ownerReference points to, if it exists with that uid.
fn find_owner(
    cluster: &Cluster,
    namespace: &str,
    reference: &Value,
) -> Option<(Arc<ResourceType>, Arc<Value>)> {
    let api_version = reference.get("apiVersion")?.as_str()?;
    let kind = reference.get("kind")?.as_str()?;
    let resource = cluster.kinds().by_kind(api_version, kind)?;
    let name = reference.get("name")?.as_str()?;
    let namespace = if resource.namespaced { namespace } else { "" };
    let owner = cluster
        .store()
        .get(&ObjectKey::new(&resource.storage, namespace, name))?;
    (meta::uid(&owner) == reference.get("uid")?.as_str()?).then_some((resource, owner))
}

fn references_uid(object: &Value, uid: &str) -> bool {
    meta::owner_references(object)
        .iter()
        .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
}

fn dependents_of(cluster: &Cluster, uid: &str) -> Vec<(String, Arc<Value>)> {
    if uid.is_empty() {
        return Vec::new();
    }
    cluster
        .store()
        .list_all()
        .into_iter()
        .filter(|(_, object)| references_uid(object, uid))
        .collect()
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

/// Dependents of an owner that is gone: deleted when no other owner remains, otherwise the
/// dangling reference is dropped.
async fn collect_dependents(cluster: &Cluster, owner_uid: &str) {
    for (resource, dependent) in dependents_of(cluster, owner_uid) {
        delete_if_orphaned(cluster, &resource, &dependent).await;
    }
}

async fn delete_if_orphaned(cluster: &Cluster, resource: &str, object: &Value) {
    let namespace = meta::namespace(object);
    let references = meta::owner_references(object);
    let mut dangling = Vec::new();
    for reference in references {
        let resolvable = reference
            .get("apiVersion")
            .and_then(Value::as_str)
            .zip(reference.get("kind").and_then(Value::as_str))
            .is_some_and(|(v, k)| cluster.kinds().by_kind(v, k).is_some());
        if !resolvable {
            // An owner of a kind this server does not serve cannot be checked: keep the object.
            return;
        }
        if find_owner(cluster, namespace, reference).is_none() {
            dangling.push(
                reference
                    .get("uid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    if dangling.is_empty() {
        return;
    }
    if dangling.len() == references.len() {
        delete_object(cluster, resource, object, Propagation::Background).await;
    } else {
        remove_owner_references(cluster, resource, object, &dangling);
    }
}

fn remove_owner_references(cluster: &Cluster, resource: &str, object: &Value, uids: &[String]) {
    let key = ObjectKey::new(resource, meta::namespace(object), meta::name(object));
    modify(cluster, &key, |current| {
        let kept: Vec<Value> = meta::owner_references(current)
            .iter()
            .filter(|r| {
                !uids
                    .iter()
                    .any(|uid| r.get("uid").and_then(Value::as_str) == Some(uid))
            })
            .cloned()
            .collect();
        let metadata = meta::metadata_mut(current);
        if kept.is_empty() {
            metadata.remove("ownerReferences");
        } else {
            metadata.insert("ownerReferences".into(), Value::Array(kept));
        }
    });
}

/// Owner deleted with `propagationPolicy: Orphan`: its dependents lose the reference, then the
/// owner loses its `orphan` finalizer.
async fn orphan_dependents(cluster: &Cluster, resource: &ResourceType, owner: &Value) {
    let uid = meta::uid(owner).to_string();
    for (dependent_resource, dependent) in dependents_of(cluster, &uid) {
        remove_owner_references(
            cluster,
            &dependent_resource,
            &dependent,
            std::slice::from_ref(&uid),
        );
    }
    remove_finalizer(cluster, resource, owner, ORPHAN_FINALIZER);
}

/// Owner deleted with `propagationPolicy: Foreground`: its dependents are deleted, and it goes
/// once none with `blockOwnerDeletion` is left.
async fn finish_foreground(cluster: &Cluster, resource: &ResourceType, owner: &Value) {
    let uid = meta::uid(owner).to_string();
    let dependents = dependents_of(cluster, &uid);
    for (dependent_resource, dependent) in &dependents {
        if meta::deletion_timestamp(dependent).is_none() {
            delete_object(
                cluster,
                dependent_resource,
                dependent,
                Propagation::Foreground,
            )
            .await;
        }
    }
    let blocking = dependents_of(cluster, &uid).iter().any(|(_, dependent)| {
        meta::owner_references(dependent).iter().any(|r| {
            r.get("uid").and_then(Value::as_str) == Some(uid.as_str())
                && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
        })
    });
    if !blocking {
        remove_finalizer(cluster, resource, owner, FOREGROUND_FINALIZER);
    }
}

fn remove_finalizer(cluster: &Cluster, resource: &ResourceType, object: &Value, finalizer: &str) {
    let key = ObjectKey::new(
        &resource.storage,
        meta::namespace(object),
        meta::name(object),
    );
    let stored = modify(cluster, &key, |current| {
        let kept: Vec<String> = meta::finalizers(current)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        meta::set_finalizers(current, &kept);
    });
    if let Some(stored) = stored {
        finish_if_complete(cluster, resource, &key, &stored);
    }
}

fn finish_if_complete(cluster: &Cluster, resource: &ResourceType, key: &ObjectKey, stored: &Value) {
    if super::delete::deletion_complete(stored) {
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

/// A terminating namespace: delete what is in it; once empty, drop its `kubernetes` finalizer so
/// that it goes too.
async fn sweep_namespace(cluster: &Cluster, name: &str) {
    let key = ObjectKey::new("namespaces", "", name);
    let Some(namespace) = cluster.store().get(&key) else {
        return;
    };
    if meta::deletion_timestamp(&namespace).is_none() {
        return;
    }
    let mut remaining = false;
    let mut seen = std::collections::BTreeSet::new();
    for resource in cluster.kinds().all() {
        let qualified = resource.storage.clone();
        if !resource.namespaced || !seen.insert(qualified.clone()) {
            continue;
        }
        let (items, _) = cluster.store().list(&qualified, Some(name));
        for item in items {
            remaining = true;
            if meta::deletion_timestamp(&item).is_none() {
                delete_object(cluster, &qualified, &item, Propagation::Background).await;
            }
        }
    }
    if remaining
        && cluster
            .store()
            .list_all()
            .iter()
            .any(|(_, o)| meta::namespace(o) == name)
    {
        return;
    }
    let Some(namespaces) = cluster.kinds().by_storage_key("namespaces") else {
        return;
    };
    if let Some(stored) = modify(cluster, &key, |current| {
        current["spec"]["finalizers"] = Value::Array(Vec::new());
    }) {
        finish_if_complete(cluster, &namespaces, &key, &stored);
    }
}

/// Pods whose grace period ended without a kubelet confirming the deletion are removed.
async fn reap_pods(cluster: &Cluster) {
    let (pods, _) = cluster.store().list("pods", None);
    let now = jiff::Timestamp::now();
    let Some(resource) = cluster.kinds().by_storage_key("pods") else {
        return;
    };
    for pod in pods {
        let Some(deadline) =
            meta::deletion_timestamp(&pod).and_then(|t| t.parse::<jiff::Timestamp>().ok())
        else {
            continue;
        };
        let grace = meta::value_at(&pod, &["metadata", "deletionGracePeriodSeconds"])
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if grace == 0 || deadline > now {
            continue;
        }
        let key = ObjectKey::new("pods", meta::namespace(&pod), meta::name(&pod));
        if let Some(stored) = modify(cluster, &key, |current| {
            meta::set_meta(current, "deletionGracePeriodSeconds", 0)
        }) {
            finish_if_complete(cluster, &resource, &key, &stored);
        }
    }
}
