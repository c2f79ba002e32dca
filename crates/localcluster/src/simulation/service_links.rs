//! The Services a kubelet turns into every new pod's environment ("service links"): for each
//! Service of the pod's namespace with a cluster IP, `NAME_SERVICE_HOST`, `NAME_SERVICE_PORT`,
//! one `NAME_SERVICE_PORT_PORTNAME` per named port and the Docker-link variables
//! (`NAME_PORT=tcp://IP:PORT`, `NAME_PORT_PORT_TCP`, `..._PROTO`, `..._PORT`, `..._ADDR`); and the
//! `kubernetes` Service of `default` for every pod, whether or not it asks for links
//! (`enableServiceLinks: false`).
//!
//! A namespace with thousands of Services gives each pod so large an environment that its
//! container cannot start (`argument list too long`): [`ARG_MAX`] bounds it, as the kernel does
//! for `execve`. The kubelet keeps the Services from a watch, as a real one keeps an informer,
//! and each namespace's total size as Services come and go, so a pod's start costs no scan.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

/// What Linux's `execve` takes at most of arguments and environment together (a quarter of the
/// default 8 MiB stack); each string costs its bytes, a NUL and a pointer.
pub const ARG_MAX: usize = 2 * 1024 * 1024;

/// The environment variables of one Service, in the kubelet's order.
pub fn variables(service: &Service) -> Vec<(String, String)> {
    let Some(spec) = &service.spec else {
        return Vec::new();
    };
    let ip = match spec.cluster_ip.as_deref() {
        Some(ip) if !ip.is_empty() && ip != "None" => ip,
        _ => return Vec::new(),
    };
    let ports = spec.ports.as_deref().unwrap_or_default();
    let Some(first) = ports.first() else {
        return Vec::new();
    };
    let name = env_name(&service.name_any());
    let mut vars = vec![
        (format!("{name}_SERVICE_HOST"), ip.to_string()),
        (format!("{name}_SERVICE_PORT"), first.port.to_string()),
    ];
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            vars.push((
                format!("{name}_SERVICE_PORT_{}", env_name(port_name)),
                port.port.to_string(),
            ));
        }
    }
    for (index, port) in ports.iter().enumerate() {
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        let lower = protocol.to_lowercase();
        let url = format!("{lower}://{ip}:{}", port.port);
        let prefix = format!("{name}_PORT_{}_{}", port.port, protocol.to_uppercase());
        if index == 0 {
            vars.push((format!("{name}_PORT"), url.clone()));
        }
        vars.push((prefix.clone(), url));
        vars.push((format!("{prefix}_PROTO"), lower));
        vars.push((format!("{prefix}_PORT"), port.port.to_string()));
        vars.push((format!("{prefix}_ADDR"), ip.to_string()));
    }
    vars
}

fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// What a set of variables costs `execve`.
pub fn size(vars: &[(String, String)]) -> usize {
    vars.iter()
        .map(|(name, value)| name.len() + 1 + value.len() + 1 + size_of::<usize>())
        .sum()
}

/// The Services of every namespace, as environment variables.
#[derive(Debug, Default)]
pub struct ServiceLinks {
    namespaces: HashMap<String, Links>,
}

#[derive(Debug, Default)]
struct Links {
    by_service: BTreeMap<String, Vec<(String, String)>>,
    size: usize,
}

impl ServiceLinks {
    pub fn set(&mut self, namespace: &str, service: &str, vars: Vec<(String, String)>) {
        let links = self.namespaces.entry(namespace.to_string()).or_default();
        links.size += size(&vars);
        if let Some(old) = links.by_service.insert(service.to_string(), vars) {
            links.size -= size(&old);
        }
    }

    pub fn remove(&mut self, namespace: &str, service: &str) {
        if let Some(links) = self.namespaces.get_mut(namespace)
            && let Some(old) = links.by_service.remove(service)
        {
            links.size -= size(&old);
        }
    }

    /// The service variables of a pod in `namespace`: its namespace's Services when it takes
    /// links, and always the `kubernetes` Service's.
    pub fn environment(&self, namespace: &str, links: bool) -> Vec<(String, String)> {
        let master = self
            .namespaces
            .get("default")
            .and_then(|l| l.by_service.get("kubernetes"))
            .cloned()
            .unwrap_or_default();
        let mut vars = Vec::new();
        if links && let Some(own) = self.namespaces.get(namespace) {
            for (service, service_vars) in &own.by_service {
                if !(namespace == "default" && service == "kubernetes") {
                    vars.extend(service_vars.iter().cloned());
                }
            }
        }
        vars.extend(master);
        vars
    }

    /// What the service variables of a pod in `namespace` cost `execve`, without building them.
    pub fn environment_size(&self, namespace: &str, links: bool) -> usize {
        let master = self
            .namespaces
            .get("default")
            .and_then(|l| l.by_service.get("kubernetes"))
            .map_or(0, |vars| size(vars));
        let own = match (links, self.namespaces.get(namespace)) {
            (true, Some(links)) if namespace == "default" => links.size - master,
            (true, Some(links)) => links.size,
            _ => 0,
        };
        own + master
    }
}

/// Keeps `links` current from a watch of every Service.
pub async fn follow(client: Client, links: Arc<Mutex<ServiceLinks>>) {
    let services: Api<Service> = Api::all(client);
    let mut events = watcher::watcher(services, watcher::Config::default())
        .backoff(super::NodeBackoff::default())
        .boxed();
    while let Some(event) = events.next().await {
        let mut links = links.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Ok(Event::Apply(service) | Event::InitApply(service)) => {
                let namespace = service.namespace().unwrap_or_default();
                links.set(&namespace, &service.name_any(), variables(&service));
            }
            Ok(Event::Delete(service)) => {
                links.remove(
                    &service.namespace().unwrap_or_default(),
                    &service.name_any(),
                );
            }
            Ok(Event::Init) => *links = ServiceLinks::default(),
            Ok(Event::InitDone) | Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"clusterIP": ip, "ports": ports},
        }))
        .unwrap()
    }

    #[test]
    fn a_service_s_variables_are_the_kubelet_s() {
        let ui = service(
            "pi-ui-svc",
            "10.96.0.7",
            serde_json::json!([{"name": "spark-driver-ui-port", "port": 4040, "protocol": "TCP"}]),
        );
        let vars: BTreeMap<_, _> = variables(&ui).into_iter().collect();
        assert_eq!(vars["PI_UI_SVC_SERVICE_HOST"], "10.96.0.7");
        assert_eq!(vars["PI_UI_SVC_SERVICE_PORT"], "4040");
        assert_eq!(vars["PI_UI_SVC_SERVICE_PORT_SPARK_DRIVER_UI_PORT"], "4040");
        assert_eq!(vars["PI_UI_SVC_PORT"], "tcp://10.96.0.7:4040");
        assert_eq!(vars["PI_UI_SVC_PORT_4040_TCP"], "tcp://10.96.0.7:4040");
        assert_eq!(vars["PI_UI_SVC_PORT_4040_TCP_PROTO"], "tcp");
        assert_eq!(vars["PI_UI_SVC_PORT_4040_TCP_PORT"], "4040");
        assert_eq!(vars["PI_UI_SVC_PORT_4040_TCP_ADDR"], "10.96.0.7");
        assert_eq!(vars.len(), 8);
        let headless = service("pi-driver-svc", "None", serde_json::json!([{"port": 7078}]));
        assert!(
            variables(&headless).is_empty(),
            "headless Services give none"
        );
    }

    #[test]
    fn a_namespace_s_size_follows_its_services_and_links_can_be_refused() {
        let mut links = ServiceLinks::default();
        let master = service(
            "kubernetes",
            "10.96.0.1",
            serde_json::json!([{"name": "https", "port": 443}]),
        );
        links.set("default", "kubernetes", variables(&master));
        for i in 0..3 {
            let ui = service(
                &format!("app-{i}-ui-svc"),
                "10.96.0.9",
                serde_json::json!([{"port": 4040}]),
            );
            links.set("jobs", &format!("app-{i}-ui-svc"), variables(&ui));
        }
        let with_links = links.environment("jobs", true);
        assert_eq!(links.environment_size("jobs", true), size(&with_links));
        let without = links.environment("jobs", false);
        assert!(
            without
                .iter()
                .all(|(name, _)| name.starts_with("KUBERNETES_"))
        );
        assert_eq!(links.environment_size("jobs", false), size(&without));
        links.remove("jobs", "app-0-ui-svc");
        assert_eq!(
            links.environment_size("jobs", true),
            size(&links.environment("jobs", true))
        );
        assert_eq!(
            links.environment("default", true),
            variables(&master),
            "no repeat in default"
        );
    }
}
