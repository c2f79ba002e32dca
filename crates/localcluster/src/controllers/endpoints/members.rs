//! What both controllers read of a Service and its pods, as Kubernetes' `endpointslice` utilities
//! decide it: which pods are listed at all (selected, with an IP, not ended, and not terminating
//! unless asked), each pod's ports for the Service's ports, and the labels the objects inherit.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::endpoints::target_port;
use crate::meta;

/// The label that marks the endpoints of a Service without a cluster IP.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// The selector of a Service that has one; `None` means its endpoints are written by its users.
pub fn selector(service: &Value) -> Option<&Map<String, Value>> {
    service["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())
}

/// The pods of the Service's namespace that its selector selects, by name.
pub fn selected<'a>(service: &Value, pods: &'a [impl Borrow<Value>]) -> Vec<&'a Value> {
    let Some(selector) = selector(service) else {
        return Vec::new();
    };
    let mut chosen: Vec<&Value> = pods
        .iter()
        .map(Borrow::borrow)
        .filter(|pod| meta::namespace(pod) == meta::namespace(service))
        .filter(|pod| {
            selector
                .iter()
                .all(|(key, value)| pod["metadata"]["labels"][key] == *value)
        })
        .collect();
    chosen.sort_by_key(|pod| meta::name(pod).to_string());
    chosen
}

/// Whether a selected pod is listed: it has an IP, has not ended, and is not being deleted unless
/// terminating pods are asked for.
pub fn is_listed(pod: &Value, include_terminating: bool) -> bool {
    let ended = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    let terminating = meta::deletion_timestamp(pod).is_some();
    !ended && ip(pod).is_some() && (include_terminating || !terminating)
}

/// The pod's IPv4 address (the first of `podIPs`, else `podIP`).
pub fn ip(pod: &Value) -> Option<&str> {
    let listed = pod["status"]["podIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["ip"].as_str())
        .find(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok());
    listed
        .or_else(|| pod["status"]["podIP"].as_str())
        .filter(|ip| !ip.is_empty())
}

/// The pod's `Ready` condition is true.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

pub fn is_terminating(pod: &Value) -> bool {
    meta::deletion_timestamp(pod).is_some()
}

/// A Service without a cluster IP.
pub fn is_headless(service: &Value) -> bool {
    matches!(
        service["spec"]["clusterIP"].as_str(),
        None | Some("" | "None")
    )
}

/// The pod's ports for the Service's ports, as `(Service port, port number)`: a port whose
/// `targetPort` names no container port of the pod is left out.
pub fn ports<'a>(service: &'a Value, pod: &Value) -> Vec<(&'a Value, u16)> {
    service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|port| Some((port, target_port(port, pod)?)))
        .collect()
}

/// An endpoint port (of either kind): the Service port's name, protocol and app protocol, with
/// the pod's port number. Endpoints leave an empty name out; EndpointSlices keep it.
pub fn endpoint_port(service_port: &Value, number: u16, keep_empty_name: bool) -> Value {
    let mut port = json!({
        "port": number,
        "protocol": service_port["protocol"].as_str().unwrap_or("TCP"),
    });
    let name = service_port["name"].as_str().unwrap_or_default();
    if keep_empty_name || !name.is_empty() {
        port["name"] = json!(name);
    }
    if let Some(app) = service_port["appProtocol"].as_str() {
        port["appProtocol"] = json!(app);
    }
    port
}

/// The reference to a pod that an address or endpoint carries.
pub fn target_ref(pod: &Value) -> Value {
    json!({"kind": "Pod", "namespace": meta::namespace(pod), "name": meta::name(pod),
        "uid": meta::uid(pod)})
}

/// The pod's hostname, when it names itself under this Service as its subdomain.
pub fn hostname<'a>(service: &Value, pod: &'a Value) -> Option<&'a str> {
    let hostname = pod["spec"]["hostname"].as_str().filter(|h| !h.is_empty())?;
    let under = pod["spec"]["subdomain"].as_str() == Some(meta::name(service))
        && meta::namespace(pod) == meta::namespace(service);
    under.then_some(hostname)
}

/// The Service's labels without the reserved ones, with the headless label when it has no
/// cluster IP; `reserved` are the keys the objects set themselves.
pub fn inherited_labels(service: &Value, reserved: &[&str]) -> BTreeMap<String, String> {
    let mut labels = meta::labels(service);
    labels.retain(|key, _| key != HEADLESS_LABEL && !reserved.contains(&key.as_str()));
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, labels: Value, status: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "jobs", "uid": format!("uid-{name}"),
            "labels": labels},
            "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": status})
    }

    #[test]
    fn selected_pods_of_the_namespace_by_name() {
        let service = json!({"metadata": {"name": "web", "namespace": "jobs"},
            "spec": {"selector": {"app": "web"}}});
        let mut other = pod("a", json!({"app": "web"}), json!({}));
        other["metadata"]["namespace"] = json!("other");
        let pods = [
            pod("c", json!({"app": "web"}), json!({})),
            pod("b", json!({"app": "db"}), json!({})),
            pod("a0", json!({"app": "web", "x": "y"}), json!({})),
            other,
        ];
        let names: Vec<&str> = selected(&service, &pods)
            .into_iter()
            .map(meta::name)
            .collect();
        assert_eq!(names, ["a0", "c"]);
        let selectorless = json!({"metadata": {"name": "web", "namespace": "jobs"}, "spec": {}});
        assert!(selected(&selectorless, &pods).is_empty());
    }

    #[test]
    fn pods_without_ip_ended_or_terminating_are_not_listed() {
        let running = pod(
            "a",
            json!({}),
            json!({"phase": "Running", "podIP": "127.1.0.2"}),
        );
        assert!(is_listed(&running, false));
        let no_ip = pod("a", json!({}), json!({"phase": "Pending"}));
        assert!(!is_listed(&no_ip, true));
        let ended = pod(
            "a",
            json!({}),
            json!({"phase": "Succeeded", "podIP": "127.1.0.2"}),
        );
        assert!(!is_listed(&ended, true));
        let mut terminating = running.clone();
        terminating["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert!(!is_listed(&terminating, false));
        assert!(is_listed(&terminating, true));
    }

    #[test]
    fn ports_resolve_by_number_or_container_port_name() {
        let service = json!({"spec": {"ports": [
            {"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "admin", "port": 81, "targetPort": 9090, "protocol": "TCP"},
            {"name": "missing", "port": 82, "targetPort": "nope", "protocol": "TCP"}]}});
        let resolved: Vec<(i64, u16)> = ports(&service, &pod("a", json!({}), json!({})))
            .into_iter()
            .map(|(p, n)| (p["port"].as_i64().unwrap(), n))
            .collect();
        assert_eq!(resolved, [(80, 8080), (81, 9090)]);
        let unnamed = json!({"port": 80, "protocol": "UDP"});
        assert_eq!(
            endpoint_port(&unnamed, 53, false),
            json!({"port": 53, "protocol": "UDP"})
        );
        assert_eq!(endpoint_port(&unnamed, 53, true)["name"], "");
    }

    #[test]
    fn labels_come_from_the_service_with_the_headless_mark() {
        let service = json!({"metadata": {"labels": {"app": "web",
            "kubernetes.io/service-name": "x"}}, "spec": {"clusterIP": "None"}});
        let labels = inherited_labels(&service, &["kubernetes.io/service-name"]);
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[HEADLESS_LABEL], "");
        let with_ip = json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"clusterIP": "10.96.0.10"}});
        assert!(!inherited_labels(&with_ip, &[]).contains_key(HEADLESS_LABEL));
    }
}
