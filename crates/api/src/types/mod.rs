//! The resource types, field for field as Kubeflow's Spark operator defines them.

pub mod application;
pub mod connect;
pub mod pod;
pub mod scheduled;
mod schema;
