//! Service names for processes. Spark's executors reach their driver at `<svc>.<ns>.svc`, which
//! only cluster DNS knows; a process gets a hosts file instead (the JVM reads it through
//! `-Djdk.net.hosts.file`), mapping each Service to the IP of a running pod it selects.

use serde_json::Value;

/// The hosts file: loopback and this machine's name, then each Service with a selector and a
/// running pod it selects, under the names cluster DNS would give it.
pub fn hosts_file(services: &[Value], pods: &[Value], machine_hostname: &str) -> String {
    let mut out = String::from("127.0.0.1 localhost\n::1 localhost\n");
    if !machine_hostname.is_empty() && machine_hostname != "localhost" {
        out.push_str(&format!("127.0.0.1 {machine_hostname}\n"));
    }
    for service in services {
        let Some(ip) = selected_pod_ip(service, pods) else {
            continue;
        };
        let name = service["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = service["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        out.push_str(&format!(
            "{ip} {name}.{namespace}.svc.cluster.local {name}.{namespace}.svc {name}.{namespace}\n"
        ));
    }
    out
}

/// The IP of the first running pod (by name) of the Service's namespace that its selector matches.
fn selected_pod_ip(service: &Value, pods: &[Value]) -> Option<String> {
    let first = *crate::endpoints::selected(service, pods).first()?;
    first["status"]["podIP"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, namespace: &str, role: &str, phase: &str, ip: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": namespace, "labels": {"app": "pi", "spark-role": role}},
               "status": {"phase": phase, "podIP": ip}})
    }

    #[test]
    fn services_resolve_to_a_running_selected_pod_of_their_namespace() {
        let services = [
            json!({"metadata": {"name": "pi-driver-svc", "namespace": "jobs"},
                   "spec": {"selector": {"app": "pi", "spark-role": "driver"}}}),
            json!({"metadata": {"name": "headless", "namespace": "jobs"}, "spec": {}}),
            json!({"metadata": {"name": "idle", "namespace": "jobs"}, "spec": {"selector": {"app": "none"}}}),
        ];
        let pods = [
            pod("pi-driver", "other", "driver", "Running", "127.1.0.2"),
            pod("pi-driver-old", "jobs", "driver", "Failed", "127.1.0.3"),
            pod("pi-driver", "jobs", "driver", "Running", "127.1.0.4"),
            pod("pi-exec-1", "jobs", "executor", "Running", "127.1.0.5"),
        ];
        let hosts = hosts_file(&services, &pods, "laptop");
        assert_eq!(
            hosts,
            "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 laptop\n\
             127.1.0.4 pi-driver-svc.jobs.svc.cluster.local pi-driver-svc.jobs.svc pi-driver-svc.jobs\n"
        );
    }
}
