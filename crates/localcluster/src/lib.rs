//! An in-memory Kubernetes API server with simulated nodes.
//!
//! - [`storage`]: objects, resourceVersions, watches and durability.
//! - [`registry`]: Kubernetes semantics over storage ([`registry::Cluster`]), shared by the HTTP
//!   server and in-process components.
//! - [`server`]: the HTTP(S) API that kube-rs, kubectl and fabric8 talk to.
//! - [`auth`]: opt-in service-account tokens and RBAC authorization in front of it.
//! - [`LocalCluster`]: starts all of it, for tests and the `localcluster` binary.
pub mod admission;
pub mod auth;
pub mod controllers;
pub mod error;
pub mod kinds;
pub mod meta;
pub mod patch;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod server;
pub mod simulation;
pub mod storage;

mod local;
pub use local::{LocalCluster, Options, Runtime, StartError, install_crypto_provider};
