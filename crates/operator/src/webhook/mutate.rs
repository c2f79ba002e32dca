//! The mutating pod webhook as a pure function: what the application asks of its driver or
//! executor pods (the pod templates the submission module builds, with everything Kubeflow's
//! webhook adds) merged into a pod created by Spark, adding only what the pod does not have yet.
//! Merging into a merged pod changes nothing.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use serde_json::Value;
use spark_operator_api::SparkApplication;

use crate::submission::gang::{self, BatchScheduling};
use crate::submission::{
    self, DRIVER_TEMPLATE_FILE, EXECUTOR_TEMPLATE_FILE, LABEL_APP_NAME, LABEL_LAUNCHED_BY,
    SubmissionContext, SubmissionOptions,
};

const ROLE_LABEL: &str = "spark-role";
const DRIVER_CONTAINER: &str = "spark-kubernetes-driver";
const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";

/// Which pod of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Driver,
    Executor,
}

/// The application a pod belongs to and its role, when the pod is one this operator manages
/// (`sparkoperator.k8s.io/launched-by-spark-operator=true`, `sparkoperator.k8s.io/app-name`,
/// `spark-role` driver or executor); `None` for every other pod.
pub fn managed_pod(pod: &Value) -> Option<(String, Role)> {
    let labels = pod.pointer("/metadata/labels")?;
    if labels.get(LABEL_LAUNCHED_BY).and_then(Value::as_str) != Some("true") {
        return None;
    }
    let app = labels.get(LABEL_APP_NAME).and_then(Value::as_str)?;
    let role = match labels.get(ROLE_LABEL).and_then(Value::as_str)? {
        "driver" => Role::Driver,
        "executor" => Role::Executor,
        _ => return None,
    };
    Some((app.to_string(), role))
}

/// The pod the application asks for in `role`: its pod template with the webhook's additions,
/// built by the submission module. `None` when the application cannot be submitted at all.
pub fn wanted_pod(app: &SparkApplication, role: Role) -> Option<Pod> {
    // Volcano and YuniKorn named by the application itself: which other schedulers are
    // coscheduling instances is the controller's setting.
    let options = SubmissionOptions {
        batch_scheduling: BatchScheduling {
            enabled: true,
            ..BatchScheduling::default()
        },
        ..SubmissionOptions::default()
    };
    let ctx = SubmissionContext::with_options(
        app,
        "webhook",
        0,
        "https://kubernetes.default.svc",
        options,
    );
    let files = submission::pod_template_files(app, &ctx).ok()?;
    let file = match role {
        Role::Driver => DRIVER_TEMPLATE_FILE,
        Role::Executor => EXECUTOR_TEMPLATE_FILE,
    };
    let template = files.iter().find(|f| f.path.ends_with(file))?;
    let mut pod: Pod = serde_json::from_str(&template.contents).ok()?;
    let spec = submission::submitted_spec(app, &ctx).ok()?;
    let role_pod = match role {
        Role::Driver => &spec.driver.pod,
        Role::Executor => &spec.executor.pod,
    };
    let only = |map: &std::collections::BTreeMap<String, String>, keys: &[&str]| {
        let kept: std::collections::BTreeMap<String, String> = map
            .iter()
            .filter(|(key, _)| keys.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        (!kept.is_empty()).then_some(kept)
    };
    pod.metadata.annotations = only(&role_pod.annotations, &gang::POD_ANNOTATIONS);
    pod.metadata.labels = only(&role_pod.labels, &gang::POD_LABELS);
    Some(pod)
}

/// The JSON patch that makes `pod` (as received) have what `app` asks of `role`: empty when it
/// already has all of it.
pub fn patch_for(pod: &Value, app: &SparkApplication, role: Role) -> Result<Vec<Value>, String> {
    let original: Pod =
        serde_json::from_value(pod.clone()).map_err(|e| format!("the pod cannot be read: {e}"))?;
    let Some(wanted) = wanted_pod(app, role) else {
        return Ok(Vec::new());
    };
    let mut mutated = original.clone();
    merge(&mut mutated, &wanted, role);
    let before = serde_json::to_value(&original).map_err(|e| e.to_string())?;
    let after = serde_json::to_value(&mutated).map_err(|e| e.to_string())?;
    let patch = json_patch::diff(&before, &after);
    match serde_json::to_value(&patch).map_err(|e| e.to_string())? {
        Value::Array(operations) => Ok(operations),
        _ => Ok(Vec::new()),
    }
}

fn add_missing<T: Clone>(
    list: &mut Option<Vec<T>>,
    wanted: &Option<Vec<T>>,
    same: impl Fn(&T, &T) -> bool,
) {
    for item in wanted.iter().flatten() {
        if !list.iter().flatten().any(|have| same(have, item)) {
            list.get_or_insert_default().push(item.clone());
        }
    }
}

fn add_missing_keys(
    map: &mut Option<std::collections::BTreeMap<String, String>>,
    wanted: &Option<std::collections::BTreeMap<String, String>>,
    keys: &[&str],
) {
    for (key, value) in wanted.iter().flatten() {
        if keys.contains(&key.as_str()) && !map.as_ref().is_some_and(|m| m.contains_key(key)) {
            map.get_or_insert_default()
                .insert(key.clone(), value.clone());
        }
    }
}

fn set_if_asked<T: Clone + PartialEq>(field: &mut Option<T>, wanted: &Option<T>) {
    if let Some(value) = wanted
        && field.as_ref() != Some(value)
    {
        *field = Some(value.clone());
    }
}

fn spark_container_index(containers: &[Container], role: Role) -> Option<usize> {
    let name = match role {
        Role::Driver => DRIVER_CONTAINER,
        Role::Executor => EXECUTOR_CONTAINER,
    };
    containers
        .iter()
        .position(|c| c.name == name)
        .or_else(|| (!containers.is_empty()).then_some(0))
}

/// Adds to `pod` what `wanted` has and it lacks: list entries by their key, maps by key, and
/// single values the application sets; of the metadata, the batch scheduler's group names.
pub fn merge(pod: &mut Pod, wanted: &Pod, role: Role) {
    let metadata = &mut pod.metadata;
    add_missing_keys(
        &mut metadata.annotations,
        &wanted.metadata.annotations,
        &gang::POD_ANNOTATIONS,
    );
    add_missing_keys(
        &mut metadata.labels,
        &wanted.metadata.labels,
        &gang::POD_LABELS,
    );
    if let Some(references) = &wanted.metadata.owner_references {
        let existing = pod.metadata.owner_references.get_or_insert_default();
        let has_controller = existing.iter().any(|r| r.controller == Some(true));
        for reference in references {
            if !existing.iter().any(|r| r.uid == reference.uid) {
                let mut reference = reference.clone();
                if has_controller {
                    reference.controller = None;
                }
                existing.push(reference);
            }
        }
    }
    let Some(wanted_spec) = &wanted.spec else {
        return;
    };
    let spec = pod.spec.get_or_insert_default();
    merge_spec(spec, wanted_spec, role);
}

fn merge_spec(spec: &mut PodSpec, wanted: &PodSpec, role: Role) {
    add_missing(&mut spec.volumes, &wanted.volumes, |a, b| a.name == b.name);
    let wanted_spark = spark_container_index(&wanted.containers, role);
    if let (Some(index), Some(wanted_index)) =
        (spark_container_index(&spec.containers, role), wanted_spark)
    {
        merge_container(
            &mut spec.containers[index],
            &wanted.containers[wanted_index],
        );
    }
    let sidecars: Vec<Container> = wanted
        .containers
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != wanted_spark)
        .map(|(_, c)| c.clone())
        .collect();
    let mut containers = Some(std::mem::take(&mut spec.containers));
    add_missing(&mut containers, &Some(sidecars), |a, b| a.name == b.name);
    spec.containers = containers.unwrap_or_default();
    add_missing(
        &mut spec.init_containers,
        &wanted.init_containers,
        |a, b| a.name == b.name,
    );
    add_missing(&mut spec.tolerations, &wanted.tolerations, |a, b| a == b);
    add_missing(&mut spec.host_aliases, &wanted.host_aliases, |a, b| a == b);
    if let Some(selector) = &wanted.node_selector {
        let have = spec.node_selector.get_or_insert_default();
        for (key, value) in selector {
            have.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    set_if_asked(&mut spec.affinity, &wanted.affinity);
    set_if_asked(&mut spec.security_context, &wanted.security_context);
    set_if_asked(&mut spec.host_network, &wanted.host_network);
    set_if_asked(&mut spec.dns_policy, &wanted.dns_policy);
    set_if_asked(&mut spec.dns_config, &wanted.dns_config);
    set_if_asked(&mut spec.scheduler_name, &wanted.scheduler_name);
    if wanted.priority_class_name.is_some()
        && spec.priority_class_name != wanted.priority_class_name
    {
        spec.priority_class_name = wanted.priority_class_name.clone();
        spec.priority = None;
        spec.preemption_policy = None;
    }
    set_if_asked(
        &mut spec.termination_grace_period_seconds,
        &wanted.termination_grace_period_seconds,
    );
    set_if_asked(
        &mut spec.share_process_namespace,
        &wanted.share_process_namespace,
    );
}

fn merge_container(container: &mut Container, wanted: &Container) {
    add_missing(&mut container.env, &wanted.env, |a, b| a.name == b.name);
    add_missing(&mut container.env_from, &wanted.env_from, |a, b| a == b);
    add_missing(
        &mut container.volume_mounts,
        &wanted.volume_mounts,
        |a, b| a.mount_path == b.mount_path,
    );
    add_missing(&mut container.ports, &wanted.ports, |a, b| {
        a.container_port == b.container_port || (a.name.is_some() && a.name == b.name)
    });
    if let Some(limits) = wanted.resources.as_ref().and_then(|r| r.limits.as_ref()) {
        let have = container
            .resources
            .get_or_insert_default()
            .limits
            .get_or_insert_default();
        for (resource, quantity) in limits {
            have.entry(resource.clone())
                .or_insert_with(|| quantity.clone());
        }
    }
    set_if_asked(&mut container.security_context, &wanted.security_context);
    set_if_asked(&mut container.lifecycle, &wanted.lifecycle);
}

#[cfg(test)]
#[path = "mutate_tests.rs"]
mod tests;
