//! The objects of a SparkConnect as Kubeflow's controller builds them: the ConfigMap holding the
//! executor pod template, the server pod (from `spec.server.template`, its server container
//! running the start command) and the server's Service; each owned by the SparkConnect as its
//! controller, so that deleting the resource deletes them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, ExecAction, KeyToPath,
    Lifecycle, LifecycleHandler, ObjectFieldSelector, Pod, Probe, Service, ServicePort,
    ServiceSpec, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use spark_operator_api::{SparkConnect, naming};

use super::command::{self, BLOCK_MANAGER_PORT, DRIVER_PORT, STOP_SCRIPT};
use super::{
    CONNECT_PORT, EXECUTOR_TEMPLATE_FILE, EXECUTOR_TEMPLATE_PATH, LABEL_CONNECT_NAME,
    ROLE_CONNECT_SERVER, SERVER_HASH_ANNOTATION, UI_PORT,
};
use crate::submission::{
    DRIVER_CONTAINER, LABEL_CREATED_BY, LABEL_LAUNCHED_BY, LABEL_SPARK_ROLE, LABEL_SPARK_VERSION,
    SubmissionError,
};

/// The volume of the server pod that holds the executor pod template.
const CONF_VOLUME: &str = "spark-conf";

/// Everything the operator makes for one SparkConnect.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerObjects {
    pub config_map: ConfigMap,
    pub server_pod: Pod,
    pub service: Service,
    /// A digest of the server pod and the executor pod template, also in the pod's
    /// [`SERVER_HASH_ANNOTATION`]: a server pod with another one was built from another spec.
    pub server_hash: String,
}

/// The objects of `connect`, whose server creates its executors through `master_url`.
pub fn build(connect: &SparkConnect, master_url: &str) -> Result<ServerObjects, SubmissionError> {
    let owner = OwnerReference {
        block_owner_deletion: Some(true),
        ..connect
            .controller_owner_ref(&())
            .ok_or(SubmissionError::MissingUid)?
    };
    let config_map = config_map(connect, owner.clone());
    let words = command::start_command(connect, master_url)?;
    let mut server_pod = server_pod(connect, &words, owner.clone())?;
    let server_hash = digest(&server_pod, &config_map);
    server_pod
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(SERVER_HASH_ANNOTATION.into(), server_hash.clone());
    Ok(ServerObjects {
        config_map,
        server_pod,
        service: service(connect, owner),
        server_hash,
    })
}

/// `sparkoperator.k8s.io/created-by-spark-operator` and the SparkConnect's name: the labels of
/// its ConfigMap and Service.
pub fn common_labels(connect: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_CREATED_BY.to_string(), "true".to_string()),
        (LABEL_CONNECT_NAME.to_string(), connect.to_string()),
    ])
}

/// The labels the Service selects the server pod by.
pub fn server_selector(connect: &SparkConnect) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_LAUNCHED_BY.to_string(), "true".to_string()),
        (LABEL_CONNECT_NAME.to_string(), connect.name_any()),
        (
            LABEL_SPARK_ROLE.to_string(),
            ROLE_CONNECT_SERVER.to_string(),
        ),
        (
            LABEL_SPARK_VERSION.to_string(),
            connect.spec.spark_version.clone(),
        ),
    ])
}

fn metadata(connect: &SparkConnect, name: String, owner: OwnerReference) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: connect.namespace(),
        labels: Some(common_labels(&connect.name_any())),
        owner_references: Some(vec![owner]),
        ..Default::default()
    }
}

/// `<name>-conf`: the executor pod template (`spec.executor.template` as YAML; `null` without
/// one, as Kubeflow writes it), which the server reads at start.
fn config_map(connect: &SparkConnect, owner: OwnerReference) -> ConfigMap {
    let template =
        serde_yaml::to_string(&connect.spec.executor.template).unwrap_or_else(|_| "null\n".into());
    ConfigMap {
        metadata: metadata(
            connect,
            naming::connect_config_map_name(&connect.name_any()),
            owner,
        ),
        data: Some(BTreeMap::from([(EXECUTOR_TEMPLATE_FILE.into(), template)])),
        ..Default::default()
    }
}

/// `<name>-server`: `spec.server.template` (or an empty pod), whose server container (the one
/// named `spark-kubernetes-driver`, else the first; added when there is none) runs the start
/// command under `bash -c`, with the spec's image unless the template sets one, Kubeflow's TCP
/// startup and readiness probes on the gRPC port unless the template sets its own, `POD_IP`,
/// `SPARK_NO_DAEMONIZE`, the executor template mounted where the command names it, and the stop
/// script as its preStop hook.
fn server_pod(
    connect: &SparkConnect,
    words: &[String],
    owner: OwnerReference,
) -> Result<Pod, SubmissionError> {
    let template = connect.spec.server.template.clone().unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    if spec.containers.is_empty() {
        spec.containers.push(Container {
            name: DRIVER_CONTAINER.into(),
            ..Default::default()
        });
    }
    let index = spec
        .containers
        .iter()
        .position(|c| c.name == DRIVER_CONTAINER)
        .unwrap_or(0);
    let container = &mut spec.containers[index];
    if container.image.as_deref().is_none_or(str::is_empty) {
        let image = connect
            .spec
            .image
            .as_deref()
            .filter(|i| !i.trim().is_empty());
        container.image = Some(image.ok_or(SubmissionError::MissingImage)?.to_string());
    }
    container.command = Some(vec!["bash".into(), "-c".into()]);
    container.args = Some(vec![words.join(" ")]);
    container
        .startup_probe
        .get_or_insert_with(|| tcp_probe(Some(5), 30));
    container
        .readiness_probe
        .get_or_insert_with(|| tcp_probe(None, 3));
    container.env.get_or_insert_default().extend([
        EnvVar {
            name: "POD_IP".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "status.podIP".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        EnvVar {
            name: "SPARK_NO_DAEMONIZE".into(),
            value: Some("true".into()),
            ..Default::default()
        },
    ]);
    container
        .volume_mounts
        .get_or_insert_default()
        .push(VolumeMount {
            name: CONF_VOLUME.into(),
            sub_path: Some(EXECUTOR_TEMPLATE_FILE.into()),
            mount_path: EXECUTOR_TEMPLATE_PATH.into(),
            read_only: Some(true),
            ..Default::default()
        });
    container.lifecycle = Some(Lifecycle {
        pre_stop: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec!["bash".into(), "-c".into(), STOP_SCRIPT.into()]),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    spec.volumes.get_or_insert_default().push(Volume {
        name: CONF_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: naming::connect_config_map_name(&connect.name_any()),
            items: Some(vec![KeyToPath {
                key: EXECUTOR_TEMPLATE_FILE.into(),
                path: EXECUTOR_TEMPLATE_FILE.into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    });
    // The server reads none of the variables Kubernetes would add for every Service of the
    // namespace (Kubeflow #2984), as for the operator's other Spark pods.
    spec.enable_service_links.get_or_insert(false);
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.extend(server_selector(connect));
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(naming::connect_server_pod_name(&connect.name_any())),
            namespace: connect.namespace(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// A TCP probe of the gRPC port, with Kubeflow's timing.
fn tcp_probe(initial_delay_seconds: Option<i32>, failure_threshold: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(CONNECT_PORT),
            ..Default::default()
        }),
        initial_delay_seconds,
        period_seconds: Some(10),
        timeout_seconds: Some(1),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

/// The server's Service: `spec.server.service` when given (its namespace ignored) or a plain
/// ClusterIP Service, with Kubeflow's four ports (driver RPC, block manager, UI and Spark Connect
/// gRPC) and the server pod's labels added to its selector.
fn service(connect: &SparkConnect, owner: OwnerReference) -> Service {
    let given = connect.spec.server.service.clone().unwrap_or_default();
    let given_meta = given.metadata;
    let mut labels = given_meta.labels.unwrap_or_default();
    labels.extend(common_labels(&connect.name_any()));
    let mut spec = given.spec.unwrap_or_default();
    let port = |name: &str, number: i32, protocol: &str| ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".into()),
        app_protocol: Some(protocol.into()),
        ..Default::default()
    };
    spec.ports = Some(vec![
        port("driver-rpc", DRIVER_PORT, "tcp"),
        port("blockmanager", BLOCK_MANAGER_PORT, "tcp"),
        port("web-ui", UI_PORT, "http"),
        port("spark-connect-server", CONNECT_PORT, "grpc"),
    ]);
    spec.selector
        .get_or_insert_default()
        .extend(server_selector(connect));
    Service {
        metadata: ObjectMeta {
            name: Some(naming::connect_service_name(connect)),
            namespace: connect.namespace(),
            labels: Some(labels),
            annotations: given_meta.annotations,
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// 16 hex digits of the SHA-256 of the server pod and the executor pod template.
fn digest(server_pod: &Pod, config_map: &ConfigMap) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(server_pod).unwrap_or_default());
    hasher.update([0u8]);
    hasher.update(serde_json::to_vec(&config_map.data).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the ConfigMap the cluster holds is the one `desired` describes: its data, and the
/// labels and owner the operator gives it.
pub fn config_map_is_current(existing: &ConfigMap, desired: &ConfigMap) -> bool {
    existing.data == desired.data && metadata_is_current(&existing.metadata, &desired.metadata)
}

/// Whether the Service the cluster holds is the one `desired` describes: its type, ports and
/// selector, and the labels, annotations and owner the operator gives it. Fields the API server
/// fills in (a ClusterIP, a port's protocol) are not compared.
pub fn service_is_current(existing: &Service, desired: &Service) -> bool {
    let (Some(have), Some(want)) = (&existing.spec, &desired.spec) else {
        return false;
    };
    let service_type = |spec: &ServiceSpec| spec.type_.clone().unwrap_or("ClusterIP".into());
    // Each port by name, number, target and application protocol.
    let ports = |spec: &ServiceSpec| {
        spec.ports
            .iter()
            .flatten()
            .map(|p| {
                let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
                (p.name.clone(), p.port, target, p.app_protocol.clone())
            })
            .collect::<Vec<_>>()
    };
    service_type(have) == service_type(want)
        && ports(have) == ports(want)
        && have.selector == want.selector
        && metadata_is_current(&existing.metadata, &desired.metadata)
}

fn metadata_is_current(existing: &ObjectMeta, desired: &ObjectMeta) -> bool {
    let contains = |have: &Option<BTreeMap<String, String>>,
                    want: &Option<BTreeMap<String, String>>| {
        want.iter()
            .flatten()
            .all(|(k, v)| have.as_ref().and_then(|h| h.get(k)) == Some(v))
    };
    let owned = desired.owner_references.iter().flatten().all(|owner| {
        existing
            .owner_references
            .iter()
            .flatten()
            .any(|o| o == owner)
    });
    contains(&existing.labels, &desired.labels)
        && contains(&existing.annotations, &desired.annotations)
        && owned
}
