//! An in-memory Kubernetes API server with simulated nodes, its parts named as Kubernetes names
//! them.
//!
//! The API server:
//! - [`storage`]: objects, resourceVersions, watches and durability (what etcd and the generic
//!   store do).
//! - [`kinds`]: which kinds are served and how they are shaped, built-in and CRD-defined, for
//!   routing, discovery, OpenAPI and the registry.
//! - [`registry`]: Kubernetes semantics per resource over storage ([`registry::Cluster`]):
//!   strategies, create, update, patch, delete, list and watch, and validation, shared by the HTTP
//!   server and in-process components.
//! - [`admission`]: what may change or refuse a write before it is stored: Kubernetes' built-in
//!   plugins (LimitRanger, ServiceAccount, ResourceQuota), an in-process hook and the admission
//!   webhooks.
//! - [`server`]: the HTTP(S) API that kube-rs, kubectl and fabric8 talk to.
//! - [`auth`]: opt-in service-account tokens and RBAC authorization in front of it.
//! - [`endpoints`]: the pods a Service reaches without its Endpoints, for processes' hosts files
//!   and the Service proxy.
//! - [`faults`]: opt-in failures injected into the answers (errors, resets, latency, cut
//!   watches), for testing clients.
//! - [`patch`], [`schema`], [`selector`], [`meta`], [`error`]: the patch types with field
//!   ownership, CRD structural schemas, label and field selectors, object metadata, and errors
//!   shaped as the API server's `Status`.
//! - [`node_fit`]: whether a pod may go to a node by its labels and taints, for the scheduler
//!   and the DaemonSet controller.
//! - [`quantity`], [`pod_resources`], [`quota`]: exact resource quantities, what a pod requests
//!   and limits, and what objects use of a ResourceQuota, shared by admission, the controllers
//!   and the scheduler.
//!
//! Beside it:
//! - [`controllers`]: the kube-controller-manager loops the API relies on (garbage collector,
//!   namespace, service account, resource quota, pod garbage collector, workloads, Endpoints and
//!   EndpointSlices), in process.
//! - [`simulation`]: simulated nodes, as API clients: the machines, the scheduler, the kubelets
//!   (and what they wait for before a pod starts), Spark drivers creating executors, and Spark
//!   containers run as processes.
//! - [`LocalCluster`]: starts the API server and the controllers, for tests and the
//!   `localcluster` binary.
pub mod admission;
pub mod auth;
pub mod controllers;
pub mod endpoints;
pub mod error;
pub mod faults;
pub mod kinds;
pub mod meta;
pub mod node_fit;
pub mod patch;
pub mod pod_resources;
pub mod quantity;
pub mod quota;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod server;
pub mod simulation;
pub mod storage;
pub mod streaming;

mod local;
pub use local::{LocalCluster, Options, Runtime, StartError, install_crypto_provider};
