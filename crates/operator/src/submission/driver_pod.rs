//! The driver pod as Spark's `KubernetesDriverBuilder` builds it from the SparkConf (its feature
//! steps, in Spark's order, on top of the driver pod template), then as Kubeflow's mutating
//! webhook completes it, together with the properties Spark adds to `spark.properties`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath, Pod, SecretKeySelector,
    SecretVolumeSource,
};

use super::customize::{self, Role};
use super::names::{self, DRIVER_CONTAINER};
use super::settings::Settings;
use super::spark_pod::{SparkPod, config_map_volume, env_value, mount, volume_with};
use super::spec::{MainResource, Prepared};
use super::volumes;
use super::{SubmissionContext, SubmissionError, SubmissionNames, driver_basic_step};

/// Where Spark mounts the driver's configuration, and the file it reads.
pub const SPARK_CONF_DIR: &str = "/opt/spark/conf";
pub const SPARK_PROPERTIES: &str = "spark.properties";
pub const SPARK_CONF_VOLUME: &str = "spark-conf-volume-driver";
/// Where the executor pod template is mounted in the driver.
pub const POD_TEMPLATE_MOUNT_PATH: &str = "/opt/spark/pod-template";
pub const POD_TEMPLATE_FILE: &str = "pod-spec-template.yml";
pub const POD_TEMPLATE_KEY: &str = "podspec-configmap-key";
const POD_TEMPLATE_VOLUME: &str = "pod-template-volume";
const LOCAL_DIR_PREFIX: &str = "spark-local-dir-";
const HADOOP_CONF_VOLUME: &str = "hadoop-properties";
const HADOOP_CONF_DIR: &str = "/opt/hadoop/conf";

/// The driver pod and what goes with it.
pub struct DriverBuild {
    pub pod: Pod,
    /// What Spark adds to the SparkConf in `spark.properties`.
    pub system_properties: BTreeMap<String, String>,
    /// The driver's labels, which the headless Service selects on.
    pub labels: BTreeMap<String, String>,
}

pub fn build(
    prepared: &Prepared,
    settings: Settings,
    ctx: &SubmissionContext,
    names: &SubmissionNames,
) -> Result<DriverBuild, SubmissionError> {
    let mut sp = initial_pod(prepared, settings);
    let mut props = BTreeMap::new();

    let labels = driver_basic_step::apply(&mut sp, settings, prepared, ctx, names, &mut props)?;
    if let Some(account) = settings.get("spark.kubernetes.authenticate.driver.serviceAccountName") {
        sp.spec.service_account = Some(account.to_string());
        sp.spec.service_account_name = Some(account.to_string());
    }
    service_properties(settings, prepared, names, &mut props)?;
    secrets(&mut sp, settings)?;
    let prefix = "spark.kubernetes.driver.volumes.";
    for (volume, volume_mount) in volumes::from_conf(settings, prefix, &names.resource_prefix)? {
        sp.add_volume(volume, volume_mount);
    }
    let main = prepared.main_resource();
    command(&mut sp, settings, prepared, &main)?;
    props.insert(
        "spark.kubernetes.resource.type".into(),
        main.resource_type().into(),
    );
    if let Some(config_map) = settings.get("spark.kubernetes.hadoop.configMapName") {
        let volume = config_map_volume(HADOOP_CONF_VOLUME, config_map, None);
        sp.add_volume(volume, mount(HADOOP_CONF_VOLUME, HADOOP_CONF_DIR));
        sp.add_env(env_value("HADOOP_CONF_DIR", HADOOP_CONF_DIR));
        props.insert(
            "spark.kubernetes.executor.hadoopConfigMapName".into(),
            config_map.into(),
        );
    }
    if settings.contains("spark.kubernetes.executor.podTemplateFile") {
        let item = key_to_path(POD_TEMPLATE_KEY, POD_TEMPLATE_FILE, None);
        let volume = config_map_volume(
            POD_TEMPLATE_VOLUME,
            &names.pod_template_config_map,
            Some(item),
        );
        sp.add_volume(volume, mount(POD_TEMPLATE_VOLUME, POD_TEMPLATE_MOUNT_PATH));
        let file = format!("{POD_TEMPLATE_MOUNT_PATH}/{POD_TEMPLATE_FILE}");
        props.insert("spark.kubernetes.executor.podTemplateFile".into(), file);
    }
    local_dirs(&mut sp, settings, ctx)?;
    // Not set by spark-submit (the driver would pick a random prefix): deterministic executor names.
    props.insert(
        "spark.kubernetes.executor.podNamePrefix".into(),
        names.resource_prefix.clone(),
    );

    // What spark-submit's client adds last: SPARK_CONF_DIR and the configuration volume, with the
    // Spark container after the template's other containers.
    sp.add_env(env_value("SPARK_CONF_DIR", SPARK_CONF_DIR));
    let item = key_to_path(SPARK_PROPERTIES, SPARK_PROPERTIES, Some(420));
    let volume = config_map_volume(SPARK_CONF_VOLUME, &names.driver_config_map, Some(item));
    sp.add_volume(volume, mount(SPARK_CONF_VOLUME, SPARK_CONF_DIR));
    let SparkPod {
        mut pod,
        mut spec,
        container,
    } = sp;
    spec.containers.push(container);
    let spark_container = spec.containers.len() - 1;
    pod.metadata.namespace = Some(prepared.namespace.clone());
    pod.spec = Some(spec);
    customize::apply(&mut pod, spark_container, prepared, Role::Driver);
    Ok(DriverBuild {
        pod,
        system_properties: props,
        labels,
    })
}

/// The driver pod template Kubeflow passes (the spec's, or one with just the driver container),
/// owned by the application, with its Spark container taken out as Spark takes it out.
fn initial_pod(prepared: &Prepared, settings: Settings) -> SparkPod {
    let template = prepared.spec.driver.pod.template.as_deref().cloned();
    let template = template.unwrap_or_else(|| customize::empty_template(DRIVER_CONTAINER));
    let mut metadata = template.metadata.unwrap_or_default();
    customize::add_owner_reference(&mut metadata, prepared.owner_reference());
    let mut spec = template.spec.unwrap_or_default();
    let wanted = settings.get("spark.kubernetes.driver.podTemplateContainerName");
    let container = take_spark_container(&mut spec.containers, wanted);
    SparkPod {
        pod: Pod {
            metadata,
            ..Default::default()
        },
        spec,
        container,
    }
}

/// Spark's choice of the Spark container in a template: the one with the given name if exactly
/// one has it, else the first, else a new one.
pub fn take_spark_container(containers: &mut Vec<Container>, name: Option<&str>) -> Container {
    let named: Vec<usize> = containers
        .iter()
        .enumerate()
        .filter(|(_, c)| Some(c.name.as_str()) == name)
        .map(|(i, _)| i)
        .collect();
    match (named.as_slice(), containers.is_empty()) {
        ([only], _) => containers.remove(*only),
        (_, false) => containers.remove(0),
        (_, true) => Container::default(),
    }
}

/// What `DriverServiceFeatureStep` adds: the driver's address behind its Service.
fn service_properties(
    settings: Settings,
    prepared: &Prepared,
    names: &SubmissionNames,
    props: &mut BTreeMap<String, String>,
) -> Result<(), SubmissionError> {
    if let Some(address) = settings.get("spark.driver.bindAddress") {
        return Err(SubmissionError::InvalidConf {
            key: "spark.driver.bindAddress".into(),
            value: address.into(),
            reason: "Spark sets the driver's bind address to the pod's IP on Kubernetes".into(),
        });
    }
    let host = format!("{}.{}.svc", names.driver_service, prepared.namespace);
    let port = settings.int("spark.driver.port", 7078)?;
    let block_manager_port = settings.int("spark.driver.blockManager.port", 7079)?;
    props.insert("spark.driver.host".into(), host);
    props.insert("spark.driver.port".into(), port.to_string());
    props.insert(
        "spark.driver.blockManager.port".into(),
        block_manager_port.to_string(),
    );
    Ok(())
}

/// Mounted Secrets (`<secret>-volume`), then environment variables from Secret keys.
fn secrets(sp: &mut SparkPod, settings: Settings) -> Result<(), SubmissionError> {
    for (secret, path) in settings.prefixed("spark.kubernetes.driver.secrets.") {
        let volume_name = format!("{secret}-volume");
        let source = SecretVolumeSource {
            secret_name: Some(secret),
            ..Default::default()
        };
        let volume = volume_with(&volume_name, |v| v.secret = Some(source));
        sp.add_volume(volume, mount(&volume_name, &path));
    }
    for (variable, reference) in settings.prefixed("spark.kubernetes.driver.secretKeyRef.") {
        sp.add_env(secret_env(&variable, &reference)?);
    }
    Ok(())
}

fn secret_env(variable: &str, reference: &str) -> Result<EnvVar, SubmissionError> {
    let parts: Vec<&str> = reference.split(':').collect();
    let [name, key] = parts.as_slice() else {
        return Err(SubmissionError::InvalidConf {
            key: format!("spark.kubernetes.driver.secretKeyRef.{variable}"),
            value: reference.into(),
            reason: "expected <secret>:<key>".into(),
        });
    };
    let selector = SecretKeySelector {
        name: name.to_string(),
        key: key.to_string(),
        ..Default::default()
    };
    Ok(EnvVar {
        name: variable.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(selector),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The container's arguments for the image's entrypoint, and the Python interpreters.
fn command(
    sp: &mut SparkPod,
    settings: Settings,
    prepared: &Prepared,
    main: &MainResource,
) -> Result<(), SubmissionError> {
    let (class, resource) = match main {
        MainResource::Java(file) => (
            prepared
                .spec
                .main_class
                .clone()
                .ok_or(SubmissionError::MissingMainClass)?,
            file.clone()
                .ok_or(SubmissionError::MissingMainApplicationFile)?,
        ),
        MainResource::Python(file) => (
            "org.apache.spark.deploy.PythonRunner".to_string(),
            file.clone(),
        ),
        MainResource::R(file) => ("org.apache.spark.deploy.RRunner".to_string(), file.clone()),
    };
    let args = sp.container.args.get_or_insert_default();
    args.push("driver".into());
    if let Some(user) = prepared.spec.proxy_user.as_ref().filter(|u| !u.is_empty()) {
        args.extend(["--proxy-user".to_string(), user.clone()]);
    }
    args.extend([
        "--properties-file".to_string(),
        format!("{SPARK_CONF_DIR}/{SPARK_PROPERTIES}"),
    ]);
    args.extend(["--class".to_string(), class, resource]);
    args.extend(prepared.spec.arguments.iter().cloned());
    if let MainResource::Python(_) = main {
        let python = settings.get("spark.pyspark.python");
        let driver_python = settings.get("spark.pyspark.driver.python").or(python);
        for (name, value) in [
            ("PYSPARK_PYTHON", python),
            ("PYSPARK_DRIVER_PYTHON", driver_python),
        ] {
            if let Some(value) = value {
                sp.add_env(env_value(name, value));
            }
        }
    }
    Ok(())
}

/// Spark's local directories: the mounts of `spark-local-dir-*` volumes already on the container,
/// else emptyDir volumes at `spark.local.dir` or `/var/data/spark-<uuid>`.
fn local_dirs(
    sp: &mut SparkPod,
    settings: Settings,
    ctx: &SubmissionContext,
) -> Result<(), SubmissionError> {
    let mounted: Vec<String> = sp
        .container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| m.name.starts_with(LOCAL_DIR_PREFIX))
        .map(|m| m.mount_path.clone())
        .collect();
    let dirs = if mounted.is_empty() {
        let dirs: Vec<String> = match settings.get("spark.local.dir") {
            Some(configured) => configured.split(',').map(str::to_string).collect(),
            None => vec![format!(
                "/var/data/spark-{}",
                names::derived_uuid(&ctx.submission_id, "local-dir")
            )],
        };
        let medium = settings
            .bool("spark.kubernetes.local.dirs.tmpfs", false)?
            .then(|| "Memory".to_string());
        for (index, dir) in dirs.iter().enumerate() {
            let name = format!("{LOCAL_DIR_PREFIX}{}", index + 1);
            let source = EmptyDirVolumeSource {
                medium: medium.clone(),
                ..Default::default()
            };
            sp.add_volume(
                volume_with(&name, |v| v.empty_dir = Some(source)),
                mount(&name, dir),
            );
        }
        dirs
    } else {
        mounted
    };
    sp.add_env(env_value("SPARK_LOCAL_DIRS", &dirs.join(",")));
    Ok(())
}

fn key_to_path(key: &str, path: &str, mode: Option<i32>) -> Vec<KeyToPath> {
    vec![KeyToPath {
        key: key.into(),
        path: path.into(),
        mode,
        ..Default::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_container_is_the_named_one_else_the_first() {
        let named = |n: &str| Container {
            name: n.into(),
            ..Default::default()
        };
        let mut containers = vec![named("sidecar"), named(DRIVER_CONTAINER)];
        assert_eq!(
            take_spark_container(&mut containers, Some(DRIVER_CONTAINER)).name,
            DRIVER_CONTAINER
        );
        assert_eq!(containers.len(), 1);
        let mut containers = vec![named("main"), named("sidecar")];
        assert_eq!(
            take_spark_container(&mut containers, Some(DRIVER_CONTAINER)).name,
            "main"
        );
        assert_eq!(take_spark_container(&mut Vec::new(), None).name, "");
    }

    #[test]
    fn secret_references_need_a_name_and_a_key() {
        let env = secret_env("TOKEN", "creds:token").unwrap();
        let selector = env.value_from.unwrap().secret_key_ref.unwrap();
        assert_eq!(
            (selector.name.as_str(), selector.key.as_str()),
            ("creds", "token")
        );
        assert!(secret_env("TOKEN", "creds").is_err());
        assert!(secret_env("TOKEN", "a:b:c").is_err());
    }
}
