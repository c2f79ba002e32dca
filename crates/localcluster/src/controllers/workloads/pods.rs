//! What the workload controllers read of a pod (active, ready, available) and how they make one
//! from a template, as kube-controller-manager's `controller` package does for every kind.

use serde_json::{Map, Value, json};

use crate::meta;

/// A pod that counts toward its owner's replicas: not ended and not being deleted.
pub fn is_active(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && meta::deletion_timestamp(pod).is_none()
}

pub fn phase(pod: &Value) -> &str {
    meta::str_at(pod, &["status", "phase"]).unwrap_or("Pending")
}

fn ready_condition(pod: &Value) -> Option<&Value> {
    meta::value_at(pod, &["status", "conditions"])?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// The pod's `Ready` condition is true.
pub fn is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| c["status"] == "True")
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Value, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    let since = ready_condition(pod)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    since.is_some_and(|since| since + jiff::SignedDuration::from_secs(min_ready_seconds) <= now)
}

/// The ownerReference a controller puts on what it makes.
pub fn controller_reference(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta::name(owner),
        "uid": meta::uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The uid of the object's controller (the ownerReference with `controller: true`).
pub fn controller_uid(object: &Value) -> Option<&str> {
    meta::owner_references(object)
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
}

/// A new pod of `owner` from its pod template: the template's labels, annotations and spec,
/// owned by `owner`; named `name`, or generated from `<owner>-`.
pub fn from_template(owner: &Value, template: &Value, name: Option<&str>) -> Value {
    let mut metadata = Map::new();
    match name {
        Some(name) => metadata.insert("name".into(), json!(name)),
        None => metadata.insert(
            "generateName".into(),
            json!(format!("{}-", meta::name(owner))),
        ),
    };
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(value) = template["metadata"].get(field).filter(|v| !v.is_null()) {
            metadata.insert(field.into(), value.clone());
        }
    }
    metadata.insert(
        "ownerReferences".into(),
        json!([controller_reference(owner)]),
    );
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

/// Kubernetes' order of pods to delete when scaling down, first to go first: not yet on a node,
/// then Pending before Unknown before Running, not ready before ready, newest before oldest.
pub fn deletion_order(pods: &mut [&Value]) {
    fn phase_rank(pod: &Value) -> u8 {
        match phase(pod) {
            "Pending" => 0,
            "Running" => 2,
            _ => 1,
        }
    }
    pods.sort_by(|a, b| {
        let assigned = |p: &Value| meta::str_at(p, &["spec", "nodeName"]).is_some();
        let created = |p: &Value| {
            meta::str_at(p, &["metadata", "creationTimestamp"])
                .unwrap_or_default()
                .to_string()
        };
        (assigned(a), phase_rank(a), is_ready(a))
            .cmp(&(assigned(b), phase_rank(b), is_ready(b)))
            .then_with(|| created(b).cmp(&created(a)))
            .then_with(|| meta::name(b).cmp(meta::name(a)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, node: bool, ready: bool, created: &str) -> Value {
        let mut pod = json!({"metadata": {"name": name, "creationTimestamp": created},
            "spec": {}, "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": if ready {"True"} else {"False"},
                 "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        if node {
            pod["spec"]["nodeName"] = json!("node-1");
        }
        pod
    }

    #[test]
    fn unscheduled_pending_unready_and_newest_go_first() {
        let old_ready = pod("a", "Running", true, true, "2026-01-01T00:00:00Z");
        let new_ready = pod("b", "Running", true, true, "2026-01-01T00:01:00Z");
        let unready = pod("c", "Running", true, false, "2026-01-01T00:00:00Z");
        let pending = pod("d", "Pending", true, false, "2026-01-01T00:00:00Z");
        let unscheduled = pod("e", "Pending", false, false, "2026-01-01T00:00:00Z");
        let mut pods = vec![&old_ready, &new_ready, &unready, &pending, &unscheduled];
        deletion_order(&mut pods);
        let names: Vec<&str> = pods.iter().map(|p| meta::name(p)).collect();
        assert_eq!(names, ["e", "d", "c", "b", "a"]);
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let ready = pod("a", "Running", true, true, "2026-01-01T00:00:00Z");
        let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
        assert!(is_available(&ready, 0, at("2026-01-01T00:00:00Z")));
        assert!(!is_available(&ready, 10, at("2026-01-01T00:00:05Z")));
        assert!(is_available(&ready, 10, at("2026-01-01T00:00:10Z")));
        assert!(!is_active(&pod("f", "Failed", true, false, "")));
    }
}
