//! The decisions of the StatefulSet controller, apart from I/O: which ordinal to create, which
//! pod to delete next and what the status says. A StatefulSet's pods are its ordinals
//! `start..start+replicas`, each a pod named `<set>-<ordinal>`; with `OrderedReady` (the default)
//! one step is taken at a time and only while every lower ordinal is running and available, so
//! pods start in order and go highest first; with `Parallel` every missing pod is made and every
//! surplus one deleted at once. A `RollingUpdate` then replaces, highest ordinal first and one at
//! a time, the pods at or above the partition that are not of the update revision.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::int;
use super::pods::{is_available, is_ready, phase};
use crate::meta;

/// The label that says which revision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// One thing to do to the pods.
#[derive(Debug, PartialEq)]
pub enum Action {
    Create(i64),
    Delete(String),
}

/// What the plan reads of the StatefulSet.
#[derive(Debug, Clone)]
pub struct Shape<'a> {
    pub start: i64,
    pub replicas: i64,
    /// `podManagementPolicy: OrderedReady`.
    pub ordered: bool,
    /// The partition of a `RollingUpdate`; `None` for `OnDelete`.
    pub partition: Option<i64>,
    pub update_revision: &'a str,
    pub min_ready_seconds: i64,
}

impl Shape<'_> {
    pub fn of<'a>(set: &Value, update_revision: &'a str) -> Shape<'a> {
        let spec = &set["spec"];
        Shape {
            start: int(set, &["spec", "ordinals", "start"]),
            replicas: spec["replicas"].as_i64().unwrap_or(1),
            ordered: spec["podManagementPolicy"] != "Parallel",
            partition: (spec["updateStrategy"]["type"] != "OnDelete").then(|| {
                int(
                    set,
                    &["spec", "updateStrategy", "rollingUpdate", "partition"],
                )
            }),
            update_revision,
            min_ready_seconds: int(set, &["spec", "minReadySeconds"]),
        }
    }

    fn end(&self) -> i64 {
        self.start + self.replicas.max(0)
    }

    /// A new pod at `ordinal` keeps the current revision below the partition.
    pub fn keeps_current(&self, ordinal: i64) -> bool {
        self.partition
            .is_some_and(|partition| ordinal - self.start < partition)
    }
}

/// The ordinal in a pod's name `<set>-<ordinal>`.
pub fn ordinal(set_name: &str, pod: &Value) -> Option<i64> {
    let rest = meta::name(pod).strip_prefix(set_name)?.strip_prefix('-')?;
    rest.parse()
        .ok()
        .filter(|n: &i64| *n >= 0 && n.to_string() == rest)
}

fn terminating(pod: &Value) -> bool {
    meta::deletion_timestamp(pod).is_some()
}

fn ended(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Running, ready for `minReadySeconds`, and not going away.
fn healthy(pod: &Value, min_ready_seconds: i64, now: jiff::Timestamp) -> bool {
    phase(pod) == "Running" && !terminating(pod) && is_available(pod, min_ready_seconds, now)
}

/// The actions of one pass over `pods` (the set's pods by ordinal).
pub fn plan(shape: &Shape, pods: &BTreeMap<i64, &Value>, now: jiff::Timestamp) -> Vec<Action> {
    let mut actions = Vec::new();
    let delete = |pod: &Value| Action::Delete(meta::name(pod).to_string());
    for ordinal in shape.start..shape.end() {
        let waiting = match pods.get(&ordinal) {
            None => {
                actions.push(Action::Create(ordinal));
                true
            }
            Some(pod) if terminating(pod) => true,
            Some(pod) if ended(pod) => {
                actions.push(delete(pod));
                true
            }
            Some(pod) => !healthy(pod, shape.min_ready_seconds, now),
        };
        if waiting && shape.ordered {
            return actions;
        }
    }
    let condemned = pods
        .iter()
        .rev()
        .filter(|(ordinal, _)| **ordinal < shape.start || **ordinal >= shape.end());
    for (_, pod) in condemned {
        if !terminating(pod) {
            actions.push(delete(pod));
        }
        if shape.ordered {
            return actions;
        }
    }
    if let Some(partition) = shape.partition {
        let lowest = shape.start + partition.max(0);
        for ordinal in (lowest..shape.end()).rev() {
            let Some(pod) = pods.get(&ordinal) else {
                return actions;
            };
            if revision(pod) != Some(shape.update_revision) && !terminating(pod) {
                actions.push(delete(pod));
                return actions;
            }
            if !healthy(pod, shape.min_ready_seconds, now) {
                return actions;
            }
        }
    }
    actions
}

/// The revision a pod was made from.
pub fn revision(pod: &Value) -> Option<&str> {
    meta::str_at(pod, &["metadata", "labels", REVISION_LABEL])
}

/// The StatefulSet's status from its pods; once every pod is of the update revision and ready,
/// a rolling update is complete and the update revision becomes the current one.
pub fn status_of(
    set: &Value,
    pods: &[&Value],
    current_revision: &str,
    update_revision: &str,
    now: jiff::Timestamp,
) -> Value {
    let min_ready = int(set, &["spec", "minReadySeconds"]);
    let count = |keep: &dyn Fn(&Value) -> bool| pods.iter().filter(|p| keep(p)).count() as i64;
    let live = |p: &Value| !terminating(p);
    let replicas = count(&|_| true);
    let ready = count(&|p| phase(p) == "Running" && is_ready(p));
    let available = count(&|p| phase(p) == "Running" && is_available(p, min_ready, now));
    let mut current = count(&|p| live(p) && revision(p) == Some(current_revision));
    let updated = count(&|p| live(p) && revision(p) == Some(update_revision));
    let mut current_revision = current_revision;
    let rolling = set["spec"]["updateStrategy"]["type"] != "OnDelete";
    if rolling && updated == replicas && ready == replicas {
        current = updated;
        current_revision = update_revision;
    }
    let mut status = Map::new();
    status.insert(
        "observedGeneration".into(),
        json!(int(set, &["metadata", "generation"])),
    );
    status.insert("replicas".into(), json!(replicas));
    for (field, value) in [
        ("readyReplicas", ready),
        ("currentReplicas", current),
        ("updatedReplicas", updated),
    ] {
        if value > 0 {
            status.insert(field.into(), json!(value));
        }
    }
    status.insert("availableReplicas".into(), json!(available));
    status.insert("currentRevision".into(), json!(current_revision));
    status.insert("updateRevision".into(), json!(update_revision));
    status.insert(
        "collisionCount".into(),
        json!(int(set, &["status", "collisionCount"])),
    );
    Value::Object(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, ready: bool, revision: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {REVISION_LABEL: revision}},
            "status": {"phase": phase, "conditions": [{"type": "Ready",
                "status": if ready {"True"} else {"False"},
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    fn shape(replicas: i64, ordered: bool, partition: Option<i64>) -> Shape<'static> {
        Shape {
            start: 0,
            replicas,
            ordered,
            partition,
            update_revision: "web-new",
            min_ready_seconds: 0,
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:01:00Z".parse().unwrap()
    }

    fn by_ordinal(pods: &[Value]) -> BTreeMap<i64, &Value> {
        pods.iter()
            .map(|p| (ordinal("web", p).unwrap(), p))
            .collect()
    }

    #[test]
    fn ordinals_are_the_number_after_the_set_name() {
        assert_eq!(
            ordinal("web", &json!({"metadata": {"name": "web-12"}})),
            Some(12)
        );
        assert_eq!(
            ordinal("web", &json!({"metadata": {"name": "web-01"}})),
            None
        );
        assert_eq!(
            ordinal("web", &json!({"metadata": {"name": "webx-1"}})),
            None
        );
    }

    #[test]
    fn ordered_ready_makes_one_pod_after_the_previous_is_ready() {
        let none = BTreeMap::new();
        assert_eq!(
            plan(&shape(3, true, Some(0)), &none, now()),
            [Action::Create(0)]
        );
        let starting = [pod("web-0", "Pending", false, "web-new")];
        assert!(plan(&shape(3, true, Some(0)), &by_ordinal(&starting), now()).is_empty());
        let ready = [pod("web-0", "Running", true, "web-new")];
        assert_eq!(
            plan(&shape(3, true, Some(0)), &by_ordinal(&ready), now()),
            [Action::Create(1)]
        );
        assert_eq!(
            plan(&shape(3, false, Some(0)), &none, now()),
            [Action::Create(0), Action::Create(1), Action::Create(2)]
        );
    }

    #[test]
    fn scaling_down_removes_the_highest_ordinal_first() {
        let pods: Vec<Value> = (0..3)
            .map(|i| pod(&format!("web-{i}"), "Running", true, "web-new"))
            .collect();
        assert_eq!(
            plan(&shape(1, true, Some(0)), &by_ordinal(&pods), now()),
            [Action::Delete("web-2".into())]
        );
        assert_eq!(
            plan(&shape(1, false, Some(0)), &by_ordinal(&pods), now()),
            [
                Action::Delete("web-2".into()),
                Action::Delete("web-1".into())
            ]
        );
    }

    #[test]
    fn a_rolling_update_replaces_old_pods_from_the_top_down_to_the_partition() {
        let pods: Vec<Value> = (0..3)
            .map(|i| pod(&format!("web-{i}"), "Running", true, "web-old"))
            .collect();
        let pods = by_ordinal(&pods);
        assert_eq!(
            plan(&shape(3, true, Some(0)), &pods, now()),
            [Action::Delete("web-2".into())]
        );
        assert!(plan(&shape(3, true, Some(3)), &pods, now()).is_empty());
        assert!(plan(&shape(3, true, None), &pods, now()).is_empty());
        let mixed = [
            pod("web-0", "Running", true, "web-old"),
            pod("web-1", "Running", true, "web-new"),
            pod("web-2", "Running", false, "web-new"),
        ];
        assert!(plan(&shape(3, false, Some(0)), &by_ordinal(&mixed), now()).is_empty());
    }

    #[test]
    fn a_finished_rolling_update_makes_the_update_revision_current() {
        let set = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2}});
        let pods = [
            pod("web-0", "Running", true, "web-new"),
            pod("web-1", "Running", true, "web-new"),
        ];
        let refs: Vec<&Value> = pods.iter().collect();
        let status = status_of(&set, &refs, "web-old", "web-new", now());
        assert_eq!(status["currentRevision"], "web-new");
        assert_eq!(status["currentReplicas"], 2);
        assert_eq!(status["updatedReplicas"], 2);
        assert_eq!(status["readyReplicas"], 2);
        assert_eq!(status["observedGeneration"], 2);
        let halfway = [pods[0].clone(), pod("web-1", "Running", true, "web-old")];
        let refs: Vec<&Value> = halfway.iter().collect();
        let status = status_of(&set, &refs, "web-old", "web-new", now());
        assert_eq!(status["currentRevision"], "web-old");
        assert_eq!(status["currentReplicas"], 1);
    }
}
