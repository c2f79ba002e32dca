//! The Endpoints and EndpointSlice controllers of kube-controller-manager: for each Service with a
//! selector, an `Endpoints` object of its name and `discovery.k8s.io/v1` EndpointSlices owned by
//! it list the pods it selects, so that what reads them (the webhook caller, the Service proxy,
//! clients) finds a Service's pods as on a real cluster. Services without a selector are left to
//! their users, who write their Endpoints themselves.
//!
//! As the workload controllers, they reconcile one Service at a time from what storage holds now,
//! queued by a change to the Service, to a pod of its namespace or to what they write, and every
//! second for all. Nothing is written when nothing changed. The decisions are pure functions:
//! `members` (which pods, their ports), `subsets` (Endpoints) and `slices` (EndpointSlices).

mod members;
mod slices;
mod subsets;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::registry::{Cluster, DeleteOptions, WriteOptions};
use crate::storage::{EventType, ObjectKey, StoreEvent};

/// The field manager of the controllers' writes.
const MANAGER: &str = "kube-controller-manager";

/// How often every Service is looked at again without a change.
const RESYNC: Duration = Duration::from_secs(1);

const SLICES: &str = "endpointslices.discovery.k8s.io";

/// A Service, by namespace and name.
type ServiceKey = (String, String);

/// What a batch of changes asks for: Services to reconcile, namespaces whose pods changed, and
/// deleted Services whose Endpoints go with them (their slices go by garbage collection).
#[derive(Default)]
struct Queue {
    services: BTreeSet<ServiceKey>,
    namespaces: BTreeSet<String>,
    deleted: BTreeSet<ServiceKey>,
}

impl Queue {
    fn add(&mut self, event: &StoreEvent) {
        let object = &event.object;
        let key = |name: &str| (meta::namespace(object).to_string(), name.to_string());
        match event.resource.as_str() {
            "services" if event.event_type == EventType::Deleted => {
                self.deleted.insert(key(meta::name(object)));
            }
            "services" | "endpoints" => {
                self.services.insert(key(meta::name(object)));
            }
            SLICES => {
                let labels = meta::labels(object);
                if let Some(service) = labels.get(slices::SERVICE_NAME_LABEL) {
                    self.services.insert(key(service));
                }
            }
            "pods" => {
                self.namespaces.insert(meta::namespace(object).to_string());
            }
            _ => {}
        }
    }

    fn all(cluster: &Cluster) -> Queue {
        let (services, _) = cluster.store().list("services", None);
        Queue {
            services: services
                .iter()
                .map(|s| (meta::namespace(s).to_string(), meta::name(s).to_string()))
                .collect(),
            ..Queue::default()
        }
    }
}

/// Runs the controllers until `shutdown` resolves.
pub(super) async fn run(cluster: Cluster, shutdown: impl std::future::Future<Output = ()>) {
    let mut events = match cluster.store().watch(None, None, None) {
        Ok(events) => events,
        Err(error) => {
            tracing::error!(%error, "the endpoints controllers cannot watch storage");
            return;
        }
    };
    let mut queue = Queue::all(&cluster);
    let mut ticker = tokio::time::interval(RESYNC);
    tokio::pin!(shutdown);
    loop {
        work(&cluster, std::mem::take(&mut queue)).await;
        tokio::select! {
            _ = &mut shutdown => return,
            event = events.recv() => {
                let Some(event) = event else { return };
                queue.add(&event);
                while let Ok(event) = events.try_recv() {
                    queue.add(&event);
                }
            }
            _ = ticker.tick() => queue = Queue::all(&cluster),
        }
    }
}

async fn work(cluster: &Cluster, queue: Queue) {
    let mut services = queue.services;
    for namespace in &queue.namespaces {
        let (in_namespace, _) = cluster.store().list("services", Some(namespace));
        services.extend(
            in_namespace
                .iter()
                .map(|s| (namespace.clone(), meta::name(s).to_string())),
        );
    }
    for (namespace, name) in &queue.deleted {
        if let Err(error) = remove_endpoints(cluster, namespace, name).await {
            tracing::debug!(%error, name, "could not delete the Endpoints of a deleted Service");
        }
    }
    for (namespace, name) in services {
        if let Err(error) = reconcile(cluster, &namespace, &name).await
            && error.code != 409
            && error.code != 404
        {
            tracing::debug!(%error, name, "endpoints reconcile failed");
        }
    }
}

async fn reconcile(cluster: &Cluster, namespace: &str, name: &str) -> Result<(), ApiError> {
    let Some(service) = cluster
        .store()
        .get(&ObjectKey::new("services", namespace, name))
    else {
        return Ok(());
    };
    if members::selector(&service).is_none() || meta::deletion_timestamp(&service).is_some() {
        return Ok(());
    }
    let (pods, _) = cluster.store().list("pods", Some(namespace));
    let selected = members::selected(&service, &pods);
    write_endpoints(cluster, &service, &selected).await?;
    write_slices(cluster, &service, &selected).await
}

fn options() -> WriteOptions {
    WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..WriteOptions::default()
    }
}

/// Creates or updates the Service's Endpoints unless they already list what they should.
async fn write_endpoints(
    cluster: &Cluster,
    service: &Value,
    selected: &[&Value],
) -> Result<(), ApiError> {
    let (namespace, name) = (meta::namespace(service), meta::name(service));
    let subsets = subsets::subsets(service, selected);
    let labels = subsets::labels(service);
    let resource = cluster.resource("v1", "endpoints")?;
    let stored = cluster
        .store()
        .get(&ObjectKey::new("endpoints", namespace, name));
    let mut endpoints = match &stored {
        Some(current) => {
            let current_subsets = current["subsets"].as_array().cloned().unwrap_or_default();
            if current_subsets == subsets && json!(meta::labels(current)) == labels {
                return Ok(());
            }
            Value::clone(current)
        }
        None => json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace}}),
    };
    endpoints["metadata"]["labels"] = labels;
    endpoints["metadata"]["annotations"][slices::TRIGGER_TIME] = json!(meta::now());
    match subsets.is_empty() {
        true => drop(endpoints.as_object_mut().map(|o| o.remove("subsets"))),
        false => endpoints["subsets"] = json!(subsets),
    }
    if stored.is_some() {
        cluster
            .update(&resource, namespace, name, endpoints, &options())
            .await?;
    } else {
        cluster
            .create(&resource, namespace, endpoints, &options())
            .await?;
    }
    Ok(())
}

/// Brings the Service's own EndpointSlices to what they should hold.
async fn write_slices(
    cluster: &Cluster,
    service: &Value,
    selected: &[&Value],
) -> Result<(), ApiError> {
    let namespace = meta::namespace(service);
    let (stored, _) = cluster.store().list(SLICES, Some(namespace));
    let own: Vec<&Value> = stored
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| is_own_slice(s, service))
        .collect();
    let wanted = slices::contents(service, selected, &zones(cluster));
    let plan = slices::plan(service, wanted, &own, &meta::now_micro());
    let resource = cluster.resource("discovery.k8s.io/v1", "endpointslices")?;
    for slice in plan.create {
        cluster
            .create(&resource, namespace, slice, &options())
            .await?;
    }
    for slice in plan.update {
        let name = meta::name(&slice).to_string();
        cluster
            .update(&resource, namespace, &name, slice, &options())
            .await?;
    }
    for slice in plan.delete {
        let deleted = cluster
            .delete(
                &resource,
                namespace,
                meta::name(&slice),
                &DeleteOptions::default(),
            )
            .await;
        if let Err(error) = deleted
            && error.code != 404
        {
            return Err(error);
        }
    }
    Ok(())
}

/// A slice this controller manages for this Service (not one a previous Service of the same
/// name left to the garbage collector, nor one written by someone else).
fn is_own_slice(slice: &Value, service: &Value) -> bool {
    let labels = meta::labels(slice);
    labels.get(slices::SERVICE_NAME_LABEL).map(String::as_str) == Some(meta::name(service))
        && labels.get(slices::MANAGED_BY_LABEL).map(String::as_str) == Some(slices::CONTROLLER_NAME)
        && meta::owner_references(slice)
            .iter()
            .any(|o| o["uid"] == meta::uid(service))
}

/// Each node's `topology.kubernetes.io/zone`, where it has one.
fn zones(cluster: &Cluster) -> BTreeMap<String, String> {
    let (nodes, _) = cluster.store().list("nodes", None);
    nodes
        .iter()
        .filter_map(|node| {
            let zone = meta::labels(node).remove("topology.kubernetes.io/zone")?;
            Some((meta::name(node).to_string(), zone))
        })
        .collect()
}

/// Deletes the Endpoints of a Service that was deleted.
async fn remove_endpoints(cluster: &Cluster, namespace: &str, name: &str) -> Result<(), ApiError> {
    if cluster
        .store()
        .get(&ObjectKey::new("endpoints", namespace, name))
        .is_none()
    {
        return Ok(());
    }
    let resource = cluster.resource("v1", "endpoints")?;
    match cluster
        .delete(&resource, namespace, name, &DeleteOptions::default())
        .await
    {
        Err(error) if error.code != 404 => Err(error),
        _ => Ok(()),
    }
}
