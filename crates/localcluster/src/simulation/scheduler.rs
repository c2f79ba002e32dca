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
use crate::node_fit::{affinity_matches, selector_matches, tolerates, untolerated_taint};

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
    let facts = node.facts();
    let cordon = json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
    let tolerations = pod["spec"]["tolerations"].as_array().into_iter().flatten();
    if node.unschedulable && !tolerations.clone().any(|t| tolerates(t, &cordon)) {
        return unresolvable("node(s) were unschedulable".into());
    }
    if let Some(taint) = untolerated_taint(pod, facts, &["NoSchedule", "NoExecute"]) {
        return unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint["key"].as_str().unwrap_or_default(),
            taint["value"].as_str().unwrap_or_default()
        ));
    }
    if !selector_matches(pod, facts) || !affinity_matches(pod, facts) {
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
