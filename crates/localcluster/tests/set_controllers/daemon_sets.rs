//! DaemonSets.
