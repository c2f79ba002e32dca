//! The simulated kubelets: they register their nodes, report a bound pod Running at a pod IP of
//! its own, run it for the time its annotations ask and report it ended with the exit code they
//! ask for (or run its Spark container as a process, with a [`ProcessRuntime`]), and stop a
//! deleted pod's containers before confirming its deletion. The statuses they write are pure
//! functions of the pod, below.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tracing::{debug, warn};

use super::process::{self, ProcessRuntime};
use super::resources::{Resources, pod_requests};
use super::scheduler::NodeView;
use super::{NodesConfig, State, key, now, patch_as, post_as, release};

/// The field manager of the kubelets' writes.
const KUBELET: &str = "kubelet";

/// Longest a deleted pod's processes get to stop before they are killed.
const MAX_PROCESS_GRACE_SECONDS: i64 = 10;

/// How long a simulated pod runs: `localcluster/run-seconds` (default 1, or `forever`).
pub const RUN_SECONDS_ANNOTATION: &str = "localcluster/run-seconds";
/// How a simulated pod ends: `localcluster/exit-code` (default 0).
pub const EXIT_CODE_ANNOTATION: &str = "localcluster/exit-code";

/// Exit codes of the successive runs of pods of one name, comma-separated (`1,0`: the first run
/// fails, the next ones succeed); the last repeats. Wins over `localcluster/exit-code`.
pub const EXIT_CODES_ANNOTATION: &str = "localcluster/exit-codes";

/// The exit code of run `run` (0 for the first) of a pod, from `localcluster/exit-codes`.
pub fn exit_code_of_run(pod: &Value, run: usize) -> Option<i32> {
    let codes: Vec<i32> = pod["metadata"]["annotations"][EXIT_CODES_ANNOTATION]
        .as_str()?
        .split(',')
        .filter_map(|code| code.trim().parse().ok())
        .collect();
    codes.get(run).or(codes.last()).copied()
}

/// How one pod's simulated run goes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// None: runs until deleted.
    pub duration: Option<Duration>,
    pub exit_code: i32,
}

/// Reads the run plan from the pod's annotations; values that cannot be read fall back to the
/// defaults (a pod is never refused for them).
pub fn run_plan(pod: &Value) -> RunPlan {
    let annotations = &pod["metadata"]["annotations"];
    let duration = match annotations[RUN_SECONDS_ANNOTATION].as_str().map(str::trim) {
        Some("forever") => None,
        Some(seconds) => Some(
            seconds
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(1)),
        ),
        None => Some(Duration::from_secs(1)),
    };
    let exit_code = annotations[EXIT_CODE_ANNOTATION]
        .as_str()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    RunPlan {
        duration,
        exit_code,
    }
}

fn condition(kind: &str, status: bool, now: &str) -> Value {
    json!({"type": kind, "status": if status { "True" } else { "False" },
           "lastProbeTime": null, "lastTransitionTime": now})
}

fn container_names(pod: &Value, field: &str) -> Vec<(String, String)> {
    pod["spec"][field]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["image"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The status of a pod that was just bound to `node` and whose containers are now running.
pub fn running_status(pod: &Value, host_ip: &str, pod_ip: &str, now: &str) -> Value {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let containers: Vec<Value> = container_names(pod, "containers")
        .into_iter()
        .map(|(name, image)| {
            json!({"name": name, "image": image, "imageID": format!("localcluster://{image}"),
                   "containerID": format!("localcluster://{uid}/{name}"), "ready": true,
                   "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    let init: Vec<Value> = container_names(pod, "initContainers")
        .into_iter()
        .map(|(name, image)| {
            json!({"name": name, "image": image, "imageID": format!("localcluster://{image}"),
                   "containerID": format!("localcluster://{uid}/{name}"), "ready": true,
                   "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                   "startedAt": now, "finishedAt": now}}})
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "qosClass": "Burstable",
        "conditions": [
            condition("PodReadyToStartContainers", true, now),
            condition("Initialized", true, now),
            condition("Ready", true, now),
            condition("ContainersReady", true, now),
            condition("PodScheduled", true, now),
        ],
        "containerStatuses": containers,
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init);
    }
    status
}

/// The status of a running pod whose containers have all exited with `exit_code`.
pub fn finished_status(running: &Value, exit_code: i32, now: &str) -> Value {
    let mut status = running.clone();
    let succeeded = exit_code == 0;
    status["phase"] = json!(if succeeded { "Succeeded" } else { "Failed" });
    let reason = if succeeded { "Completed" } else { "Error" };
    if let Some(containers) = status["containerStatuses"].as_array_mut() {
        for container in containers {
            let started = container["state"]["running"]["startedAt"].clone();
            container["ready"] = json!(false);
            container["started"] = json!(false);
            container["state"] = json!({"terminated": {"exitCode": exit_code, "reason": reason,
                "startedAt": started, "finishedAt": now,
                "containerID": container["containerID"].clone()}});
        }
    }
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions {
            if matches!(
                c["type"].as_str(),
                Some("Ready" | "ContainersReady" | "PodReadyToStartContainers")
            ) {
                c["status"] = json!("False");
                c["reason"] = json!("PodCompleted");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
    status
}

/// Options of a write recorded as the kubelet's.
pub(super) fn as_kubelet() -> PatchParams {
    patch_as(KUBELET)
}

/// Registers `config.count` Ready nodes, as their kubelets would.
pub(super) async fn register_nodes(
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
    pub(super) plan: RunPlan,
}

impl SimulatedRun {
    /// Reports the containers ended with the plan's exit code.
    pub(super) async fn end(self) {
        let name = self.pod["metadata"]["name"].as_str().unwrap_or_default();
        let finished = finished_status(&self.running, self.plan.exit_code, &now());
        write_status(&self.api, name, finished).await;
    }

    /// Ends the run once its plan's time is up (never, for a pod that runs until deleted).
    pub(super) fn end_as_planned(self) {
        if let Some(duration) = self.plan.duration {
            tokio::spawn(async move {
                tokio::time::sleep(duration).await;
                self.end().await;
            });
        }
    }
}

/// Starts a bound pod: reports it Running with a pod IP of its own, then runs its Spark container
/// as a process when the runtime takes it, or returns its simulated run.
pub(super) async fn start(
    client: &Client,
    state: &Arc<Mutex<State>>,
    pod: Pod,
    node: String,
) -> Option<SimulatedRun> {
    let pod_key = key(&pod);
    let (pod_ip, run) = {
        let mut state = state.lock().await;
        if !state.started.insert(pod_key.clone()) {
            return None;
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
    let value = serde_json::to_value(&pod).ok()?;
    let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let mut running = running_status(&value, "127.0.0.1", &pod_ip, &now());
    let runtime = state.lock().await.processes.clone();
    let runtime = runtime.filter(|r| r.container_of(&value).is_some());
    // A process with a TCP probe is ready once it accepts connections (`process::probes`).
    if let Some(container) = runtime.as_ref().and_then(|r| r.container_of(&value))
        && process::probes::tcp_probe_port(container).is_some()
    {
        let name = container["name"].as_str().unwrap_or_default();
        running = process::probes::not_ready(&running, name);
    }
    let name = pod.name_any();
    if !write_status(&api, &name, running.clone()).await {
        debug!(pod = %pod_key, "could not start pod");
        return None;
    }
    if let Some(runtime) = runtime {
        let state = state.clone();
        let client = client.clone();
        tokio::spawn(async move {
            run_process(&client, &state, &runtime, &value, &running, &pod_ip).await;
        });
        return None;
    }
    let mut plan = run_plan(&value);
    if let Some(code) = exit_code_of_run(&value, run) {
        plan.exit_code = code;
    }
    Some(SimulatedRun {
        api,
        pod: value,
        running,
        plan,
    })
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
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let pod_key = format!("{namespace}/{name}");
    let exit_code = match runtime.start(client, pod, pod_ip).await {
        Ok(started) => {
            state.lock().await.running.insert(
                pod_key.clone(),
                (started.control.clone(), runtime.pod_dir(pod)),
            );
            let probe = runtime
                .container_of(pod)
                .and_then(process::probes::tcp_probe_port);
            let mut exit = started.exit;
            let code = match probe {
                Some(port) => tokio::select! {
                    code = &mut exit => code,
                    () = process::probes::accepting(pod_ip, port) => {
                        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
                        let ready = process::probes::ready(running, &started.container, &now());
                        write_status(&api, name, ready).await;
                        exit.await
                    }
                },
                None => exit.await,
            }
            .unwrap_or(128);
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
    let finished = finished_status(running, exit_code, &now());
    write_status(&api, name, finished).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: Value) -> Value {
        json!({"metadata": {"name": "p", "uid": "u1", "annotations": annotations},
               "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
    }

    #[test]
    fn plans_from_annotations() {
        assert_eq!(
            run_plan(&pod(json!({}))),
            RunPlan {
                duration: Some(Duration::from_secs(1)),
                exit_code: 0
            }
        );
        assert_eq!(
            run_plan(&pod(
                json!({RUN_SECONDS_ANNOTATION: "0.5", EXIT_CODE_ANNOTATION: "3"})
            )),
            RunPlan {
                duration: Some(Duration::from_millis(500)),
                exit_code: 3
            }
        );
        assert_eq!(
            run_plan(&pod(json!({RUN_SECONDS_ANNOTATION: "forever"}))).duration,
            None
        );
        assert_eq!(
            run_plan(&pod(json!({RUN_SECONDS_ANNOTATION: "soon"}))).duration,
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn successive_runs_take_successive_exit_codes() {
        let flaky = pod(json!({EXIT_CODES_ANNOTATION: "1, 2,0"}));
        let codes: Vec<_> = (0..5).map(|run| exit_code_of_run(&flaky, run)).collect();
        assert_eq!(codes, [Some(1), Some(2), Some(0), Some(0), Some(0)]);
        assert_eq!(exit_code_of_run(&pod(json!({})), 0), None);
    }

    #[test]
    fn running_then_failed() {
        let running = running_status(
            &pod(json!({})),
            "10.0.0.1",
            "127.1.0.2",
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(running["phase"], "Running");
        assert_eq!(running["podIP"], "127.1.0.2");
        assert_eq!(
            running["containerStatuses"][0]["state"]["running"]["startedAt"],
            "2026-01-01T00:00:00Z"
        );
        let failed = finished_status(&running, 2, "2026-01-01T00:00:05Z");
        assert_eq!(failed["phase"], "Failed");
        let terminated = &failed["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(terminated["exitCode"], 2);
        assert_eq!(terminated["reason"], "Error");
        assert_eq!(terminated["startedAt"], "2026-01-01T00:00:00Z");
        assert_eq!(finished_status(&running, 0, "t")["phase"], "Succeeded");
    }
}
