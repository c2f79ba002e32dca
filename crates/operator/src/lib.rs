//! The Spark operator: what it decides (pure: `lifecycle`, `submission`) and the controllers that
//! act on the cluster (`controller`).

pub mod cli;
pub mod config;
pub mod controller;
pub mod error;
pub mod install;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod runtime;
pub mod scheduling;
pub mod submission;
pub mod telemetry;
pub mod webhook;
