//! The subcommands of `spark-operator`.

pub mod controller;
pub mod crd;
pub mod runtime_flags;
pub mod validate;
pub mod webhook;
