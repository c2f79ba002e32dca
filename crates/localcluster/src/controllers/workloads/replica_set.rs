//! The replica set controller, for ReplicaSets and ReplicationControllers alike: it keeps
//! `spec.replicas` active pods (not ended, not being deleted), making new ones from the template
//! when pods are deleted or fail and deleting the ones Kubernetes would pick first when there are
//! too many, and reports how many there are, are ready and are available.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::pods::{self, deletion_order, is_active, is_available, is_ready};
use super::{create, delete, int, owned, write_status};
use crate::error::ApiError;
use crate::meta;
use crate::registry::Cluster;

/// Pods made or deleted in one pass at most, as the controller's `burstReplicas`.
const BURST: usize = 500;

/// What one pass does to the pods.
#[derive(Debug, PartialEq)]
pub enum Change {
    Create(usize),
    /// Delete the first n pods in deletion order.
    Delete(usize),
    None,
}

/// How many pods to make or remove so that `active` becomes `desired`.
pub fn change(desired: i64, active: usize) -> Change {
    let desired = desired.max(0) as usize;
    if active < desired {
        Change::Create((desired - active).min(BURST))
    } else if active > desired {
        Change::Delete((active - desired).min(BURST))
    } else {
        Change::None
    }
}

/// The status of a replica set with these pods: counts of the active ones, the conditions kept.
pub fn status_of(set: &Value, pods: &[Arc<Value>], now: jiff::Timestamp) -> Value {
    let min_ready = int(set, &["spec", "minReadySeconds"]);
    let template_labels = meta::value_at(set, &["spec", "template", "metadata", "labels"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let active: Vec<&Value> = pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| is_active(p))
        .collect();
    let count = |keep: &dyn Fn(&Value) -> bool| active.iter().filter(|p| keep(p)).count();
    let fully_labeled = count(&|p| {
        template_labels
            .iter()
            .all(|(k, v)| p["metadata"]["labels"].get(k) == Some(v))
    });
    let mut status = Map::new();
    status.insert("replicas".into(), json!(active.len()));
    for (field, value) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", count(&|p| is_ready(p))),
        (
            "availableReplicas",
            count(&|p| is_available(p, min_ready, now)),
        ),
    ] {
        if value > 0 {
            status.insert(field.into(), json!(value));
        }
    }
    let generation = int(set, &["metadata", "generation"]);
    if generation > 0 {
        status.insert("observedGeneration".into(), json!(generation));
    }
    if let Some(conditions) = set["status"].get("conditions") {
        status.insert("conditions".into(), conditions.clone());
    }
    Value::Object(status)
}

pub(super) async fn reconcile(cluster: &Cluster, set: &Value) -> Result<(), ApiError> {
    let owned_pods = owned(cluster, "pods", set);
    let active: Vec<&Value> = owned_pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| is_active(p))
        .collect();
    let mut failure = None;
    match change(int(set, &["spec", "replicas"]), active.len()) {
        Change::Create(n) => {
            let template = &set["spec"]["template"];
            for _ in 0..n {
                let pod = pods::from_template(set, template, None);
                let pod = with_namespace(pod, meta::namespace(set));
                if let Err(error) = create(cluster, ("v1", "pods"), pod).await {
                    failure = Some(error);
                    break;
                }
            }
        }
        Change::Delete(n) => {
            let mut victims = active.clone();
            deletion_order(&mut victims);
            for pod in victims.into_iter().take(n) {
                delete(cluster, pod).await?;
            }
        }
        Change::None => {}
    }
    let mut status = status_of(set, &owned_pods, jiff::Timestamp::now());
    set_replica_failure(&mut status, failure.as_ref());
    write_status(cluster, set, status).await?;
    failure.map_or(Ok(()), Err)
}

pub(super) fn with_namespace(mut object: Value, namespace: &str) -> Value {
    meta::set_meta(&mut object, "namespace", namespace);
    object
}

/// The `ReplicaFailure` condition: set with the refusal when a pod could not be made (a quota,
/// a missing service account), removed once pods are made again.
fn set_replica_failure(status: &mut Value, failure: Option<&ApiError>) {
    let mut conditions: Vec<Value> = status["conditions"].as_array().cloned().unwrap_or_default();
    conditions.retain(|c| c["type"] != "ReplicaFailure" || failure.is_some());
    if let Some(error) = failure {
        let condition = json!({"type": "ReplicaFailure", "status": "True",
            "lastTransitionTime": meta::now(), "reason": "FailedCreate", "message": error.message});
        match conditions
            .iter_mut()
            .find(|c| c["type"] == "ReplicaFailure")
        {
            Some(existing) if existing["message"] == condition["message"] => {}
            Some(existing) => *existing = condition,
            None => conditions.push(condition),
        }
    }
    match conditions.is_empty() {
        true => {
            if let Some(status) = status.as_object_mut() {
                status.remove("conditions");
            }
        }
        false => status["conditions"] = json!(conditions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_or_removes_the_difference_within_a_burst() {
        assert_eq!(change(3, 1), Change::Create(2));
        assert_eq!(change(1, 3), Change::Delete(2));
        assert_eq!(change(2, 2), Change::None);
        assert_eq!(change(0, 0), Change::None);
        assert_eq!(change(1000, 0), Change::Create(BURST));
    }

    #[test]
    fn status_counts_active_ready_and_labeled_pods() {
        let set = json!({"metadata": {"generation": 2},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}}}});
        let pod = |phase: &str, ready: &str, labels: Value| {
            Arc::new(
                json!({"metadata": {"labels": labels}, "status": {"phase": phase,
                "conditions": [{"type": "Ready", "status": ready,
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
            )
        };
        let pods = [
            pod("Running", "True", json!({"app": "web"})),
            pod("Running", "False", json!({"app": "web"})),
            pod("Pending", "False", json!({"other": "x"})),
            pod("Failed", "False", json!({"app": "web"})),
        ];
        let status = status_of(&set, &pods, "2026-01-01T00:01:00Z".parse().unwrap());
        assert_eq!(
            status,
            json!({"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 1,
                   "availableReplicas": 1, "observedGeneration": 2})
        );
    }
}
