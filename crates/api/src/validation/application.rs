//! The rules of a SparkApplication.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use super::labels::{label_key_problem, label_value_problem};
use super::names::{dns_subdomain_problem, image_reference_problem};
use super::quantity::{parse_kubernetes_quantity, parse_spark_size_mib};
use super::spark_conf::spark_conf_problems;
use super::{FieldError, IMAGE_PULL_POLICIES, Problems};
use crate::naming::{APPLICATION_NAME_MAX, is_dns_label};
use crate::secret_types;
use crate::{
    ApplicationType, DeployMode, Port, SparkApplication, SparkApplicationSpec, SparkPodSpec,
};

/// Every problem of an application.
pub fn validate_application(app: &SparkApplication) -> Vec<FieldError> {
    let mut problems = Problems::default();
    let name = app.name_any();
    if !is_dns_label(&name) || name.len() > APPLICATION_NAME_MAX {
        problems.add(
            "metadata.name",
            format!(
                "{name:?} cannot name the application's Services: use at most {APPLICATION_NAME_MAX} lower-case letters, digits and '-', starting with a letter"
            ),
        );
    }
    problems.extend(validate_spec(&app.spec, app.namespace().as_deref(), "spec"));
    problems.into_vec()
}

/// Every problem of a spec, with paths under `prefix` (`spec`, or `spec.template` of a schedule),
/// of a resource in `namespace` (unknown for a file not yet applied).
pub(crate) fn validate_spec(
    spec: &SparkApplicationSpec,
    namespace: Option<&str>,
    prefix: &str,
) -> Vec<FieldError> {
    let mut p = Problems::default();
    if let Some(namespace) = namespace {
        spark_conf_problems(
            &spec.spark_conf,
            namespace,
            &format!("{prefix}.sparkConf"),
            &mut p,
        );
    }
    super::placement::node_selectors(spec, prefix, &mut p);
    super::placement::pod_templates_need_spark_3(spec, prefix, &mut p);
    if spec.spark_version.trim().is_empty() {
        p.add(
            format!("{prefix}.sparkVersion"),
            "is empty: set the Spark version of the image, e.g. \"4.0.0\"",
        );
    }
    if spec.mode == Some(DeployMode::Client) {
        p.add(
            format!("{prefix}.mode"),
            "client mode is not supported by the operator: use \"cluster\" or leave it unset",
        );
    }
    main_resource(spec, prefix, &mut p);
    let has_image = |image: &Option<String>| image.as_deref().is_some_and(|i| !i.trim().is_empty());
    let every_role_has_image =
        has_image(&spec.driver.pod.image) && has_image(&spec.executor.pod.image);
    if !(has_image(&spec.image) || every_role_has_image) {
        p.add(format!("{prefix}.image"), "no container image: set spec.image (or both driver.image and executor.image), e.g. \"apache/spark:4.0.0\"");
    }
    if let Some(policy) = &spec.image_pull_policy {
        p.one_of(
            format!("{prefix}.imagePullPolicy"),
            policy,
            IMAGE_PULL_POLICIES,
        );
    }
    names(spec, prefix, &mut p);

    let volumes: BTreeSet<&str> = spec.volumes.iter().map(|v| v.name.as_str()).collect();
    role(
        &spec.driver.pod,
        spec.driver.core_request.as_deref(),
        &volumes,
        &format!("{prefix}.driver"),
        &mut p,
    );
    role(
        &spec.executor.pod,
        spec.executor.core_request.as_deref(),
        &volumes,
        &format!("{prefix}.executor"),
        &mut p,
    );
    ports(
        &spec.driver.ports,
        &format!("{prefix}.driver.ports"),
        &mut p,
    );
    ports(
        &spec.executor.ports,
        &format!("{prefix}.executor.ports"),
        &mut p,
    );
    labels(
        &spec.driver.service_labels,
        &format!("{prefix}.driver.serviceLabels"),
        &mut p,
    );
    executor_instances(spec, prefix, &mut p);

    retries(spec, prefix, &mut p);
    if let Some(factor) = &spec.memory_overhead_factor
        && !factor.trim().parse::<f64>().is_ok_and(|f| f > 0.0)
    {
        p.add(
            format!("{prefix}.memoryOverheadFactor"),
            format!("{factor:?} is not a positive number: write a fraction such as \"0.1\""),
        );
    }
    non_negative(
        spec.time_to_live_seconds,
        &format!("{prefix}.timeToLiveSeconds"),
        &mut p,
    );
    if let Some(dynamic) = &spec.dynamic_allocation {
        let path = format!("{prefix}.dynamicAllocation");
        for (field, value) in [
            ("initialExecutors", dynamic.initial_executors),
            ("minExecutors", dynamic.min_executors),
            ("maxExecutors", dynamic.max_executors),
        ] {
            non_negative(value.map(i64::from), &format!("{path}.{field}"), &mut p);
        }
        if let (Some(min), Some(max)) = (dynamic.min_executors, dynamic.max_executors)
            && min > max
        {
            p.add(
                format!("{path}.minExecutors"),
                format!("{min} is above maxExecutors {max}: lower it or raise maxExecutors"),
            );
        }
    }
    if let Some(ui) = &spec.spark_ui_options {
        let path = format!("{prefix}.sparkUIOptions");
        port_number(ui.service_port, &format!("{path}.servicePort"), &mut p);
        service_type(
            ui.service_type.as_deref(),
            &format!("{path}.serviceType"),
            &mut p,
        );
        labels(&ui.service_labels, &format!("{path}.serviceLabels"), &mut p);
    }
    super::placement::driver_ingress_options_are_distinct(spec, prefix, &mut p);
    for (i, ingress) in spec.driver_ingress_options.iter().enumerate() {
        let path = format!("{prefix}.driverIngressOptions[{i}]");
        port_number(
            Some(ingress.service_port),
            &format!("{path}.servicePort"),
            &mut p,
        );
        service_type(
            ingress.service_type.as_deref(),
            &format!("{path}.serviceType"),
            &mut p,
        );
        labels(
            &ingress.service_labels,
            &format!("{path}.serviceLabels"),
            &mut p,
        );
    }
    if let Some(prometheus) = spec.monitoring.as_ref().and_then(|m| m.prometheus.as_ref()) {
        let path = format!("{prefix}.monitoring.prometheus");
        if prometheus.jmx_exporter_jar.trim().is_empty() {
            p.add(
                format!("{path}.jmxExporterJar"),
                "is empty: give the path of the JMX exporter agent jar in the image",
            );
        }
        port_number(prometheus.port, &format!("{path}.port"), &mut p);
    }
    if let Some(deps) = &spec.deps {
        for (i, coordinate) in deps.packages.iter().enumerate() {
            if coordinate.split(':').filter(|s| !s.is_empty()).count() != 3 {
                p.add(
                    format!("{prefix}.deps.packages[{i}]"),
                    format!(
                        "{coordinate:?} is not a Maven coordinate: write groupId:artifactId:version"
                    ),
                );
            }
        }
        for (i, coordinate) in deps.exclude_packages.iter().enumerate() {
            if coordinate.split(':').filter(|s| !s.is_empty()).count() != 2 {
                p.add(
                    format!("{prefix}.deps.excludePackages[{i}]"),
                    format!("{coordinate:?} is not groupId:artifactId"),
                );
            }
        }
    }
    p.into_vec()
}

fn main_resource(spec: &SparkApplicationSpec, prefix: &str, p: &mut Problems) {
    let file = spec
        .main_application_file
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let file_path = format!("{prefix}.mainApplicationFile");
    match (spec.app_type, file) {
        (_, None) => p.add(&file_path, match spec.app_type {
            ApplicationType::Python => "is missing: give the Python file to run, e.g. local:///opt/spark/examples/src/main/python/pi.py",
            ApplicationType::R => "is missing: give the R file to run",
            _ => "is missing: give the application jar, e.g. local:///opt/spark/examples/jars/spark-examples.jar",
        }),
        (ApplicationType::Python, Some(f)) if !f.to_ascii_lowercase().ends_with(".py") => {
            p.add(&file_path, format!("{f:?} is not a Python file: a Python application's main file ends in .py"))
        }
        (ApplicationType::R, Some(f)) if !f.to_ascii_lowercase().ends_with(".r") => {
            p.add(&file_path, format!("{f:?} is not an R file: an R application's main file ends in .R"))
        }
        _ => {}
    }
    let has_class = spec
        .main_class
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    if spec.app_type.is_jvm() && !has_class {
        p.add(format!("{prefix}.mainClass"), "is missing: a Java or Scala application names its entry point, e.g. org.apache.spark.examples.SparkPi");
    }
}

fn role(
    pod: &SparkPodSpec,
    core_request: Option<&str>,
    volumes: &BTreeSet<&str>,
    path: &str,
    p: &mut Problems,
) {
    if let Some(cores) = pod.cores.filter(|c| *c < 1) {
        p.add(format!("{path}.cores"), format!("is {cores}: Spark needs a whole number of at least 1 core; use coreRequest for a fractional CPU request"));
    }
    spark_memory(pod.memory.as_deref(), &format!("{path}.memory"), p);
    spark_size(
        pod.memory_overhead.as_deref(),
        &format!("{path}.memoryOverhead"),
        p,
    );
    let quantity = |field: &str, value: Option<&str>, p: &mut Problems| -> Option<f64> {
        let value = value?;
        let parsed = parse_kubernetes_quantity(value);
        if parsed.is_none() {
            p.add(
                format!("{path}.{field}"),
                format!("{value:?} is not a Kubernetes quantity: write e.g. 500m, 1.5 or 2Gi"),
            );
        }
        parsed
    };
    let request = quantity("coreRequest", core_request, p).or(pod.cores.map(f64::from));
    let limit = quantity("coreLimit", pod.core_limit.as_deref(), p);
    quantity("memoryLimit", pod.memory_limit.as_deref(), p);
    if let (Some(request), Some(limit)) = (request, limit)
        && limit < request
    {
        let written = pod.core_limit.as_deref().unwrap_or_default();
        p.add(
            format!("{path}.coreLimit"),
            format!("{written} is below the CPU request ({request}): raise coreLimit or lower cores/coreRequest"),
        );
    }
    if let Some(gpu) = &pod.gpu {
        if gpu.name.trim().is_empty() {
            p.add(
                format!("{path}.gpu.name"),
                "is empty: name the GPU resource, e.g. nvidia.com/gpu",
            );
        }
        if gpu.quantity < 1 {
            p.add(
                format!("{path}.gpu.quantity"),
                format!("is {}: request at least 1 GPU or remove gpu", gpu.quantity),
            );
        }
    }
    for (i, secret) in pod.secrets.iter().enumerate() {
        if !secret_types::ALL.contains(&secret.secret_type.as_str()) {
            p.add(
                format!("{path}.secrets[{i}].secretType"),
                format!(
                    "unsupported value {:?}: use one of {}",
                    secret.secret_type,
                    secret_types::ALL.join(", ")
                ),
            );
        }
    }
    for (i, mount) in pod.volume_mounts.iter().enumerate() {
        if !volumes.contains(mount.name.as_str()) {
            p.add(format!("{path}.volumeMounts[{i}].name"), format!("{:?} is not a volume of the application: add it to spec.volumes or fix the name", mount.name));
        }
    }
    labels(&pod.labels, &format!("{path}.labels"), p);
    non_negative(
        pod.termination_grace_period_seconds,
        &format!("{path}.terminationGracePeriodSeconds"),
        p,
    );
}

/// The number of executors, as spark-submit checks it: without dynamic allocation it refuses
/// anything but a positive whole number ("Number of executors must be a positive number"), from
/// `spec.executor.instances` or, when that is unset, `sparkConf`; with dynamic allocation (from
/// the spec or `sparkConf`, "true" in any case) it checks nothing, and 0 is a valid start. Native
/// submission applies the same rule, so that an application runs in both modes or in neither.
/// The image references and service account names, which a real cluster refuses only when it
/// creates or runs the pods.
fn names(spec: &SparkApplicationSpec, prefix: &str, p: &mut Problems) {
    let images = [
        ("image", &spec.image),
        ("driver.image", &spec.driver.pod.image),
        ("executor.image", &spec.executor.pod.image),
    ];
    for (field, image) in images {
        if let Some(problem) = image.as_deref().and_then(image_reference_problem) {
            p.add(format!("{prefix}.{field}"), problem);
        }
    }
    let accounts = [
        ("driver.serviceAccount", &spec.driver.pod.service_account),
        (
            "executor.serviceAccount",
            &spec.executor.pod.service_account,
        ),
    ];
    for (field, account) in accounts {
        if let Some(problem) = account.as_deref().and_then(dns_subdomain_problem) {
            p.add(
                format!("{prefix}.{field}"),
                format!("{problem}; it names a ServiceAccount"),
            );
        }
    }
}

fn executor_instances(spec: &SparkApplicationSpec, prefix: &str, p: &mut Problems) {
    const KEY: &str = "spark.executor.instances";
    let dynamic = spec
        .dynamic_allocation
        .as_ref()
        .is_some_and(|d| d.enabled == Some(true))
        || spec
            .spark_conf
            .get("spark.dynamicAllocation.enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let path = format!("{prefix}.executor.instances");
    match (spec.executor.instances, spec.spark_conf.get(KEY)) {
        (Some(instances), _) if instances < 0 => p.add(
            path,
            format!(
                "is {instances}: use 1 or more executors (0 only with dynamicAllocation enabled)"
            ),
        ),
        (Some(0), _) if !dynamic => p.add(
            path,
            "is 0, which spark-submit refuses (\"Number of executors must be a positive number\"): \
             use 1 or more, or enable dynamicAllocation to start without executors",
        ),
        (None, Some(value)) if !dynamic && !value.parse::<i32>().is_ok_and(|n| n > 0) => p.add(
            format!("{prefix}.sparkConf[{KEY}]"),
            format!(
                "{value:?} is not a positive number of executors, which spark-submit refuses: \
                 set {prefix}.executor.instances to 1 or more instead, or enable dynamicAllocation"
            ),
        ),
        _ => {}
    }
}

fn ports(ports: &[Port], path: &str, p: &mut Problems) {
    for (i, port) in ports.iter().enumerate() {
        port_number(
            Some(port.container_port),
            &format!("{path}[{i}].containerPort"),
            p,
        );
        if !["TCP", "UDP", "SCTP"].contains(&port.protocol.as_str()) {
            p.add(
                format!("{path}[{i}].protocol"),
                format!(
                    "unsupported value {:?}: use one of TCP, UDP, SCTP",
                    port.protocol
                ),
            );
        }
    }
}

fn retries(spec: &SparkApplicationSpec, prefix: &str, p: &mut Problems) {
    non_negative(
        spec.failure_retries.map(i64::from),
        &format!("{prefix}.failureRetries"),
        p,
    );
    non_negative(spec.retry_interval, &format!("{prefix}.retryInterval"), p);
    if let Some(policy) = &spec.restart_policy {
        let path = format!("{prefix}.restartPolicy");
        for (field, value) in [
            ("onFailureRetries", policy.on_failure_retries.map(i64::from)),
            (
                "onSubmissionFailureRetries",
                policy.on_submission_failure_retries.map(i64::from),
            ),
            ("onFailureRetryInterval", policy.on_failure_retry_interval),
            (
                "onSubmissionFailureRetryInterval",
                policy.on_submission_failure_retry_interval,
            ),
        ] {
            non_negative(value, &format!("{path}.{field}"), p);
        }
    }
}

/// A Spark size (`512m`, `2g`), if given.
fn spark_size(value: Option<&str>, path: &str, p: &mut Problems) -> bool {
    match value.filter(|v| parse_spark_size_mib(v).is_none()) {
        Some(value) => {
            p.add(path, format!("{value:?} is not a Spark size: write a whole number with a unit, such as 512m or 2g"));
            false
        }
        None => true,
    }
}

/// A memory size, if given: a Spark size and not zero, which spark-submit refuses ("Driver
/// memory must be a positive number").
pub(super) fn spark_memory(value: Option<&str>, path: &str, p: &mut Problems) {
    let Some(memory) = value else { return };
    let zero = memory
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .all(|c| c == '0');
    if spark_size(Some(memory), path, p) && zero {
        p.add(
            path,
            format!("{memory:?} is no memory, which spark-submit refuses: give a positive size, such as 512m"),
        );
    }
}

pub(super) fn non_negative(value: Option<i64>, path: &str, p: &mut Problems) {
    if let Some(value) = value.filter(|v| *v < 0) {
        p.add(path, format!("is {value}: use 0 or more"));
    }
}

fn port_number(port: Option<i32>, path: &str, p: &mut Problems) {
    if let Some(port) = port.filter(|port| !(1..=65535).contains(port)) {
        p.add(path, format!("is {port}: a port is between 1 and 65535"));
    }
}

pub(super) fn service_type(value: Option<&str>, path: &str, p: &mut Problems) {
    const TYPES: [&str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if let Some(value) = value.filter(|v| !TYPES.contains(v)) {
        p.add(
            path,
            format!(
                "unsupported value {value:?}: use one of {}",
                TYPES.join(", ")
            ),
        );
    }
}

pub(super) fn labels(labels: &BTreeMap<String, String>, path: &str, p: &mut Problems) {
    for (key, value) in labels {
        if let Some(problem) = label_key_problem(key) {
            p.add(
                format!("{path}[{key}]"),
                format!("label key {key:?} {problem}"),
            );
        }
        if let Some(problem) = label_value_problem(value) {
            p.add(
                format!("{path}[{key}]"),
                format!("label value {value:?} {problem}"),
            );
        }
    }
}
