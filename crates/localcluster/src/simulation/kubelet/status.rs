//! What a simulated kubelet plans for a pod and the statuses it reports, as pure functions of
//! the pod: how long its containers run and how they end (from its annotations), and the status
//! of a pod running and of one whose containers ended. The kubelet (`super`) writes them.

use std::time::Duration;

use serde_json::{Value, json};

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
/// defaults (a pod is never refused for them). A pod with `restartPolicy: Always` and none of the
/// run annotations is a server, as the pods of Deployments, StatefulSets and DaemonSets are: it
/// runs until deleted (a real kubelet would restart its container whenever it ended).
pub fn run_plan(pod: &Value) -> RunPlan {
    let annotations = &pod["metadata"]["annotations"];
    let planned = [
        RUN_SECONDS_ANNOTATION,
        EXIT_CODE_ANNOTATION,
        EXIT_CODES_ANNOTATION,
    ]
    .iter()
    .any(|annotation| annotations.get(annotation).is_some());
    let serves = pod["spec"]["restartPolicy"] == "Always" && !planned;
    let duration = match annotations[RUN_SECONDS_ANNOTATION].as_str().map(str::trim) {
        _ if serves => None,
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

pub(in crate::simulation) fn condition(kind: &str, status: bool, now: &str) -> Value {
    json!({"type": kind, "status": if status { "True" } else { "False" },
           "lastProbeTime": null, "lastTransitionTime": now})
}

pub(in crate::simulation) fn container_names(pod: &Value, field: &str) -> Vec<(String, String)> {
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

/// Whether the kubelet restarts the containers of `pod` that exited with `exit_code`, in place:
/// always under `restartPolicy: Always` (the default), after a failure under `OnFailure`, never
/// under `Never`.
pub fn restarts(pod: &Value, exit_code: i32) -> bool {
    match pod["spec"]["restartPolicy"].as_str().unwrap_or("Always") {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// How long the kubelet waits before restart number `restart` (1 for the first) of a container:
/// the first at once, then 10 s doubling up to 5 minutes, the back-off `CrashLoopBackOff` names.
pub fn restart_back_off(restart: u32) -> Duration {
    match restart {
        0 | 1 => Duration::ZERO,
        n => Duration::from_secs(10)
            .saturating_mul(1 << (n - 2).min(5))
            .min(Duration::from_secs(300)),
    }
}

/// The `lastState` of containers of the `running` status that exited with `exit_code`.
pub fn ended_state(running: &Value, exit_code: i32, now: &str) -> Value {
    let started = &running["containerStatuses"][0]["state"]["running"]["startedAt"];
    let reason = if exit_code == 0 { "Completed" } else { "Error" };
    json!({"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started,
                          "finishedAt": now}})
}

/// The status of a pod whose containers ended (`last`) and wait `back_off` before restart
/// number `restart`: still Running, not ready, `CrashLoopBackOff` with the kubelet's message.
pub fn back_off_status(
    pod: &Value,
    running: &Value,
    last: &Value,
    restart: u32,
    back_off: Duration,
) -> Value {
    let mut status = running.clone();
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    for container in status["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let name = container["name"].as_str().unwrap_or_default().to_string();
        let message = format!(
            "back-off {}s restarting failed container={name} pod={pod_name}_{namespace}({uid})",
            back_off.as_secs()
        );
        container["ready"] = json!(false);
        container["started"] = json!(false);
        container["restartCount"] = json!(restart - 1);
        container["lastState"] = last.clone();
        container["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}});
    }
    for condition in status["conditions"].as_array_mut().into_iter().flatten() {
        if matches!(
            condition["type"].as_str(),
            Some("Ready" | "ContainersReady")
        ) {
            condition["status"] = json!("False");
            condition["reason"] = json!("ContainersNotReady");
        }
    }
    status
}

/// The status of a pod whose containers were restarted for the `restart`th time at `now`: the
/// `running` status it started with, its containers' last run as their `lastState`.
pub fn restarted_status(running: &Value, last: &Value, restart: u32, now: &str) -> Value {
    let mut status = running.clone();
    for container in status["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        container["restartCount"] = json!(restart);
        container["lastState"] = last.clone();
        if container["state"]["running"].is_object() {
            container["state"]["running"]["startedAt"] = json!(now);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: Value) -> Value {
        json!({"metadata": {"name": "p", "uid": "u1", "annotations": annotations},
               "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
    }

    #[test]
    fn containers_restart_in_place_as_their_policy_says_after_a_growing_back_off() {
        let with = |policy: &str| json!({"spec": {"restartPolicy": policy}});
        assert!(restarts(&json!({"spec": {}}), 0));
        assert!(restarts(&with("Always"), 0));
        assert!(restarts(&with("OnFailure"), 1) && !restarts(&with("OnFailure"), 0));
        assert!(!restarts(&with("Never"), 1));
        let back_offs: Vec<u64> = (1..=8).map(|n| restart_back_off(n).as_secs()).collect();
        assert_eq!(back_offs, [0, 10, 20, 40, 80, 160, 300, 300]);

        let pod = pod(json!({}));
        let running = running_status(&pod, "127.0.0.1", "127.1.0.2", "t0");
        let last = ended_state(&running, 1, "t1");
        assert_eq!(last["terminated"]["startedAt"], "t0");
        let waiting = back_off_status(&pod, &running, &last, 2, Duration::from_secs(10));
        let container = &waiting["containerStatuses"][0];
        assert_eq!(waiting["phase"], "Running");
        assert_eq!(container["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(
            container["state"]["waiting"]["message"],
            "back-off 10s restarting failed container=main pod=p_(u1)"
        );
        assert_eq!(container["restartCount"], 1);
        assert_eq!(container["lastState"]["terminated"]["exitCode"], 1);
        let again = restarted_status(&running, &last, 2, "t2");
        assert_eq!(again["containerStatuses"][0]["restartCount"], 2);
        assert_eq!(
            again["containerStatuses"][0]["state"]["running"]["startedAt"],
            "t2"
        );
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
    fn a_pod_restarted_always_serves_unless_annotated() {
        let mut server = pod(json!({}));
        server["spec"]["restartPolicy"] = json!("Always");
        assert_eq!(run_plan(&server).duration, None);
        server["metadata"]["annotations"] = json!({RUN_SECONDS_ANNOTATION: "2"});
        assert_eq!(run_plan(&server).duration, Some(Duration::from_secs(2)));
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
