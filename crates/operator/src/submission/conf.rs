//! Kubeflow's translation of a SparkApplication into a spark-submit command: the command-line
//! options and `--conf key=value` pairs, in the order Kubeflow passes them. When a key is passed
//! twice the later one wins, as in spark-submit: the user's `sparkConf` overrides the image,
//! namespace and memory-overhead-factor options before it, and is overridden by the driver,
//! executor, volume, node selector, dynamic allocation and pod template options after it.
//! Within one group the keys are in sorted order (Kubeflow's are in Go's random map order).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use spark_operator_api::{PythonVersion, SparkApplicationSpec, SparkPodSpec, secret_types};

use super::names::{
    DRIVER_CONTAINER, EXECUTOR_CONTAINER, KUEUE_LABEL_PREFIX, LABEL_APP_NAME, LABEL_LAUNCHED_BY,
    LABEL_MUTATED_BY, LABEL_SUBMISSION_ID,
};
use super::spec::Prepared;
use super::{SubmissionContext, SubmissionError};

/// Where Kubeflow writes the pod templates it passes to spark-submit, under the submission id.
pub const DRIVER_TEMPLATE_FILE: &str = "driver-pod-template.yaml";
pub const EXECUTOR_TEMPLATE_FILE: &str = "executor-pod-template.yaml";
/// Volumes whose names start so are Spark's local directories, passed as Spark volume keys.
pub const LOCAL_DIR_VOLUME_PREFIX: &str = "spark-local-dir-";

/// The spark-submit command for an application.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitCommand {
    /// `k8s://` followed by the API server URL.
    pub master: String,
    pub main_class: Option<String>,
    pub name: String,
    /// `--jars`, `--packages`, ... with their comma-joined values, in Kubeflow's order.
    pub dependency_options: Vec<(&'static str, String)>,
    /// `--conf` pairs, in order; a later pair overrides an earlier one with the same key.
    pub confs: Vec<(String, String)>,
    pub proxy_user: Option<String>,
    pub main_file: Option<String>,
    pub arguments: Vec<String>,
}

impl SubmitCommand {
    /// The arguments of `spark-submit`, in Kubeflow's order.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--master".to_string(),
            self.master.clone(),
            "--deploy-mode".into(),
            "cluster".into(),
        ];
        if let Some(class) = &self.main_class {
            args.extend(["--class".to_string(), class.clone()]);
        }
        args.extend(["--name".to_string(), self.name.clone()]);
        for (option, value) in &self.dependency_options {
            args.extend([option.to_string(), value.clone()]);
        }
        for (key, value) in &self.confs {
            args.extend(["--conf".to_string(), format!("{key}={value}")]);
        }
        if let Some(user) = &self.proxy_user {
            args.extend(["--proxy-user".to_string(), user.clone()]);
        }
        args.extend(self.main_file.clone());
        args.extend(self.arguments.iter().cloned());
        args
    }

    /// The `--conf` pairs folded as spark-submit folds them: the last value of each key.
    pub fn conf_map(&self) -> BTreeMap<String, String> {
        self.confs.iter().cloned().collect()
    }
}

/// Where the pod template files of a submission live on the submitter's disk.
pub fn pod_template_path(ctx: &SubmissionContext, file: &str) -> String {
    format!(
        "{}/{}/{file}",
        ctx.options.pod_template_dir.trim_end_matches('/'),
        ctx.submission_id
    )
}

/// Builds the command Kubeflow's operator would run for `prepared`.
pub fn submit_command(
    prepared: &Prepared,
    ctx: &SubmissionContext,
) -> Result<SubmitCommand, SubmissionError> {
    let spec = &prepared.spec;
    let mut confs = Confs::default();

    confs.push("spark.kubernetes.namespace", &prepared.namespace);
    // Not in Kubeflow: drivers talk to the API server the operator talks to, unless the spec or
    // sparkConf say otherwise (both override this, coming later).
    confs.push("spark.kubernetes.driver.master", &ctx.api_server_url()?);
    if let Some(image) = non_empty(&spec.image) {
        confs.push("spark.kubernetes.container.image", image);
    }
    if let Some(policy) = non_empty(&spec.image_pull_policy) {
        confs.push("spark.kubernetes.container.image.pullPolicy", policy);
    }
    if !spec.image_pull_secrets.is_empty() {
        confs.push(
            "spark.kubernetes.container.image.pullSecrets",
            &spec.image_pull_secrets.join(","),
        );
    }
    if let Some(version) = spec.python_version {
        let version = match version {
            PythonVersion::Two => "2",
            PythonVersion::Three => "3",
        };
        confs.push("spark.kubernetes.pyspark.pythonVersion", version);
    }
    if let Some(factor) = non_empty(&spec.memory_overhead_factor) {
        confs.push("spark.kubernetes.memoryOverheadFactor", factor);
    }
    confs.push("spark.kubernetes.submission.waitAppCompletion", "false");
    for (key, value) in &spec.spark_conf {
        // Kubeflow sets the driver pod name itself; the namespace is the application's (see the
        // module documentation).
        if key != "spark.kubernetes.driver.pod.name" && key != "spark.kubernetes.namespace" {
            confs.push(key, value);
        }
    }
    for (key, value) in &spec.hadoop_conf {
        confs.push(&format!("spark.hadoop.{key}"), value);
    }
    confs.push(
        "spark.kubernetes.driver.pod.name",
        &spark_operator_api::naming::driver_pod_name(prepared.app),
    );

    role_confs(&mut confs, prepared, ctx, Role::Driver)?;
    role_confs(&mut confs, prepared, ctx, Role::Executor)?;

    for (key, value) in &spec.node_selector {
        confs.push(&format!("spark.kubernetes.node.selector.{key}"), value);
    }
    if let Some(dynamic) = spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true))
    {
        confs.push("spark.dynamicAllocation.enabled", "true");
        confs.push_some(
            "spark.dynamicAllocation.initialExecutors",
            dynamic.initial_executors,
        );
        confs.push_some(
            "spark.dynamicAllocation.minExecutors",
            dynamic.min_executors,
        );
        confs.push_some(
            "spark.dynamicAllocation.maxExecutors",
            dynamic.max_executors,
        );
        let tracking = dynamic.shuffle_tracking_enabled.unwrap_or(true);
        confs.push(
            "spark.dynamicAllocation.shuffleTracking.enabled",
            &tracking.to_string(),
        );
        confs.push_some(
            "spark.dynamicAllocation.shuffleTracking.timeout",
            dynamic.shuffle_tracking_timeout,
        );
    }
    confs.push(
        "spark.kubernetes.driver.podTemplateFile",
        &pod_template_path(ctx, DRIVER_TEMPLATE_FILE),
    );
    confs.push(
        "spark.kubernetes.driver.podTemplateContainerName",
        DRIVER_CONTAINER,
    );
    confs.push(
        "spark.kubernetes.executor.podTemplateFile",
        &pod_template_path(ctx, EXECUTOR_TEMPLATE_FILE),
    );
    confs.push(
        "spark.kubernetes.executor.podTemplateContainerName",
        EXECUTOR_CONTAINER,
    );

    Ok(SubmitCommand {
        master: format!("k8s://{}", ctx.api_server_url()?),
        main_class: spec.main_class.clone(),
        name: prepared.name.clone(),
        dependency_options: dependency_options(prepared),
        confs: confs.0,
        proxy_user: non_empty(&spec.proxy_user).map(str::to_string),
        main_file: spec.main_application_file.clone(),
        arguments: spec.arguments.clone(),
    })
}

fn dependency_options(prepared: &Prepared) -> Vec<(&'static str, String)> {
    let Some(deps) = &prepared.spec.deps else {
        return Vec::new();
    };
    [
        ("--jars", &deps.jars),
        ("--packages", &deps.packages),
        ("--exclude-packages", &deps.exclude_packages),
        ("--repositories", &deps.repositories),
        ("--py-files", &deps.py_files),
        ("--files", &deps.files),
        ("--archives", &deps.archives),
    ]
    .into_iter()
    .filter(|(_, values)| !values.is_empty())
    .map(|(option, values)| (option, values.join(",")))
    .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Driver,
    Executor,
}

/// A role's part of the spec and the prefixes of its keys.
struct RoleKeys<'a> {
    role: Role,
    pod: &'a SparkPodSpec,
    core_request: Option<&'a String>,
    /// `spark.kubernetes.driver` or `spark.kubernetes.executor`.
    k8s: &'static str,
    /// `spark.driver` or `spark.executor`.
    spark: &'static str,
    env_prefix: &'static str,
}

impl<'a> RoleKeys<'a> {
    fn of(spec: &'a SparkApplicationSpec, role: Role) -> Self {
        match role {
            Role::Driver => Self {
                role,
                pod: &spec.driver.pod,
                core_request: spec.driver.core_request.as_ref(),
                k8s: "spark.kubernetes.driver",
                spark: "spark.driver",
                env_prefix: "spark.kubernetes.driverEnv.",
            },
            Role::Executor => Self {
                role,
                pod: &spec.executor.pod,
                core_request: spec.executor.core_request.as_ref(),
                k8s: "spark.kubernetes.executor",
                spark: "spark.executor",
                env_prefix: "spark.executorEnv.",
            },
        }
    }
}

/// Kubeflow's driver or executor options, then its environment, Secrets and local-directory
/// volumes (its functions for those follow the options function of the role).
fn role_confs(
    confs: &mut Confs,
    prepared: &Prepared,
    ctx: &SubmissionContext,
    role: Role,
) -> Result<(), SubmissionError> {
    let keys = RoleKeys::of(&prepared.spec, role);
    resources_and_labels(confs, prepared, ctx, &keys);
    environment_and_secrets(confs, &keys);
    let volume_confs =
        local_dir_volume_confs(keys.k8s, &keys.pod.volume_mounts, &prepared.spec.volumes)?;
    for (key, value) in volume_confs {
        confs.push(&key, &value);
    }
    Ok(())
}

/// Kubeflow's `driverConfOption` / `executorConfOption`.
fn resources_and_labels(
    confs: &mut Confs,
    prepared: &Prepared,
    ctx: &SubmissionContext,
    keys: &RoleKeys,
) {
    let spec = &prepared.spec;
    let (pod, k8s, spark) = (keys.pod, keys.k8s, keys.spark);
    confs.push(&format!("{k8s}.label.{LABEL_APP_NAME}"), &prepared.name);
    confs.push(&format!("{k8s}.label.{LABEL_LAUNCHED_BY}"), "true");
    if below_spark_3(&spec.spark_version) || pod.template.is_none() {
        confs.push(&format!("{k8s}.label.{LABEL_MUTATED_BY}"), "true");
    }
    confs.push(
        &format!("{k8s}.label.{LABEL_SUBMISSION_ID}"),
        &ctx.submission_id,
    );
    if keys.role == Role::Executor {
        confs.push_some("spark.executor.instances", spec.executor.instances);
    }
    if let Some(image) = non_empty(&pod.image).or(non_empty(&spec.image)) {
        confs.push(&format!("{k8s}.container.image"), image);
    }
    confs.push_some(&format!("{spark}.cores"), pod.cores);
    confs.push_some(&format!("{k8s}.request.cores"), keys.core_request);
    confs.push_some(&format!("{k8s}.limit.cores"), pod.core_limit.as_ref());
    confs.push_some(&format!("{spark}.memory"), pod.memory.as_ref());
    confs.push_some(
        &format!("{spark}.memoryOverhead"),
        pod.memory_overhead.as_ref(),
    );
    let role_name = if keys.role == Role::Driver {
        "driver"
    } else {
        "executor"
    };
    let account_key = format!("spark.kubernetes.authenticate.{role_name}.serviceAccountName");
    confs.push_some(&account_key, pod.service_account.as_ref());
    if keys.role == Role::Driver {
        confs.push_some(
            "spark.driver.extraJavaOptions",
            spec.driver.java_options.as_ref(),
        );
        confs.push_some(
            "spark.kubernetes.driver.master",
            spec.driver.kubernetes_master.as_ref(),
        );
    } else {
        let delete = spec.executor.delete_on_termination;
        confs.push_some("spark.kubernetes.executor.deleteOnTermination", delete);
    }

    for (key, value) in prepared.app.metadata.labels.iter().flatten() {
        if !key.starts_with(KUEUE_LABEL_PREFIX) {
            confs.push(&format!("{k8s}.label.{key}"), value);
        }
    }
    for (key, value) in &pod.labels {
        confs.push(&format!("{k8s}.label.{key}"), value);
    }
    for (key, value) in &pod.annotations {
        confs.push(&format!("{k8s}.annotation.{key}"), value);
    }
    if keys.role == Role::Driver {
        for (key, value) in &spec.driver.service_labels {
            confs.push(&format!("{k8s}.service.label.{key}"), value);
        }
        for (key, value) in &spec.driver.service_annotations {
            confs.push(&format!("{k8s}.service.annotation.{key}"), value);
        }
    }
    for (key, value) in &pod.env_secret_key_refs {
        confs.push(
            &format!("{k8s}.secretKeyRef.{key}"),
            &format!("{}:{}", value.name, value.key),
        );
    }
    if keys.role == Role::Executor {
        confs.push_some(
            "spark.executor.extraJavaOptions",
            spec.executor.java_options.as_ref(),
        );
    }
}

/// `envVars`, and `secrets` with the variables their types set.
fn environment_and_secrets(confs: &mut Confs, keys: &RoleKeys) {
    for (key, value) in &keys.pod.env_vars {
        confs.push(&format!("{}{key}", keys.env_prefix), value);
    }
    for secret in &keys.pod.secrets {
        confs.push(
            &format!("{}.secrets.{}", keys.k8s, secret.name),
            &secret.path,
        );
        let env = match secret.secret_type.as_str() {
            secret_types::GCP_SERVICE_ACCOUNT => {
                Some(("GOOGLE_APPLICATION_CREDENTIALS", "key.json"))
            }
            secret_types::HADOOP_DELEGATION_TOKEN => {
                Some(("HADOOP_TOKEN_FILE_LOCATION", "hadoop.token"))
            }
            _ => None,
        };
        if let Some((variable, file)) = env {
            confs.push(
                &format!("{}{variable}", keys.env_prefix),
                &join_path(&secret.path, file),
            );
        }
    }
}

/// Spark volume keys for the role's mounts of `spark-local-dir-*` volumes; Kubeflow mounts every
/// other volume itself.
fn local_dir_volume_confs(
    k8s: &str,
    mounts: &[VolumeMount],
    volumes: &[Volume],
) -> Result<Vec<(String, String)>, SubmissionError> {
    let mut confs = Vec::new();
    for mount in mounts
        .iter()
        .filter(|m| m.name.starts_with(LOCAL_DIR_VOLUME_PREFIX))
    {
        let name = &mount.name;
        let volume = volumes
            .iter()
            .find(|v| &v.name == name)
            .ok_or_else(|| SubmissionError::VolumeNotFound(name.clone()))?;
        let kind = volume_type(volume)
            .ok_or_else(|| SubmissionError::UnsupportedVolumeType(name.clone()))?;
        let prefix = format!("{k8s}.volumes.{kind}.{name}");
        if !mount.mount_path.is_empty() {
            confs.push((format!("{prefix}.mount.path"), mount.mount_path.clone()));
        }
        if let Some(sub_path) = mount.sub_path.as_ref().filter(|p| !p.is_empty()) {
            confs.push((format!("{prefix}.mount.subPath"), sub_path.clone()));
        }
        if mount.read_only == Some(true) {
            confs.push((format!("{prefix}.mount.readOnly"), "true".into()));
        }
        let mut option =
            |key: &str, value: String| confs.push((format!("{prefix}.options.{key}"), value));
        if let Some(dir) = &volume.empty_dir {
            if let Some(limit) = &dir.size_limit {
                option("sizeLimit", limit.0.clone());
            }
            if let Some(medium) = dir.medium.as_ref().filter(|m| !m.is_empty()) {
                option("medium", medium.clone());
            }
        } else if let Some(host) = &volume.host_path {
            option("path", host.path.clone());
            if let Some(host_type) = &host.type_ {
                option("type", host_type.clone());
            }
        } else if let Some(nfs) = &volume.nfs {
            option("path", nfs.path.clone());
            option("server", nfs.server.clone());
            if nfs.read_only == Some(true) {
                option("readOnly", "true".into());
            }
        } else if let Some(claim) = &volume.persistent_volume_claim {
            option("claimName", claim.claim_name.clone());
            if claim.read_only == Some(true) {
                option("readOnly", "true".into());
            }
        }
    }
    Ok(confs)
}

/// Spark's name for the volume types it can mount from configuration.
pub fn volume_type(volume: &Volume) -> Option<&'static str> {
    if volume.empty_dir.is_some() {
        Some("emptyDir")
    } else if volume.host_path.is_some() {
        Some("hostPath")
    } else if volume.nfs.is_some() {
        Some("nfs")
    } else if volume.persistent_volume_claim.is_some() {
        Some("persistentVolumeClaim")
    } else {
        None
    }
}

/// Kubeflow compares the version with semantic versioning; an unparsable one counts as older.
fn below_spark_3(version: &str) -> bool {
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u64>().ok());
    major.is_none_or(|major| major < 3)
}

fn join_path(dir: &str, file: &str) -> String {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        format!("/{file}")
    } else {
        format!("{dir}/{file}")
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// `--conf` pairs in the order they are passed.
#[derive(Default)]
struct Confs(Vec<(String, String)>);

impl Confs {
    fn push(&mut self, key: &str, value: &str) {
        self.0.push((key.to_string(), value.to_string()));
    }

    fn push_some(&mut self, key: &str, value: Option<impl ToString>) {
        if let Some(value) = value {
            self.0.push((key.to_string(), value.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_below_three_are_mutated_by_the_webhook() {
        assert!(below_spark_3("2.4.8"));
        assert!(below_spark_3("garbage"));
        assert!(!below_spark_3("3.0.0"));
        assert!(!below_spark_3("4.0.0"));
        assert!(!below_spark_3("v4.1"));
    }

    #[test]
    fn secret_files_are_joined_like_paths() {
        assert_eq!(
            join_path("/etc/secrets/", "key.json"),
            "/etc/secrets/key.json"
        );
        assert_eq!(join_path("/mnt", "hadoop.token"), "/mnt/hadoop.token");
    }
}
