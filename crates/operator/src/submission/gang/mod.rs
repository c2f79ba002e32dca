//! Gang scheduling, as Kubeflow's batch scheduler integrations prepare an application before it
//! is submitted: a driver whose executors cannot all be placed holds resources and does nothing,
//! and many such drivers deadlock a cluster, so a batch scheduler places an application's pods
//! only when the whole group fits.
//!
//! - **Volcano**: a `scheduling.volcano.sh/v1beta1` PodGroup `spark-<app>-pg` (minMember 1,
//!   minResources the driver's and the initial executors' requests, or
//!   `batchSchedulerOptions.resources`; queue and priority class from the options), named on the
//!   driver and executors by the `scheduling.k8s.io/group-name` annotation.
//! - **YuniKorn**: no object: the task-group-name annotation on each role and, on the driver,
//!   the task groups with their members and resources, computed as Kubeflow computes them; the
//!   `queue` label from `batchSchedulerOptions.queue`.
//! - **scheduler-plugins coscheduling** (a scheduler named in `--kube-scheduler-names`): a
//!   `scheduling.x-k8s.io/v1alpha1` PodGroup `<app>-pg` and the `scheduling.x-k8s.io/pod-group`
//!   label.
//!
//! The annotations and labels go into the spec, so that native submission and spark-submit carry
//! them alike. Pure: the PodGroup is returned for the submitter to create.
//!
//! Differences from Kubeflow: minResources counts memory as Spark requests it (`512m` is 512 MiB
//! plus its overhead; Kubeflow reads `512m` as a Kubernetes quantity, 0.512 bytes, and leaves
//! the default overhead out); a scheduler name Kubeflow does not know is only the pods'
//! `schedulerName` (Kubeflow fails the submission).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use spark_operator_api::{ApplicationType, SparkApplicationSpec, SparkPodSpec};

/// Kubeflow's names.
pub const VOLCANO: &str = "volcano";
pub const YUNIKORN: &str = "yunikorn";
pub const VOLCANO_GROUP_ANNOTATION: &str = "scheduling.k8s.io/group-name";
pub const COSCHEDULING_GROUP_LABEL: &str = "scheduling.x-k8s.io/pod-group";
pub const TASK_GROUP_NAME_ANNOTATION: &str = "yunikorn.apache.org/task-group-name";
pub const TASK_GROUPS_ANNOTATION: &str = "yunikorn.apache.org/task-groups";
const QUEUE_LABEL: &str = "queue";
const DRIVER_TASK_GROUP: &str = "spark-driver";
const EXECUTOR_TASK_GROUP: &str = "spark-executor";
const MIB: i64 = 1 << 20;
/// Spark's smallest memory overhead.
const MIN_OVERHEAD: i64 = 384 * MIB;

/// The operator's batch scheduling settings (`--enable-batch-scheduler`,
/// `--default-batch-scheduler`, `--kube-scheduler-names`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchScheduling {
    pub enabled: bool,
    /// For applications that name no `batchScheduler`.
    pub default_scheduler: Option<String>,
    /// Schedulers that are scheduler-plugins coscheduling instances.
    pub kube_scheduler_names: Vec<String>,
}

/// The batch scheduler an application is gang-scheduled by, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gang {
    Volcano,
    YuniKorn,
    Coscheduling(String),
}

impl BatchScheduling {
    /// The application's scheduler when batch scheduling is on and knows it.
    pub fn gang_of(&self, spec: &SparkApplicationSpec) -> Option<Gang> {
        if !self.enabled {
            return None;
        }
        let name = spec
            .batch_scheduler
            .as_deref()
            .filter(|n| !n.is_empty())
            .or(self.default_scheduler.as_deref())?;
        match name {
            VOLCANO => Some(Gang::Volcano),
            YUNIKORN => Some(Gang::YuniKorn),
            _ if self.kube_scheduler_names.iter().any(|n| n == name) => {
                Some(Gang::Coscheduling(name.to_string()))
            }
            _ => None,
        }
    }
}

impl Gang {
    /// The PodGroup an application's pods wait on, as Kubeflow names it: `spark-<app>-pg` for
    /// Volcano, `<app>-pg` for coscheduling; YuniKorn has none.
    pub fn pod_group(&self, app: &str) -> Option<PodGroupRef> {
        match self {
            Gang::Volcano => Some(PodGroupRef {
                group: "scheduling.volcano.sh",
                version: "v1beta1",
                name: format!("spark-{app}-pg"),
            }),
            Gang::Coscheduling(_) => Some(PodGroupRef {
                group: "scheduling.x-k8s.io",
                version: "v1alpha1",
                name: format!("{app}-pg"),
            }),
            Gang::YuniKorn => None,
        }
    }
}

/// Where a PodGroup lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodGroupRef {
    pub group: &'static str,
    pub version: &'static str,
    pub name: String,
}

impl PodGroupRef {
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// What to install for the kind to be served.
    pub fn installed_by(&self) -> &'static str {
        if self.group == "scheduling.volcano.sh" {
            "Volcano"
        } else {
            "the scheduler-plugins coscheduling plugin"
        }
    }

    /// The collection's path in `namespace`.
    pub fn collection_path(&self, namespace: &str) -> String {
        format!(
            "/apis/{}/{}/namespaces/{namespace}/podgroups",
            self.group, self.version
        )
    }
}

/// The labels and annotations gang scheduling puts on pods, which the pod webhook adds to pods
/// that lack them.
pub const POD_ANNOTATIONS: [&str; 3] = [
    VOLCANO_GROUP_ANNOTATION,
    TASK_GROUP_NAME_ANNOTATION,
    TASK_GROUPS_ANNOTATION,
];
pub const POD_LABELS: [&str; 2] = [COSCHEDULING_GROUP_LABEL, QUEUE_LABEL];

/// Prepares `spec` for gang scheduling by `gang` (annotations, labels, scheduler names) and
/// returns the PodGroup to create, if the scheduler needs one. `owner` is the application's
/// owner reference, as JSON.
pub fn prepare(
    gang: &Gang,
    spec: &mut SparkApplicationSpec,
    app: &str,
    namespace: &str,
    owner: Value,
) -> Option<Value> {
    let reference = gang.pod_group(app);
    let group = reference
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_default();
    match gang {
        // A group the user named is theirs: Kubeflow makes none then.
        Gang::Volcano
            if spec
                .driver
                .pod
                .annotations
                .contains_key(VOLCANO_GROUP_ANNOTATION) =>
        {
            None
        }
        Gang::Volcano => {
            let min_resources = min_resources(spec);
            for role in [&mut spec.driver.pod, &mut spec.executor.pod] {
                role.annotations
                    .insert(VOLCANO_GROUP_ANNOTATION.into(), group.clone());
            }
            let options = spec.batch_scheduler_options.clone().unwrap_or_default();
            let mut pod_group_spec = json!({"minMember": 1, "minResources": min_resources});
            if let Some(queue) = options.queue {
                pod_group_spec["queue"] = json!(queue);
            }
            if let Some(class) = options.priority_class_name {
                pod_group_spec["priorityClassName"] = json!(class);
            }
            Some(pod_group(
                reference.as_ref()?,
                namespace,
                owner,
                pod_group_spec,
            ))
        }
        Gang::Coscheduling(scheduler) => {
            let min_resources = min_resources(spec);
            for role in [&mut spec.driver.pod, &mut spec.executor.pod] {
                role.labels
                    .insert(COSCHEDULING_GROUP_LABEL.into(), group.clone());
                role.scheduler_name = Some(scheduler.clone());
            }
            Some(pod_group(
                reference.as_ref()?,
                namespace,
                owner,
                json!({"minMember": 1, "minResources": min_resources}),
            ))
        }
        Gang::YuniKorn => {
            let groups = task_groups(spec);
            spec.driver
                .pod
                .annotations
                .insert(TASK_GROUP_NAME_ANNOTATION.into(), DRIVER_TASK_GROUP.into());
            spec.executor.pod.annotations.insert(
                TASK_GROUP_NAME_ANNOTATION.into(),
                EXECUTOR_TASK_GROUP.into(),
            );
            spec.driver
                .pod
                .annotations
                .insert(TASK_GROUPS_ANNOTATION.into(), groups.to_string());
            let queue = spec
                .batch_scheduler_options
                .as_ref()
                .and_then(|o| o.queue.clone());
            for role in [&mut spec.driver.pod, &mut spec.executor.pod] {
                role.scheduler_name = Some(YUNIKORN.into());
                if let Some(queue) = &queue {
                    role.labels.insert(QUEUE_LABEL.into(), queue.clone());
                }
            }
            None
        }
    }
}

fn pod_group(reference: &PodGroupRef, namespace: &str, owner: Value, spec: Value) -> Value {
    json!({
        "apiVersion": reference.api_version(),
        "kind": "PodGroup",
        "metadata": {"name": reference.name, "namespace": namespace, "ownerReferences": [owner]},
        "spec": spec,
    })
}

/// What the whole application needs at first: the driver's requests and the initial executors',
/// or the options' resources when given.
fn min_resources(spec: &SparkApplicationSpec) -> Value {
    if let Some(resources) = spec
        .batch_scheduler_options
        .as_ref()
        .map(|o| &o.resources)
        .filter(|r| !r.is_empty())
    {
        return json!(resources);
    }
    let driver = requests(
        spec,
        &spec.driver.pod,
        spec.driver.core_request.as_deref(),
        false,
    );
    let executor = requests(
        spec,
        &spec.executor.pod,
        spec.executor.core_request.as_deref(),
        true,
    );
    let executors = initial_executors(spec) as f64;
    let cpu = driver.cpu + executor.cpu * executors;
    let memory = driver.memory + executor.memory * executors as i64;
    json!({"cpu": cpu_quantity(cpu), "memory": format!("{}Mi", memory / MIB)})
}

/// YuniKorn's task groups, as Kubeflow computes them.
pub fn task_groups(spec: &SparkApplicationSpec) -> Value {
    let merged = |role: &SparkPodSpec| -> Option<BTreeMap<String, String>> {
        let mut selector = spec.node_selector.clone();
        selector.extend(role.node_selector.clone());
        (!selector.is_empty()).then_some(selector)
    };
    let group = |name: &str,
                 members: i32,
                 role: &SparkPodSpec,
                 core_request: Option<&str>,
                 executor: bool| {
        let request = requests(spec, role, core_request, executor);
        let mut group = json!({
            "name": name,
            "minMember": members,
            "minResource": {"cpu": request.cpu_text, "memory": format!("{}Mi", request.memory / MIB)},
        });
        if let Some(selector) = merged(role) {
            group["nodeSelector"] = json!(selector);
        }
        if !role.tolerations.is_empty() {
            group["tolerations"] = json!(role.tolerations);
        }
        if let Some(affinity) = &role.affinity {
            group["affinity"] = json!(affinity);
        }
        if !role.labels.is_empty() {
            group["labels"] = json!(role.labels);
        }
        group
    };
    let mut groups = vec![group(
        DRIVER_TASK_GROUP,
        1,
        &spec.driver.pod,
        spec.driver.core_request.as_deref(),
        false,
    )];
    let executors = initial_executors(spec);
    if executors > 0 {
        groups.push(group(
            EXECUTOR_TASK_GROUP,
            executors,
            &spec.executor.pod,
            spec.executor.core_request.as_deref(),
            true,
        ));
    }
    json!(groups)
}

/// Spark's initial number of executors: the instances, or with dynamic allocation the largest of
/// the instances, the initial and the minimum executors.
pub fn initial_executors(spec: &SparkApplicationSpec) -> i32 {
    let instances = spec.executor.instances.unwrap_or(0);
    match spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true))
    {
        Some(dynamic) => instances
            .max(dynamic.initial_executors.unwrap_or(0))
            .max(dynamic.min_executors.unwrap_or(0)),
        None => instances,
    }
}

/// One pod's requests, as Kubeflow's YuniKorn integration reckons them.
struct Requests {
    cpu: f64,
    /// As written (`2000m`, `1`).
    cpu_text: String,
    memory: i64,
}

fn requests(
    spec: &SparkApplicationSpec,
    role: &SparkPodSpec,
    core_request: Option<&str>,
    executor: bool,
) -> Requests {
    let cpu_text = core_request
        .map(str::to_string)
        .or_else(|| role.cores.map(|c| c.to_string()))
        .unwrap_or_else(|| "1".into());
    let cpu = spark_operator_api::validation::quantity::parse_kubernetes_quantity(&cpu_text)
        .unwrap_or(1.0);
    let factor = spec
        .memory_overhead_factor
        .as_deref()
        .and_then(|f| f.parse::<f64>().ok())
        .unwrap_or(match spec.app_type {
            ApplicationType::Java | ApplicationType::Scala => 0.1,
            _ => 0.4,
        });
    let memory = role.memory.as_deref().and_then(java_bytes).unwrap_or(0);
    let overhead = match role.memory_overhead.as_deref().and_then(java_bytes) {
        Some(overhead) => overhead,
        None => ((memory as f64 * factor) as i64).max(MIN_OVERHEAD),
    };
    let mut total = memory + overhead;
    if executor {
        total += executor_extra_memory(spec);
    }
    Requests {
        cpu,
        cpu_text,
        memory: total,
    }
}

/// PySpark's and off-heap memory, which Spark adds to an executor's request.
fn executor_extra_memory(spec: &SparkApplicationSpec) -> i64 {
    let conf = |key: &str| spec.spark_conf.get(key).map(String::as_str);
    let pyspark = match (spec.app_type, conf("spark.executor.pyspark.memory")) {
        (ApplicationType::Python, Some(memory)) if memory.parse::<i64>().is_ok() => {
            java_bytes(&format!("{memory}m"))
        }
        (ApplicationType::Python, Some(memory)) => java_bytes(memory),
        _ => None,
    };
    let off_heap = match conf("spark.memory.offHeap.enabled") {
        Some(enabled) if enabled != "false" => {
            conf("spark.memory.offHeap.size").and_then(java_bytes)
        }
        _ => None,
    };
    pyspark.unwrap_or(0) + off_heap.unwrap_or(0)
}

/// A JVM byte string (`512m`, `2g`, `1024kb`) in bytes.
fn java_bytes(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let value: i64 = text[..digits].parse().ok()?;
    let unit = match &text[digits..] {
        "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        "p" | "pb" => 1 << 50,
        _ => return None,
    };
    Some(value * unit)
}

fn cpu_quantity(cores: f64) -> String {
    if cores.fract() == 0.0 {
        format!("{}", cores as i64)
    } else {
        format!("{}m", (cores * 1000.0).round() as i64)
    }
}

#[cfg(test)]
mod tests;
