//! The subcommands of `spark-operator`, and their flags: ours and every flag Kubeflow's chart
//! and kustomize files pass, with Kubeflow's meaning (see the README's compatibility section for
//! the few that change nothing here).

pub mod batch_scheduler_flags;
pub mod controller;
pub mod crd;
pub mod feature_gates;
pub mod go_only_flags;
pub mod go_values;
pub mod logging;
pub mod rate_limit_flags;
pub mod runtime_flags;
pub mod validate;
pub mod webhook;
