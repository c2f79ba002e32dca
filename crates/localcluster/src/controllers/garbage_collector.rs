//! The garbage collector: an object whose owners (its `ownerReferences`) are all gone is deleted,
//! and a reference to an owner that is gone is dropped while others remain. An owner deleted with
//! `propagationPolicy: Orphan` keeps the `orphan` finalizer until its dependents lose their
//! references to it; one deleted with `Foreground` keeps `foregroundDeletion` until its dependents
//! that block it are gone. Owners of kinds this server does not serve are treated as present.

use std::sync::Arc;

use serde_json::Value;

use super::{delete_object, finish_if_complete, modify};
use crate::kinds::ResourceType;
use crate::meta;
use crate::registry::{Cluster, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation};
use crate::storage::{EventType, ObjectKey, StoreEvent};

pub(super) async fn handle(cluster: &Cluster, event: &StoreEvent) {
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
                return;
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
