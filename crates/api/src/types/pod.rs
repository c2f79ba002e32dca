//! What the driver and the executor pods share: Kubeflow's `SparkPodSpec`, and the small types it uses.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvFromSource, EnvVar, HostAlias, Lifecycle, PodDNSConfig,
    PodSecurityContext, PodTemplateSpec, SecurityContext, Toleration, VolumeMount,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::preserve_unknown_object;

/// Pod settings common to the driver and the executors. The k8s-openapi types of kilobytes that
/// few applications set are boxed: an application is moved and copied whole as it is decoded and
/// reconciled, and it takes a third of the bytes so (the JSON and the schema are the same).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SparkPodSpec {
    /// A pod template whose fields Spark merges under the ones the spec sets
    /// (`spark.kubernetes.{driver,executor}.podTemplateFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub template: Option<Box<PodTemplateSpec>>,
    /// Number of CPU cores (`spark.driver.cores` / `spark.executor.cores`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<i32>,
    /// Hard CPU limit of the pod, a Kubernetes quantity such as `1200m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_limit: Option<String>,
    /// JVM heap, in Spark's size format (`512m`, `2g`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Memory limit of the pod, a Kubernetes quantity; defaults to memory plus overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// Non-heap memory added to the pod's request, in Spark's size format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_overhead: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuSpec>,
    /// Container image for this role, overriding `spec.image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// ConfigMaps mounted into the Spark container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_maps: Vec<NamePath>,
    /// Secrets mounted into the Spark container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Deprecated by Kubeflow in favour of `env`; still honoured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_vars: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// Deprecated by Kubeflow in favour of `env`; still honoured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_secret_key_refs: BTreeMap<String, NameKey>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<Box<PodSecurityContext>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<SecurityContext>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<Container>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<PodDNSConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_aliases: Vec<HostAlias>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
}

/// The driver pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverSpec {
    #[serde(flatten)]
    pub pod: SparkPodSpec,
    /// Name of the driver pod (`spark.kubernetes.driver.pod.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// CPU request as a Kubernetes quantity, taking precedence over `cores` for the pod only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_options: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Box<Lifecycle>>,
    /// The API server URL the driver uses to create executors (`spark.kubernetes.driver.master`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_master: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// The executor pods.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorSpec {
    #[serde(flatten)]
    pub pod: SparkPodSpec,
    /// Number of executors (`spark.executor.instances`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub java_options: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Box<Lifecycle>>,
    /// Whether Spark deletes executor pods when they end (`spark.kubernetes.executor.deleteOnTermination`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

/// A GPU resource, such as `nvidia.com/gpu`, and how many the pod needs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GpuSpec {
    pub name: String,
    pub quantity: i64,
}

/// A ConfigMap and the path it is mounted at.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NamePath {
    pub name: String,
    pub path: String,
}

/// A Secret, the path it is mounted at, and how Spark should use it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretInfo {
    pub name: String,
    pub path: String,
    /// `GCPServiceAccount`, `HadoopDelegationToken` or `Generic`.
    pub secret_type: String,
}

/// Kubeflow's secret types, with the environment each one sets.
pub mod secret_types {
    pub const GCP_SERVICE_ACCOUNT: &str = "GCPServiceAccount";
    pub const HADOOP_DELEGATION_TOKEN: &str = "HadoopDelegationToken";
    pub const GENERIC: &str = "Generic";
    pub const ALL: [&str; 3] = [GCP_SERVICE_ACCOUNT, HADOOP_DELEGATION_TOKEN, GENERIC];
}

/// A key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NameKey {
    pub name: String,
    pub key: String,
}

/// An extra container port of the Spark container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub name: String,
    pub protocol: String,
    pub container_port: i32,
}

impl From<&Port> for ContainerPort {
    fn from(port: &Port) -> Self {
        ContainerPort {
            name: Some(port.name.clone()),
            protocol: Some(port.protocol.clone()),
            container_port: port.container_port,
            ..Default::default()
        }
    }
}
