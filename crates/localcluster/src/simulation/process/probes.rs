//! Probes of a container run as a process. Kubernetes reports a container with a startup or
//! readiness probe ready only once the probe passes, and clients of a server (a Spark Connect
//! server, whose probes are TCP probes of its gRPC port; the operator, whose Deployment probes
//! `/readyz` over HTTP) wait for that. For a process, a `tcpSocket` probe is a connection to the
//! pod's IP and port, an `httpGet` probe a `GET` there answered with a status from 200 to 399,
//! as the kubelet's; the readiness probe is tried until it passes, the pod reported not ready
//! until then and ready after. A liveness probe is tried every `periodSeconds` after
//! `initialDelaySeconds`, and `failureThreshold` failures in a row stop the container. `exec`,
//! `grpc` and HTTPS probes are not run: a container with only those is ready at once.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How often a readiness probe is tried (Kubernetes: the probe's `periodSeconds`, 10 s by
/// default; a process is probed more often, so that tests and users wait less, never sooner than
/// it accepts).
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// What a probe checks, at the pod's IP.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A TCP connection is accepted.
    Tcp(u16),
    /// `GET path` answers 200 to 399.
    Http { port: u16, path: String },
}

/// A liveness probe and its timing.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    pub check: Check,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

/// The check of a probe that is run (`tcpSocket`, or `httpGet` over HTTP), with its port as a
/// number or the name of one of the container's ports.
fn check_of(container: &Value, probe: &Value) -> Option<Check> {
    let port = |port: &Value| match port {
        Value::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(name) => container["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"].as_str() == Some(name.as_str()))?["containerPort"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    };
    if probe["tcpSocket"].is_object() {
        return port(&probe["tcpSocket"]["port"]).map(Check::Tcp);
    }
    let http = &probe["httpGet"];
    let scheme = http["scheme"].as_str().unwrap_or("HTTP");
    if !http.is_object() || !scheme.eq_ignore_ascii_case("HTTP") {
        return None;
    }
    let path = http["path"].as_str().unwrap_or("/");
    Some(Check::Http {
        port: port(&http["port"])?,
        path: if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        },
    })
}

/// The check of the container's readiness probe, else of its startup probe, when one is run.
pub fn readiness(container: &Value) -> Option<Check> {
    ["readinessProbe", "startupProbe"]
        .iter()
        .find_map(|probe| check_of(container, &container[*probe]))
}

/// The container's liveness probe, with Kubernetes' defaults (10 s period, 1 s timeout, 3
/// failures), when one is run.
pub fn liveness(container: &Value) -> Option<Liveness> {
    let probe = &container["livenessProbe"];
    let seconds = |key: &str, default: u64| {
        Duration::from_secs(probe[key].as_u64().filter(|s| *s > 0).unwrap_or(default))
    };
    Some(Liveness {
        check: check_of(container, probe)?,
        initial_delay: Duration::from_secs(probe["initialDelaySeconds"].as_u64().unwrap_or(0)),
        period: seconds("periodSeconds", 10),
        timeout: seconds("timeoutSeconds", 1),
        failure_threshold: probe["failureThreshold"]
            .as_u64()
            .filter(|n| *n > 0)
            .map_or(3, |n| n as u32),
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

/// Resolves once `check` passes at `ip`.
pub async fn passing(ip: &str, check: &Check) {
    while !passes(ip, check, Duration::from_secs(1)).await {
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Resolves once the container fails `probe` `failureThreshold` times in a row.
pub async fn dead(ip: &str, probe: &Liveness) {
    tokio::time::sleep(probe.initial_delay).await;
    let mut failures = 0;
    loop {
        if passes(ip, &probe.check, probe.timeout).await {
            failures = 0;
        } else {
            failures += 1;
            if failures >= probe.failure_threshold {
                return;
            }
        }
        tokio::time::sleep(probe.period).await;
    }
}

/// Whether `check` passes at `ip` within `timeout`.
pub async fn passes(ip: &str, check: &Check, timeout: Duration) -> bool {
    let attempt = async {
        match check {
            Check::Tcp(port) => tokio::net::TcpStream::connect((ip, *port)).await.is_ok(),
            Check::Http { port, path } => http_status(ip, *port, path)
                .await
                .is_some_and(|code| (200..400).contains(&code)),
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(false)
}

/// The status code of `GET path` at `ip:port`, asked as the kubelet asks.
async fn http_status(ip: &str, port: u16, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nUser-Agent: kube-probe/1.32\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    words
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::kubelet::running_status;

    #[test]
    fn probes_by_port_number_or_name() {
        let by_number = json!({"readinessProbe": {"tcpSocket": {"port": 15002}}});
        assert_eq!(readiness(&by_number), Some(Check::Tcp(15002)));
        let by_name = json!({"startupProbe": {"tcpSocket": {"port": "grpc"}},
                             "ports": [{"name": "grpc", "containerPort": 15002}]});
        assert_eq!(readiness(&by_name), Some(Check::Tcp(15002)));
        let http = json!({"readinessProbe": {"httpGet": {"path": "readyz", "port": "health"}},
                          "ports": [{"name": "health", "containerPort": 8081}]});
        assert_eq!(
            readiness(&http),
            Some(Check::Http {
                port: 8081,
                path: "/readyz".into()
            })
        );
        let exec = json!({"readinessProbe": {"exec": {"command": ["true"]}}});
        assert_eq!(readiness(&exec), None);
        let https = json!({"readinessProbe": {"httpGet": {"port": 443, "scheme": "HTTPS"}}});
        assert_eq!(readiness(&https), None);
    }

    #[test]
    fn liveness_has_kubernetes_defaults() {
        let container = json!({"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8081},
                                                  "periodSeconds": 2}});
        let probe = liveness(&container).unwrap();
        assert_eq!(probe.period, Duration::from_secs(2));
        assert_eq!(probe.timeout, Duration::from_secs(1));
        assert_eq!(probe.failure_threshold, 3);
        assert_eq!(probe.initial_delay, Duration::ZERO);
        assert_eq!(liveness(&json!({})), None);
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
        let check = Check::Tcp(port);
        tokio::time::timeout(Duration::from_secs(5), passing("127.0.0.1", &check))
            .await
            .expect("the port accepts");
        drop(listener);
        let closed = tokio::time::timeout(Duration::from_millis(600), passing("127.0.0.1", &check));
        assert!(closed.await.is_err(), "nothing listens any more");
    }

    #[tokio::test]
    async fn an_http_probe_passes_on_200_to_399() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for status in ["200 OK", "302 Found", "500 Internal Server Error"] {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let read = stream.read(&mut request).await.unwrap();
                let text = String::from_utf8_lossy(&request[..read]).to_string();
                assert!(text.starts_with("GET /readyz HTTP/1.1\r\n"), "{text}");
                let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        let check = Check::Http {
            port,
            path: "/readyz".into(),
        };
        let timeout = Duration::from_secs(2);
        assert!(passes("127.0.0.1", &check, timeout).await);
        assert!(passes("127.0.0.1", &check, timeout).await);
        assert!(!passes("127.0.0.1", &check, timeout).await);
    }
}
