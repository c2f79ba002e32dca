//! The `sparkoperator.k8s.io` API: resource types compatible with Kubeflow's Spark operator, their
//! defaults and their validation, all free of I/O.

pub mod crd;
pub mod defaults;
pub mod documents;
pub mod naming;
pub mod schedule;
pub mod types;
pub mod validation;

pub use types::application::*;
pub use types::connect::*;
pub use types::pod::*;
pub use types::scheduled::*;

/// The API group of every resource here.
pub const GROUP: &str = "sparkoperator.k8s.io";
