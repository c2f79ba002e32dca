//! The pods a Service reaches without its Endpoints: the running pods of its namespace that its
//! selector selects, and the port a Service port reaches on each. The hosts files of pods run as
//! processes (there is no cluster DNS) and the Service proxy, before the endpoints controller has
//! written a Service's Endpoints, read them from here; the controllers resolve ports with
//! [`target_port`] too.

use std::borrow::Borrow;

use serde_json::Value;

/// The running pods with an IP that `service`'s selector selects, by name. A Service without a
/// selector selects none (its Endpoints are whoever writes them).
pub fn selected<'a>(service: &Value, pods: &'a [impl Borrow<Value>]) -> Vec<&'a Value> {
    let Some(selector) = service["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    let namespace = service["metadata"]["namespace"].as_str();
    let mut matching: Vec<&Value> = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|pod| pod["metadata"]["namespace"].as_str() == namespace)
        .filter(|pod| pod["status"]["phase"] == "Running")
        .filter(|pod| pod["metadata"]["deletionTimestamp"].is_null())
        .filter(|pod| {
            pod["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| !ip.is_empty())
        })
        .filter(|pod| {
            selector
                .iter()
                .all(|(key, value)| pod["metadata"]["labels"][key] == *value)
        })
        .collect();
    matching.sort_by_key(|pod| {
        pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    matching
}

/// The port of `pod` that `service_port` targets: `targetPort` as a number, or the container port
/// of the same protocol it names, or the Service port itself when it names none.
pub fn target_port(service_port: &Value, pod: &Value) -> Option<u16> {
    let port = |value: &Value| value.as_u64().and_then(|p| u16::try_from(p).ok());
    match &service_port["targetPort"] {
        Value::Null => port(&service_port["port"]),
        Value::String(name) => match name.parse::<u16>() {
            Ok(number) => Some(number),
            Err(_) => pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["ports"].as_array().into_iter().flatten())
                .find(|p| {
                    p["name"].as_str() == Some(name.as_str())
                        && protocol(p) == protocol(service_port)
                })
                .and_then(|p| port(&p["containerPort"])),
        },
        number => port(number),
    }
}

/// A port's protocol, `TCP` when unset.
fn protocol(port: &Value) -> &str {
    port["protocol"].as_str().unwrap_or("TCP")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn running_selected_pods_and_their_target_ports() {
        let service =
            json!({"metadata": {"namespace": "jobs"}, "spec": {"selector": {"app": "ui"}}});
        let pod = |name: &str, phase: &str| {
            json!({
            "metadata": {"name": name, "namespace": "jobs", "labels": {"app": "ui"}},
            "spec": {"containers": [{"ports": [{"name": "spark-ui", "containerPort": 4040}]}]},
            "status": {"phase": phase, "podIP": "127.1.0.3"}})
        };
        let pods = [
            pod("b", "Running"),
            pod("a", "Running"),
            pod("c", "Pending"),
        ];
        let names: Vec<&str> = selected(&service, &pods)
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            target_port(&json!({"port": 80, "targetPort": "spark-ui"}), &pods[0]),
            Some(4040)
        );
        assert_eq!(
            target_port(&json!({"port": 80, "targetPort": 8080}), &pods[0]),
            Some(8080)
        );
        assert_eq!(target_port(&json!({"port": 80}), &pods[0]), Some(80));
    }
}
