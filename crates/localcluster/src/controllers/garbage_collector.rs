//! The garbage collector: an object whose owners (its `ownerReferences`) are all gone is deleted,
//! and a reference to an owner that is gone is dropped while others remain. An owner deleted with
//! `propagationPolicy: Orphan` keeps the `orphan` finalizer until its dependents lose their
//! references to it; one deleted with `Foreground` keeps `foregroundDeletion` until its dependents
//! that block it are gone. Owners of kinds this server does not serve are treated as present.
//!
//! Dependents are found through [`Dependents`], an index of ownerReferences by owner uid kept from
//! the same stream of changes, as kube-controller-manager keeps its dependency graph: scanning
//! every object for each deletion made deleting N objects cost N² (at 10,000 applications in
//! one cluster, most of the API server's CPU).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{delete_object, finish_if_complete, modify};
use crate::kinds::ResourceType;
use crate::meta;
use crate::registry::{Cluster, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation};
use crate::storage::{EventType, ObjectKey, StoreEvent};

/// The dependents of each owner uid, by where they are stored.
#[derive(Debug, Default)]
pub(super) struct Dependents {
    by_owner: Mutex<HashMap<String, HashSet<ObjectKey>>>,
}

impl Dependents {
    /// Follows one change: the object's references as they are now.
    pub(super) fn follow(&self, event: &StoreEvent) {
        let key = ObjectKey::new(
            &event.resource,
            meta::namespace(&event.object),
            meta::name(&event.object),
        );
        let Ok(mut by_owner) = self.by_owner.lock() else {
            return;
        };
        let previous = event.previous.as_deref().into_iter();
        for old in previous.chain(std::iter::once(event.object.as_ref())) {
            for uid in owner_uids(old) {
                if let Some(dependents) = by_owner.get_mut(uid) {
                    dependents.remove(&key);
                    if dependents.is_empty() {
                        by_owner.remove(uid);
                    }
                }
            }
        }
        if event.event_type != EventType::Deleted {
            for uid in owner_uids(&event.object) {
                by_owner
                    .entry(uid.to_string())
                    .or_default()
                    .insert(key.clone());
            }
        }
    }

    fn of(&self, uid: &str) -> Vec<ObjectKey> {
        self.by_owner
            .lock()
            .ok()
            .and_then(|by_owner| by_owner.get(uid).map(|keys| keys.iter().cloned().collect()))
            .unwrap_or_default()
    }
}

fn owner_uids(object: &Value) -> impl Iterator<Item = &str> {
    meta::owner_references(object)
        .iter()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

pub(super) async fn handle(cluster: &Cluster, dependents: &Dependents, event: &StoreEvent) {
    dependents.follow(event);
    let object = &event.object;
    let namespace = meta::namespace(object);
    match event.event_type {
        EventType::Deleted => {
            collect_dependents(cluster, dependents, meta::uid(object)).await;
            for reference in meta::owner_references(object) {
                if let Some((resource, owner)) = find_owner(cluster, namespace, reference)
                    && meta::finalizers(&owner)
                        .iter()
                        .any(|f| f == FOREGROUND_FINALIZER)
                {
                    finish_foreground(cluster, dependents, &resource, &owner).await;
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
                    orphan_dependents(cluster, dependents, &resource, object).await;
                }
                if finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) {
                    finish_foreground(cluster, dependents, &resource, object).await;
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

/// The stored objects that reference `uid`, as they are now.
fn dependents_of(
    cluster: &Cluster,
    dependents: &Dependents,
    uid: &str,
) -> Vec<(String, Arc<Value>)> {
    if uid.is_empty() {
        return Vec::new();
    }
    dependents
        .of(uid)
        .into_iter()
        .filter_map(|key| Some((key.resource.clone(), cluster.store().get(&key)?)))
        .filter(|(_, object)| references_uid(object, uid))
        .collect()
}

/// Dependents of an owner that is gone: deleted when no other owner remains, otherwise the
/// dangling reference is dropped.
async fn collect_dependents(cluster: &Cluster, dependents: &Dependents, owner_uid: &str) {
    for (resource, dependent) in dependents_of(cluster, dependents, owner_uid) {
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
async fn orphan_dependents(
    cluster: &Cluster,
    dependents: &Dependents,
    resource: &ResourceType,
    owner: &Value,
) {
    let uid = meta::uid(owner).to_string();
    for (dependent_resource, dependent) in dependents_of(cluster, dependents, &uid) {
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
async fn finish_foreground(
    cluster: &Cluster,
    index: &Dependents,
    resource: &ResourceType,
    owner: &Value,
) {
    let uid = meta::uid(owner).to_string();
    let dependents = dependents_of(cluster, index, &uid);
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
    let blocking = dependents_of(cluster, index, &uid)
        .iter()
        .any(|(_, dependent)| {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(event_type: EventType, object: Value, previous: Option<Value>) -> StoreEvent {
        StoreEvent {
            event_type,
            resource: "pods".into(),
            object: Arc::new(object),
            previous: previous.map(Arc::new),
        }
    }

    fn pod(owners: &[&str]) -> Value {
        let references: Vec<Value> = owners.iter().map(|uid| json!({"uid": uid})).collect();
        json!({"metadata": {"name": "p", "namespace": "ns", "ownerReferences": references}})
    }

    #[test]
    fn the_index_follows_references_as_they_change_and_go() {
        let index = Dependents::default();
        let key = ObjectKey::new("pods", "ns", "p");
        index.follow(&event(EventType::Added, pod(&["a", "b"]), None));
        assert_eq!(index.of("a"), vec![key.clone()]);
        assert_eq!(index.of("b"), vec![key.clone()]);
        index.follow(&event(
            EventType::Modified,
            pod(&["b", "c"]),
            Some(pod(&["a", "b"])),
        ));
        assert!(index.of("a").is_empty(), "a reference dropped");
        assert_eq!(index.of("c"), vec![key.clone()]);
        index.follow(&event(EventType::Deleted, pod(&["b", "c"]), None));
        assert!(index.of("b").is_empty() && index.of("c").is_empty());
        assert!(index.by_owner.lock().unwrap().is_empty(), "nothing left");
    }
}
