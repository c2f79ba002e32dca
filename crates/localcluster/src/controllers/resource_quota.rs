//! The resource quota controller: a quota's `status.hard` follows its spec and `status.used` is
//! what its namespace uses, recounted from the objects there. A new or changed quota is counted
//! at once; a change to anything in a namespace that has quotas marks the namespace, and marked
//! namespaces are recounted on the controllers' tick, so that what quota admission charged for an
//! object that was then not stored, and what ended pods and deleted objects no longer use, is
//! given back within a second.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::meta;
use crate::quantity::{self, ResourceList};
use crate::quota;
use crate::registry::Cluster;
use crate::storage::{EventType, ObjectKey, StoreError, StoreEvent};

/// Namespaces to recount on the next tick.
#[derive(Default)]
pub(super) struct Dirty {
    namespaces: Mutex<BTreeSet<String>>,
}

impl Dirty {
    fn mark(&self, namespace: &str) {
        self.namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(namespace.to_string());
    }

    fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.namespaces.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

pub(super) fn handle(cluster: &Cluster, dirty: &Dirty, event: &StoreEvent) {
    let namespace = meta::namespace(&event.object);
    if namespace.is_empty() {
        return;
    }
    if event.resource == "resourcequotas" {
        let quota = &event.object;
        let changed = quota["status"]["hard"].is_null()
            || quantity::resource_list(&quota["spec"]["hard"]) != quota::hard(quota);
        if event.event_type != EventType::Deleted && changed {
            recount(cluster, namespace, Some(meta::name(quota)));
        }
        return;
    }
    let (quotas, _) = cluster.store().list("resourcequotas", Some(namespace));
    if !quotas.is_empty() {
        dirty.mark(namespace);
    }
}

/// Recounts the marked namespaces.
pub(super) fn tick(cluster: &Cluster, dirty: &Dirty) {
    for namespace in dirty.take() {
        recount(cluster, &namespace, None);
    }
}

/// Recounts the quotas of `namespace` (only `only`, when given).
fn recount(cluster: &Cluster, namespace: &str, only: Option<&str>) {
    let (quotas, _) = cluster.store().list("resourcequotas", Some(namespace));
    for quota in quotas {
        if only.is_some_and(|name| name != meta::name(&quota)) {
            continue;
        }
        let key = ObjectKey::new("resourcequotas", namespace, meta::name(&quota));
        let mut current = quota;
        loop {
            let status = status_of(cluster, &current);
            if current["status"] == status {
                break;
            }
            let mut updated = Value::clone(&current);
            updated["status"] = status;
            match cluster
                .store()
                .update(&key, updated, Some(meta::resource_version(&current)))
            {
                Err(StoreError::Conflict { .. }) => match cluster.store().get(&key) {
                    Some(again) => current = again,
                    None => break,
                },
                Err(error) => {
                    tracing::warn!(%error, quota = key.name, "could not update quota status");
                    break;
                }
                Ok(_) => break,
            }
        }
    }
}

/// `hard` from the spec and `used` counted from the namespace's objects.
fn status_of(cluster: &Cluster, quota: &Arc<Value>) -> Value {
    let hard = quantity::resource_list(&quota["spec"]["hard"]);
    let namespace = meta::namespace(quota);
    let mut used = ResourceList::new();
    for evaluator in quota::evaluators_of(&hard) {
        let matching = evaluator.matching(hard.keys());
        let (objects, _) = cluster.store().list(evaluator.storage(), Some(namespace));
        let mut total = ResourceList::new();
        for object in objects.iter().filter(|o| evaluator.in_scopes(quota, o)) {
            total = quantity::add(&total, &evaluator.usage(object));
        }
        for name in matching {
            let counted = total
                .get(&name)
                .copied()
                .unwrap_or_else(crate::quantity::Quantity::zero);
            used.insert(name, counted);
        }
    }
    json!({"hard": quantity::to_json(&hard), "used": quantity::to_json(&used)})
}
