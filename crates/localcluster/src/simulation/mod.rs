//! The simulated nodes, apart from the API server: a scheduler that binds pending pods to nodes
//! with room for them, and a kubelet that runs each bound pod through Running to Succeeded or
//! Failed, with Spark's drivers creating their executors as Spark does. Both are ordinary API
//! clients (kube-rs over HTTP), as their real counterparts are, so they exercise the same API
//! paths and watch semantics the operator depends on. With a [`process::ProcessRuntime`], Spark
//! containers run as real processes instead of simulated ones.

pub mod kubelet;
pub mod process;
pub mod resources;
pub mod scheduler;
pub mod spark;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use resources::{Resources, pod_requests};
use scheduler::{NodeView, choose_node};

/// The simulated nodes of a cluster.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    pub count: usize,
    /// CPU of each node, in cores.
    pub cpu: u64,
    /// Memory of each node, in GiB.
    pub memory_gib: u64,
    /// Runs Spark containers as processes; every container is simulated without it.
    pub processes: Option<process::ProcessRuntime>,
}

impl Default for NodesConfig {
    fn default() -> Self {
        Self {
            count: 3,
            cpu: 64,
            memory_gib: 256,
            processes: None,
        }
    }
}

struct State {
    nodes: Vec<NodeView>,
    /// Pods bound by the scheduler and not yet ended: node and requests.
    bound: HashMap<String, (String, Resources)>,
    /// Pods whose run the kubelet has started.
    started: HashSet<String>,
    /// Pods waiting for room, retried when a pod ends.
    unschedulable: HashMap<String, Pod>,
    /// How many times a pod of each namespace/name has been started.
    runs: HashMap<String, usize>,
    next_ip: u32,
    processes: Option<process::ProcessRuntime>,
    /// Container processes running, by pod, with the pod's directory.
    running: HashMap<String, (process::ProcessControl, std::path::PathBuf)>,
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

/// Longest a deleted pod's processes get to stop before they are killed.
const MAX_PROCESS_GRACE_SECONDS: i64 = 10;

/// The field managers the real components' writes are recorded under (the API server takes them
/// from their user agents), so that objects carry the `managedFields` they would in a cluster.
const KUBELET: &str = "kubelet";
const SCHEDULER: &str = "kube-scheduler";
const SPARK_DRIVER: &str = "fabric8-kubernetes-client";

fn patch_as(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    }
}

fn as_kubelet() -> PatchParams {
    patch_as(KUBELET)
}

fn post_as(manager: &str) -> PostParams {
    PostParams {
        field_manager: Some(manager.into()),
        ..PostParams::default()
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Registers the nodes and runs the scheduler and kubelets until the client's server goes away.
pub async fn run(client: Client, config: NodesConfig) -> anyhow::Result<()> {
    let nodes = register_nodes(&client, &config).await?;
    let state = Arc::new(Mutex::new(State {
        nodes,
        bound: HashMap::new(),
        started: HashSet::new(),
        unschedulable: HashMap::new(),
        runs: HashMap::new(),
        next_ip: u32::from(Ipv4Addr::new(127, 1, 0, 1)),
        processes: config.processes.clone(),
        running: HashMap::new(),
    }));
    let pods: Api<Pod> = Api::all(client.clone());
    // Backing off keeps a cluster that is going away from turning the retries into a busy loop.
    let mut events = watcher::watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                handle(&client, &state, pod).await;
            }
            Ok(Event::Delete(pod)) => release(&client, &state, &key(&pod)).await,
            Ok(Event::Init | Event::InitDone) => {}
            Err(error) => debug!(%error, "pod watch interrupted; resuming"),
        }
    }
    Ok(())
}

async fn register_nodes(client: &Client, config: &NodesConfig) -> anyhow::Result<Vec<NodeView>> {
    let api: Api<Node> = Api::all(client.clone());
    let mut views = Vec::new();
    for i in 0..config.count {
        let name = format!("localcluster-node-{i}");
        let labels = BTreeMap::from([
            ("kubernetes.io/hostname".to_string(), name.clone()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
        ]);
        let capacity = json!({"cpu": config.cpu.to_string(), "memory": format!("{}Gi", config.memory_gib), "pods": "1100"});
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
        let status = json!({"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "simulated node", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "nodeInfo": {"kubeletVersion": "v1.33.0-localcluster", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "localcluster://simulated", "kernelVersion": "", "osImage": "localcluster",
                         "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        }});
        api.patch_status(&name, &as_kubelet(), &Patch::Merge(&status))
            .await?;
        views.push(NodeView {
            name,
            labels,
            taints: vec![],
            allocatable: Resources {
                millicores: config.cpu * 1000,
                bytes: config.memory_gib << 30,
            },
            allocated: Resources::default(),
        });
    }
    Ok(views)
}

async fn handle(client: &Client, state: &Arc<Mutex<State>>, pod: Pod) {
    let pod_key = key(&pod);
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        // The kubelet stops the containers, then confirms the deletion.
        let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
        let process = state.lock().await.running.remove(&pod_key);
        if let Some((control, dir)) = process {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(30)
                .clamp(0, MAX_PROCESS_GRACE_SECONDS);
            let (client, state, name) = (client.clone(), state.clone(), pod.name_any());
            tokio::spawn(async move {
                control.stop(Duration::from_secs(grace as u64)).await;
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
                process::remove_pod_dir(&dir);
                release(&client, &state, &pod_key).await;
            });
            return;
        }
        let _ = api
            .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
            .await;
        release(client, state, &pod_key).await;
        return;
    }
    if phase == "Succeeded" || phase == "Failed" {
        release(client, state, &pod_key).await;
        return;
    }
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    match node_name {
        None => schedule(client, state, pod).await,
        Some(node) => start(client, state, pod, node).await,
    }
}

async fn schedule(client: &Client, state: &Arc<Mutex<State>>, pod: Pod) {
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
            let status = json!({"status": kubelet::unschedulable_status(&reason, &now())});
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

async fn start(client: &Client, state: &Arc<Mutex<State>>, pod: Pod, node: String) {
    let pod_key = key(&pod);
    let (pod_ip, run) = {
        let mut state = state.lock().await;
        if !state.started.insert(pod_key.clone()) {
            return;
        }
        let runs = state.runs.entry(pod_key.clone()).or_default();
        let run = *runs;
        *runs += 1;
        if !state.bound.contains_key(&pod_key) {
            // Bound by someone else (a test writing spec.nodeName): count it on its node.
            let requests = serde_json::to_value(&pod)
                .map(|v| pod_requests(&v))
                .unwrap_or_default();
            if let Some(view) = state.nodes.iter_mut().find(|n| n.name == node) {
                view.allocated = view.allocated.add(&requests);
            }
            state
                .bound
                .insert(pod_key.clone(), (node.clone(), requests));
        }
        state.next_ip += 1;
        (Ipv4Addr::from(state.next_ip).to_string(), run)
    };
    let value = match serde_json::to_value(&pod) {
        Ok(v) => v,
        Err(_) => return,
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let running = kubelet::running_status(&value, "127.0.0.1", &pod_ip, &now());
    let name = pod.name_any();
    if let Err(error) = api
        .patch_status(
            &name,
            &as_kubelet(),
            &Patch::Merge(&json!({"status": running})),
        )
        .await
    {
        debug!(pod = %pod_key, %error, "could not start pod");
        return;
    }
    let runtime = state.lock().await.processes.clone();
    if let Some(runtime) = runtime.filter(|r| r.container_of(&value).is_some()) {
        let state = state.clone();
        let client = client.clone();
        tokio::spawn(async move {
            run_process(&client, &state, &runtime, &value, &running, &pod_ip).await;
        });
        return;
    }
    let mut plan = kubelet::run_plan(&value);
    if let Some(code) = kubelet::exit_code_of_run(&value, run) {
        plan.exit_code = code;
    }
    let driver = spark::is_driver(&value);
    // In a task of its own: it may wait for the driver's ConfigMap, and the watch loop must not.
    let creating = driver.then(|| {
        let (api, value) = (api.clone(), value.clone());
        tokio::spawn(async move { start_executors(&api, &value).await })
    });
    if let Some(duration) = plan.duration {
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            if let Some(creating) = creating {
                let _ = creating.await;
                end_executors(&api, &value, plan.exit_code).await;
            }
            let finished = kubelet::finished_status(&running, plan.exit_code, &now());
            let _ = api
                .patch_status(
                    &name,
                    &as_kubelet(),
                    &Patch::Merge(&json!({"status": finished})),
                )
                .await;
        });
    }
}

/// Runs the Spark container of a pod as a process and reports how it ended.
async fn run_process(
    client: &Client,
    state: &Arc<Mutex<State>>,
    runtime: &process::ProcessRuntime,
    pod: &Value,
    running: &Value,
    pod_ip: &str,
) {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let pod_key = format!("{namespace}/{name}");
    let exit_code = match runtime.start(client, pod, pod_ip).await {
        Ok(started) => {
            state.lock().await.running.insert(
                pod_key.clone(),
                (started.control.clone(), runtime.pod_dir(pod)),
            );
            let code = started.exit.await.unwrap_or(128);
            if state.lock().await.running.remove(&pod_key).is_none() {
                // Stopped because the pod is being deleted: the deletion reports it.
                return;
            }
            code
        }
        Err(reason) => {
            let container = runtime
                .container_of(pod)
                .and_then(|c| c["name"].as_str())
                .unwrap_or_default();
            runtime.log(
                namespace,
                name,
                container,
                &format!("localcluster: {reason}"),
            );
            warn!(pod = %pod_key, %reason, "container process could not start");
            1
        }
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let finished = kubelet::finished_status(running, exit_code, &now());
    let _ = api
        .patch_status(
            name,
            &as_kubelet(),
            &Patch::Merge(&json!({"status": finished})),
        )
        .await;
}

/// Creates the executors of a driver that just started, as the Spark driver would.
async fn start_executors(api: &Api<Pod>, driver: &Value) {
    let Some(conf_map) = spark::driver_conf_map(driver) else {
        return;
    };
    let namespace = driver["metadata"]["namespace"].as_str().unwrap_or_default();
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(api.clone().into_client(), namespace);
    // spark-submit creates the ConfigMap just after the pod (owned by it); a kubelet would wait
    // for the volume before starting the container, so the simulated driver waits for it too.
    let mut waited = 0;
    let properties = loop {
        match config_maps.get_opt(&conf_map).await {
            Ok(Some(cm)) => {
                break cm
                    .data
                    .and_then(|mut data| data.remove("spark.properties"))
                    .unwrap_or_default();
            }
            Ok(None) if waited < 100 => {
                waited += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(None) | Err(_) => {
                debug!(conf_map, "driver configuration not found; no executors");
                return;
            }
        }
    };
    for executor in spark::executor_pods(driver, &spark::parse_properties(&properties)) {
        let Ok(pod) = serde_json::from_value::<Pod>(executor) else {
            continue;
        };
        if let Err(error) = api.create(&post_as(SPARK_DRIVER), &pod).await {
            debug!(%error, pod = %pod.name_any(), "could not create executor");
        }
    }
}

/// Ends the executors of a driver that is ending, as Spark stops them before the driver exits.
async fn end_executors(api: &Api<Pod>, driver: &Value, exit_code: i32) {
    let Some(app_id) = driver["metadata"]["labels"]["spark-app-selector"].as_str() else {
        return;
    };
    let selector = format!("spark-app-selector={app_id},spark-role=executor");
    let Ok(executors) = api
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
    else {
        return;
    };
    for executor in executors {
        let Ok(value) = serde_json::to_value(&executor) else {
            continue;
        };
        let running = if value["status"]["phase"] == "Running" {
            value["status"].clone()
        } else {
            kubelet::running_status(&value, "127.0.0.1", "", &now())
        };
        let code = spark::executor_exit_code(&value, exit_code);
        let finished = kubelet::finished_status(&running, code, &now());
        let _ = api
            .patch_status(
                &executor.name_any(),
                &as_kubelet(),
                &Patch::Merge(&json!({"status": finished})),
            )
            .await;
    }
}

/// Frees the node room of a pod that ended or was deleted, and retries pods waiting for room.
async fn release(client: &Client, state: &Arc<Mutex<State>>, pod_key: &str) {
    let waiting: Vec<Pod> = {
        let mut state = state.lock().await;
        state.started.remove(pod_key);
        state.unschedulable.remove(pod_key);
        let Some((node, requests)) = state.bound.remove(pod_key) else {
            return;
        };
        if let Some(view) = state.nodes.iter_mut().find(|n| n.name == node) {
            view.allocated = view.allocated.saturating_sub(&requests);
        }
        state.unschedulable.values().cloned().collect()
    };
    for pod in waiting {
        Box::pin(schedule(client, state, pod)).await;
    }
}
