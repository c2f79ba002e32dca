//! The simulated scheduler: a pending pod is bound (`pods/{name}/binding`) to a node chosen as
//! the Kubernetes scheduler's basic filters choose one (node selector, taints and tolerations,
//! and room for the pod's requests), or marked `PodScheduled=False`, reason `Unschedulable`, and
//! retried when a pod ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Patch;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::warn;

use super::resources::{Resources, pod_requests};
use super::{State, key, now, patch_as};

/// The field manager of the scheduler's writes.
const SCHEDULER: &str = "kube-scheduler";

/// A node as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Taints as in `spec.taints`.
    pub taints: Vec<Value>,
    pub allocatable: Resources,
    /// Sum of the requests of the pods bound to it that have not ended.
    pub allocated: Resources,
}

/// The node with the most free CPU among those that fit, or the reason none fits, worded as the
/// Kubernetes scheduler words it (`0/3 nodes are available: 3 Insufficient cpu.`).
pub fn choose_node(pod: &Value, nodes: &[NodeView]) -> Result<String, String> {
    let requests = pod_requests(pod);
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut best: Option<(&NodeView, u64)> = None;
    for node in nodes {
        let free = node.allocatable.saturating_sub(&node.allocated);
        let reason = if !selector_matches(pod, node) {
            Some("node(s) didn't match Pod's node affinity/selector")
        } else if !tolerates_taints(pod, node) {
            Some("node(s) had untolerated taint")
        } else if requests.millicores > free.millicores {
            Some("Insufficient cpu")
        } else if requests.bytes > free.bytes {
            Some("Insufficient memory")
        } else {
            None
        };
        match reason {
            Some(reason) => *reasons.entry(reason).or_default() += 1,
            None => {
                if best.is_none_or(|(_, most)| free.millicores > most) {
                    best = Some((node, free.millicores));
                }
            }
        }
    }
    if let Some((node, _)) = best {
        return Ok(node.name.clone());
    }
    let details: Vec<String> = reasons
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    Err(format!(
        "0/{} nodes are available: {}.",
        nodes.len(),
        details.join(", ")
    ))
}

fn selector_matches(pod: &Value, node: &NodeView) -> bool {
    pod["spec"]["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| node.labels.get(key).map(String::as_str) == value.as_str())
}

fn tolerates_taints(pod: &Value, node: &NodeView) -> bool {
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    node.taints.iter().all(|taint| {
        let effect = taint["effect"].as_str().unwrap_or_default();
        if effect == "PreferNoSchedule" {
            return true;
        }
        tolerations.iter().any(|t| tolerates(t, taint))
    })
}

fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let key = toleration["key"].as_str().unwrap_or_default();
    let effect = toleration["effect"].as_str().unwrap_or_default();
    let key_matches = key.is_empty() || Some(key) == taint["key"].as_str();
    let effect_matches = effect.is_empty() || Some(effect) == taint["effect"].as_str();
    let value_matches = match toleration["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        _ => {
            toleration["value"].as_str().unwrap_or_default()
                == taint["value"].as_str().unwrap_or_default()
        }
    };
    key_matches && effect_matches && value_matches
}

/// Binds a pending pod to a node with room for it, or reports that none has.
pub(super) async fn schedule(client: &Client, state: &Arc<Mutex<State>>, pod: Pod) {
    let value = match serde_json::to_value(&pod) {
        Ok(v) => v,
        Err(_) => return,
    };
    let pod_key = key(&pod);
    let chosen = {
        let mut state = state.lock().await;
        if state.bound.contains_key(&pod_key) {
            return;
        }
        match choose_node(&value, &state.nodes) {
            Ok(node) => {
                let requests = pod_requests(&value);
                if let Some(view) = state.nodes.iter_mut().find(|n| n.name == node) {
                    view.allocated = view.allocated.add(&requests);
                }
                state
                    .bound
                    .insert(pod_key.clone(), (node.clone(), requests));
                state.unschedulable.remove(&pod_key);
                Ok(node)
            }
            Err(reason) => {
                state.unschedulable.insert(pod_key.clone(), pod.clone());
                Err(reason)
            }
        }
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    match chosen {
        Ok(node) => {
            let binding = json!({"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod.name_any(), "namespace": pod.namespace()},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
            let body = match serde_json::to_vec(&binding) {
                Ok(body) => body,
                Err(_) => return,
            };
            let request = http::Request::post(format!(
                "/api/v1/namespaces/{}/pods/{}/binding",
                pod.namespace().unwrap_or_default(),
                pod.name_any()
            ))
            .header("content-type", "application/json")
            .body(body);
            if let Ok(request) = request
                && let Err(error) = client.request::<Value>(request).await
            {
                warn!(pod = %pod_key, %error, "binding failed");
                state.lock().await.bound.remove(&pod_key);
            }
        }
        Err(reason) => {
            let status = json!({"status": unschedulable_status(&reason, &now())});
            let _ = api
                .patch_status(
                    &pod.name_any(),
                    &patch_as(SCHEDULER),
                    &Patch::Merge(&status),
                )
                .await;
        }
    }
}

/// The status of a pod no node can take.
pub fn unschedulable_status(reason: &str, now: &str) -> Value {
    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable", "message": reason, "lastProbeTime": null,
        "lastTransitionTime": now}]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: u64, used: u64) -> NodeView {
        NodeView {
            name: name.into(),
            labels: BTreeMap::from([("kubernetes.io/os".into(), "linux".into())]),
            taints: vec![],
            allocatable: Resources {
                millicores: cpu,
                bytes: 8 << 30,
            },
            allocated: Resources {
                millicores: used,
                bytes: 0,
            },
        }
    }

    fn pod(cpu: &str) -> Value {
        json!({"spec": {"containers": [{"resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}})
    }

    #[test]
    fn picks_the_node_with_most_free_cpu() {
        let nodes = [node("a", 4000, 3000), node("b", 4000, 1000)];
        assert_eq!(choose_node(&pod("1"), &nodes), Ok("b".into()));
    }

    #[test]
    fn says_why_nothing_fits() {
        let nodes = [node("a", 1000, 500), node("b", 1000, 0)];
        assert_eq!(
            choose_node(&pod("2"), &nodes),
            Err("0/2 nodes are available: 2 Insufficient cpu.".into())
        );
    }

    #[test]
    fn node_selector_and_taints() {
        let mut tainted = node("t", 4000, 0);
        tainted.taints =
            vec![json!({"key": "dedicated", "value": "spark", "effect": "NoSchedule"})];
        let mut p = pod("1");
        assert!(
            choose_node(&p, std::slice::from_ref(&tainted))
                .unwrap_err()
                .contains("untolerated taint")
        );
        p["spec"]["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "spark", "effect": "NoSchedule"}]);
        assert_eq!(
            choose_node(&p, std::slice::from_ref(&tainted)),
            Ok("t".into())
        );
        p["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        assert!(
            choose_node(&p, &[tainted])
                .unwrap_err()
                .contains("selector")
        );
    }
}
