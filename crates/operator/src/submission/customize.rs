//! What Kubeflow's mutating pod webhook adds to a Spark pod, as a function on the pod: the spec
//! fields Spark's configuration cannot express. Applied to the driver pod after Spark's steps
//! (where the webhook runs), and to the pod templates, so that no webhook is needed.

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Lifecycle, Pod, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use spark_operator_api::{Port, SparkApplicationSpec, SparkPodSpec};

use super::conf::LOCAL_DIR_VOLUME_PREFIX;
use super::monitoring::{self, Prometheus};
use super::names::config_map_volume_name;
use super::spark_pod::config_map_volume;
use super::spark_pod::{env_value, mount};
use super::spec::Prepared;
use super::units::java_memory_to_quantity;

const HADOOP_CONF_VOLUME: &str = "hadoop-configmap-volume";
const HADOOP_CONF_DIR: &str = "/etc/hadoop/conf";
const SPARK_CONF_VOLUME: &str = "spark-configmap-volume";
const SPARK_CONF_DIR: &str = "/etc/spark/conf";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Driver,
    Executor,
}

/// The role's part of the spec.
struct RoleSpec<'a> {
    pod: &'a SparkPodSpec,
    lifecycle: Option<&'a Lifecycle>,
    ports: &'a [Port],
    priority_class_name: Option<&'a str>,
}

impl<'a> RoleSpec<'a> {
    fn of(prepared: &'a Prepared, role: Role) -> Self {
        let spec = &prepared.spec;
        match role {
            Role::Driver => Self {
                pod: &spec.driver.pod,
                lifecycle: spec.driver.lifecycle.as_deref(),
                ports: &spec.driver.ports,
                priority_class_name: spec.driver.priority_class_name.as_deref(),
            },
            Role::Executor => Self {
                pod: &spec.executor.pod,
                lifecycle: spec.executor.lifecycle.as_deref(),
                ports: &spec.executor.ports,
                priority_class_name: spec.executor.priority_class_name.as_deref(),
            },
        }
    }
}

/// A template with only the Spark container, which Kubeflow passes when the spec has none.
pub fn empty_template(container: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: None,
        spec: Some(PodSpec {
            containers: vec![Container {
                name: container.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

/// Adds `reference` unless an identical one is there.
pub fn add_owner_reference(metadata: &mut ObjectMeta, reference: OwnerReference) {
    let references = metadata.owner_references.get_or_insert_default();
    if !references.contains(&reference) {
        references.push(reference);
    }
}

/// Applies the webhook's mutations, in its order, to `pod` whose Spark container is at
/// `spark_container` (which must exist).
pub fn apply(pod: &mut Pod, spark_container: usize, prepared: &Prepared, role: Role) {
    let role_spec = RoleSpec::of(prepared, role);
    if role == Role::Driver {
        add_owner_reference(&mut pod.metadata, prepared.owner_reference());
    }
    let spec = pod.spec.get_or_insert_default();
    // Volumes are added after the pod's own, in the order the webhook adds them.
    let mut volumes: Vec<Volume> = Vec::new();
    let Some(container) = spec.containers.get_mut(spark_container) else {
        return;
    };
    add_environment_and_mounts(container, &prepared.spec, &role_spec, &mut volumes);
    add_pod_fields(spec, &prepared.spec, &role_spec);
    // The Spark container again: sidecars may have moved the containers.
    let Some(container) = spec.containers.get_mut(spark_container) else {
        return;
    };
    add_limits_and_metrics(container, prepared, &role_spec, role, &mut volumes);
    let spark_pod = role_spec.pod;
    if let Some(context) = &spark_pod.security_context {
        container.security_context = Some(context.as_ref().clone());
    }
    if let Some(lifecycle) = role_spec.lifecycle {
        container.lifecycle = Some(lifecycle.clone());
    }
    drop_empty(container);
    if let Some(context) = &spark_pod.pod_security_context {
        spec.security_context = Some(context.as_ref().clone());
    }
    if let Some(seconds) = spark_pod.termination_grace_period_seconds {
        spec.termination_grace_period_seconds = Some(seconds);
    }
    if spark_pod.share_process_namespace == Some(true) {
        spec.share_process_namespace = Some(true);
    }
    if !volumes.is_empty() {
        spec.volumes.get_or_insert_default().extend(volumes);
    }
}

/// `env`, `envFrom`, the Hadoop and Spark configuration ConfigMaps, `configMaps`, the mounts of
/// `spec.volumes` (but Spark's local directories) and extra ports.
fn add_environment_and_mounts(
    container: &mut Container,
    app: &SparkApplicationSpec,
    role_spec: &RoleSpec,
    volumes: &mut Vec<Volume>,
) {
    let spark_pod = role_spec.pod;
    container
        .env
        .get_or_insert_default()
        .extend(spark_pod.env.iter().cloned());
    container
        .env_from
        .get_or_insert_default()
        .extend(spark_pod.env_from.iter().cloned());
    let mut mount_config_map =
        |container: &mut Container, config_map: &str, volume: &str, path: &str| {
            volumes.push(config_map_volume(volume, config_map, None));
            let config_mount = VolumeMount {
                read_only: Some(true),
                ..mount(volume, path)
            };
            container
                .volume_mounts
                .get_or_insert_default()
                .push(config_mount);
        };
    if let Some(config_map) = &app.hadoop_config_map {
        mount_config_map(container, config_map, HADOOP_CONF_VOLUME, HADOOP_CONF_DIR);
        container
            .env
            .get_or_insert_default()
            .push(env_value("HADOOP_CONF_DIR", HADOOP_CONF_DIR));
    }
    if let Some(config_map) = &app.spark_config_map {
        mount_config_map(container, config_map, SPARK_CONF_VOLUME, SPARK_CONF_DIR);
        container
            .env
            .get_or_insert_default()
            .push(env_value("SPARK_CONF_DIR", SPARK_CONF_DIR));
    }
    for config_map in &spark_pod.config_maps {
        let volume = config_map_volume_name(&config_map.name);
        mount_config_map(container, &config_map.name, &volume, &config_map.path);
    }
    let mut added: Vec<&str> = Vec::new();
    let mounts = spark_pod
        .volume_mounts
        .iter()
        .filter(|m| !m.name.starts_with(LOCAL_DIR_VOLUME_PREFIX));
    for volume_mount in mounts {
        let Some(volume) = app.volumes.iter().find(|v| v.name == volume_mount.name) else {
            continue;
        };
        if !added.contains(&volume.name.as_str()) {
            added.push(&volume.name);
            volumes.push(volume.clone());
        }
        container
            .volume_mounts
            .get_or_insert_default()
            .push(volume_mount.clone());
    }
    let ports = role_spec.ports.iter().map(ContainerPort::from);
    container.ports.get_or_insert_default().extend(ports);
}

/// Host network, host aliases, init containers, sidecars, DNS, priority class, scheduler, node
/// selector, affinity and tolerations.
fn add_pod_fields(spec: &mut PodSpec, app: &SparkApplicationSpec, role_spec: &RoleSpec) {
    // Spark reads no Service environment variables, and in a namespace with thousands of
    // applications' Services every new pod would get so many that it cannot start ("argument
    // list too long"). A pod template that sets the field keeps its choice.
    spec.enable_service_links.get_or_insert(false);
    let spark_pod = role_spec.pod;
    if spark_pod.host_network == Some(true) {
        spec.host_network = Some(true);
        spec.dns_policy = Some("ClusterFirstWithHostNet".into());
    }
    if !spark_pod.host_aliases.is_empty() {
        spec.host_aliases
            .get_or_insert_default()
            .extend(spark_pod.host_aliases.iter().cloned());
    }
    for init in &spark_pod.init_containers {
        if !spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| same_container(c, init))
        {
            spec.init_containers
                .get_or_insert_default()
                .push(init.clone());
        }
    }
    for sidecar in &spark_pod.sidecars {
        if !spec.containers.iter().any(|c| same_container(c, sidecar)) {
            spec.containers.push(sidecar.clone());
        }
    }
    if let Some(dns) = &spark_pod.dns_config {
        spec.dns_config = Some(dns.clone());
    }
    if let Some(class) = role_spec.priority_class_name.filter(|c| !c.is_empty()) {
        spec.priority_class_name = Some(class.into());
        spec.priority = None;
        spec.preemption_policy = None;
    }
    let scheduler = app
        .batch_scheduler
        .as_ref()
        .or(spark_pod.scheduler_name.as_ref());
    if let Some(scheduler) = scheduler.filter(|s| !s.is_empty()) {
        spec.scheduler_name = Some(scheduler.clone());
    }
    if !spark_pod.node_selector.is_empty() {
        spec.node_selector
            .get_or_insert_default()
            .extend(spark_pod.node_selector.clone());
    }
    if let Some(affinity) = &spark_pod.affinity {
        spec.affinity = Some(affinity.clone());
    }
    if !spark_pod.tolerations.is_empty() {
        spec.tolerations
            .get_or_insert_default()
            .extend(spark_pod.tolerations.iter().cloned());
    }
}

/// The memory limit, the GPU limit, and the Prometheus exporter's configuration and port.
fn add_limits_and_metrics(
    container: &mut Container,
    prepared: &Prepared,
    role_spec: &RoleSpec,
    role: Role,
    volumes: &mut Vec<Volume>,
) {
    let spark_pod = role_spec.pod;
    if let Some(limit) = &spark_pod.memory_limit {
        let limits = container
            .resources
            .get_or_insert_default()
            .limits
            .get_or_insert_default();
        limits.insert("memory".into(), Quantity(java_memory_to_quantity(limit)));
    }
    if let Some(gpu) = spark_pod
        .gpu
        .as_ref()
        .filter(|g| !g.name.is_empty() && g.quantity > 0)
    {
        let limits = container
            .resources
            .get_or_insert_default()
            .limits
            .get_or_insert_default();
        limits.insert(gpu.name.clone(), Quantity(gpu.quantity.to_string()));
    }
    let prometheus = Prometheus::of(&prepared.spec).filter(|p| p.exposes(role == Role::Driver));
    if let Some(prometheus) = prometheus {
        let config_map = format!("{}-prom-conf", prepared.name);
        let volume = format!("{config_map}-vol");
        volumes.push(config_map_volume(&volume, &config_map, None));
        let metrics_mount = VolumeMount {
            read_only: Some(true),
            ..mount(&volume, monitoring::MOUNT_PATH)
        };
        container
            .volume_mounts
            .get_or_insert_default()
            .push(metrics_mount);
        container.ports.get_or_insert_default().push(ContainerPort {
            name: Some(prometheus.port_name()),
            container_port: prometheus.port(),
            protocol: Some(monitoring::PORT_PROTOCOL.into()),
            ..Default::default()
        });
    }
}

/// Kubeflow's test for a container already being in the pod: same name and image.
fn same_container(a: &Container, b: &Container) -> bool {
    a.name == b.name && a.image == b.image
}

/// Empty lists the code above may have created, which the API server would drop.
fn drop_empty(container: &mut Container) {
    if container.env.as_ref().is_some_and(Vec::is_empty) {
        container.env = None;
    }
    if container.env_from.as_ref().is_some_and(Vec::is_empty) {
        container.env_from = None;
    }
    if container.ports.as_ref().is_some_and(Vec::is_empty) {
        container.ports = None;
    }
}
