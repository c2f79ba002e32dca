//! The Spark operator, as a library the `spark-operator` binary runs.
//!
//! The pure decisions do not touch the Kubernetes API, and are tested without a server:
//! - `lifecycle`: the SparkApplication state machine and the one protocol that carries out its
//!   decisions;
//! - `submission`: the objects of a submission attempt, as Spark's spark-submit would build them;
//! - `scheduling`: when a ScheduledSparkApplication starts a run;
//! - `connect`: a SparkConnect's server objects and the decisions of its reconcile.
//!
//! The rest acts on the cluster, its arrows pointing one way (runtime -> controller -> submitter
//! -> pure modules):
//! - `controller`: the reconcilers of the three kinds and the caches they read;
//! - `submitter`: creating an attempt's objects, natively or through Spark's spark-submit;
//! - `shapes`: the partial shapes objects are read in;
//! - `webhook`: the admission webhooks; `leader`: leader election; `runtime`: one operator
//!   process (endpoints, readiness, wake-ups); `metrics`; `cli`: the binary's commands.

pub mod cli;
pub mod config;
pub mod connect;
pub mod controller;
pub mod duration;
pub mod error;
pub mod install;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod runtime;
pub mod scheduling;
pub mod shapes;
pub mod submission;
pub mod submitter;
pub mod telemetry;
pub mod webhook;
