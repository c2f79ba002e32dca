//! The subcommands of `spark-operator`.

pub mod crd;
pub mod validate;
