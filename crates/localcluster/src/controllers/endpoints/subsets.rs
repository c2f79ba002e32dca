//! The Endpoints controller's decisions: the subsets of a Service's Endpoints. Each listed pod
//! gives one address (ready, or among `notReadyAddresses`) per port it resolves; the addresses are
//! then repacked into one subset per distinct set of ports, as Kubernetes' `RepackSubsets` does,
//! with addresses sorted by IP and ports by name.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::members;

/// One address with its readiness, the key of the repacking.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Address {
    ip: String,
    ready: bool,
    json: String,
}

/// The `subsets` of the Service's Endpoints for the pods it selects.
pub fn subsets(service: &Value, selected: &[&Value]) -> Vec<Value> {
    let publish_not_ready = service["spec"]["publishNotReadyAddresses"] == true;
    let has_ports = service["spec"]["ports"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    let mut ports_of: BTreeMap<Address, BTreeSet<String>> = BTreeMap::new();
    for pod in selected
        .iter()
        .filter(|p| members::is_listed(p, publish_not_ready))
    {
        let address = address(service, pod, publish_not_ready);
        if !has_ports {
            if members::is_headless(service) {
                ports_of.entry(address).or_default();
            }
            continue;
        }
        for (service_port, number) in members::ports(service, pod) {
            let port = members::endpoint_port(service_port, number, false);
            ports_of
                .entry(address.clone())
                .or_default()
                .insert(port.to_string());
        }
    }
    repack(ports_of)
}

/// One subset per distinct set of ports, in the order of those sets.
fn repack(ports_of: BTreeMap<Address, BTreeSet<String>>) -> Vec<Value> {
    let mut by_ports: BTreeMap<BTreeSet<String>, Vec<Address>> = BTreeMap::new();
    for (address, ports) in ports_of {
        by_ports.entry(ports).or_default().push(address);
    }
    by_ports
        .into_iter()
        .map(|(ports, addresses)| subset(&ports, &addresses))
        .collect()
}

fn subset(ports: &BTreeSet<String>, addresses: &[Address]) -> Value {
    let parse = |text: &String| serde_json::from_str::<Value>(text).unwrap_or_default();
    let list = |ready: bool| -> Vec<Value> {
        addresses
            .iter()
            .filter(|a| a.ready == ready)
            .map(|a| parse(&a.json))
            .collect()
    };
    let mut ports: Vec<Value> = ports.iter().map(parse).collect();
    ports.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut subset = serde_json::Map::new();
    for (field, addresses) in [
        ("addresses", list(true)),
        ("notReadyAddresses", list(false)),
    ] {
        if !addresses.is_empty() {
            subset.insert(field.into(), json!(addresses));
        }
    }
    if !ports.is_empty() {
        subset.insert("ports".into(), json!(ports));
    }
    Value::Object(subset)
}

fn address(service: &Value, pod: &Value, publish_not_ready: bool) -> Address {
    let ip = members::ip(pod).unwrap_or_default().to_string();
    let mut json = json!({"ip": ip, "targetRef": members::target_ref(pod)});
    if let Some(node) = pod["spec"]["nodeName"].as_str() {
        json["nodeName"] = json!(node);
    }
    if let Some(hostname) = members::hostname(service, pod) {
        json["hostname"] = json!(hostname);
    }
    Address {
        ip,
        ready: publish_not_ready || members::is_ready(pod),
        json: json.to_string(),
    }
}

/// The labels of a Service's Endpoints: the Service's, with the headless mark.
pub fn labels(service: &Value) -> Value {
    json!(members::inherited_labels(service, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(extra: Value) -> Value {
        let mut service = json!({"metadata": {"name": "web", "namespace": "jobs"},
            "spec": {"clusterIP": "10.96.0.9", "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}});
        for (key, value) in extra.as_object().unwrap() {
            service["spec"][key] = value.clone();
        }
        service
    }

    fn pod(name: &str, ip: &str, ready: bool, port_name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "jobs", "uid": name},
            "spec": {"nodeName": "node-1",
                "containers": [{"ports": [{"name": port_name, "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip, "conditions": [
                {"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    }

    fn ips(subset: &Value, field: &str) -> Vec<String> {
        subset[field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a["ip"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn ready_and_not_ready_pods_share_a_subset_of_their_ports() {
        let pods = [
            pod("b", "127.1.0.3", true, "http"),
            pod("a", "127.1.0.2", false, "http"),
            pod("c", "127.1.0.4", true, "http"),
        ];
        let selected: Vec<&Value> = pods.iter().collect();
        let subsets = subsets(&service(json!({})), &selected);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0], "addresses"), ["127.1.0.3", "127.1.0.4"]);
        assert_eq!(ips(&subsets[0], "notReadyAddresses"), ["127.1.0.2"]);
        assert_eq!(
            subsets[0]["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        let address = &subsets[0]["addresses"][0];
        assert_eq!(address["nodeName"], "node-1");
        assert_eq!(address["targetRef"]["kind"], "Pod");
        assert_eq!(address["targetRef"]["name"], "b");
    }

    #[test]
    fn publishing_not_ready_addresses_lists_them_as_ready() {
        let pods = [pod("a", "127.1.0.2", false, "http")];
        let selected: Vec<&Value> = pods.iter().collect();
        let subsets = subsets(
            &service(json!({"publishNotReadyAddresses": true})),
            &selected,
        );
        assert_eq!(ips(&subsets[0], "addresses"), ["127.1.0.2"]);
        assert!(subsets[0].get("notReadyAddresses").is_none());
    }

    #[test]
    fn pods_without_the_named_port_or_an_ip_are_left_out() {
        let mut no_ip = pod("c", "", true, "http");
        no_ip["status"]["podIP"] = Value::Null;
        let pods = [pod("a", "127.1.0.2", true, "metrics"), no_ip];
        let selected: Vec<&Value> = pods.iter().collect();
        assert!(subsets(&service(json!({})), &selected).is_empty());
    }

    #[test]
    fn pods_with_different_ports_get_subsets_of_their_own() {
        let pods = [
            pod("a", "127.1.0.2", true, "http"),
            pod("b", "127.1.0.3", true, "web"),
        ];
        let selected: Vec<&Value> = pods.iter().collect();
        let two_ports = service(json!({"ports": [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "web", "port": 81, "targetPort": "web", "protocol": "TCP"}]}));
        let subsets = subsets(&two_ports, &selected);
        assert_eq!(subsets.len(), 2);
        let all: Vec<String> = subsets.iter().flat_map(|s| ips(s, "addresses")).collect();
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn a_headless_service_without_ports_lists_bare_addresses() {
        let pods = [pod("a", "127.1.0.2", true, "http")];
        let selected: Vec<&Value> = pods.iter().collect();
        let headless = service(json!({"clusterIP": "None", "ports": []}));
        let subsets = subsets(&headless, &selected);
        assert_eq!(ips(&subsets[0], "addresses"), ["127.1.0.2"]);
        assert!(subsets[0].get("ports").is_none());
        assert_eq!(labels(&headless)[members::HEADLESS_LABEL], "");
    }
}
