//! The registry: Kubernetes semantics per resource over [`Store`], what the real API server's
//! registry (its REST storage and strategies) does between the HTTP request and etcd. The HTTP
//! server is a thin translation onto [`Cluster`], and in-process components (the controllers,
//! `auth`, the process runtime recording container output, tests) call the same methods.
//!
//! - Writes (`write`, `patching`, `delete`): [`Cluster::create`], [`Cluster::update`] (main
//!   resource or the `status` subresource), [`Cluster::patch`] (JSON, merge, strategic merge,
//!   server-side apply), [`Cluster::delete`] (finalizers, graceful pod deletion, propagation
//!   policies), [`Cluster::delete_collection`]. Each runs the kind's strategy (`strategy`:
//!   defaults, clusterIP, CRD status, CRD schema pruning and defaulting, ...), mutating admission
//!   ([`crate::admission`]), validation (`validation`: names, the CRD schema, the kind's rules),
//!   then validating admission, before the storage write.
//! - Reads (`read`): [`Cluster::get`], [`Cluster::list`] (selectors, pagination),
//!   [`Cluster::watch`] (resourceVersion, bookmarks, initial events, timeout).
//! - Pods: [`Cluster::bind_pod`], [`Cluster::evict_pod`], [`Cluster::pod_log`] and
//!   [`Cluster::append_pod_log`] for a runtime to record what its containers print, and
//!   [`Cluster::running_containers`] where it registers the containers `exec` and `attach` reach.
//! - What finishes deletions later (garbage collection, namespace termination, pods whose grace
//!   period ran out) is not here but in [`crate::controllers`], which call these methods.
//!
//! Its files depend one way: `write` uses `patching` (the patch types) and `delete` (finishing a
//! deletion its update completes); what several of them share (the request's scope, a body's
//! `apiVersion` and `kind`) is here.

mod delete;
mod patching;
mod read;
mod scale;
mod strategy;
mod validation;
mod workloads;
mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

pub use delete::{DeleteOptions, Deletion, Propagation, answer as delete_answer};
pub(crate) use delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER, deletion_complete};
pub use patching::Patch;
pub use read::{ListOptions, WatchFrame, WatchOptions};
pub use scale::scale_of;
pub use write::WriteOptions;

use crate::admission::Admission;
use crate::error::ApiError;
use crate::kinds::{Kinds, ResourceType, as_version};
use crate::meta;
use crate::storage::{ObjectKey, Store};
use crate::streaming::RunningContainers;

struct Inner {
    store: Store,
    kinds: Kinds,
    admission: RwLock<Option<Arc<dyn Admission>>>,
    /// The last service clusterIP handed out, as the offset in 10.96.0.0/12.
    last_service_ip: AtomicU32,
    /// (namespace, pod, container) -> what the container printed.
    pod_logs: Mutex<HashMap<(String, String, String), String>>,
    /// The containers a runtime runs, for `exec` and `attach`.
    running_containers: RunningContainers,
}

/// Handle to the cluster's API. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

/// Namespaces every cluster starts with.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// How long a watch stays open when the client does not say.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Cluster {
    /// Serves the built-in kinds and every CRD already in `store`, and creates the initial
    /// namespaces and the `kubernetes` service, as the API server's bootstrap does (their
    /// default service accounts are [`crate::controllers::bootstrap`]'s).
    pub async fn new(store: Store) -> Result<Cluster, ApiError> {
        let cluster = Cluster {
            inner: Arc::new(Inner {
                store,
                kinds: Kinds::with_builtins(),
                admission: RwLock::new(None),
                last_service_ip: AtomicU32::new(1),
                pod_logs: Mutex::new(HashMap::new()),
                running_containers: RunningContainers::default(),
            }),
        };
        cluster.restore_state();
        cluster.bootstrap().await?;
        Ok(cluster)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn kinds(&self) -> &Kinds {
        &self.inner.kinds
    }

    /// Installs the admission hook (replacing any earlier one).
    pub fn set_admission(&self, admission: Arc<dyn Admission>) {
        *self
            .inner
            .admission
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(admission);
    }

    fn admission(&self) -> Option<Arc<dyn Admission>> {
        self.inner
            .admission
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The resource of `plural` in `apiVersion` (`v1`, `group/version`), e.g. `("v1", "pods")`.
    pub fn resource(&self, api_version: &str, plural: &str) -> Result<Arc<ResourceType>, ApiError> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        self.kinds()
            .lookup(group, version, plural)
            .ok_or_else(ApiError::no_route)
    }

    /// The resource serving `kind` in `apiVersion`.
    pub fn resource_for_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Arc<ResourceType>, ApiError> {
        self.kinds().by_kind(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no kind \"{kind}\" is registered for version \"{api_version}\""
            ))
        })
    }

    fn key(resource: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
        let namespace = if resource.namespaced { namespace } else { "" };
        ObjectKey::new(&resource.storage, namespace, name)
    }

    /// The namespace to use: the requested one for namespaced resources, none otherwise.
    pub(super) fn check_scope<'a>(
        &self,
        resource: &ResourceType,
        namespace: &'a str,
    ) -> Result<&'a str, ApiError> {
        if !resource.namespaced {
            return Ok("");
        }
        if namespace.is_empty() {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: a namespace is required",
            ));
        }
        Ok(namespace)
    }

    /// The stored object, as the version `resource` serves.
    pub fn get(
        &self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = Self::key(resource, namespace, name);
        let stored = self
            .store()
            .get(&key)
            .ok_or_else(|| ApiError::not_found(&resource.qualified_resource(), name))?;
        Ok(as_version(resource, &stored))
    }

    /// The containers a runtime runs now, which `pods/exec` and `pods/attach` reach.
    pub fn running_containers(&self) -> &RunningContainers {
        &self.inner.running_containers
    }

    /// Records output of a container, returned by later `pods/log` requests.
    pub fn append_pod_log(&self, namespace: &str, pod: &str, container: &str, text: &str) {
        let mut logs = self
            .inner
            .pod_logs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        logs.entry((namespace.into(), pod.into(), container.into()))
            .or_default()
            .push_str(text);
    }

    /// What a container of a pod printed: the recorded output, or a line saying it is simulated.
    pub fn pod_log(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
    ) -> Result<String, ApiError> {
        let pods = self.resource("v1", "pods")?;
        let object = self.get(&pods, namespace, pod)?;
        let containers: Vec<String> = object
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let container = match (container, containers.as_slice()) {
            (Some(c), _) => c.to_string(),
            (None, [only]) => only.clone(),
            (None, _) => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {pod}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        };
        if !containers.contains(&container) {
            return Err(ApiError::bad_request(format!(
                "container {container} is not valid for pod {pod}"
            )));
        }
        let logs = self
            .inner
            .pod_logs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(logs
            .get(&(namespace.into(), pod.into(), container.clone()))
            .cloned()
            .unwrap_or_else(|| {
                format!(
                    "localcluster: container {container} of pod {namespace}/{pod} is simulated\n"
                )
            }))
    }

    fn forget_pod_logs(&self, namespace: &str, pod: &str) {
        let mut logs = self
            .inner
            .pod_logs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        logs.retain(|(ns, name, _), _| !(ns == namespace && name == pod));
    }

    /// Assigns a pod to a node, as the `pods/binding` subresource does.
    pub async fn bind_pod(
        &self,
        namespace: &str,
        name: &str,
        binding: &Value,
    ) -> Result<(), ApiError> {
        let node = meta::str_at(binding, &["target", "name"])
            .unwrap_or_default()
            .to_string();
        if node.is_empty() {
            return Err(ApiError::invalid(
                "Binding",
                name,
                vec![crate::error::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: "target.name".into(),
                }],
            ));
        }
        let pods = self.resource("v1", "pods")?;
        let key = Self::key(&pods, namespace, name);
        loop {
            let current = self
                .store()
                .get(&key)
                .ok_or_else(|| ApiError::not_found("pods", name))?;
            if meta::deletion_timestamp(&current).is_some() {
                return Err(ApiError::conflict(
                    "pods/binding",
                    name,
                    &format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            if let Some(bound) =
                meta::str_at(&current, &["spec", "nodeName"]).filter(|n| !n.is_empty())
            {
                return Err(ApiError::conflict(
                    "pods/binding",
                    name,
                    &format!("pod {name} is already assigned to node \"{bound}\""),
                ));
            }
            let mut pod = Value::clone(&current);
            pod["spec"]["nodeName"] = json!(node);
            strategy::set_condition(&mut pod, "PodScheduled", "True", "", "");
            match self
                .store()
                .update(&key, pod, Some(meta::resource_version(&current)))
            {
                Ok(_) => return Ok(()),
                Err(crate::storage::StoreError::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Deletes a pod as the `pods/eviction` subresource does (disruption budgets are not checked).
    pub async fn evict_pod(
        &self,
        namespace: &str,
        name: &str,
        eviction: &Value,
    ) -> Result<(), ApiError> {
        let pods = self.resource("v1", "pods")?;
        let options = eviction
            .get("deleteOptions")
            .map(DeleteOptions::from_body)
            .transpose()?
            .unwrap_or_default();
        self.delete(&pods, namespace, name, &options)
            .await
            .map(|_| ())
    }

    /// The next free service clusterIP in 10.96.0.0/12.
    fn allocate_service_ip(&self) -> String {
        let offset = self.inner.last_service_ip.fetch_add(1, Ordering::Relaxed) + 1;
        let base = u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0));
        std::net::Ipv4Addr::from(base + (offset % (1 << 20))).to_string()
    }

    /// Rebuilds what is derived from stored objects: served CRDs and the clusterIP allocator.
    fn restore_state(&self) {
        let (crds, _) = self
            .store()
            .list("customresourcedefinitions.apiextensions.k8s.io", None);
        for crd in crds {
            if let Ok(resources) = crate::kinds::crd_resource_types(&crd) {
                self.kinds().set_custom(meta::name(&crd), resources);
            }
        }
        let (services, _) = self.store().list("services", None);
        let base = u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0));
        let highest = services
            .iter()
            .filter_map(|s| {
                meta::str_at(s, &["spec", "clusterIP"])?
                    .parse::<std::net::Ipv4Addr>()
                    .ok()
            })
            .map(|ip| u32::from(ip).saturating_sub(base))
            .filter(|offset| *offset < (1 << 20))
            .max()
            .unwrap_or(1);
        self.inner
            .last_service_ip
            .fetch_max(highest, Ordering::Relaxed);
    }

    /// The objects the API server itself makes at start.
    async fn bootstrap(&self) -> Result<(), ApiError> {
        let namespaces = self.resource("v1", "namespaces")?;
        for name in INITIAL_NAMESPACES {
            if self.get(&namespaces, "", name).is_err() {
                let namespace =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                self.create(&namespaces, "", namespace, &WriteOptions::default())
                    .await?;
            }
        }
        let services = self.resource("v1", "services")?;
        if self.get(&services, "default", "kubernetes").is_err() {
            let service = json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
            self.create(&services, "default", service, &WriteOptions::default())
                .await?;
        }
        Ok(())
    }
}

/// Whether `resource` is CustomResourceDefinitions, whose writes change what is served.
pub(super) fn is_crd(resource: &ResourceType) -> bool {
    resource.group == "apiextensions.k8s.io" && resource.plural == "customresourcedefinitions"
}

/// `apiVersion` and `kind` of a body must name the resource of the URL; absent ones are filled in.
pub(super) fn check_type(resource: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let expected = resource.api_version();
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(version) if !version.is_empty() && version != expected => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({version}) does not match the expected API version ({expected})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(kind) if !kind.is_empty() && kind != resource.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                resource.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), expected.into());
    map.insert("kind".into(), resource.kind.clone().into());
    Ok(())
}
