//! Readiness of a container run as a process. Kubernetes reports a container with a startup or
//! readiness probe ready only once the probe passes, and clients of a server (a Spark Connect
//! server, whose probes are TCP probes of its gRPC port) wait for that. For a process, a
//! `tcpSocket` probe is a connection to the pod's IP and port, tried until one is accepted;
//! the pod is reported not ready until then, ready after. Other probes (`exec`, `httpGet`,
//! `grpc`) are not run: a container with only those is ready at once, as before.

use std::time::Duration;

use serde_json::{Value, json};

/// How often a probe is tried (Kubernetes: the probe's `periodSeconds`, 10 s by default; a
/// process is probed more often, so that tests and users wait less, never sooner than it
/// accepts).
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// The port of the container's `tcpSocket` readiness probe, else of its startup probe, when it
/// has one: a number, or the name of one of its ports.
pub fn tcp_probe_port(container: &Value) -> Option<u16> {
    ["readinessProbe", "startupProbe"].iter().find_map(|probe| {
        let port = &container[*probe]["tcpSocket"]["port"];
        match port {
            Value::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(name) => container["ports"]
                .as_array()?
                .iter()
                .find(|p| p["name"].as_str() == Some(name.as_str()))?["containerPort"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok()),
            _ => None,
        }
    })
}

/// `status` (a running pod's) with `container` and the pod not ready, as before its probe passes.
pub fn not_ready(status: &Value, container: &str) -> Value {
    with_readiness(status, container, false, None)
}

/// `status` with `container` ready since `now`, and the pod ready when all its containers are.
pub fn ready(status: &Value, container: &str, now: &str) -> Value {
    with_readiness(status, container, true, Some(now))
}

fn with_readiness(status: &Value, container: &str, ready: bool, now: Option<&str>) -> Value {
    let mut status = status.clone();
    if let Some(containers) = status["containerStatuses"].as_array_mut() {
        for c in containers.iter_mut().filter(|c| c["name"] == container) {
            c["ready"] = json!(ready);
        }
    }
    let all_ready = status["containerStatuses"]
        .as_array()
        .is_some_and(|all| all.iter().all(|c| c["ready"] == true));
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions.iter_mut() {
            if matches!(c["type"].as_str(), Some("Ready" | "ContainersReady")) {
                c["status"] = json!(if all_ready { "True" } else { "False" });
                if all_ready {
                    c.as_object_mut().map(|c| c.remove("reason"));
                } else {
                    c["reason"] = json!("ContainersNotReady");
                }
                if let Some(now) = now {
                    c["lastTransitionTime"] = json!(now);
                }
            }
        }
    }
    status
}

/// Resolves once `ip:port` accepts a TCP connection.
pub async fn accepting(ip: &str, port: u16) {
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect((ip, port)),
        )
        .await;
        if let Ok(Ok(_)) = attempt {
            return;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::kubelet::running_status;

    #[test]
    fn tcp_probes_by_number_or_port_name() {
        let by_number = json!({"readinessProbe": {"tcpSocket": {"port": 15002}}});
        assert_eq!(tcp_probe_port(&by_number), Some(15002));
        let by_name = json!({"startupProbe": {"tcpSocket": {"port": "grpc"}},
                             "ports": [{"name": "grpc", "containerPort": 15002}]});
        assert_eq!(tcp_probe_port(&by_name), Some(15002));
        let exec = json!({"readinessProbe": {"exec": {"command": ["true"]}}});
        assert_eq!(tcp_probe_port(&exec), None);
    }

    #[test]
    fn the_pod_is_ready_once_its_probed_container_is() {
        let pod = json!({"metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "server", "image": "i"}, {"name": "side", "image": "i"}]}});
        let running = running_status(&pod, "127.0.0.1", "127.1.0.2", "t0");
        let waiting = not_ready(&running, "server");
        assert_eq!(waiting["containerStatuses"][0]["ready"], false);
        assert_eq!(waiting["containerStatuses"][1]["ready"], true);
        let condition = |status: &Value, kind: &str| {
            status["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == kind)
                .unwrap()
                .clone()
        };
        assert_eq!(condition(&waiting, "Ready")["status"], "False");
        assert_eq!(
            condition(&waiting, "ContainersReady")["reason"],
            "ContainersNotReady"
        );
        let up = ready(&waiting, "server", "t1");
        assert_eq!(condition(&up, "Ready")["status"], "True");
        assert_eq!(condition(&up, "Ready")["lastTransitionTime"], "t1");
        assert_eq!(condition(&up, "Ready").get("reason"), None);
    }

    #[tokio::test]
    async fn a_probe_passes_once_the_port_accepts() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::time::timeout(Duration::from_secs(5), accepting("127.0.0.1", port))
            .await
            .expect("the port accepts");
        drop(listener);
        let closed = tokio::time::timeout(Duration::from_millis(600), accepting("127.0.0.1", port));
        assert!(closed.await.is_err(), "nothing listens any more");
    }
}
