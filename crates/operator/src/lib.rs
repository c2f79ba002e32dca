//! The Spark operator: what it decides (pure) and the controllers that act on the cluster.

pub mod cli;
