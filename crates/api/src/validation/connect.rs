//! The rules of a SparkConnect: Kubeflow's SparkConnect validator (its name, Spark version,
//! images, dynamic allocation, memory sizes and the `sparkConf` keys the operator manages), and
//! what would otherwise fail only when the server starts (cores, executor instances and image
//! references).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::ResourceExt;
use serde_json::Value;

use super::application::{labels, non_negative, service_type, spark_memory};
use super::labels::label_value_problem;
use super::names::image_reference_problem;
use super::{FieldError, Problems};
use crate::naming::{CONNECT_NAME_MAX, CONNECT_SERVER_SUFFIX, is_dns_label};
use crate::{DynamicAllocation, SparkConnect, SparkConnectSpec};

/// The container of the server pod template that runs the server (Kubeflow's choice: this name,
/// else the first container).
const SERVER_CONTAINER: &str = "spark-kubernetes-driver";
/// The container of the executor pod template that Spark builds executors on.
const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";

/// Every problem of a SparkConnect.
pub fn validate_connect(connect: &SparkConnect) -> Vec<FieldError> {
    let mut p = Problems::default();
    let name = connect.name_any();
    if !is_dns_label(&name) || name.len() > CONNECT_NAME_MAX {
        p.add(
            "metadata.name",
            format!(
                "{name:?} cannot name the server's Service ({name}{CONNECT_SERVER_SUFFIX}): use at most {CONNECT_NAME_MAX} lower-case letters, digits and '-', starting with a letter"
            ),
        );
    }
    let spec = &connect.spec;
    spark_version(spec, &mut p);
    images(spec, &mut p);
    for (field, cores) in [
        ("server.cores", spec.server.cores),
        ("executor.cores", spec.executor.cores),
    ] {
        if let Some(cores) = cores.filter(|c| *c < 1) {
            p.add(
                format!("spec.{field}"),
                format!("is {cores}: Spark needs a whole number of at least 1 core"),
            );
        }
    }
    spark_memory(spec.server.memory.as_deref(), "spec.server.memory", &mut p);
    spark_memory(
        spec.executor.memory.as_deref(),
        "spec.executor.memory",
        &mut p,
    );
    let dynamic = spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true));
    match spec.executor.instances {
        Some(instances) if instances < 0 => p.add(
            "spec.executor.instances",
            format!("is {instances}: use 1 or more executors"),
        ),
        Some(0) if dynamic.is_none() => p.add(
            "spec.executor.instances",
            "is 0, which spark-submit refuses (\"Number of executors must be a positive number\") \
             and which would leave queries without executors: use 1 or more, or enable \
             dynamicAllocation",
        ),
        _ => {}
    }
    if let Some(dynamic) = dynamic {
        dynamic_allocation(dynamic, &mut p);
    }
    if let Some(service) = &spec.server.service {
        let path = "spec.server.service";
        if let Some(name) = service.metadata.name.as_deref().filter(|n| !n.is_empty())
            && !is_dns_label(name)
        {
            p.add(
                format!("{path}.metadata.name"),
                format!("{name:?} is not a valid Service name: use at most 63 lower-case letters, digits and '-', starting with a letter"),
            );
        }
        let service_spec = service.spec.as_ref();
        service_type(
            service_spec.and_then(|s| s.type_.as_deref()),
            &format!("{path}.spec.type"),
            &mut p,
        );
        if let Some(selector) = service_spec.and_then(|s| s.selector.as_ref()) {
            labels(selector, &format!("{path}.spec.selector"), &mut p);
        }
    }
    spark_conf(&spec.spark_conf, connect.namespace().as_deref(), &mut p);
    p.into_vec()
}

/// Every problem of a SparkConnect given as JSON: a value of the wrong type is named with its
/// path instead of failing the whole object.
pub fn validate_connect_json(object: &Value) -> Vec<FieldError> {
    match super::json::typed::<SparkConnect>(object) {
        Ok(connect) => validate_connect(&connect),
        Err(error) => vec![error],
    }
}

fn spark_version(spec: &SparkConnectSpec, p: &mut Problems) {
    let version = spec.spark_version.trim();
    if version.is_empty() {
        p.add(
            "spec.sparkVersion",
            "is empty: set the Spark version of the image, e.g. \"4.0.1\"",
        );
        return;
    }
    if let Some(problem) = label_value_problem(version) {
        p.add(
            "spec.sparkVersion",
            format!("{version:?} cannot be the server pod's spark-version label: it {problem}"),
        );
    }
    let templates = spec.server.template.is_some() || spec.executor.template.is_some();
    if templates && version_below(version, (3, 0, 0)) {
        p.add(
            "spec.sparkVersion",
            format!("{version:?}: pod templates need Spark 3.0.0 or later; use a newer Spark or remove server.template and executor.template"),
        );
    }
}

/// Whether a `major.minor.patch` version (a `v` prefix and a suffix after `-` allowed) is below
/// `floor`; a version that cannot be read is not.
fn version_below(version: &str, floor: (u64, u64, u64)) -> bool {
    let core = version.trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<Option<u64>> = core.split('.').map(|n| n.parse().ok()).collect();
    match parts.as_slice() {
        [Some(major), rest @ ..] => {
            let minor = rest.first().copied().flatten().unwrap_or(0);
            let patch = rest.get(1).copied().flatten().unwrap_or(0);
            (*major, minor, patch) < floor
        }
        _ => false,
    }
}

/// The image of the container Kubeflow picks from a pod template: the one named `container`,
/// else the first.
pub fn template_image<'a>(
    template: Option<&'a PodTemplateSpec>,
    container: &str,
) -> Option<&'a str> {
    let containers = &template?.spec.as_ref()?.containers;
    let chosen = containers
        .iter()
        .find(|c| c.name == container)
        .or(containers.first())?;
    chosen.image.as_deref().filter(|i| !i.trim().is_empty())
}

fn images(spec: &SparkConnectSpec, p: &mut Problems) {
    let server = template_image(spec.server.template.as_ref(), SERVER_CONTAINER);
    let executor = template_image(spec.executor.template.as_ref(), EXECUTOR_CONTAINER);
    let image = spec.image.as_deref().filter(|i| !i.trim().is_empty());
    if image.is_none() && (server.is_none() || executor.is_none()) {
        p.add(
            "spec.image",
            format!("no container image: set spec.image, e.g. \"apache/spark:4.0.1\", or an image on both the {SERVER_CONTAINER} container of server.template and the {EXECUTOR_CONTAINER} container of executor.template"),
        );
    }
    for (path, image) in [
        ("spec.image", image),
        ("spec.server.template.spec.containers[].image", server),
        ("spec.executor.template.spec.containers[].image", executor),
    ] {
        if let Some(problem) = image.and_then(image_reference_problem) {
            p.add(path, problem);
        }
    }
}

fn dynamic_allocation(dynamic: &DynamicAllocation, p: &mut Problems) {
    let path = "spec.dynamicAllocation";
    for (field, value) in [
        ("initialExecutors", dynamic.initial_executors),
        ("minExecutors", dynamic.min_executors),
        ("maxExecutors", dynamic.max_executors),
    ] {
        non_negative(value.map(i64::from), &format!("{path}.{field}"), p);
    }
    let (min, max) = (dynamic.min_executors, dynamic.max_executors);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        p.add(
            format!("{path}.minExecutors"),
            format!("{min} is above maxExecutors {max}: lower it or raise maxExecutors"),
        );
    }
    if let Some(initial) = dynamic.initial_executors {
        if let Some(min) = min.filter(|min| initial < *min) {
            p.add(
                format!("{path}.initialExecutors"),
                format!("{initial} is below minExecutors {min}: start with at least {min}"),
            );
        }
        if let Some(max) = max.filter(|max| initial > *max) {
            p.add(
                format!("{path}.initialExecutors"),
                format!("{initial} is above maxExecutors {max}: start with at most {max}"),
            );
        }
    }
}

/// `sparkConf` keys the operator sets itself, each with what to use instead (Kubeflow's list).
const MANAGED_KEYS: &[(&str, &str)] = &[
    (
        "spark.kubernetes.authenticate.driver.serviceAccountName",
        "set the service account in the pod template instead",
    ),
    (
        "spark.kubernetes.authenticate.executor.serviceAccountName",
        "set the service account in the pod template instead",
    ),
    (
        "spark.kubernetes.authenticate.oauthTokenFile",
        "credentials are the operator's to manage",
    ),
    (
        "spark.kubernetes.authenticate.oauthToken",
        "credentials are the operator's to manage",
    ),
    (
        "spark.kubernetes.authenticate.driver.oauthTokenFile",
        "credentials are the operator's to manage",
    ),
    (
        "spark.kubernetes.authenticate.driver.oauthToken",
        "credentials are the operator's to manage",
    ),
    (
        "spark.kubernetes.authenticate.executor.oauthTokenFile",
        "credentials are the operator's to manage",
    ),
    (
        "spark.kubernetes.authenticate.executor.oauthToken",
        "credentials are the operator's to manage",
    ),
    ("spark.master", "the operator sets the master"),
    (
        "spark.kubernetes.driver.master",
        "the operator sets the master",
    ),
    ("spark.kubernetes.container.image", "use spec.image instead"),
    (
        "spark.kubernetes.driver.container.image",
        "use spec.image instead",
    ),
    (
        "spark.kubernetes.executor.container.image",
        "use spec.image instead",
    ),
];

fn spark_conf(conf: &BTreeMap<String, String>, namespace: Option<&str>, p: &mut Problems) {
    for (key, value) in conf {
        let path = format!("spec.sparkConf[{key}]");
        if let Some((_, instead)) = MANAGED_KEYS.iter().find(|(managed, _)| managed == key) {
            p.add(
                path,
                format!("is set by the operator: remove it; {instead}"),
            );
        } else if key == "spark.kubernetes.namespace"
            && namespace.is_some_and(|namespace| namespace != value)
        {
            let namespace = namespace.unwrap_or_default();
            p.add(
                path,
                format!("{value:?} is not the SparkConnect's namespace {namespace:?}: executors are made in the resource's namespace; remove the key"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConnectExecutorSpec, ServerSpec};
    use serde_json::json;

    fn connect() -> SparkConnect {
        let mut connect = SparkConnect::new(
            "spark-connect",
            SparkConnectSpec {
                spark_version: "4.0.1".into(),
                image: Some("apache/spark:4.0.1".into()),
                server: ServerSpec::default(),
                executor: ConnectExecutorSpec {
                    instances: Some(1),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        connect.metadata.namespace = Some("default".into());
        connect
    }

    fn paths_after(change: impl FnOnce(&mut SparkConnect)) -> Vec<String> {
        let mut connect = connect();
        change(&mut connect);
        validate_connect(&connect)
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    fn template(container: &str, image: &str) -> PodTemplateSpec {
        serde_json::from_value(
            json!({"spec": {"containers": [{"name": "sidecar", "image": "busybox"},
                {"name": container, "image": image}]}}),
        )
        .unwrap()
    }

    #[test]
    fn a_plain_connect_is_valid() {
        assert_eq!(validate_connect(&connect()), vec![]);
    }

    #[test]
    fn the_name_leaves_room_for_the_service() {
        let longest = "c".repeat(CONNECT_NAME_MAX);
        assert!(paths_after(|c| c.metadata.name = Some(longest)).is_empty());
        for bad in ["c".repeat(CONNECT_NAME_MAX + 1), "1st".into(), "a.b".into()] {
            assert_eq!(
                paths_after(|c| c.metadata.name = Some(bad)),
                ["metadata.name"]
            );
        }
    }

    #[test]
    fn images_come_from_the_spec_or_both_templates() {
        let both = |c: &mut SparkConnect| {
            c.spec.image = None;
            c.spec.server.template = Some(template(SERVER_CONTAINER, "apache/spark:4.0.1"));
            c.spec.executor.template = Some(template(EXECUTOR_CONTAINER, "apache/spark:4.0.1"));
        };
        assert!(paths_after(both).is_empty());
        let server_only = |c: &mut SparkConnect| {
            c.spec.image = None;
            c.spec.server.template = Some(template(SERVER_CONTAINER, "apache/spark:4.0.1"));
        };
        assert_eq!(paths_after(server_only), ["spec.image"]);
        let errors = validate_connect(&{
            let mut c = connect();
            c.spec.image = Some(" ".into());
            c
        });
        assert!(errors[0].message.contains("set spec.image"), "{errors:?}");
        assert_eq!(
            paths_after(|c| c.spec.image = Some("Apache/Spark".into())),
            ["spec.image"]
        );
    }

    #[test]
    fn templates_need_spark_3() {
        let old = |c: &mut SparkConnect| {
            c.spec.spark_version = "2.4.8".into();
            c.spec.executor.template = Some(template(EXECUTOR_CONTAINER, "spark:2"));
        };
        assert_eq!(paths_after(old), ["spec.sparkVersion"]);
        assert!(paths_after(|c| c.spec.spark_version = "2.4.8".into()).is_empty());
        assert_eq!(
            paths_after(|c| c.spec.spark_version = "".into()),
            ["spec.sparkVersion"]
        );
        assert_eq!(
            paths_after(|c| c.spec.spark_version = "4.0 custom".into()),
            ["spec.sparkVersion"]
        );
        assert!(!version_below("v3.5.1-rc1", (3, 0, 0)));
        assert!(version_below("2", (3, 0, 0)));
        assert!(!version_below("latest", (3, 0, 0)));
    }

    #[test]
    fn sizes_cores_and_instances() {
        assert_eq!(
            paths_after(|c| c.spec.server.memory = Some("1x".into())),
            ["spec.server.memory"]
        );
        assert_eq!(
            paths_after(|c| c.spec.executor.memory = Some("0g".into())),
            ["spec.executor.memory"]
        );
        assert_eq!(
            paths_after(|c| c.spec.executor.cores = Some(0)),
            ["spec.executor.cores"]
        );
        assert_eq!(
            paths_after(|c| c.spec.executor.instances = Some(0)),
            ["spec.executor.instances"]
        );
        let dynamic = |c: &mut SparkConnect| {
            c.spec.executor.instances = Some(0);
            c.spec.dynamic_allocation = Some(DynamicAllocation {
                enabled: Some(true),
                ..Default::default()
            });
        };
        assert!(paths_after(dynamic).is_empty());
    }

    #[test]
    fn dynamic_allocation_ranges_when_enabled() {
        let range = |enabled, initial, min, max| {
            move |c: &mut SparkConnect| {
                c.spec.dynamic_allocation = Some(DynamicAllocation {
                    enabled: Some(enabled),
                    initial_executors: initial,
                    min_executors: min,
                    max_executors: max,
                    ..Default::default()
                })
            }
        };
        assert_eq!(
            paths_after(range(true, None, Some(3), Some(2))),
            ["spec.dynamicAllocation.minExecutors"]
        );
        assert_eq!(
            paths_after(range(true, Some(1), Some(2), Some(4))),
            ["spec.dynamicAllocation.initialExecutors"]
        );
        assert_eq!(
            paths_after(range(true, Some(5), None, Some(4))),
            ["spec.dynamicAllocation.initialExecutors"]
        );
        assert!(paths_after(range(false, Some(5), Some(9), Some(4))).is_empty());
    }

    #[test]
    fn managed_spark_conf_keys_and_another_namespace() {
        let set = |key: &'static str, value: &'static str| {
            move |c: &mut SparkConnect| {
                c.spec.spark_conf.insert(key.into(), value.into());
            }
        };
        assert_eq!(
            paths_after(set("spark.master", "local")),
            ["spec.sparkConf[spark.master]"]
        );
        assert_eq!(
            paths_after(set("spark.kubernetes.namespace", "other")),
            ["spec.sparkConf[spark.kubernetes.namespace]"]
        );
        assert!(paths_after(set("spark.kubernetes.namespace", "default")).is_empty());
        assert!(paths_after(set("spark.sql.shuffle.partitions", "4")).is_empty());
    }

    #[test]
    fn the_given_service() {
        let service = |name: &str, kind: &str| {
            let service =
                serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"type": kind}}))
                    .unwrap();
            move |c: &mut SparkConnect| c.spec.server.service = Some(service)
        };
        assert!(paths_after(service("sc-grpc", "NodePort")).is_empty());
        assert_eq!(
            paths_after(service("SC", "ClusterIP")),
            ["spec.server.service.metadata.name"]
        );
        assert_eq!(
            paths_after(service("sc", "Internal")),
            ["spec.server.service.spec.type"]
        );
    }

    #[test]
    fn json_with_a_wrong_type_names_the_field() {
        let errors = validate_connect_json(&json!({
            "apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
            "metadata": {"name": "sc", "namespace": "default"},
            "spec": {"sparkVersion": "4.0.1", "image": "apache/spark:4.0.1",
                     "server": {"cores": "two"}, "executor": {}}}));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "spec.server.cores");
    }
}
