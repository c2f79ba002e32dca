//! Which spec edits rerun an application, as Kubeflow decides it: any edit does, except one of
//! `suspend` or `timeToLiveSeconds` alone, and, with the PartialRestart feature gate, one of the
//! executors' placement alone (priority class, node selector, tolerations, affinity, scheduler),
//! which Kubeflow leaves to the pods created afterwards.
//!
//! Kubeflow compares the old and new object in its watch filter, which misses edits made while
//! the operator is down. Here the status records digests of the spec it last acted on
//! (`observedSpecDigest`, beside `observedGeneration`), so the decision is a function of the
//! application alone and holds across restarts. A status without digests (written by an older
//! operator) counts every edit as one that reruns, as before.

use serde_json::Value;
use sha2::{Digest, Sha256};
use spark_operator_api::{SparkApplication, SparkApplicationSpec, SparkApplicationStatus};

/// Fields of the spec whose edit never reruns an application.
const KEPT: [&str; 2] = ["suspend", "timeToLiveSeconds"];
/// Fields of `spec.executor` that the PartialRestart feature gate lets change without a rerun.
const EXECUTOR_PLACEMENT: [&str; 5] = [
    "priorityClassName",
    "nodeSelector",
    "tolerations",
    "affinity",
    "schedulerName",
];

/// What an edit of the spec since the status was written asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecChange {
    /// No edit since.
    None,
    /// Only `suspend` or `timeToLiveSeconds`: acted on where they are read, no rerun.
    Kept,
    /// Only the executors' placement (and what `Kept` allows), with PartialRestart on.
    ExecutorPlacement,
    /// Anything else: the application is run again from the new spec.
    Rerun,
}

/// The edit of `app`'s spec since `status` was written.
pub fn classify(
    app: &SparkApplication,
    status: &SparkApplicationStatus,
    partial_restart: bool,
) -> SpecChange {
    let edited = matches!(
        (app.metadata.generation, status.observed_generation),
        (Some(generation), Some(observed)) if generation > observed
    );
    if !edited {
        return SpecChange::None;
    }
    let Some(recorded) = status.observed_spec_digest.as_deref() else {
        return SpecChange::Rerun;
    };
    let (rest, placement) = digests(&app.spec);
    match recorded.split_once('-') {
        Some((r, p)) if r == rest && p == placement => SpecChange::Kept,
        Some((r, _)) if r == rest && partial_restart => SpecChange::ExecutorPlacement,
        _ => SpecChange::Rerun,
    }
}

/// Records that the status now follows `app`'s current spec.
pub fn observe(status: &mut SparkApplicationStatus, app: &SparkApplication) {
    status.observed_generation = app.metadata.generation;
    let (rest, placement) = digests(&app.spec);
    status.observed_spec_digest = Some(format!("{rest}-{placement}"));
}

/// The digests of everything that reruns the application, and of the executors' placement.
fn digests(spec: &SparkApplicationSpec) -> (String, String) {
    let mut rest = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut placement = serde_json::Map::new();
    if let Some(object) = rest.as_object_mut() {
        for field in KEPT {
            object.remove(field);
        }
        if let Some(executor) = object.get_mut("executor").and_then(Value::as_object_mut) {
            for field in EXECUTOR_PLACEMENT {
                if let Some(value) = executor.remove(field) {
                    placement.insert(field.to_string(), value);
                }
            }
        }
    }
    (hash(&rest), hash(&Value::Object(placement)))
}

/// 16 hex digits of the SHA-256 of `value`'s JSON (object keys in a fixed order).
fn hash(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> SparkApplication {
        let mut app: SparkApplication = serde_json::from_value(serde_json::json!({
            "apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
            "metadata": {"name": "pi", "namespace": "default", "generation": 1},
            "spec": {"type": "Scala", "sparkVersion": "4.0.0", "mainClass": "Pi",
                     "executor": {"instances": 2, "nodeSelector": {"pool": "a"}}}
        }))
        .unwrap();
        let mut status = SparkApplicationStatus::default();
        observe(&mut status, &app);
        app.status = Some(status);
        app
    }

    fn after(edit: impl FnOnce(&mut SparkApplication), partial_restart: bool) -> SpecChange {
        let mut app = app();
        edit(&mut app);
        app.metadata.generation = Some(2);
        classify(&app, app.status.as_ref().unwrap(), partial_restart)
    }

    #[test]
    fn only_suspend_and_time_to_live_are_kept() {
        let unchanged = app();
        assert_eq!(
            classify(&unchanged, unchanged.status.as_ref().unwrap(), false),
            SpecChange::None
        );
        assert_eq!(
            after(|a| a.spec.time_to_live_seconds = Some(60), false),
            SpecChange::Kept
        );
        assert_eq!(
            after(|a| a.spec.suspend = Some(false), false),
            SpecChange::Kept
        );
        assert_eq!(
            after(|a| a.spec.executor.instances = Some(3), true),
            SpecChange::Rerun
        );
    }

    #[test]
    fn executor_placement_needs_partial_restart() {
        let placement = |a: &mut SparkApplication| {
            a.spec
                .executor
                .pod
                .node_selector
                .insert("pool".into(), "b".into());
        };
        assert_eq!(after(placement, false), SpecChange::Rerun);
        assert_eq!(after(placement, true), SpecChange::ExecutorPlacement);
        let driver = |a: &mut SparkApplication| {
            a.spec
                .driver
                .pod
                .node_selector
                .insert("pool".into(), "b".into());
        };
        assert_eq!(after(driver, true), SpecChange::Rerun);
    }

    #[test]
    fn a_status_without_digests_reruns_on_any_edit() {
        let mut app = app();
        app.status.as_mut().unwrap().observed_spec_digest = None;
        app.spec.time_to_live_seconds = Some(60);
        app.metadata.generation = Some(2);
        assert_eq!(
            classify(&app, app.status.as_ref().unwrap(), true),
            SpecChange::Rerun
        );
    }
}
