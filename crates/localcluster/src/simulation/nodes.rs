//! The simulated machines: each Node object is a machine whose kubelet the simulation plays. The
//! configured nodes are registered at start; a Node created later through the API (`kubectl
//! create -f node.yaml`) joins as a machine would, its kubelet reporting it Ready with the
//! capacity its object gives (or the configured one). What the scheduler knows of each node (its
//! labels, taints, `unschedulable` and allocatable resources) is read from the Node objects as they
//! change, so `kubectl label node`, `kubectl taint`, `kubectl cordon` and a changed allocatable
//! reach it, and pods waiting for room are tried again whenever a node changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Patch;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::debug;

use super::resources::Resources;
use super::{NodesConfig, State, now, post_as, retry_waiting};
use crate::quantity;

/// The field manager of the kubelets' writes.
pub(super) const KUBELET: &str = "kubelet";

/// A node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Taints as in `spec.taints`.
    pub taints: Vec<Value>,
    /// `spec.unschedulable` (`kubectl cordon`).
    pub unschedulable: bool,
    pub allocatable: Resources,
    /// Sum of the requests of the pods bound to it that have not ended.
    pub allocated: Resources,
}

impl NodeView {
    /// The view of a Node object, with nothing allocated yet.
    pub fn of(node: &Value) -> NodeView {
        let labels = crate::node_fit::labels_of(node);
        let allocatable = match &node["status"]["allocatable"] {
            Value::Null => &node["status"]["capacity"],
            given => given,
        };
        NodeView {
            name: node["metadata"]["name"].as_str().unwrap_or_default().into(),
            labels,
            taints: node["spec"]["taints"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            unschedulable: node["spec"]["unschedulable"] == true,
            allocatable: Resources::of_list(&quantity::resource_list(allocatable)),
            allocated: Resources::default(),
        }
    }

    /// What the scheduling predicates read of the node.
    pub fn facts(&self) -> crate::node_fit::NodeFacts<'_> {
        crate::node_fit::NodeFacts {
            name: &self.name,
            labels: &self.labels,
            taints: &self.taints,
        }
    }
}

/// The status a kubelet reports for its node: Ready, with this capacity.
fn ready_status(name: &str, capacity: &Value, allocatable: &Value) -> Value {
    json!({"status": {
        "capacity": capacity, "allocatable": allocatable,
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "simulated node", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
        "nodeInfo": {"kubeletVersion": "v1.33.0-localcluster", "operatingSystem": "linux", "architecture": "amd64",
                     "containerRuntimeVersion": "localcluster://simulated", "kernelVersion": "", "osImage": "localcluster",
                     "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
    }})
}

fn default_capacity(config: &NodesConfig) -> Value {
    json!({"cpu": config.cpu.to_string(), "memory": format!("{}Gi", config.memory_gib),
           "pods": config.pods.to_string()})
}

/// Registers `config.count` Ready nodes, as their kubelets would; their views, as stored (a node
/// kept from an earlier run keeps the labels and taints it was given).
pub(super) async fn register(
    client: &Client,
    config: &NodesConfig,
) -> anyhow::Result<Vec<NodeView>> {
    let api: Api<Node> = Api::all(client.clone());
    let mut views = Vec::new();
    for i in 0..config.count {
        let name = format!("localcluster-node-{i}");
        let labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
        ]);
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {},
        }))?;
        match api.create(&post_as(KUBELET), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => return Err(error.into()),
        }
        let capacity = default_capacity(config);
        let status = ready_status(&name, &capacity, &capacity);
        let node = api
            .patch_status(&name, &super::kubelet::as_kubelet(), &Patch::Merge(&status))
            .await?;
        views.push(NodeView::of(&serde_json::to_value(&node)?));
    }
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(views)
}

/// Follows the Node objects until the client's server goes away: keeps the scheduler's views
/// current, reports new nodes Ready, and retries waiting pods after each change.
pub(super) async fn follow(client: Client, state: Arc<Mutex<State>>, config: NodesConfig) {
    let api: Api<Node> = Api::all(client.clone());
    let mut events = watcher::watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(Event::Apply(node) | Event::InitApply(node)) => {
                let Ok(value) = serde_json::to_value(&node) else {
                    continue;
                };
                if !has_ready_condition(&value) {
                    join(&api, &value, &config).await;
                    continue;
                }
                upsert(&state, NodeView::of(&value)).await
            }
            Ok(Event::Delete(node)) => {
                let mut state = state.lock().await;
                let before = state.nodes.len();
                state.nodes.retain(|n| n.name != node.name_any());
                before != state.nodes.len()
            }
            Ok(Event::Init | Event::InitDone) => false,
            Err(error) => {
                debug!(%error, "node watch interrupted; resuming");
                false
            }
        };
        if changed {
            retry_waiting(&client, &state).await;
        }
    }
}

fn has_ready_condition(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready"))
}

/// A Node created through the API: its kubelet reports it Ready, with the capacity the object
/// gives or the configured one.
async fn join(api: &Api<Node>, node: &Value, config: &NodesConfig) {
    let name = node["metadata"]["name"].as_str().unwrap_or_default();
    let capacity = match &node["status"]["capacity"] {
        Value::Object(given) if !given.is_empty() => Value::Object(given.clone()),
        _ => default_capacity(config),
    };
    let allocatable = match &node["status"]["allocatable"] {
        Value::Object(given) if !given.is_empty() => Value::Object(given.clone()),
        _ => capacity.clone(),
    };
    let status = ready_status(name, &capacity, &allocatable);
    if let Err(error) = api
        .patch_status(name, &super::kubelet::as_kubelet(), &Patch::Merge(&status))
        .await
    {
        debug!(node = name, %error, "could not report the node ready");
    }
}

/// Puts `view` in the state, keeping what is allocated on the node; whether anything changed.
async fn upsert(state: &Arc<Mutex<State>>, mut view: NodeView) -> bool {
    let mut state = state.lock().await;
    match state.nodes.iter_mut().find(|n| n.name == view.name) {
        Some(existing) => {
            view.allocated = existing.allocated;
            let changed = *existing != view;
            *existing = view;
            changed
        }
        None => {
            state.nodes.push(view);
            state.nodes.sort_by(|a, b| a.name.cmp(&b.name));
            true
        }
    }
}
