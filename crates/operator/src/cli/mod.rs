//! Subcommands of `spark-operator` that need no cluster.

pub mod crd;
pub mod validate;
