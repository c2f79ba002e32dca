//! The namespace controller: once a namespace is terminating (its deletion was asked for), every
//! object in it is deleted; when none is left, its `kubernetes` finalizer is dropped and it goes.

use serde_json::Value;

use super::{delete_object, finish_if_complete, modify};
use crate::meta;
use crate::registry::{Cluster, Propagation};
use crate::storage::{EventType, ObjectKey, StoreEvent};

pub(super) async fn handle(cluster: &Cluster, event: &StoreEvent) {
    let object = &event.object;
    match event.event_type {
        // An object leaving a terminating namespace may be the last one.
        EventType::Deleted => {
            let namespace = meta::namespace(object);
            if !namespace.is_empty() {
                sweep_namespace(cluster, namespace).await;
            }
        }
        EventType::Added | EventType::Modified => {
            if event.resource == "namespaces" && meta::deletion_timestamp(object).is_some() {
                sweep_namespace(cluster, meta::name(object)).await;
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
