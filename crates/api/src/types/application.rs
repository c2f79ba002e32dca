//! `SparkApplication`: one Spark job, as Kubeflow's v1beta2 API defines it.
#![allow(
    clippy::duplicated_attributes,
    reason = "each printcolumn(...) of the CustomResource derive repeats type_ by design"
)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Volume;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pod::{DriverSpec, ExecutorSpec};

/// The desired state of a Spark application.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "sparkoperator.k8s.io",
    version = "v1beta2",
    kind = "SparkApplication",
    plural = "sparkapplications",
    shortname = "sparkapp",
    namespaced,
    status = "SparkApplicationStatus",
    doc = "A Spark application run on Kubernetes by the Spark operator.",
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.applicationState.state"
    ),
    printcolumn(
        name = "Attempts",
        type_ = "string",
        json_path = ".status.executionAttempts"
    ),
    printcolumn(
        name = "Start",
        type_ = "string",
        json_path = ".status.lastSubmissionAttemptTime"
    ),
    printcolumn(
        name = "Finish",
        type_ = "string",
        json_path = ".status.terminationTime"
    ),
    printcolumn(
        name = "Suspend",
        type_ = "boolean",
        json_path = ".spec.suspend",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SparkApplicationSpec {
    /// Java, Scala, Python or R.
    #[serde(rename = "type")]
    pub app_type: ApplicationType,
    /// The Spark version of the image, for labels and feature choices.
    pub spark_version: String,
    /// Only `cluster` is supported, as in Kubeflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DeployMode>,
    /// The user the application runs as (`--proxy-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_user: Option<String>,
    /// Container image of the driver and the executors unless a role sets its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Names of Secrets used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    /// Entry point of a JVM application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_class: Option<String>,
    /// The application's jar, Python file or R file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_application_file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Spark configuration, as `--conf key=value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    /// Hadoop configuration, passed as `spark.hadoop.*`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hadoop_conf: BTreeMap<String, String>,
    /// A ConfigMap holding Spark configuration files, mounted as `SPARK_CONF_DIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_config_map: Option<String>,
    /// A ConfigMap holding Hadoop configuration files, mounted as `HADOOP_CONF_DIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_config_map: Option<String>,
    /// Volumes that driver and executors can mount through `volumeMounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub driver: DriverSpec,
    #[serde(default)]
    pub executor: ExecutorSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deps: Option<Dependencies>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Node selector of both roles; deprecated by Kubeflow in favour of the per-role one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Deprecated by Kubeflow: use `restartPolicy.onFailureRetries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_retries: Option<i32>,
    /// Deprecated by Kubeflow: use `restartPolicy.onFailureRetryInterval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<PythonVersion>,
    /// Fraction of memory added as overhead (`spark.kubernetes.memoryOverheadFactor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_overhead_factor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
    /// Name of a batch scheduler (for example `volcano` or `yunikorn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_scheduler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_scheduler_options: Option<BatchSchedulerConfiguration>,
    /// Seconds after the application ends before it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_live_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "sparkUIOptions")]
    pub spark_ui_options: Option<SparkUiConfiguration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub driver_ingress_options: Vec<DriverIngressConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_allocation: Option<DynamicAllocation>,
    /// Whether the application should be stopped (and kept stopped) without being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Whether to protect the driver pod with a PodDisruptionBudget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_pod_disruption_budget: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ApplicationType {
    #[default]
    Java,
    Scala,
    Python,
    R,
}

impl ApplicationType {
    pub fn is_jvm(self) -> bool {
        matches!(self, Self::Java | Self::Scala)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    #[default]
    Cluster,
    Client,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PythonVersion {
    #[serde(rename = "2")]
    Two,
    #[serde(rename = "3")]
    Three,
}

/// Files and packages the application needs besides its main file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dependencies {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jars: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub py_files: Vec<String>,
    /// Maven coordinates (`group:artifact:version`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// `group:artifact` pairs to leave out when resolving `packages`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_packages: Vec<String>,
    /// Extra Maven repositories for `packages`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archives: Vec<String>,
}

/// When the operator runs the application again.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicy {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<RestartPolicyType>,
    /// Runs after a submission failure before the application is FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_submission_failure_retries: Option<i32>,
    /// Runs after a driver failure before the application is FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure_retries: Option<i32>,
    /// Seconds between submission retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_submission_failure_retry_interval: Option<i64>,
    /// Seconds between retries after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure_retry_interval: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RestartPolicyType {
    #[default]
    Never,
    Always,
    OnFailure,
}

/// Prometheus monitoring of the driver and executors through the JMX exporter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    pub expose_driver_metrics: bool,
    pub expose_executor_metrics: bool,
    /// Contents of Spark's `metrics.properties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_properties: Option<String>,
    /// Path of a `metrics.properties` in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_properties_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSpec {
    /// Path of the JMX exporter agent jar in the image.
    pub jmx_exporter_jar: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_name: Option<String>,
    /// Path of the exporter's configuration file in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// Contents of the exporter's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<String>,
}

/// Options for a batch scheduler such as Volcano or YuniKorn.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchSchedulerConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, Quantity>,
}

/// The Service, and optionally Ingress, in front of the Spark UI.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkUiConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ingress_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "ingressTLS")]
    pub ingress_tls: Vec<IngressTls>,
}

/// An extra Service and Ingress for a port of the driver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverIngressConfiguration {
    pub service_port: i32,
    pub service_port_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_labels: BTreeMap<String, String>,
    /// Host and path of the Ingress, with `{{$appName}}` and `{{$appNamespace}}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "ingressURLFormat")]
    pub ingress_url_format: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ingress_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "ingressTLS")]
    pub ingress_tls: Vec<IngressTls>,
}

/// Kubernetes' IngressTLS, as Kubeflow embeds it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// Spark's dynamic allocation of executors.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DynamicAllocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_executors: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_executors: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_executors: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_tracking_enabled: Option<bool>,
    /// Milliseconds an executor holding shuffle data is kept (`spark.dynamicAllocation.shuffleTracking.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_tracking_timeout: Option<i64>,
}

/// What the operator observed of the application.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkApplicationStatus {
    /// Spark's application id (`spark-app-selector` label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_application_id: Option<String>,
    /// A unique id of the current submission attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "submissionID")]
    pub submission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_submission_attempt_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_time: Option<Time>,
    #[serde(default)]
    pub driver_info: DriverInfo,
    #[serde(default)]
    pub application_state: ApplicationState,
    /// State of each executor, by pod name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub executor_state: BTreeMap<String, ExecutorState>,
    /// How many times the application has run (submitted successfully).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_attempts: Option<i32>,
    /// How many times submission was attempted in the current run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_attempts: Option<i32>,
    /// The `metadata.generation` the current run was submitted from; a newer generation means the
    /// spec changed and the application is submitted again. Not in Kubeflow's API: an object
    /// without it counts as submitted from its current generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Digests of the spec `observedGeneration` refers to, so that an edit that Kubeflow does
    /// not rerun an application for (`suspend`, `timeToLiveSeconds`, and with the PartialRestart
    /// feature gate the executors' placement) is told apart from one it does. Not in Kubeflow's
    /// API; opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_spec_digest: Option<String>,
}

/// Where the driver and its UI are.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "webUIServiceName")]
    pub web_ui_service_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "webUIAddress")]
    pub web_ui_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "webUIPort")]
    pub web_ui_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "webUIIngressName")]
    pub web_ui_ingress_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "webUIIngressAddress")]
    pub web_ui_ingress_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationState {
    #[serde(default)]
    pub state: ApplicationStateType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// The states of Kubeflow's application state machine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStateType {
    /// Not yet seen by the operator.
    #[default]
    #[serde(rename = "")]
    New,
    Submitted,
    Running,
    Completed,
    Failed,
    SubmissionFailed,
    PendingRerun,
    Invalidating,
    Succeeding,
    Failing,
    Suspending,
    Suspended,
    Resuming,
    Unknown,
}

impl ApplicationStateType {
    /// States the application leaves only through a spec change, suspension or deletion.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "",
            Self::Submitted => "SUBMITTED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::SubmissionFailed => "SUBMISSION_FAILED",
            Self::PendingRerun => "PENDING_RERUN",
            Self::Invalidating => "INVALIDATING",
            Self::Succeeding => "SUCCEEDING",
            Self::Failing => "FAILING",
            Self::Suspending => "SUSPENDING",
            Self::Suspended => "SUSPENDED",
            Self::Resuming => "RESUMING",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for ApplicationStateType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State of one executor pod.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutorState {
    #[default]
    Pending,
    Running,
    Completed,
    Failed,
    Unknown,
}
