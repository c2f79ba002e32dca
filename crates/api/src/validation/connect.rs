//! The rules of a SparkConnect, those of Kubeflow's admission webhook: a name that leaves room for
//! its `-server` Service, a Spark version (3.0 or later with pod templates), an image for the
//! server and for the executors, dynamic allocation bounds in order, Spark sizes, and none of the
//! `sparkConf` keys that are the operator's. Each problem names its field and the fix.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::ResourceExt;

use super::placement::spark_major;
use super::quantity::parse_spark_size_mib;
use super::spark_conf::spark_conf_problems;
use super::{FieldError, Problems, image_reference_problem};
use crate::naming::{DNS_LABEL_MAX, is_dns_label};
use crate::{DynamicAllocation, SparkConnect};

/// The suffix of the Service in front of the server (`<name>-server`).
pub const CONNECT_SERVICE_SUFFIX: &str = "-server";

/// The longest SparkConnect name whose Service name is still a DNS label.
pub const CONNECT_NAME_MAX: usize = DNS_LABEL_MAX - CONNECT_SERVICE_SUFFIX.len();

/// The containers Spark runs in the server's and the executors' pods, looked up by name in the
/// templates (the first container when none has the name), as Spark does.
const SERVER_CONTAINER: &str = "spark-kubernetes-driver";
const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";

/// Every problem of a SparkConnect.
pub fn validate_connect(connect: &SparkConnect) -> Vec<FieldError> {
    let mut p = Problems::default();
    let name = connect.name_any();
    if !is_dns_label(&name) || name.len() > CONNECT_NAME_MAX {
        p.add(
            "metadata.name",
            format!(
                "{name:?} cannot name its Service {name}{CONNECT_SERVICE_SUFFIX}: use at most {CONNECT_NAME_MAX} lower-case letters, digits and '-', starting with a letter"
            ),
        );
    }
    let spec = &connect.spec;
    if spec.spark_version.trim().is_empty() {
        p.add(
            "spec.sparkVersion",
            "is empty: set the Spark version of the image, e.g. \"4.0.0\"",
        );
    } else if let Some(major) = spark_major(&spec.spark_version).filter(|m| *m < 3) {
        for (role, template) in [
            ("server", &spec.server.template),
            ("executor", &spec.executor.template),
        ] {
            if template.is_some() {
                p.add(
                    format!("spec.{role}.template"),
                    format!(
                        "needs Spark 3.0 or later, and sparkVersion is {:?} (Spark {major}): remove the template or use a newer Spark",
                        spec.spark_version
                    ),
                );
            }
        }
    }
    images(connect, &mut p);
    if let Some(allocation) = spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true))
    {
        dynamic_allocation(allocation, &mut p);
    }
    for (role, cores, memory) in [
        ("server", spec.server.cores, &spec.server.memory),
        ("executor", spec.executor.cores, &spec.executor.memory),
    ] {
        if let Some(cores) = cores.filter(|c| *c < 1) {
            p.add(
                format!("spec.{role}.cores"),
                format!("is {cores}: Spark needs a whole number of at least 1 core"),
            );
        }
        if let Some(memory) = memory
            .as_deref()
            .filter(|m| !m.is_empty() && parse_spark_size_mib(m).is_none())
        {
            p.add(
                format!("spec.{role}.memory"),
                format!(
                    "{memory:?} is not a Spark size: write a whole number with a unit, such as 512m or 2g"
                ),
            );
        }
    }
    if let Some(instances) = spec.executor.instances.filter(|i| *i < 0) {
        p.add(
            "spec.executor.instances",
            format!("is {instances}: give 0 or more executors"),
        );
    }
    if let Some(namespace) = connect.namespace() {
        spark_conf_problems(&spec.spark_conf, &namespace, "spec.sparkConf", &mut p);
    }
    p.into_vec()
}

/// The server and the executors each need an image: `spec.image`, or one in their template.
fn images(connect: &SparkConnect, p: &mut Problems) {
    let spec = &connect.spec;
    if let Some(image) = spec.image.as_deref().filter(|i| !i.is_empty()) {
        if let Some(problem) = image_reference_problem(image) {
            p.add("spec.image", problem);
        }
        return;
    }
    for (role, template, container) in [
        ("server", &spec.server.template, SERVER_CONTAINER),
        ("executor", &spec.executor.template, EXECUTOR_CONTAINER),
    ] {
        if template_image(template.as_ref(), container).is_none() {
            p.add(
                "spec.image",
                format!(
                    "is not set, and spec.{role}.template has no image for its {container} container: set spec.image, or an image in that container"
                ),
            );
        }
    }
}

fn template_image<'a>(template: Option<&'a PodTemplateSpec>, container: &str) -> Option<&'a str> {
    let containers = &template?.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == container)
        .or(containers.first())?
        .image
        .as_deref()
        .filter(|i| !i.is_empty())
}

fn dynamic_allocation(allocation: &DynamicAllocation, p: &mut Problems) {
    let path = "spec.dynamicAllocation";
    for (field, value) in [
        ("minExecutors", allocation.min_executors),
        ("initialExecutors", allocation.initial_executors),
        ("maxExecutors", allocation.max_executors),
    ] {
        if let Some(value) = value.filter(|v| *v < 0) {
            p.add(
                format!("{path}.{field}"),
                format!("is {value}: give 0 or more executors"),
            );
        }
    }
    let (min, initial, max) = (
        allocation.min_executors,
        allocation.initial_executors,
        allocation.max_executors,
    );
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        p.add(
            format!("{path}.minExecutors"),
            format!("is {min}, above maxExecutors ({max}): lower it or raise maxExecutors"),
        );
    }
    if let Some(initial) = initial {
        if let Some(min) = min.filter(|m| initial < *m) {
            p.add(
                format!("{path}.initialExecutors"),
                format!("is {initial}, below minExecutors ({min}): start with at least {min}"),
            );
        }
        if let Some(max) = max.filter(|m| initial > *m) {
            p.add(
                format!("{path}.initialExecutors"),
                format!("is {initial}, above maxExecutors ({max}): start with at most {max}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::validate_connect_json;
    use serde_json::{Value, json};

    fn connect(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
               "metadata": {"name": name, "namespace": "default"}, "spec": spec})
    }

    fn with_templates(version: &str) -> Value {
        json!({
            "sparkVersion": version,
            "server": {"template": {"spec": {"containers": [
                {"name": "spark-kubernetes-driver", "image": "apache/spark:4.0.0"}]}}},
            "executor": {"instances": 2, "cores": 1, "memory": "512m",
                "template": {"spec": {"containers": [
                    {"name": "spark-kubernetes-executor", "image": "apache/spark:4.0.0"}]}}},
        })
    }

    fn problems(object: &Value) -> Vec<String> {
        validate_connect_json(object)
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn images_in_both_templates_are_enough() {
        assert_eq!(
            problems(&connect("spark-connect", with_templates("4.0.0"))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_name_leaves_room_for_the_service() {
        let long = "a".repeat(CONNECT_NAME_MAX + 1);
        let found = problems(&connect(&long, with_templates("4.0.0")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("metadata.name: ") && found[0].contains("-server"),
            "{found:?}"
        );
        let found = problems(&connect("9lives", with_templates("4.0.0")));
        assert!(found[0].contains("starting with a letter"), "{found:?}");
        assert!(
            problems(&connect(
                &"a".repeat(CONNECT_NAME_MAX),
                with_templates("4.0.0")
            ))
            .is_empty()
        );
    }

    #[test]
    fn a_version_is_needed_and_templates_need_spark_3() {
        let found = problems(&connect("c", with_templates("")));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("spec.sparkVersion: is empty"));
        let found = problems(&connect("c", with_templates("2.4.8")));
        assert_eq!(
            found
                .iter()
                .map(|f| f.split(':').next().unwrap())
                .collect::<Vec<_>>(),
            ["spec.server.template", "spec.executor.template"]
        );
        assert!(found[0].contains("needs Spark 3.0 or later"), "{found:?}");
    }

    #[test]
    fn the_server_and_the_executors_each_need_an_image() {
        let mut spec = with_templates("4.0.0");
        spec["executor"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("image");
        let found = problems(&connect("c", spec.clone()));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("spec.image: is not set, and spec.executor.template"),
            "{found:?}"
        );
        spec["image"] = "apache/spark:4.0.0".into();
        assert!(problems(&connect("c", spec.clone())).is_empty());
        spec["image"] = "apache/spark:4.0.0:latest".into();
        let found = problems(&connect("c", spec));
        assert!(found[0].contains("is not an image reference"), "{found:?}");
        // No templates and no image: both are named.
        let bare = json!({"sparkVersion": "4.0.0", "server": {}, "executor": {}});
        assert_eq!(problems(&connect("c", bare)).len(), 2);
    }

    #[test]
    fn dynamic_allocation_bounds_are_in_order_when_it_is_on() {
        let mut spec = with_templates("4.0.0");
        spec["dynamicAllocation"] = json!({"enabled": true, "minExecutors": 5,
            "initialExecutors": 1, "maxExecutors": 2});
        let found = problems(&connect("c", spec.clone()));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0]
                .starts_with("spec.dynamicAllocation.minExecutors: is 5, above maxExecutors (2)")
        );
        assert!(found[1].contains("below minExecutors (5)"), "{found:?}");
        spec["dynamicAllocation"] = json!({"enabled": true, "minExecutors": -1});
        let found = problems(&connect("c", spec.clone()));
        assert_eq!(
            found,
            ["spec.dynamicAllocation.minExecutors: is -1: give 0 or more executors"]
        );
        spec["dynamicAllocation"] = json!({"enabled": false, "minExecutors": 5, "maxExecutors": 2});
        assert!(problems(&connect("c", spec)).is_empty());
    }

    #[test]
    fn sizes_and_the_operators_spark_conf_keys() {
        let mut spec = with_templates("4.0.0");
        spec["server"]["memory"] = "1.5g".into();
        spec["executor"]["memory"] = "lots".into();
        spec["sparkConf"] = json!({"spark.kubernetes.authenticate.oauthToken": "t",
            "spark.kubernetes.namespace": "kube-system", "spark.sql.shuffle.partitions": "8"});
        let found = problems(&connect("c", spec));
        let paths: Vec<_> = found
            .iter()
            .map(|f| f.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.server.memory",
                "spec.executor.memory",
                "spec.sparkConf[spark.kubernetes.authenticate.oauthToken]",
                "spec.sparkConf[spark.kubernetes.namespace]",
            ]
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut spec = with_templates("4.0.0");
        spec["executor"]["instances"] = "two".into();
        let found = validate_connect_json(&connect("c", spec));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "spec.executor.instances");
    }
}
