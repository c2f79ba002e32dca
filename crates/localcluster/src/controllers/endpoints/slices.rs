//! The EndpointSlice controller's decisions. Every listed pod, terminating ones included, is one
//! endpoint with its `ready`, `serving` and `terminating` conditions; endpoints with the same ports
//! share slices of at most 100. The slices a Service already has are kept where they already say
//! the same, updated where their ports match, and the rest deleted, so that an unchanged Service
//! is never written; a Service with no endpoints keeps one empty slice, as Kubernetes' placeholder.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::members;

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Kubernetes' default `--max-endpoints-per-slice`.
const MAX_ENDPOINTS: usize = 100;

/// What one slice should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub ports: Value,
    pub endpoints: Vec<Value>,
}

/// What to write for a Service's slices.
#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<Value>,
    pub update: Vec<Value>,
    pub delete: Vec<Value>,
}

/// The slices' contents for the pods the Service selects, `zones` naming each node's zone.
pub fn contents(
    service: &Value,
    selected: &[&Value],
    zones: &BTreeMap<String, String>,
) -> Vec<Content> {
    let mut by_ports: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let has_ports = service["spec"]["ports"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    for pod in selected.iter().filter(|p| members::is_listed(p, true)) {
        let ports: Vec<Value> = members::ports(service, pod)
            .into_iter()
            .map(|(port, number)| members::endpoint_port(port, number, true))
            .collect();
        if ports.is_empty() && has_ports {
            continue;
        }
        by_ports
            .entry(json!(ports).to_string())
            .or_default()
            .push(endpoint(service, pod, zones));
    }
    let mut contents: Vec<Content> = by_ports
        .into_iter()
        .flat_map(|(ports, endpoints)| {
            let ports: Value = serde_json::from_str(&ports).unwrap_or_default();
            endpoints
                .chunks(MAX_ENDPOINTS)
                .map(|chunk| Content {
                    ports: ports.clone(),
                    endpoints: chunk.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if contents.is_empty() {
        contents.push(Content {
            ports: json!([]),
            endpoints: Vec::new(),
        });
    }
    contents
}

fn endpoint(service: &Value, pod: &Value, zones: &BTreeMap<String, String>) -> Value {
    let serving = members::is_ready(pod);
    let terminating = members::is_terminating(pod);
    let ready = service["spec"]["publishNotReadyAddresses"] == true || (serving && !terminating);
    let mut endpoint = json!({
        "addresses": [members::ip(pod).unwrap_or_default()],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": members::target_ref(pod),
    });
    if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        endpoint["nodeName"] = json!(node);
        if let Some(zone) = zones.get(node) {
            endpoint["zone"] = json!(zone);
        }
    }
    if let Some(hostname) = members::hostname(service, pod) {
        endpoint["hostname"] = json!(hostname);
    }
    endpoint
}

/// The labels of a Service's slices: the Service's, its name and the managing controller.
pub fn labels(service: &Value) -> Value {
    let mut labels = members::inherited_labels(service, &[SERVICE_NAME_LABEL, MANAGED_BY_LABEL]);
    labels.insert(SERVICE_NAME_LABEL.into(), crate::meta::name(service).into());
    labels.insert(MANAGED_BY_LABEL.into(), CONTROLLER_NAME.into());
    json!(labels)
}

/// The writes that make `existing` (the Service's own slices) hold `wanted`, stamped `now`.
pub fn plan(service: &Value, wanted: Vec<Content>, existing: &[&Value], now: &str) -> Plan {
    let labels = labels(service);
    let mut unused: Vec<&Value> = existing.to_vec();
    unused.sort_by_key(|s| crate::meta::name(s).to_string());
    let mut remaining = Vec::new();
    for content in wanted {
        let same = unused
            .iter()
            .position(|s| holds(s, &content) && s["metadata"]["labels"] == labels);
        match same {
            Some(index) => drop(unused.remove(index)),
            None => remaining.push(content),
        }
    }
    let mut plan = Plan::default();
    for content in remaining {
        let reusable = unused.iter().position(|s| ports_of(s) == content.ports);
        let mut slice = match reusable {
            Some(index) => unused.remove(index).clone(),
            None => new_slice(service),
        };
        slice["metadata"]["labels"] = labels.clone();
        slice["metadata"]["annotations"][TRIGGER_TIME] = json!(now);
        slice["ports"] = content.ports;
        slice["endpoints"] = json!(content.endpoints);
        if reusable.is_some() {
            plan.update.push(slice);
        } else {
            plan.create.push(slice);
        }
    }
    plan.delete = unused.into_iter().cloned().collect();
    plan
}

fn holds(slice: &Value, content: &Content) -> bool {
    let endpoints = slice["endpoints"].as_array().cloned().unwrap_or_default();
    ports_of(slice) == content.ports && endpoints == content.endpoints
}

fn ports_of(slice: &Value) -> Value {
    match &slice["ports"] {
        Value::Null => json!([]),
        ports => ports.clone(),
    }
}

/// A new slice of the Service, named by the API server from `<service>-`, owned by the Service.
fn new_slice(service: &Value) -> Value {
    let name = crate::meta::name(service);
    let prefix = if name.len() < 253 {
        format!("{name}-")
    } else {
        name.to_string()
    };
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": prefix,
            "namespace": crate::meta::namespace(service),
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                "uid": crate::meta::uid(service), "controller": true, "blockOwnerDeletion": true}],
        },
        "addressType": "IPv4",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Value {
        json!({"metadata": {"name": "web", "namespace": "jobs", "uid": "svc-uid",
            "labels": {"app": "web"}},
            "spec": {"clusterIP": "10.96.0.9", "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    }

    fn pod(name: &str, ready: bool, deleting: bool) -> Value {
        let mut pod = json!({"metadata": {"name": name, "namespace": "jobs", "uid": name},
            "spec": {"nodeName": "node-1", "containers": [{}]},
            "status": {"phase": "Running", "podIP": format!("127.1.0.{}", name.len()),
                "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
        if deleting {
            pod["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        }
        pod
    }

    fn conditions(content: &Content) -> Vec<(bool, bool, bool)> {
        content
            .endpoints
            .iter()
            .map(|e| {
                let c = &e["conditions"];
                let flag = |k: &str| c[k].as_bool().unwrap();
                (flag("ready"), flag("serving"), flag("terminating"))
            })
            .collect()
    }

    #[test]
    fn terminating_pods_stay_as_not_ready_but_serving() {
        let pods = [
            pod("a", true, false),
            pod("bb", false, false),
            pod("ccc", true, true),
        ];
        let selected: Vec<&Value> = pods.iter().collect();
        let zones = BTreeMap::from([("node-1".to_string(), "zone-a".to_string())]);
        let contents = contents(&service(), &selected, &zones);
        assert_eq!(contents.len(), 1);
        assert_eq!(
            conditions(&contents[0]),
            [
                (true, true, false),
                (false, false, false),
                (false, true, true)
            ]
        );
        assert_eq!(
            contents[0].ports,
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(contents[0].endpoints[0]["zone"], "zone-a");
        assert_eq!(contents[0].endpoints[0]["targetRef"]["uid"], "a");
    }

    #[test]
    fn no_endpoints_keep_one_empty_slice() {
        let contents = contents(&service(), &[], &BTreeMap::new());
        assert_eq!(
            contents,
            [Content {
                ports: json!([]),
                endpoints: vec![]
            }]
        );
    }

    #[test]
    fn slices_are_created_once_then_updated_in_place_then_left_alone() {
        let pods = [pod("a", true, false)];
        let selected: Vec<&Value> = pods.iter().collect();
        let wanted = contents(&service(), &selected, &BTreeMap::new());
        let first = plan(&service(), wanted.clone(), &[], "now");
        assert_eq!((first.create.len(), first.update.len()), (1, 0));
        let mut stored = first.create[0].clone();
        assert_eq!(stored["metadata"]["generateName"], "web-");
        assert_eq!(stored["metadata"]["ownerReferences"][0]["uid"], "svc-uid");
        assert_eq!(
            stored["metadata"]["labels"][MANAGED_BY_LABEL],
            CONTROLLER_NAME
        );
        assert_eq!(stored["metadata"]["labels"][SERVICE_NAME_LABEL], "web");
        assert_eq!(stored["metadata"]["labels"]["app"], "web");
        stored["metadata"]["name"] = json!("web-abcde");
        let again = plan(&service(), wanted, &[&stored], "later");
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());

        let pods = [pod("a", false, false)];
        let selected: Vec<&Value> = pods.iter().collect();
        let changed = contents(&service(), &selected, &BTreeMap::new());
        let update = plan(&service(), changed, &[&stored], "later");
        assert_eq!(update.update.len(), 1);
        assert_eq!(update.update[0]["metadata"]["name"], "web-abcde");
        assert_eq!(
            update.update[0]["metadata"]["annotations"][TRIGGER_TIME],
            "later"
        );
    }

    #[test]
    fn surplus_slices_are_deleted() {
        let stale = |name: &str| {
            json!({"metadata": {"name": name, "labels": labels(&service())},
                "ports": [{"name": "old", "port": 1, "protocol": "TCP"}], "endpoints": []})
        };
        let (one, two) = (stale("web-1"), stale("web-2"));
        let wanted = contents(&service(), &[], &BTreeMap::new());
        let plan = plan(&service(), wanted, &[&one, &two], "now");
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.delete.len(), 2);
    }
}
