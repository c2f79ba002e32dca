//! The simulated kubelets: once what a bound pod needs is there (its volumes' sources, its
//! images, its containers' environment: `startup`, reported waiting until then), they report it
//! Running at a pod IP of its own, run it for the time its annotations ask and report it ended
//! with the exit code they ask for (or run its Spark container as a process, with a
//! [`ProcessRuntime`]), and stop a deleted pod's containers before confirming its deletion. The
//! statuses they write are pure functions of the pod, in `status`. Nodes themselves are `nodes`'.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::events::Source;
use super::nodes::KUBELET;
use super::process::{self, ProcessRuntime};
use super::resources::pod_requests;
use super::service_links;
use super::startup;
use super::{State, key, now, patch_as, release};

/// Longest a deleted pod's processes get to stop before they are killed.
const MAX_PROCESS_GRACE_SECONDS: i64 = 10;

mod status;

pub use status::{
    EXIT_CODE_ANNOTATION, EXIT_CODES_ANNOTATION, RUN_SECONDS_ANNOTATION, RunPlan, exit_code_of_run,
    finished_status, run_plan, running_status,
};
pub(super) use status::{condition, container_names};

/// Options of a write recorded as the kubelet's.
pub(super) fn as_kubelet() -> PatchParams {
    patch_as(KUBELET)
}

/// A deleted pod: its containers are stopped (a process gets SIGTERM, then SIGKILL after the grace
/// period), then the deletion is confirmed with grace period 0.
pub(super) async fn stop(client: &Client, state: &Arc<Mutex<State>>, pod: &Pod) {
    let pod_key = key(pod);
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
}

/// A pod whose simulated containers were just reported running.
pub(super) struct SimulatedRun {
    pub(super) api: Api<Pod>,
    pub(super) pod: Value,
    /// The status it was reported with, which the finished one builds on.
    running: Value,
    /// The status the pod first ran with, which a restarted one builds on.
    started: Value,
    pub(super) plan: RunPlan,
    /// Which run of a pod of this name it is (for `localcluster/exit-codes`), and how many times
    /// the kubelet restarted its containers in place before this run.
    run: usize,
    restart: u32,
}

impl SimulatedRun {
    /// Reports the containers ended with the plan's exit code.
    pub(super) async fn end(self) {
        let name = self.pod["metadata"]["name"].as_str().unwrap_or_default();
        let finished = finished_status(&self.running, self.plan.exit_code, &now());
        write_status(&self.api, name, finished).await;
    }

    /// Reports the run ended with the plan's exit code; when the pod's restart policy restarts
    /// its containers, restarts them in place after the kubelet's back-off instead and returns
    /// the next run (with the next code of `localcluster/exit-codes`, for the same planned time).
    pub(super) async fn end_or_restart(self) -> Option<SimulatedRun> {
        let restart = self.restart + 1;
        let code = self.plan.exit_code;
        let restarted = restart_after_back_off(
            &self.api,
            &self.pod,
            &self.started,
            &self.running,
            code,
            restart,
        )
        .await?;
        let mut plan = self.plan;
        if let Some(code) = exit_code_of_run(&self.pod, self.run + restart as usize) {
            plan.exit_code = code;
        }
        Some(SimulatedRun {
            running: restarted,
            plan,
            restart,
            ..self
        })
    }

    /// Ends the run once its plan's time is up (never, for a pod that runs until deleted), and
    /// each run its containers are restarted for, as the pod's restart policy says.
    pub(super) fn end_as_planned(self) {
        let Some(duration) = self.plan.duration else {
            return;
        };
        tokio::spawn(async move {
            let mut run = self;
            loop {
                tokio::time::sleep(duration).await;
                match run.end_or_restart().await {
                    Some(next) => run = next,
                    None => return,
                }
            }
        });
    }
}

/// Starts a bound pod once what it needs is there (`startup`): until then it is reported waiting
/// and checked again; then it is reported Running with a pod IP of its own, and its Spark
/// container runs as a process when the runtime takes it, or its simulated run is handed to
/// [`super::run_pod`].
pub(super) async fn start(client: &Client, state: &Arc<Mutex<State>>, pod: Pod, node: String) {
    let pod_key = key(&pod);
    let (pod_ip, run, patterns) = {
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
        let ip = Ipv4Addr::from(state.next_ip).to_string();
        (ip, run, state.unpullable.clone())
    };
    let Ok(value) = serde_json::to_value(&pod) else {
        return;
    };
    let mut tries = startup::Tries::default();
    let blocked = check(client, &value, &pod_ip, &patterns, &mut tries).await;
    if blocked.is_empty() {
        run_started(client, state, value, &pod_ip, run).await;
        return;
    }
    let (client, state) = (client.clone(), state.clone());
    tokio::spawn(async move {
        let mut waiting = Waiting {
            node,
            pod_ip,
            patterns,
            tries,
        };
        if let Some(ready) = waiting.wait(&client, &state, value, blocked).await {
            run_started(&client, &state, ready, &waiting.pod_ip, run).await;
        }
    });
}

/// Checks a pod once, as it would be at `pod_ip` (the environment may name it); a pod whose
/// sources cannot be read now is looked at again soon.
async fn check(
    client: &Client,
    pod: &Value,
    pod_ip: &str,
    patterns: &[String],
    tries: &mut startup::Tries,
) -> startup::Blocked {
    let mut pod = pod.clone();
    pod["status"]["podIP"] = json!(pod_ip);
    pod["status"]["hostIP"] = json!("127.0.0.1");
    let pod = &pod;
    let (config_maps, secrets) = startup::referenced(pod);
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let sources = if config_maps.is_empty() && secrets.is_empty() {
        Ok(Default::default())
    } else {
        startup::fetch_sources(client, namespace, config_maps, secrets).await
    };
    match sources {
        Ok(sources) => startup::check(pod, &sources, patterns, tries, Instant::now()),
        Err(error) => {
            debug!(%error, "could not read a pod's sources");
            startup::Blocked {
                containers: vec![startup::Waiting {
                    container: String::new(),
                    reason: "ContainerCreating".into(),
                    message: String::new(),
                    init: false,
                }],
                next: Duration::from_secs(1),
                ..Default::default()
            }
        }
    }
}

/// A bound pod that cannot start yet.
struct Waiting {
    node: String,
    pod_ip: String,
    patterns: Vec<String>,
    tries: startup::Tries,
}

impl Waiting {
    /// Reports the pod waiting and checks it again until it can start (the pod as it is then) or
    /// is gone.
    async fn wait(
        &mut self,
        client: &Client,
        state: &Arc<Mutex<State>>,
        mut pod: Value,
        mut blocked: startup::Blocked,
    ) -> Option<Value> {
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let events = state.lock().await.events.clone();
        let mut reported = Value::Null;
        loop {
            let status = startup::waiting_status(&pod, &blocked, "127.0.0.1", &self.pod_ip, &now());
            if without_times(&status) != without_times(&reported) {
                let patched = api
                    .patch_status(
                        &name,
                        &as_kubelet(),
                        &Patch::Merge(&json!({"status": status})),
                    )
                    .await;
                if patched.is_ok() {
                    reported = status;
                }
            }
            for event in std::mem::take(&mut blocked.events) {
                let source = Source::Kubelet(&self.node);
                events.record(client, &pod, source, event).await;
            }
            tokio::time::sleep(blocked.next).await;
            let current = match api.get_opt(&name).await {
                Ok(Some(current)) => current,
                Ok(None) => return None,
                // The API server is away: look again later, as a kubelet keeps its pods.
                Err(_) => continue,
            };
            if current.metadata.deletion_timestamp.is_some() {
                return None;
            }
            pod = serde_json::to_value(&current).ok()?;
            blocked = check(client, &pod, &self.pod_ip, &self.patterns, &mut self.tries).await;
            if blocked.is_empty() {
                return Some(pod);
            }
        }
    }
}

/// A status without its timestamps, to tell whether anything a reader cares about changed.
fn without_times(status: &Value) -> Value {
    let mut copy = status.clone();
    if let Some(conditions) = copy["conditions"].as_array_mut() {
        for c in conditions {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
            }
        }
    }
    if let Some(map) = copy.as_object_mut() {
        map.remove("startTime");
    }
    copy
}

/// Reports a pod that can start Running, and runs it.
async fn run_started(
    client: &Client,
    state: &Arc<Mutex<State>>,
    value: Value,
    pod_ip: &str,
    run: usize,
) {
    let namespace = value["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut running = running_status(&value, "127.0.0.1", pod_ip, &now());
    let runtime = state.lock().await.processes.clone();
    let runtime = runtime.filter(|r| r.container_of(&value).is_some());
    // A process with a readiness probe is ready once it passes (`process::probes`).
    if let Some(container) = runtime.as_ref().and_then(|r| r.container_of(&value))
        && process::probes::readiness(container).is_some()
    {
        let container = container["name"].as_str().unwrap_or_default();
        running = process::probes::not_ready(&running, container);
    }
    if let Some(message) = environment_too_large(state, &value).await {
        warn!(pod = %name, "{message}");
        write_status(&api, &name, start_error(&running, &message, &now())).await;
        return;
    }
    if !write_status(&api, &name, running.clone()).await {
        debug!(pod = %name, "could not start pod");
        return;
    }
    if let Some(runtime) = runtime {
        let state = state.clone();
        let client = client.clone();
        let pod_ip = pod_ip.to_string();
        tokio::spawn(async move {
            run_process(&client, &state, &runtime, &value, &running, &pod_ip).await;
        });
        return;
    }
    let mut plan = run_plan(&value);
    if let Some(code) = exit_code_of_run(&value, run) {
        plan.exit_code = code;
    }
    super::run_pod(SimulatedRun {
        api,
        pod: value,
        started: running.clone(),
        running,
        plan,
        run,
        restart: 0,
    });
}

/// Runs the Spark container of a pod as a process and reports how it ended.
async fn run_process(
    client: &Client,
    state: &Arc<Mutex<State>>,
    runtime: &ProcessRuntime,
    pod: &Value,
    running: &Value,
    pod_ip: &str,
) {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut current = running.clone();
    let mut restart = 0;
    loop {
        let Some(exit_code) = run_process_once(client, state, runtime, pod, &current, pod_ip).await
        else {
            return;
        };
        restart += 1;
        match restart_after_back_off(&api, pod, running, &current, exit_code, restart).await {
            Some(restarted) => current = restarted,
            None => return,
        }
    }
}

/// Runs the container's process once: its exit code, or `None` when it was stopped because the
/// pod is being deleted (the deletion reports it).
async fn run_process_once(
    client: &Client,
    state: &Arc<Mutex<State>>,
    runtime: &ProcessRuntime,
    pod: &Value,
    running: &Value,
    pod_ip: &str,
) -> Option<i32> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let pod_key = format!("{namespace}/{name}");
    let namespace_links = {
        let enable = pod["spec"]["enableServiceLinks"].as_bool().unwrap_or(true);
        let links = state.lock().await.links.clone();
        let links = links.lock().unwrap_or_else(|p| p.into_inner());
        links.environment(namespace, enable)
    };
    match runtime.start(client, pod, pod_ip, &namespace_links).await {
        Ok(started) => {
            state.lock().await.running.insert(
                pod_key.clone(),
                (started.control.clone(), runtime.pod_dir(pod)),
            );
            let container = runtime.container_of(pod).cloned().unwrap_or_default();
            let code = watch_probes(client, pod, &container, running, pod_ip, started).await;
            // Removed by the deletion when the pod is being deleted.
            state.lock().await.running.remove(&pod_key).map(|_| code)
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
            Some(1)
        }
    }
}

/// After a pod's containers exited with `exit_code`: when its restart policy restarts them,
/// reports `CrashLoopBackOff` for the back-off, then the pod running again (its status from
/// `started`, the status it first ran with) and returns that status; otherwise, or when the pod
/// went meanwhile, reports it ended (`current` is the status of the run that ended) and `None`.
async fn restart_after_back_off(
    api: &Api<Pod>,
    pod: &Value,
    started: &Value,
    current: &Value,
    exit_code: i32,
    restart: u32,
) -> Option<Value> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    if !status::restarts(pod, exit_code) {
        write_status(api, name, finished_status(current, exit_code, &now())).await;
        return None;
    }
    let last = status::ended_state(current, exit_code, &now());
    let back_off = status::restart_back_off(restart);
    if !back_off.is_zero() {
        let waiting = status::back_off_status(pod, current, &last, restart, back_off);
        write_status(api, name, waiting).await;
        tokio::time::sleep(back_off).await;
    }
    let still_there = api.get_opt(name).await.ok().flatten();
    let same_pod = still_there.filter(|p| {
        p.metadata.uid.as_deref() == pod["metadata"]["uid"].as_str()
            && p.metadata.deletion_timestamp.is_none()
    });
    same_pod?;
    let restarted = status::restarted_status(started, &last, restart, &now());
    write_status(api, name, restarted.clone())
        .await
        .then_some(restarted)
}

/// Waits for a started container process to end: reports it ready once its readiness probe
/// passes, and stops it when its liveness probe fails (`process::probes`). Its exit code.
async fn watch_probes(
    client: &Client,
    pod: &Value,
    container: &Value,
    running: &Value,
    pod_ip: &str,
    started: process::Started,
) -> i32 {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let mut exit = started.exit;
    // Reported once; readiness is not probed again after it passed.
    let ready = async {
        if let Some(check) = process::probes::readiness(container) {
            process::probes::passing(pod_ip, &check).await;
            let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
            let ready = process::probes::ready(running, &started.container, &now());
            write_status(&api, name, ready).await;
        }
        std::future::pending::<()>().await
    };
    let dead = async {
        match process::probes::liveness(container) {
            Some(probe) => process::probes::dead(pod_ip, &probe).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        code = &mut exit => code.unwrap_or(128),
        () = ready => 128,
        () = dead => {
            let grace = pod["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or(30)
                .min(MAX_PROCESS_GRACE_SECONDS as u64);
            warn!(pod = %name, "liveness probe failed; stopping the container");
            started.control.stop(Duration::from_secs(grace)).await;
            exit.await.unwrap_or(128)
        }
    }
}

/// Why a container of `pod` cannot be started with its environment (the namespace's service
/// links, its own variables and its arguments together over the kernel's `ARG_MAX`), in the
/// container runtime's words, if it cannot.
async fn environment_too_large(state: &Arc<Mutex<State>>, pod: &Value) -> Option<String> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let enable = pod["spec"]["enableServiceLinks"].as_bool().unwrap_or(true);
    let links = state.lock().await.links.clone();
    let links_size = links
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .environment_size(namespace, enable);
    let strings = |list: &Value| -> usize {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().map_or(0, str::len) + 1 + size_of::<usize>())
            .sum()
    };
    pod["spec"]["containers"].as_array()?.iter().find_map(|container| {
        let own: Vec<(String, String)> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                let text = |key: &str| v[key].as_str().unwrap_or_default().to_string();
                (text("name"), text("value"))
            })
            .collect();
        let total = links_size
            + service_links::size(&own)
            + strings(&container["command"])
            + strings(&container["args"]);
        let program = container["command"][0]
            .as_str()
            .unwrap_or("/opt/entrypoint.sh");
        (total > service_links::ARG_MAX).then(|| {
            format!(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"{program}\": argument list too long: unknown"
            )
        })
    })
}

/// The status of a pod whose containers could not be started: `StartError`, exit code 128, as
/// containerd reports an `execve` that failed.
fn start_error(running: &Value, message: &str, now: &str) -> Value {
    let mut status = finished_status(running, 128, now);
    for container in status["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let terminated = &mut container["state"]["terminated"];
        terminated["reason"] = json!("StartError");
        terminated["message"] = json!(message);
        terminated["startedAt"] = json!("1970-01-01T00:00:00Z");
    }
    status
}

/// How long the kubelet keeps trying to write a pod's status.
const STATUS_WRITES_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Writes a pod's status as the kubelet's status manager does: again and again, with back-off,
/// until the API server takes it, so that one that was away for a while still learns how the pod
/// ended. Whether it was written (a deleted pod's is not).
async fn write_status(api: &Api<Pod>, name: &str, status: Value) -> bool {
    let patch = json!({ "status": status });
    let deadline = tokio::time::Instant::now() + STATUS_WRITES_FOR;
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match api
            .patch_status(name, &as_kubelet(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return true,
            Err(kube::Error::Api(status)) if status.code == 404 => return false,
            Err(error) if tokio::time::Instant::now() >= deadline => {
                debug!(pod = name, %error, "pod status not written");
                return false;
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
        }
    }
}

/// Simulated log lines of a container, until real processes run in containers.
pub fn simulated_log(pod: &Value, container: &str) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let plan = run_plan(pod);
    let mut log = format!("localcluster: simulated container {container} of pod {name}\n");
    match pod["status"]["phase"].as_str() {
        Some("Succeeded") | Some("Failed") => log.push_str(&format!(
            "localcluster: container exited with code {}\n",
            plan.exit_code
        )),
        Some("Running") => log.push_str("localcluster: running\n"),
        _ => {}
    }
    log
}
