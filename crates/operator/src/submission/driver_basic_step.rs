//! Spark's `BasicDriverFeatureStep`: the driver container's image, ports, environment and
//! resources (memory + overhead), the pod's name, labels, annotations, restart policy, node
//! selector, pull secrets and scheduler.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    ContainerPort, EnvVar, EnvVarSource, LocalObjectReference, ObjectFieldSelector,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::names::{
    DRIVER_CONTAINER, LABEL_SPARK_APP_NAME, LABEL_SPARK_APP_SELECTOR, LABEL_SPARK_ROLE,
    LABEL_SPARK_VERSION, ROLE_DRIVER, app_name_label,
};
use super::settings::Settings;
use super::spark_pod::SparkPod;
use super::spark_pod::env_value;
use super::spec::{MainResource, Prepared};
use super::units::{
    JVM_OVERHEAD_FACTOR, MIN_OVERHEAD_MIB, NON_JVM_OVERHEAD_FACTOR, java_double,
    memory_overhead_mib,
};
use super::{SubmissionContext, SubmissionError, SubmissionNames};

const OVERHEAD_FACTOR_KEY: &str = "spark.kubernetes.memoryOverheadFactor";

/// Applies the step and returns the driver's labels.
pub fn apply(
    sp: &mut SparkPod,
    settings: Settings,
    prepared: &Prepared,
    ctx: &SubmissionContext,
    names: &SubmissionNames,
    props: &mut BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SubmissionError> {
    let main = prepared.main_resource();
    container(sp, settings, prepared, ctx)?;
    let default_factor = resources(sp, settings, &main)?;
    let labels = driver_labels(settings, prepared, ctx)?;
    let pod_name = settings
        .get("spark.kubernetes.driver.pod.name")
        .map_or_else(
            || format!("{}-driver", names.resource_prefix),
            str::to_string,
        );
    let metadata = &mut sp.pod.metadata;
    metadata.name = Some(pod_name.clone());
    metadata
        .labels
        .get_or_insert_default()
        .extend(labels.clone());
    let annotations = settings.prefixed("spark.kubernetes.driver.annotation.");
    if !annotations.is_empty() {
        let substituted = annotations
            .into_iter()
            .map(|(k, v)| (k, substitute_ids(&v, &ctx.app_id)));
        metadata
            .annotations
            .get_or_insert_default()
            .extend(substituted);
    }
    pod_spec(sp, settings);

    props.insert("spark.kubernetes.driver.pod.name".into(), pod_name);
    props.insert("spark.app.id".into(), ctx.app_id.clone());
    props.insert("spark.kubernetes.submitInDriver".into(), "true".into());
    props.insert(OVERHEAD_FACTOR_KEY.into(), java_double(default_factor));
    Ok(labels)
}

/// Name, image, pull policy, ports and environment of the Spark container.
fn container(
    sp: &mut SparkPod,
    settings: Settings,
    prepared: &Prepared,
    ctx: &SubmissionContext,
) -> Result<(), SubmissionError> {
    let image = settings
        .get("spark.kubernetes.driver.container.image")
        .or_else(|| settings.get("spark.kubernetes.container.image"))
        .ok_or(SubmissionError::MissingImage)?;
    let pull_policy = settings
        .get("spark.kubernetes.container.image.pullPolicy")
        .unwrap_or("IfNotPresent");
    let block_manager_port = settings.int("spark.blockManager.port", 7079)?;
    let ports = [
        ("driver-rpc-port", settings.int("spark.driver.port", 7078)?),
        (
            "blockmanager",
            settings.int("spark.driver.blockManager.port", block_manager_port)?,
        ),
        ("spark-ui", settings.int("spark.ui.port", 4040)?),
    ];
    let c = &mut sp.container;
    if c.name.is_empty() {
        c.name = DRIVER_CONTAINER.into();
    }
    c.image = Some(image.into());
    c.image_pull_policy = Some(pull_policy.into());
    c.ports
        .get_or_insert_default()
        .extend(ports.map(|(name, port)| ContainerPort {
            name: Some(name.into()),
            container_port: port,
            protocol: Some("TCP".into()),
            ..Default::default()
        }));

    let proxy_user = prepared.spec.proxy_user.clone().filter(|u| !u.is_empty());
    let spark_user = proxy_user.unwrap_or_else(|| ctx.options.spark_user.clone());
    let env = c.env.get_or_insert_default();
    env.push(env_value("SPARK_USER", &spark_user));
    env.push(env_value("SPARK_APPLICATION_ID", &ctx.app_id));
    for (variable, value) in settings.prefixed("spark.kubernetes.driverEnv.") {
        env.push(env_value(&variable, &value));
    }
    let pod_ip = ObjectFieldSelector {
        api_version: Some("v1".into()),
        field_path: "status.podIP".into(),
    };
    env.push(EnvVar {
        name: "SPARK_DRIVER_BIND_ADDRESS".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(pod_ip),
            ..Default::default()
        }),
        ..Default::default()
    });
    Ok(())
}

/// CPU request and limit, and memory + overhead as both request and limit. Returns the overhead
/// factor Spark records for the executors.
fn resources(
    sp: &mut SparkPod,
    settings: Settings,
    main: &MainResource,
) -> Result<f64, SubmissionError> {
    let cores = settings.int("spark.driver.cores", 1)?;
    let cpu_request = settings
        .get("spark.kubernetes.driver.request.cores")
        .map_or_else(|| cores.to_string(), str::to_string);
    let memory = settings.mib("spark.driver.memory")?.unwrap_or(1024);
    let fallback = if main.is_jvm() {
        JVM_OVERHEAD_FACTOR
    } else {
        NON_JVM_OVERHEAD_FACTOR
    };
    let default_factor = settings.double(OVERHEAD_FACTOR_KEY)?.unwrap_or(fallback);
    let factor = settings
        .double("spark.driver.memoryOverheadFactor")?
        .unwrap_or(default_factor);
    let minimum = settings
        .mib("spark.driver.minMemoryOverhead")?
        .unwrap_or(MIN_OVERHEAD_MIB);
    let explicit = settings.mib("spark.driver.memoryOverhead")?;
    let total = Quantity(format!(
        "{}Mi",
        memory + memory_overhead_mib(memory, factor, explicit, minimum)
    ));

    let resources = sp.container.resources.get_or_insert_default();
    let requests = resources.requests.get_or_insert_default();
    requests.insert("cpu".into(), Quantity(cpu_request));
    requests.insert("memory".into(), total.clone());
    let limits = resources.limits.get_or_insert_default();
    if let Some(limit) = settings.get("spark.kubernetes.driver.limit.cores") {
        limits.insert("cpu".into(), Quantity(limit.into()));
    }
    limits.insert("memory".into(), total);
    limits.extend(custom_resources(settings)?);
    Ok(default_factor)
}

fn pod_spec(sp: &mut SparkPod, settings: Settings) {
    let spec = &mut sp.spec;
    spec.restart_policy = Some("Never".into());
    let mut selector = settings.prefixed("spark.kubernetes.node.selector.");
    selector.extend(settings.prefixed("spark.kubernetes.driver.node.selector."));
    if !selector.is_empty() {
        spec.node_selector.get_or_insert_default().extend(selector);
    }
    let pull_secrets = settings.list("spark.kubernetes.container.image.pullSecrets");
    if !pull_secrets.is_empty() {
        let references = pull_secrets
            .into_iter()
            .map(|name| LocalObjectReference { name });
        spec.image_pull_secrets
            .get_or_insert_default()
            .extend(references);
    }
    if let Some(scheduler) = settings
        .get("spark.kubernetes.driver.scheduler.name")
        .or_else(|| settings.get("spark.kubernetes.scheduler.name"))
    {
        spec.scheduler_name = Some(scheduler.into());
    }
}

/// Spark's driver labels: the user's (`{{APP_ID}}` substituted) and Spark's own, which the user's
/// may not replace.
fn driver_labels(
    settings: Settings,
    prepared: &Prepared,
    ctx: &SubmissionContext,
) -> Result<BTreeMap<String, String>, SubmissionError> {
    let app_name = settings.get("spark.app.name").unwrap_or(&prepared.name);
    let preset = [
        (LABEL_SPARK_VERSION, ctx.spark_version.clone()),
        (LABEL_SPARK_APP_SELECTOR, ctx.app_id.clone()),
        (LABEL_SPARK_APP_NAME, app_name_label(app_name)),
        (LABEL_SPARK_ROLE, ROLE_DRIVER.to_string()),
    ];
    let mut labels: BTreeMap<String, String> = settings
        .prefixed("spark.kubernetes.driver.label.")
        .into_iter()
        .map(|(k, v)| (k, substitute_ids(&v, &ctx.app_id)))
        .collect();
    for (key, value) in preset {
        if labels.contains_key(key) {
            return Err(SubmissionError::ReservedLabel(key.to_string()));
        }
        labels.insert(key.to_string(), value);
    }
    Ok(labels)
}

/// `spark.driver.resource.<name>.{amount,vendor}` as extended resource limits `<vendor>/<name>`.
fn custom_resources(settings: Settings) -> Result<BTreeMap<String, Quantity>, SubmissionError> {
    let declared = settings.prefixed("spark.driver.resource.");
    let ids: BTreeSet<&str> = declared
        .keys()
        .filter_map(|k| k.split('.').next())
        .collect();
    let mut quantities = BTreeMap::new();
    for id in ids {
        let amount = settings.int(&format!("spark.driver.resource.{id}.amount"), 0)?;
        let vendor =
            declared
                .get(&format!("{id}.vendor"))
                .ok_or_else(|| SubmissionError::InvalidConf {
                    key: format!("spark.driver.resource.{id}.vendor"),
                    value: String::new(),
                    reason: "Kubernetes needs the vendor of a requested resource".into(),
                })?;
        quantities.insert(format!("{vendor}/{id}"), Quantity(amount.to_string()));
    }
    Ok(quantities)
}

fn substitute_ids(value: &str, app_id: &str) -> String {
    value
        .replace("{{APP_ID}}", app_id)
        .replace("{{EXECUTOR_ID}}", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_resources_need_a_vendor() {
        let map: BTreeMap<String, String> = [
            ("spark.driver.resource.gpu.amount", "2"),
            ("spark.driver.resource.gpu.vendor", "nvidia.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let quantities = custom_resources(Settings(&map)).unwrap();
        assert_eq!(quantities["nvidia.com/gpu"].0, "2");
        let without_vendor: BTreeMap<String, String> = [(
            "spark.driver.resource.gpu.amount".to_string(),
            "1".to_string(),
        )]
        .into();
        assert!(custom_resources(Settings(&without_vendor)).is_err());
    }
}
