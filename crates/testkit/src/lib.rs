//! What the workspace's tests share, so that each test says what it checks and not how to wait,
//! where kubectl is or what a Spark Pi application looks like. A dev-dependency of every crate,
//! never a dependency of what ships.
//!
//! - [`wait`]: [`eventually`], [`within`] and [`await_condition`], waiting with a deadline.
//! - [`kubectl`]: the real kubectl, [`Kubectl`].
//! - [`fixtures`]: the applications the tests run, as YAML and as typed objects.
//! - [`cluster`]: a local cluster and what stands in for pods' containers, for the test bed's
//!   own tests.
//! - [`env`](mod@env): the operator's end-to-end environment, [`Env`] in a submission
//!   [`Mode`], and [`in_both_modes!`]; [`real_spark`]: the same with Spark's own processes.
//! - [`proxy`], [`slow_watch`], [`rbac`], [`net`]: what the runtime tests put between the
//!   operator and the cluster, and measure the chart's RBAC and the operator's endpoints with.
//! - [`helm`]: the Helm chart rendered by `helm template` and installed.
//! - [`docs`]: the pages of the documentation and the command lines they show.
//! - [`reference`]: the generated reference pages under `docs/reference/` and their check.

pub mod cluster;
pub mod docs;
pub mod env;
pub mod fixtures;
pub mod helm;
pub mod kubectl;
pub mod net;
pub mod proxy;
pub mod rbac;
pub mod real_spark;
pub mod reference;
pub mod slow_watch;
pub mod wait;

use std::path::PathBuf;

pub use env::{Env, Mode};
pub use kubectl::Kubectl;
pub use wait::{await_condition, eventually, within};

/// The repository's root directory.
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A program on `PATH`; panics saying how to install it when there is none (tests that need a
/// program fail where it is missing: CI installs each, see `.ci/run`).
pub fn program_on_path(name: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is on PATH ({install})"))
}

/// A directory of the test's own, named after it, removed when the test ends (passed or failed).
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("spark-operator-test-{name}-"))
        .tempdir()
        .expect("a scratch directory")
}
