//! The decisions of the DaemonSet controller, apart from I/O: which nodes should run a daemon
//! pod (by the scheduler's own predicates in [`node_fit`](crate::node_fit), as Kubernetes'
//! `NodeShouldRunDaemonPod` calls them), what the pod for a node looks like, which pods to make
//! and delete, which old pods a rolling update replaces within `maxUnavailable`, and the status.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::int;
use super::pods::{is_available, is_ready, phase};
use crate::meta;
use crate::node_fit::{self, NodeFacts};

/// The label with the hash of the template a pod was made from.
pub const HASH_LABEL: &str = "controller-revision-hash";
const GENERATION_LABEL: &str = "pod-template-generation";

/// Whether a node should run the daemon pod, and whether one already there may stay: a taint
/// the pod does not tolerate keeps a pod from starting, but only a `NoExecute` one evicts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub should_run: bool,
    pub may_stay: bool,
}

/// `NodeShouldRunDaemonPod`, for the daemon `pod` (its template with the daemon tolerations).
pub fn fit(pod: &Value, node: &Value) -> Fit {
    let labels = node_fit::labels_of(node);
    let taints = node["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let facts = NodeFacts {
        name: meta::name(node),
        labels: &labels,
        taints: &taints,
    };
    let named = meta::str_at(pod, &["spec", "nodeName"]).is_none_or(|n| n == facts.name);
    if !named || !node_fit::selector_matches(pod, facts) || !node_fit::affinity_matches(pod, facts)
    {
        return Fit {
            should_run: false,
            may_stay: false,
        };
    }
    let blocking = node_fit::untolerated_taint(pod, facts, &["NoSchedule", "NoExecute"]);
    Fit {
        should_run: blocking.is_none(),
        may_stay: node_fit::untolerated_taint(pod, facts, &["NoExecute"]).is_none(),
    }
}

/// The tolerations every daemon pod gets (`AddOrUpdateDaemonPodTolerations`): it stays on a
/// node that is not ready or unreachable, and goes to one under pressure or cordoned.
fn daemon_tolerations(host_network: bool) -> Vec<Value> {
    let mut tolerations = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        tolerations.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    tolerations
        .into_iter()
        .map(|(key, effect)| json!({"key": key, "operator": "Exists", "effect": effect}))
        .collect()
}

/// The pod template of the DaemonSet as its pods get it (`CreatePodTemplate`): the daemon
/// tolerations added or replacing the template's of the same key and effect, and the labels of
/// the template's hash and generation.
pub fn pod_template(daemon_set: &Value, hash: &str) -> Value {
    let mut template = daemon_set["spec"]["template"].clone();
    let mut tolerations: Vec<Value> = template["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for toleration in daemon_tolerations(template["spec"]["hostNetwork"] == true) {
        tolerations
            .retain(|t| t["key"] != toleration["key"] || t["effect"] != toleration["effect"]);
        tolerations.push(toleration);
    }
    template["spec"]["tolerations"] = json!(tolerations);
    let generation = meta::str_at(
        daemon_set,
        &[
            "metadata",
            "annotations",
            "deprecated.daemonset.template.generation",
        ],
    )
    .map_or_else(
        || int(daemon_set, &["metadata", "generation"]).to_string(),
        String::from,
    );
    let labels = &mut template["metadata"]["labels"];
    labels[GENERATION_LABEL] = json!(generation);
    labels[HASH_LABEL] = json!(hash);
    template
}

/// The node affinity that pins a daemon pod to `node` (`ReplaceDaemonSetPodNodeNameNodeAffinity`):
/// the required terms are replaced by `metadata.name In [node]`, the scheduler places it.
pub fn pin_to_node(pod: &mut Value, node: &str) {
    pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]});
}

/// The node a daemon pod is on, or pinned to while unscheduled.
pub fn target_node(pod: &Value) -> Option<&str> {
    if let Some(node) = meta::str_at(pod, &["spec", "nodeName"]) {
        return Some(node);
    }
    let required =
        &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    required["nodeSelectorTerms"]
        .as_array()?
        .iter()
        .flat_map(|term| term["matchFields"].as_array().into_iter().flatten())
        .find(|f| f["key"] == "metadata.name" && f["operator"] == "In")
        .and_then(|f| f["values"].as_array().filter(|v| v.len() == 1)?[0].as_str())
}

fn terminating(pod: &Value) -> bool {
    meta::deletion_timestamp(pod).is_some()
}

fn created(pod: &Value) -> String {
    meta::str_at(pod, &["metadata", "creationTimestamp"])
        .unwrap_or_default()
        .to_string()
}

/// The pods not going away on each node, oldest first.
pub fn by_node<'a>(pods: &[&'a Value]) -> BTreeMap<String, Vec<&'a Value>> {
    let mut nodes: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for pod in pods.iter().filter(|p| !terminating(p)) {
        if let Some(node) = target_node(pod) {
            nodes.entry(node.to_string()).or_default().push(pod);
        }
    }
    for pods in nodes.values_mut() {
        pods.sort_by_key(|p| (created(p), meta::name(p).to_string()));
    }
    nodes
}

/// Nodes to make a pod for, and pods to delete: failed ones, extra ones (the oldest stays),
/// ones on nodes they may not stay on, and unscheduled ones pinned to a node that is gone.
pub fn manage(
    fits: &BTreeMap<String, Fit>,
    pods: &BTreeMap<String, Vec<&Value>>,
) -> (Vec<String>, Vec<String>) {
    let (mut create, mut delete) = (Vec::new(), Vec::new());
    let name = |p: &&Value| meta::name(p).to_string();
    for (node, fit) in fits {
        let here = pods.get(node).map(Vec::as_slice).unwrap_or_default();
        let (failed, running): (Vec<&Value>, Vec<&Value>) =
            here.iter().partition(|p| phase(p) == "Failed");
        if fit.should_run || fit.may_stay {
            delete.extend(failed.iter().map(name));
        }
        if fit.should_run && running.is_empty() {
            create.push(node.clone());
        } else if fit.may_stay {
            delete.extend(running.iter().skip(1).map(name));
        } else {
            delete.extend(here.iter().map(name));
        }
    }
    let gone = pods.iter().filter(|(node, _)| !fits.contains_key(*node));
    for here in gone.map(|(_, here)| here) {
        let unscheduled = here
            .iter()
            .filter(|p| meta::str_at(p, &["spec", "nodeName"]).is_none());
        delete.extend(unscheduled.map(name));
    }
    (create, delete)
}

/// The old pods a rolling update deletes now (`rollingUpdate` without surge): unavailable old
/// pods always, available ones while fewer than `max_unavailable` nodes lack an available
/// pod. `pods` holds every node with pods and every node that should run one.
pub fn rolling_deletes(
    pods: &BTreeMap<String, Vec<&Value>>,
    hash: &str,
    max_unavailable: i64,
    min_ready_seconds: i64,
    now: jiff::Timestamp,
) -> Vec<String> {
    let available = |p: &Value| is_available(p, min_ready_seconds, now);
    let updated = |p: &Value| meta::str_at(p, &["metadata", "labels", HASH_LABEL]) == Some(hash);
    let mut unavailable = 0;
    let (mut replace, mut candidates) = (Vec::new(), Vec::new());
    for here in pods.values() {
        let new: Vec<&&Value> = here.iter().filter(|p| updated(p)).collect();
        let old: Vec<&&Value> = here.iter().filter(|p| !updated(p)).collect();
        match (new.as_slice(), old.as_slice()) {
            ([new], []) if available(new) => {}
            ([_], []) | ([], []) | ([_], [_]) => unavailable += 1,
            ([], [old]) if !available(old) => replace.push(meta::name(old).to_string()),
            ([], [old]) if unavailable < max_unavailable => {
                candidates.push(meta::name(old).to_string())
            }
            ([], [_]) => {}
            _ => unavailable += 1,
        }
    }
    let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i64) as usize;
    replace.extend(candidates.into_iter().take(room));
    replace
}

/// The DaemonSet's status: what should run where, and how much of it does.
pub fn status_of(
    daemon_set: &Value,
    fits: &BTreeMap<String, Fit>,
    pods: &BTreeMap<String, Vec<&Value>>,
    hash: &str,
    now: jiff::Timestamp,
) -> Value {
    let min_ready = int(daemon_set, &["spec", "minReadySeconds"]);
    let (mut desired, mut scheduled, mut ready, mut available, mut updated, mut misscheduled) =
        (0, 0, 0, 0, 0, 0);
    for (node, fit) in fits {
        let oldest = pods.get(node).and_then(|here| {
            here.iter()
                .find(|p| !matches!(phase(p), "Succeeded" | "Failed"))
        });
        match (fit.should_run, oldest) {
            (true, None) => desired += 1,
            (true, Some(pod)) => {
                desired += 1;
                scheduled += 1;
                ready += i64::from(is_ready(pod));
                available += i64::from(is_ready(pod) && is_available(pod, min_ready, now));
                let hash_of = meta::str_at(pod, &["metadata", "labels", HASH_LABEL]);
                updated += i64::from(hash_of == Some(hash));
            }
            (false, Some(_)) => misscheduled += 1,
            (false, None) => {}
        }
    }
    let mut status = json!({
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": scheduled,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
        "updatedNumberScheduled": updated,
        "observedGeneration": int(daemon_set, &["metadata", "generation"]),
    });
    let collisions = int(daemon_set, &["status", "collisionCount"]);
    if collisions > 0 {
        status["collisionCount"] = json!(collisions);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "labels": {HASH_LABEL: hash},
                "creationTimestamp": format!("2026-01-01T00:00:0{}Z", name.len() % 10)},
            "spec": {"nodeName": node},
            "status": {"phase": "Running", "conditions": [{"type": "Ready",
                "status": if ready {"True"} else {"False"},
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:01:00Z".parse().unwrap()
    }

    #[test]
    fn nodes_fit_by_selector_and_taints_with_the_daemon_tolerations() {
        let set = json!({"metadata": {"generation": 3}, "spec": {"template": {
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"nodeSelector": {"role": "worker"}}}}});
        let template = pod_template(&set, "h1");
        assert_eq!(template["metadata"]["labels"][HASH_LABEL], "h1");
        assert_eq!(template["metadata"]["labels"][GENERATION_LABEL], "3");
        assert_eq!(template["spec"]["tolerations"].as_array().unwrap().len(), 6);
        let worker = json!({"role": "worker"});
        assert!(fit(&template, &node("a", worker.clone(), json!([]))).should_run);
        assert!(!fit(&template, &node("b", json!({}), json!([]))).may_stay);
        let cordoned = json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]);
        assert!(fit(&template, &node("c", worker.clone(), cordoned)).should_run);
        let no_schedule = json!([{"key": "gpu", "effect": "NoSchedule"}]);
        let tainted = fit(&template, &node("d", worker.clone(), no_schedule));
        assert_eq!(
            tainted,
            Fit {
                should_run: false,
                may_stay: true
            }
        );
        let no_execute = json!([{"key": "gpu", "effect": "NoExecute"}]);
        assert!(!fit(&template, &node("e", worker, no_execute)).may_stay);
    }

    #[test]
    fn a_pinned_pod_names_its_node_until_scheduled() {
        let mut pending = json!({"spec": {}});
        pin_to_node(&mut pending, "node-a");
        assert_eq!(target_node(&pending), Some("node-a"));
        assert_eq!(target_node(&pod("p", "node-b", "h", true)), Some("node-b"));
    }

    #[test]
    fn manage_fills_empty_nodes_and_clears_those_the_pod_may_not_stay_on() {
        let run = Fit {
            should_run: true,
            may_stay: true,
        };
        let leave = Fit {
            should_run: false,
            may_stay: false,
        };
        let fits = BTreeMap::from([
            ("a".to_string(), run),
            ("b".to_string(), leave),
            ("c".to_string(), run),
        ]);
        let (old, extra, on_b) = (
            pod("p1", "a", "h", true),
            pod("p22", "a", "h", true),
            pod("p3", "b", "h", true),
        );
        let pods = by_node(&[&old, &extra, &on_b]);
        let (create, delete) = manage(&fits, &pods);
        assert_eq!(create, ["c"]);
        assert_eq!(delete, ["p22", "p3"]);
    }

    #[test]
    fn a_rolling_update_replaces_within_max_unavailable() {
        let pods: Vec<Value> = ["a", "b", "c"]
            .iter()
            .map(|n| pod(n, n, "old", true))
            .collect();
        let refs: Vec<&Value> = pods.iter().collect();
        let on_nodes = by_node(&refs);
        assert_eq!(rolling_deletes(&on_nodes, "new", 1, 0, now()), ["a"]);
        assert_eq!(rolling_deletes(&on_nodes, "new", 2, 0, now()), ["a", "b"]);
        let mut waiting = on_nodes.clone();
        waiting.insert("a".into(), vec![]);
        assert!(rolling_deletes(&waiting, "new", 1, 0, now()).is_empty());
        let unready = pod("b", "b", "old", false);
        waiting.insert("b".into(), vec![&unready]);
        assert_eq!(rolling_deletes(&waiting, "new", 1, 0, now()), ["b"]);
    }

    #[test]
    fn status_counts_nodes_not_pods() {
        let set = json!({"metadata": {"generation": 2}, "spec": {}});
        let run = Fit {
            should_run: true,
            may_stay: true,
        };
        let stay = Fit {
            should_run: false,
            may_stay: true,
        };
        let fits = BTreeMap::from([
            ("a".to_string(), run),
            ("b".to_string(), run),
            ("c".to_string(), stay),
        ]);
        let (on_a, on_c) = (pod("p1", "a", "new", true), pod("p2", "c", "old", false));
        let pods = by_node(&[&on_a, &on_c]);
        let status = status_of(&set, &fits, &pods, "new", now());
        assert_eq!(
            status,
            json!({"desiredNumberScheduled": 2, "currentNumberScheduled": 1,
            "numberMisscheduled": 1, "numberReady": 1, "numberAvailable": 1,
            "numberUnavailable": 1, "updatedNumberScheduled": 1, "observedGeneration": 2})
        );
    }
}
