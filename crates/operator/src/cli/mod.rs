//! The subcommands of `spark-operator`.

pub mod controller;
pub mod crd;
pub mod local;
pub mod validate;
