//! The pod templates: the executor template the driver creates its executors from (everything
//! Kubeflow's webhook would add to executors, so that none is needed), carried in a ConfigMap
//! mounted on the driver; and, for submissions through the real spark-submit, the driver template
//! file with the webhook's driver additions.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::customize::{self, Role};
use super::driver_pod::{POD_TEMPLATE_KEY, take_spark_container};
use super::names::{DRIVER_CONTAINER, EXECUTOR_CONTAINER};
use super::spec::Prepared;
use super::{SubmissionContext, SubmissionError, SubmissionNames};

/// The executor pod template: the spec's template (or an empty one), owned by the application
/// without being its controller (the driver pod is), with the webhook's executor additions.
pub fn executor_template(prepared: &Prepared) -> Pod {
    let template = prepared.spec.executor.pod.template.as_deref().cloned();
    let mut pod = template_pod(template, EXECUTOR_CONTAINER);
    customize::add_owner_reference(&mut pod.metadata, prepared.executor_owner_reference());
    let index = spark_container_index(&mut pod, EXECUTOR_CONTAINER);
    customize::apply(&mut pod, index, prepared, Role::Executor);
    pod
}

/// The driver pod template spark-submit would be given: the spec's template (or an empty one)
/// with the webhook's driver additions. The native submission builds the driver pod itself.
pub fn driver_template(prepared: &Prepared) -> Pod {
    let template = prepared.spec.driver.pod.template.as_deref().cloned();
    let mut pod = template_pod(template, DRIVER_CONTAINER);
    let index = spark_container_index(&mut pod, DRIVER_CONTAINER);
    customize::apply(&mut pod, index, prepared, Role::Driver);
    pod
}

fn template_pod(template: Option<PodTemplateSpec>, container: &str) -> Pod {
    let template = template.unwrap_or_else(|| customize::empty_template(container));
    Pod {
        metadata: template.metadata.unwrap_or_default(),
        spec: Some(template.spec.unwrap_or_default()),
        status: None,
    }
}

/// Where Spark will find its container in the template (the named one, else the first); a
/// template without containers gets one, so that the additions have somewhere to go.
fn spark_container_index(pod: &mut Pod, name: &str) -> usize {
    let spec = pod.spec.get_or_insert_default();
    if spec.containers.is_empty() {
        spec.containers.push(Container {
            name: name.into(),
            ..Default::default()
        });
        return 0;
    }
    // Find the index Spark's selection would take, without disturbing the order.
    let mut probe = spec.containers.clone();
    let chosen = take_spark_container(&mut probe, Some(name));
    spec.containers
        .iter()
        .position(|c| *c == chosen)
        .unwrap_or(0)
}

/// A pod as the template file holds it: JSON, which is YAML too, and which Spark (fabric8) reads
/// as either. Written as JSON because serde_yaml took about a fifth of the CPU of planning a
/// submission (`plan`); indented, so that the ConfigMap still reads well.
pub fn to_document(pod: &Pod) -> Result<String, SubmissionError> {
    serde_json::to_string_pretty(pod)
        .map_err(|error| SubmissionError::Serialization(error.to_string()))
}

/// The immutable ConfigMap the driver mounts its executor template from.
pub fn config_map(
    prepared: &Prepared,
    ctx: &SubmissionContext,
    names: &SubmissionNames,
    template: String,
) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(names.pod_template_config_map.clone()),
            namespace: Some(prepared.namespace.clone()),
            labels: Some(prepared.resource_labels(ctx)),
            owner_references: Some(vec![prepared.owner_reference()]),
            ..Default::default()
        },
        immutable: Some(true),
        data: Some(BTreeMap::from([(POD_TEMPLATE_KEY.to_string(), template)])),
        ..Default::default()
    }
}
