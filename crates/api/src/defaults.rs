//! Defaults as Kubeflow's operator applies them before it acts on an application. They are applied
//! to a copy when the operator reads the spec, never written back, so the user's object stays as
//! written.

use crate::{
    ConcurrencyPolicy, DeployMode, RestartPolicy, RestartPolicyType, ScheduledSparkApplicationSpec,
    SparkApplicationSpec,
};

/// Seconds between retries when a retrying policy leaves the interval unset.
pub const DEFAULT_RETRY_INTERVAL_SECONDS: i64 = 5;
pub const DEFAULT_CORES: i32 = 1;
pub const DEFAULT_MEMORY: &str = "1g";
pub const DEFAULT_EXECUTOR_INSTANCES: i32 = 1;
pub const DEFAULT_RUN_HISTORY_LIMIT: i32 = 1;

/// The spec with every default filled in.
pub fn application_defaults(spec: &SparkApplicationSpec) -> SparkApplicationSpec {
    let mut spec = spec.clone();
    spec.mode.get_or_insert(DeployMode::Cluster);

    let policy = spec
        .restart_policy
        .get_or_insert_with(RestartPolicy::default);
    let policy_type = *policy.policy_type.get_or_insert(RestartPolicyType::Never);
    if policy_type != RestartPolicyType::Never {
        policy
            .on_failure_retry_interval
            .get_or_insert(DEFAULT_RETRY_INTERVAL_SECONDS);
        policy
            .on_submission_failure_retry_interval
            .get_or_insert(DEFAULT_RETRY_INTERVAL_SECONDS);
    }

    let conf = &spec.spark_conf;
    let driver = &mut spec.driver.pod;
    if driver.cores.is_none() && !conf.contains_key("spark.driver.cores") {
        driver.cores = Some(DEFAULT_CORES);
    }
    if driver.memory.is_none() && !conf.contains_key("spark.driver.memory") {
        driver.memory = Some(DEFAULT_MEMORY.into());
    }

    let dynamic = spec
        .dynamic_allocation
        .as_ref()
        .is_some_and(|d| d.enabled == Some(true));
    let executor = &mut spec.executor;
    if executor.pod.cores.is_none() && !conf.contains_key("spark.executor.cores") {
        executor.pod.cores = Some(DEFAULT_CORES);
    }
    if executor.pod.memory.is_none() && !conf.contains_key("spark.executor.memory") {
        executor.pod.memory = Some(DEFAULT_MEMORY.into());
    }
    if executor.instances.is_none() && !conf.contains_key("spark.executor.instances") && !dynamic {
        executor.instances = Some(DEFAULT_EXECUTOR_INSTANCES);
    }
    spec
}

/// The scheduled spec with its defaults and its template's defaults.
pub fn scheduled_defaults(spec: &ScheduledSparkApplicationSpec) -> ScheduledSparkApplicationSpec {
    let mut spec = spec.clone();
    spec.concurrency_policy
        .get_or_insert(ConcurrencyPolicy::Allow);
    spec.successful_run_history_limit
        .get_or_insert(DEFAULT_RUN_HISTORY_LIMIT);
    spec.failed_run_history_limit
        .get_or_insert(DEFAULT_RUN_HISTORY_LIMIT);
    spec.suspend.get_or_insert(false);
    spec.template = application_defaults(&spec.template);
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DynamicAllocation;

    #[test]
    fn empty_spec_gets_kubeflow_defaults() {
        let spec = application_defaults(&SparkApplicationSpec::default());
        assert_eq!(spec.mode, Some(DeployMode::Cluster));
        let policy = spec.restart_policy.unwrap();
        assert_eq!(policy.policy_type, Some(RestartPolicyType::Never));
        assert_eq!(policy.on_failure_retry_interval, None);
        assert_eq!(spec.driver.pod.cores, Some(1));
        assert_eq!(spec.driver.pod.memory.as_deref(), Some("1g"));
        assert_eq!(spec.executor.pod.cores, Some(1));
        assert_eq!(spec.executor.pod.memory.as_deref(), Some("1g"));
        assert_eq!(spec.executor.instances, Some(1));
    }

    #[test]
    fn retrying_policies_get_intervals() {
        let spec = SparkApplicationSpec {
            restart_policy: Some(RestartPolicy {
                policy_type: Some(RestartPolicyType::OnFailure),
                on_failure_retry_interval: Some(30),
                ..Default::default()
            }),
            ..Default::default()
        };
        let policy = application_defaults(&spec).restart_policy.unwrap();
        assert_eq!(policy.on_failure_retry_interval, Some(30));
        assert_eq!(policy.on_submission_failure_retry_interval, Some(5));
    }

    #[test]
    fn spark_conf_and_dynamic_allocation_take_precedence() {
        let mut spec = SparkApplicationSpec::default();
        spec.spark_conf
            .insert("spark.driver.memory".into(), "4g".into());
        spec.spark_conf
            .insert("spark.executor.cores".into(), "3".into());
        spec.dynamic_allocation = Some(DynamicAllocation {
            enabled: Some(true),
            ..Default::default()
        });
        let spec = application_defaults(&spec);
        assert_eq!(spec.driver.pod.memory, None);
        assert_eq!(spec.executor.pod.cores, None);
        assert_eq!(spec.executor.instances, None);
    }

    #[test]
    fn scheduled_defaults_fill_policy_and_limits() {
        let spec = scheduled_defaults(&ScheduledSparkApplicationSpec::default());
        assert_eq!(spec.concurrency_policy, Some(ConcurrencyPolicy::Allow));
        assert_eq!(spec.successful_run_history_limit, Some(1));
        assert_eq!(spec.failed_run_history_limit, Some(1));
        assert_eq!(spec.template.executor.instances, Some(1));
    }
}
