//! The simulated scheduler: a pending pod is bound (`pods/{name}/binding`) to a node chosen as
//! the Kubernetes scheduler's filters choose one, in their order (the node is not cordoned, its
//! taints are tolerated, its labels match the pod's node selector and required node affinity, it
//! has pod slots and room for the pod's requests), or marked `PodScheduled=False`, reason
//! `Unschedulable`, with a `FailedScheduling` event, in the scheduler's words: the count of nodes
//! per reason, sorted as the scheduler sorts them, then what preemption found (nothing: there are
//! no PriorityClasses, so no pod has a lower priority to make room). Waiting pods are tried again
//! when a pod ends and when a node changes. A pod that names a batch scheduler is placed as
//! [`gang`] says: by nobody when that scheduler is not installed, and once its group is admitted.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Patch;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::warn;

use super::events::{PodEvent, Source};
use super::nodes::NodeView;
use super::resources::pod_requests;
use super::{State, gang, key, now, patch_as};

/// The field manager of the scheduler's writes.
const SCHEDULER: &str = "kube-scheduler";

/// Why a node cannot take a pod, and whether preemption could help there.
struct Rejection {
    reasons: Vec<String>,
    /// Only room (CPU, memory, pod slots) could be made by preemption.
    resolvable: bool,
}

/// The first filter that rejects `node` for `pod`, as the scheduler's plugins run.
fn filter(pod: &Value, node: &NodeView) -> Option<Rejection> {
    let unresolvable = |reason: String| {
        Some(Rejection {
            reasons: vec![reason],
            resolvable: false,
        })
    };
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let cordon = json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
    if node.unschedulable && !tolerations.iter().any(|t| tolerates(t, &cordon)) {
        return unresolvable("node(s) were unschedulable".into());
    }
    let untolerated = node.taints.iter().find(|taint| {
        matches!(taint["effect"].as_str(), Some("NoSchedule" | "NoExecute"))
            && !tolerations.iter().any(|t| tolerates(t, taint))
    });
    if let Some(taint) = untolerated {
        return unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint["key"].as_str().unwrap_or_default(),
            taint["value"].as_str().unwrap_or_default()
        ));
    }
    if !selector_matches(pod, node) || !affinity_matches(pod, node) {
        return unresolvable("node(s) didn't match Pod's node affinity/selector".into());
    }
    let requests = pod_requests(pod);
    let free = node.allocatable.saturating_sub(&node.allocated);
    let mut reasons = Vec::new();
    if node.allocated.pods + 1 > node.allocatable.pods {
        reasons.push("Too many pods".to_string());
    }
    if requests.millicores > 0 && requests.millicores > free.millicores {
        reasons.push("Insufficient cpu".to_string());
    }
    if requests.bytes > 0 && requests.bytes > free.bytes {
        reasons.push("Insufficient memory".to_string());
    }
    (!reasons.is_empty()).then_some(Rejection {
        reasons,
        resolvable: true,
    })
}

/// `0/N nodes are available: ` and the counts of `reasons`, sorted as strings.
fn histogram<'a>(nodes: usize, reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

/// The node with the most free CPU among those that fit, or why none fits, as the Kubernetes
/// scheduler words it (`0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are
/// available: 3 No preemption victims found for incoming pod.`).
pub fn choose_node(pod: &Value, nodes: &[NodeView]) -> Result<String, String> {
    if nodes.is_empty() {
        return Err("no nodes available to schedule pods".into());
    }
    let mut rejections = Vec::new();
    let mut best: Option<(&NodeView, u64)> = None;
    for node in nodes {
        match filter(pod, node) {
            Some(rejection) => rejections.push(rejection),
            None => {
                let free = node.allocatable.saturating_sub(&node.allocated).millicores;
                if best.is_none_or(|(_, most)| free > most) {
                    best = Some((node, free));
                }
            }
        }
    }
    if let Some((node, _)) = best {
        return Ok(node.name.clone());
    }
    let filtered = histogram(
        nodes.len(),
        rejections
            .iter()
            .flat_map(|r| r.reasons.iter().map(String::as_str)),
    );
    let preemption = if pod["spec"]["preemptionPolicy"] == "Never" {
        "not eligible due to preemptionPolicy=Never.".to_string()
    } else {
        histogram(
            nodes.len(),
            rejections.iter().map(|r| {
                if r.resolvable {
                    "No preemption victims found for incoming pod"
                } else {
                    "Preemption is not helpful for scheduling"
                }
            }),
        )
    };
    Err(format!("{filtered} preemption: {preemption}"))
}

fn selector_matches(pod: &Value, node: &NodeView) -> bool {
    pod["spec"]["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| node.labels.get(key).map(String::as_str) == value.as_str())
}

/// `requiredDuringSchedulingIgnoredDuringExecution` node affinity: any term matches (all of its
/// expressions and fields do).
fn affinity_matches(pod: &Value, node: &NodeView) -> bool {
    let required =
        &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let Some(terms) = required["nodeSelectorTerms"].as_array() else {
        return true;
    };
    terms.iter().any(|term| {
        let expressions = term["matchExpressions"].as_array().into_iter().flatten();
        let fields = term["matchFields"].as_array().into_iter().flatten();
        let has_any = term["matchExpressions"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
            || term["matchFields"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
        has_any
            && expressions.clone().all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                requirement(e, node.labels.get(key).map(String::as_str))
            })
            && fields.clone().all(|e| {
                let value = (e["key"] == "metadata.name").then_some(node.name.as_str());
                requirement(e, value)
            })
    })
}

fn requirement(expression: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = expression["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let number = |text: &str| text.parse::<i64>().ok();
    match expression["operator"].as_str().unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(v), Some(bound)) if v > bound)
        }
        "Lt" => {
            matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(v), Some(bound)) if v < bound)
        }
        _ => false,
    }
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
    let schedulers = state.lock().await.batch_schedulers.clone();
    let group = match gang::placement(&value, &schedulers) {
        gang::Placement::Nobody => return,
        gang::Placement::Alone => None,
        gang::Placement::InGroup(group) => Some(group),
    };
    let admitted = match &group {
        Some(group) => gang::admit(client, state, &pod_key, group).await,
        None => Ok(()),
    };
    let (chosen, events) = {
        let mut state = state.lock().await;
        if state.bound.contains_key(&pod_key) {
            return;
        }
        let chosen = match admitted.and_then(|()| choose_node(&value, &state.nodes)) {
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
                let reported = state
                    .unschedulable
                    .insert(pod_key.clone(), (pod.clone(), reason.clone()))
                    .is_some_and(|(_, earlier)| earlier == reason);
                Err((reason, reported))
            }
        };
        (chosen, state.events.clone())
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
            let result = match request {
                Ok(request) => client.request::<Value>(request).await.map(|_| ()),
                Err(error) => Err(kube::Error::HttpError(error)),
            };
            match result {
                Ok(()) => {
                    if let Some(group) = &group {
                        gang::bound(client, state, &pod_key, group).await;
                    }
                }
                Err(error) => {
                    warn!(pod = %pod_key, %error, "binding failed");
                    let mut state = state.lock().await;
                    if let Some((node, requests)) = state.bound.remove(&pod_key)
                        && let Some(view) = state.nodes.iter_mut().find(|n| n.name == node)
                    {
                        view.allocated = view.allocated.saturating_sub(&requests);
                    }
                }
            }
        }
        Err((reason, reported)) => {
            let already = value["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "PodScheduled" && c["message"] == reason.as_str());
            if already || reported {
                return;
            }
            let status = json!({"status": unschedulable_status(&reason, &now())});
            let _ = api
                .patch_status(
                    &pod.name_any(),
                    &patch_as(SCHEDULER),
                    &Patch::Merge(&status),
                )
                .await;
            let event = PodEvent {
                warning: true,
                reason: "FailedScheduling",
                message: reason,
                field_path: None,
            };
            events
                .record(client, &value, Source::Scheduler, event)
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
#[path = "scheduler_tests.rs"]
mod tests;
