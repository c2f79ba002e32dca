//! Whether a namespace's ResourceQuotas leave room for one more executor pod, and if not, why in
//! the API server's words (`exceeded quota: compute, requested: limits.cpu=1, used:
//! limits.cpu=2, limited: limits.cpu=2`). When the API server refuses the executors a driver
//! creates, nothing is left behind but the driver's log: this is how the application can say so.
//!
//! The executor's request is reckoned as Spark makes it from the spec (cores or coreRequest,
//! memory plus overhead), which is close enough to name the quota that is full.

use k8s_openapi::api::core::v1::ResourceQuota;
use spark_operator_api::SparkApplicationSpec;
use spark_operator_api::defaults::application_defaults;
use spark_operator_api::validation::quantity::parse_kubernetes_quantity;

use crate::submission::{memory_overhead_mib, size_in_mib};

const MIB: f64 = 1024.0 * 1024.0;

/// What one executor pod (or, [`application_request`], a whole application) asks of a quota.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorRequest {
    pub cpu: f64,
    pub memory_bytes: f64,
    /// `None` when Spark sets no CPU limit on executors.
    pub cpu_limit: Option<f64>,
    /// Pods it counts as (0: pods are not reckoned).
    pub pods: f64,
}

impl ExecutorRequest {
    /// As Spark builds the executor pod from `spec` (Kubeflow's defaults applied).
    pub fn of(spec: &SparkApplicationSpec) -> Self {
        let spec = application_defaults(spec);
        let conf = |key: &str| spec.spark_conf.get(key).map(String::as_str);
        let executor = &spec.executor;
        let cores = executor.pod.cores.unwrap_or(1).max(1) as f64;
        let cpu = executor
            .core_request
            .as_deref()
            .or(conf("spark.kubernetes.executor.request.cores"))
            .and_then(parse_kubernetes_quantity)
            .unwrap_or(cores);
        let memory = executor
            .pod
            .memory
            .as_deref()
            .or(conf("spark.executor.memory"))
            .and_then(|m| size_in_mib(m, MIB as u64))
            .unwrap_or(1024);
        let explicit = executor
            .pod
            .memory_overhead
            .as_deref()
            .or(conf("spark.executor.memoryOverhead"))
            .and_then(|m| size_in_mib(m, MIB as u64));
        let factor = conf("spark.kubernetes.memoryOverheadFactor")
            .and_then(|f| f.parse().ok())
            .unwrap_or(0.1);
        let overhead = memory_overhead_mib(memory, factor, explicit, 384);
        let cpu_limit = executor
            .pod
            .core_limit
            .as_deref()
            .or(conf("spark.kubernetes.executor.limit.cores"))
            .and_then(parse_kubernetes_quantity);
        Self {
            cpu,
            memory_bytes: (memory + overhead) as f64 * MIB,
            cpu_limit,
            pods: 1.0,
        }
    }

    /// What the pod asks of a quota's resource, or `None` for a limit the pod does not set.
    fn of_resource(&self, resource: &str) -> Option<f64> {
        match resource {
            "pods" | "count/pods" => Some(self.pods),
            "cpu" | "requests.cpu" => Some(self.cpu),
            "limits.cpu" => self.cpu_limit,
            "memory" | "requests.memory" | "limits.memory" => Some(self.memory_bytes),
            _ => Some(0.0),
        }
    }
}

/// What an application asks of its namespace's quotas when it is created, as Kubeflow's webhook
/// reckons it for `--enable-resource-quota-enforcement`: the driver and the first executors
/// (cores or coreRequest, memory plus overhead; a CPU limit of the cores when none is set), CPU
/// and memory only.
pub fn application_request(spec: &SparkApplicationSpec) -> ExecutorRequest {
    let executor = ExecutorRequest::of(spec);
    let spec = application_defaults(spec);
    let driver = &spec.driver;
    let cores = driver.pod.cores.unwrap_or(1).max(1) as f64;
    let cpu = driver
        .core_request
        .as_deref()
        .and_then(parse_kubernetes_quantity)
        .unwrap_or(cores);
    let memory = driver
        .pod
        .memory
        .as_deref()
        .and_then(|m| size_in_mib(m, MIB as u64))
        .unwrap_or(1024);
    let explicit = driver
        .pod
        .memory_overhead
        .as_deref()
        .and_then(|m| size_in_mib(m, MIB as u64));
    let overhead = memory_overhead_mib(memory, 0.1, explicit, 384);
    let driver_limit = driver
        .pod
        .core_limit
        .as_deref()
        .and_then(parse_kubernetes_quantity)
        .unwrap_or(cores);
    let executors = f64::from(requested_executors(&spec));
    let executor_limit = executor
        .cpu_limit
        .unwrap_or(spec.executor.pod.cores.unwrap_or(1).max(1) as f64);
    ExecutorRequest {
        cpu: cpu + executors * executor.cpu,
        memory_bytes: (memory + overhead) as f64 * MIB + executors * executor.memory_bytes,
        cpu_limit: Some(driver_limit + executors * executor_limit),
        pods: 0.0,
    }
}

/// The executors the application asks for at first: its instances, or dynamic allocation's
/// initial (else minimum) number.
pub fn requested_executors(spec: &SparkApplicationSpec) -> u32 {
    let dynamic = spec
        .dynamic_allocation
        .as_ref()
        .filter(|d| d.enabled == Some(true));
    let count = match dynamic {
        Some(d) => d.initial_executors.or(d.min_executors).unwrap_or(0),
        None => spec.executor.instances.unwrap_or(1),
    };
    count.max(0) as u32
}

/// Why the first of `quotas` without room for `executor` refuses it, as the API server says it.
pub fn refusal(quotas: &[ResourceQuota], executor: &ExecutorRequest) -> Option<String> {
    quotas.iter().find_map(|quota| refused_by(quota, executor))
}

fn refused_by(quota: &ResourceQuota, executor: &ExecutorRequest) -> Option<String> {
    let name = quota.metadata.name.as_deref().unwrap_or_default();
    let hard = quota.status.as_ref()?.hard.as_ref()?;
    let used = quota.status.as_ref()?.used.clone().unwrap_or_default();
    let mut exceeded = Vec::new();
    for (resource, limit) in hard {
        let Some(asked) = executor.of_resource(resource) else {
            return Some(format!(
                "failed quota: {name}: must specify {resource} for: spark-kubernetes-executor"
            ));
        };
        let limit_value = parse_kubernetes_quantity(&limit.0).unwrap_or(f64::INFINITY);
        let used_text = used.get(resource).map_or("0", |q| q.0.as_str());
        let used_value = parse_kubernetes_quantity(used_text).unwrap_or(0.0);
        if asked > 0.0 && used_value + asked > limit_value + 1e-9 {
            exceeded.push((
                resource.clone(),
                format_amount(resource, asked),
                used_text.to_string(),
                limit.0.clone(),
            ));
        }
    }
    if exceeded.is_empty() {
        return None;
    }
    let join = |pick: fn(&(String, String, String, String)) -> String| {
        exceeded.iter().map(pick).collect::<Vec<_>>().join(",")
    };
    Some(format!(
        "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
        join(|(r, asked, _, _)| format!("{r}={asked}")),
        join(|(r, _, used, _)| format!("{r}={used}")),
        join(|(r, _, _, limit)| format!("{r}={limit}")),
    ))
}

/// An amount as a quantity: whole cores or millicores, memory in Mi.
fn format_amount(resource: &str, amount: f64) -> String {
    if resource.ends_with("memory") {
        format!("{}Mi", (amount / MIB).round() as u64)
    } else if amount.fract() == 0.0 {
        format!("{}", amount as u64)
    } else {
        format!("{}m", (amount * 1000.0).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ResourceQuotaStatus;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    use super::*;

    fn quota(name: &str, hard: &[(&str, &str)], used: &[(&str, &str)]) -> ResourceQuota {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        let mut quota = ResourceQuota::default();
        quota.metadata.name = Some(name.into());
        quota.status = Some(ResourceQuotaStatus {
            hard: Some(map(hard)),
            used: Some(map(used)),
        });
        quota
    }

    fn one_core_512m() -> ExecutorRequest {
        let mut spec = SparkApplicationSpec::default();
        spec.executor.pod.cores = Some(1);
        spec.executor.pod.memory = Some("512m".into());
        ExecutorRequest::of(&spec)
    }

    #[test]
    fn an_executor_is_reckoned_as_spark_builds_it() {
        let executor = one_core_512m();
        assert_eq!(executor.cpu, 1.0);
        assert_eq!(
            executor.memory_bytes,
            (512.0 + 384.0) * MIB,
            "the minimum overhead"
        );
        assert_eq!(executor.cpu_limit, None);
    }

    #[test]
    fn a_full_quota_is_named_in_the_api_servers_words() {
        let full = quota(
            "compute",
            &[("requests.cpu", "2"), ("pods", "10")],
            &[("requests.cpu", "2"), ("pods", "3")],
        );
        assert_eq!(
            refusal(&[full], &one_core_512m()).as_deref(),
            Some(
                "exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=2, limited: requests.cpu=2"
            )
        );
        let roomy = quota(
            "compute",
            &[("requests.cpu", "4"), ("requests.memory", "8Gi")],
            &[("requests.cpu", "2")],
        );
        assert_eq!(refusal(&[roomy], &one_core_512m()), None);
    }

    #[test]
    fn a_limit_the_executor_does_not_set_is_asked_for() {
        let limits = quota("limits", &[("limits.cpu", "8")], &[]);
        assert_eq!(
            refusal(&[limits], &one_core_512m()).as_deref(),
            Some("failed quota: limits: must specify limits.cpu for: spark-kubernetes-executor")
        );
    }

    #[test]
    fn an_application_is_reckoned_with_its_driver_and_first_executors() {
        let mut spec = SparkApplicationSpec::default();
        spec.driver.pod.cores = Some(1);
        spec.driver.pod.memory = Some("512m".into());
        spec.executor.pod.cores = Some(2);
        spec.executor.pod.memory = Some("1g".into());
        spec.executor.instances = Some(3);
        let asked = application_request(&spec);
        assert_eq!(asked.cpu, 7.0);
        assert_eq!(asked.cpu_limit, Some(7.0));
        assert_eq!(asked.memory_bytes, (896.0 + 3.0 * (1024.0 + 384.0)) * MIB);
        let tight = quota(
            "compute",
            &[("requests.cpu", "8"), ("pods", "2")],
            &[("requests.cpu", "2")],
        );
        assert!(
            refusal(&[tight], &asked)
                .unwrap()
                .contains("requests.cpu=7")
        );
        let roomy = quota("compute", &[("requests.cpu", "8"), ("pods", "2")], &[]);
        assert_eq!(
            refusal(&[roomy], &asked),
            None,
            "pods are not reckoned, as in Kubeflow"
        );
    }

    #[test]
    fn executors_asked_for() {
        let mut spec = SparkApplicationSpec::default();
        assert_eq!(requested_executors(&spec), 1);
        spec.executor.instances = Some(4);
        assert_eq!(requested_executors(&spec), 4);
        spec.dynamic_allocation = Some(spark_operator_api::DynamicAllocation {
            enabled: Some(true),
            min_executors: Some(2),
            ..Default::default()
        });
        assert_eq!(requested_executors(&spec), 2);
    }
}
