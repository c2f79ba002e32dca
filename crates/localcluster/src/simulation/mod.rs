//! The simulated nodes, apart from the API server: ordinary API clients (kube-rs over HTTP), as
//! their real counterparts are, so they exercise the same API paths and watch semantics the
//! operator depends on. [`run`] registers the nodes and hands each pod event to them:
//!
//! - [`nodes`]: the machines: registers the nodes, lets Nodes created through the API join, and
//!   keeps what the scheduler knows of each node current as Node objects change.
//! - [`scheduler`]: binds a pending pod to a node with room for it, or reports it unschedulable;
//!   [`gang`]: the batch schedulers that place a group's pods only when the whole group fits.
//! - [`kubelet`]: runs each bound pod through Running to Succeeded or Failed (as its annotations
//!   ask), and stops a deleted pod's containers; [`startup`] is what it waits for first (volume
//!   sources, images ([`images`]), the containers' environment), reported as a kubelet reports it.
//! - [`events`]: the Events the scheduler and kubelets record about pods that do not run.
//! - [`spark`]: what a simulated Spark driver (or Spark Connect server) does while it runs: it
//!   creates its executor pods, and ends them before it ends.
//! - [`process`]: with a [`process::ProcessRuntime`], the kubelet runs a pod's Spark container as
//!   a real process of a local Spark installation, or a container of a mapped image as its local
//!   program, instead of simulating it.
//! - [`resources`]: CPU and memory of nodes and pods, as the scheduler counts them.
//! - [`service_links`]: the Services a kubelet puts into every new pod's environment.
//!
//! `spark` builds on `kubelet` (its executors are run by the kubelets); neither the kubelet nor
//! the scheduler depends on it.

pub mod events;
pub mod executor_pod;
pub mod gang;
pub mod images;
pub mod kubelet;
pub mod nodes;
pub mod process;
pub mod resources;
pub mod scheduler;
pub mod service_links;
pub mod spark;
pub mod startup;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use tokio::sync::Mutex;
use tracing::debug;

use nodes::NodeView;
use resources::Resources;

/// The simulated nodes of a cluster.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    pub count: usize,
    /// CPU of each node, in cores.
    pub cpu: u64,
    /// Memory of each node, in GiB.
    pub memory_gib: u64,
    /// Pods each node can hold.
    pub pods: u64,
    /// Runs Spark containers, and containers of images mapped to programs, as processes; every
    /// container is simulated without it.
    pub processes: Option<process::ProcessRuntime>,
    /// Images no node can pull (globs such as `*:does-not-exist`; see [`images`]).
    pub unpullable_images: Vec<String>,
    /// Batch schedulers installed besides the default scheduler (see [`gang`]).
    pub batch_schedulers: Vec<gang::BatchScheduler>,
}

impl Default for NodesConfig {
    fn default() -> Self {
        Self {
            count: 3,
            cpu: 64,
            memory_gib: 256,
            pods: 1100,
            processes: None,
            unpullable_images: Vec::new(),
            batch_schedulers: Vec::new(),
        }
    }
}

/// What the scheduler and the kubelets know, shared by the tasks that handle pods.
struct State {
    nodes: Vec<NodeView>,
    /// Pods bound by the scheduler and not yet ended: node and requests.
    bound: HashMap<String, (String, Resources)>,
    /// Pods whose run the kubelet has started.
    started: HashSet<String>,
    /// Pods waiting for room, retried when a pod ends or a node changes, with the reason last
    /// reported.
    unschedulable: HashMap<String, (Pod, String)>,
    /// How many times a pod of each namespace/name has been started.
    runs: HashMap<String, usize>,
    next_ip: u32,
    processes: Option<process::ProcessRuntime>,
    /// Container processes running, by pod, with the pod's directory.
    running: HashMap<String, (process::ProcessControl, std::path::PathBuf)>,
    /// Images that cannot be pulled.
    unpullable: Vec<String>,
    events: Arc<events::Recorder>,
    /// The Services of every namespace, as the environment variables pods get.
    links: Arc<std::sync::Mutex<service_links::ServiceLinks>>,
    batch_schedulers: Vec<gang::BatchScheduler>,
    /// The groups the batch schedulers admitted, and their bound pods.
    gangs: gang::Gangs,
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

/// Options of a write recorded under `manager`: the real components' field managers (the API
/// server takes them from their user agents), so that objects carry the `managedFields` they
/// would in a cluster.
fn patch_as(manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    }
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
    let nodes = nodes::register(&client, &config).await?;
    gang::install(&client, &config.batch_schedulers).await?;
    let state = Arc::new(Mutex::new(State {
        nodes,
        bound: HashMap::new(),
        started: HashSet::new(),
        unschedulable: HashMap::new(),
        runs: HashMap::new(),
        next_ip: u32::from(Ipv4Addr::new(127, 1, 0, 1)),
        processes: config.processes.clone(),
        running: HashMap::new(),
        unpullable: config.unpullable_images.clone(),
        events: Arc::default(),
        links: Arc::default(),
        batch_schedulers: config.batch_schedulers.clone(),
        gangs: gang::Gangs::default(),
    }));
    if !config.batch_schedulers.is_empty() {
        tokio::spawn(retry_gangs(client.clone(), state.clone()));
    }
    let links = state.lock().await.links.clone();
    tokio::spawn(service_links::follow(client.clone(), links));
    tokio::spawn(nodes::follow(client.clone(), state.clone(), config.clone()));
    let pods: Api<Pod> = Api::all(client.clone());
    // Backing off keeps a cluster that is going away from turning the retries into a busy loop;
    // a short cap has the nodes back within a second of an API server's return, as the
    // operator's own watches are, so that tests of an outage measure the operator.
    let mut events = watcher::watcher(pods, watcher::Config::default())
        .backoff(NodeBackoff::default())
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                handle(&client, &state, pod).await;
            }
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.uid() {
                    state.lock().await.events.forget(&uid);
                }
                release(&client, &state, &key(&pod)).await
            }
            Ok(Event::Init | Event::InitDone) => {}
            Err(error) => debug!(%error, "pod watch interrupted; resuming"),
        }
    }
    Ok(())
}

/// One pod event: a deleted pod is stopped, an ended one frees its room, a pending one is
/// scheduled and a bound one started.
async fn handle(client: &Client, state: &Arc<Mutex<State>>, pod: Pod) {
    let pod_key = key(&pod);
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if pod.metadata.deletion_timestamp.is_some() {
        kubelet::stop(client, state, &pod).await;
        return;
    }
    if phase == "Succeeded" || phase == "Failed" {
        release(client, state, &pod_key).await;
        return;
    }
    let node_name = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    match node_name {
        None => scheduler::schedule(client, state, pod).await,
        Some(node) => kubelet::start(client, state, pod, node).await,
    }
}

/// A simulated run that just started: a Spark driver's, or a plain one.
fn run_pod(run: kubelet::SimulatedRun) {
    if spark::is_driver(&run.pod) {
        spark::run_driver(run);
    } else if let Some(script) = spark::connect_server(&run.pod).map(str::to_string) {
        spark::run_connect_server(run, &script);
    } else {
        run.end_as_planned();
    }
}

/// Frees the node room of a pod that ended or was deleted, and retries pods waiting for room.
async fn release(client: &Client, state: &Arc<Mutex<State>>, pod_key: &str) {
    {
        let mut state = state.lock().await;
        state.started.remove(pod_key);
        state.unschedulable.remove(pod_key);
        gang::ended(&mut state, pod_key);
        let Some((node, requests)) = state.bound.remove(pod_key) else {
            return;
        };
        if let Some(view) = state.nodes.iter_mut().find(|n| n.name == node) {
            view.allocated = view.allocated.saturating_sub(&requests);
        }
    }
    retry_waiting(client, state).await;
}

/// Tries again the pods no node could take.
async fn retry_waiting(client: &Client, state: &Arc<Mutex<State>>) {
    let waiting: Vec<Pod> = {
        let state = state.lock().await;
        state
            .unschedulable
            .values()
            .map(|(pod, _)| pod.clone())
            .collect()
    };
    for pod in waiting {
        Box::pin(scheduler::schedule(client, state, pod)).await;
    }
}

/// Retries waiting pods every second while batch schedulers run: a PodGroup deleted, or one
/// whose last pods ended, frees room without a pod of its own waiting for it.
async fn retry_gangs(client: Client, state: Arc<Mutex<State>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let waiting = gang::any_waiting_in_groups(&*state.lock().await);
        if waiting {
            retry_waiting(&client, &state).await;
        }
    }
}

/// The simulated nodes' back-off after a failed watch: 100 ms doubling to 1 s.
#[derive(Debug, Default)]
struct NodeBackoff {
    failures: u32,
}

impl Iterator for NodeBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = Duration::from_millis(100 << self.failures.min(4)).min(Duration::from_secs(1));
        self.failures = self.failures.saturating_add(1);
        Some(wait)
    }
}

impl kube::runtime::utils::Backoff for NodeBackoff {
    fn reset(&mut self) {
        self.failures = 0;
    }
}
