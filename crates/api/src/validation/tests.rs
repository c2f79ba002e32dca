//! One test per rule: a valid application, changed in one place, fails with that place's path.

use super::*;
use crate::*;
use k8s_openapi::api::core::v1::{Volume, VolumeMount};

pub(super) fn spark_pi() -> SparkApplication {
    let mut app = SparkApplication::new(
        "spark-pi",
        SparkApplicationSpec {
            app_type: ApplicationType::Scala,
            spark_version: "4.0.0".into(),
            image: Some("apache/spark:4.0.0".into()),
            main_class: Some("org.apache.spark.examples.SparkPi".into()),
            main_application_file: Some(
                "local:///opt/spark/examples/jars/spark-examples.jar".into(),
            ),
            ..Default::default()
        },
    );
    app.metadata.namespace = Some("default".into());
    app
}

pub(super) fn paths_after(change: impl FnOnce(&mut SparkApplication)) -> Vec<String> {
    let mut app = spark_pi();
    change(&mut app);
    validate_application(&app)
        .into_iter()
        .map(|e| e.path)
        .collect()
}

#[test]
fn spark_pi_is_valid() {
    assert_eq!(validate_application(&spark_pi()), vec![]);
}

#[test]
fn unparseable_memory() {
    assert_eq!(
        paths_after(|a| a.spec.driver.pod.memory = Some("512x".into())),
        ["spec.driver.memory"]
    );
    assert_eq!(
        paths_after(|a| a.spec.executor.pod.memory_overhead = Some("1.5g".into())),
        ["spec.executor.memoryOverhead"]
    );
}

#[test]
fn zero_memory_that_spark_submit_refuses() {
    assert_eq!(
        paths_after(|a| a.spec.driver.pod.memory = Some("0m".into())),
        ["spec.driver.memory"]
    );
    assert_eq!(
        paths_after(|a| a.spec.executor.pod.memory = Some("0".into())),
        ["spec.executor.memory"]
    );
    // Less than a MiB is still memory to spark-submit.
    assert_eq!(
        paths_after(|a| a.spec.executor.pod.memory = Some("512k".into())),
        Vec::<String>::new()
    );
}

#[test]
fn unparseable_kubernetes_quantities() {
    assert_eq!(
        paths_after(|a| a.spec.executor.pod.core_limit = Some("lots".into())),
        ["spec.executor.coreLimit"]
    );
    assert_eq!(
        paths_after(|a| a.spec.driver.core_request = Some("1x".into())),
        ["spec.driver.coreRequest"]
    );
    assert_eq!(
        paths_after(|a| a.spec.driver.pod.memory_limit = Some("2GB".into())),
        ["spec.driver.memoryLimit"]
    );
}

#[test]
fn cores_below_one() {
    assert_eq!(
        paths_after(|a| a.spec.executor.pod.cores = Some(0)),
        ["spec.executor.cores"]
    );
}

#[test]
fn core_limit_below_request() {
    assert_eq!(
        paths_after(|a| {
            a.spec.driver.pod.cores = Some(2);
            a.spec.driver.pod.core_limit = Some("1500m".into());
        }),
        ["spec.driver.coreLimit"]
    );
    assert_eq!(
        paths_after(|a| {
            a.spec.executor.core_request = Some("500m".into());
            a.spec.executor.pod.core_limit = Some("250m".into());
        }),
        ["spec.executor.coreLimit"]
    );
    assert!(
        paths_after(|a| {
            a.spec.executor.core_request = Some("500m".into());
            a.spec.executor.pod.core_limit = Some("1".into());
        })
        .is_empty()
    );
}

#[test]
fn jvm_applications_need_a_file_and_a_class() {
    assert_eq!(
        paths_after(|a| a.spec.main_application_file = None),
        ["spec.mainApplicationFile"]
    );
    assert_eq!(
        paths_after(|a| a.spec.main_class = None),
        ["spec.mainClass"]
    );
}

#[test]
fn python_applications_need_a_python_file() {
    let python = |file: Option<&str>| {
        paths_after(|a| {
            a.spec.app_type = ApplicationType::Python;
            a.spec.main_class = None;
            a.spec.main_application_file = file.map(Into::into);
        })
    };
    assert!(python(Some("local:///opt/spark/examples/src/main/python/pi.py")).is_empty());
    assert_eq!(
        python(Some("local:///opt/app.jar")),
        ["spec.mainApplicationFile"]
    );
    assert_eq!(python(None), ["spec.mainApplicationFile"]);
}

#[test]
fn negative_retries_and_intervals() {
    assert_eq!(
        paths_after(|a| {
            a.spec.restart_policy = Some(RestartPolicy {
                policy_type: Some(RestartPolicyType::OnFailure),
                on_failure_retries: Some(-1),
                on_submission_failure_retry_interval: Some(-5),
                ..Default::default()
            });
            a.spec.failure_retries = Some(-2);
        }),
        [
            "spec.failureRetries",
            "spec.restartPolicy.onFailureRetries",
            "spec.restartPolicy.onSubmissionFailureRetryInterval"
        ]
    );
}

#[test]
fn label_values_kubernetes_rejects() {
    assert_eq!(
        paths_after(|a| {
            a.spec
                .driver
                .pod
                .labels
                .insert("team".into(), "data platform".into());
        }),
        ["spec.driver.labels[team]"]
    );
    assert_eq!(
        paths_after(|a| {
            a.spec
                .executor
                .pod
                .labels
                .insert("bad key!".into(), "ok".into());
        }),
        ["spec.executor.labels[bad key!]"]
    );
}

#[test]
fn names_too_long_or_not_dns_labels() {
    assert_eq!(
        paths_after(|a| a.metadata.name = Some("a".repeat(57))),
        ["metadata.name"]
    );
    assert!(paths_after(|a| a.metadata.name = Some("a".repeat(56))).is_empty());
    assert_eq!(
        paths_after(|a| a.metadata.name = Some("spark.pi".into())),
        ["metadata.name"]
    );
}

#[test]
fn missing_image_and_version() {
    assert_eq!(paths_after(|a| a.spec.image = None), ["spec.image"]);
    assert!(
        paths_after(|a| {
            a.spec.image = None;
            a.spec.driver.pod.image = Some("d".into());
            a.spec.executor.pod.image = Some("e".into());
        })
        .is_empty()
    );
    assert_eq!(
        paths_after(|a| a.spec.spark_version = " ".into()),
        ["spec.sparkVersion"]
    );
}

#[test]
fn client_mode_is_refused() {
    assert_eq!(
        paths_after(|a| a.spec.mode = Some(DeployMode::Client)),
        ["spec.mode"]
    );
}

#[test]
fn unknown_secret_type() {
    assert_eq!(
        paths_after(|a| a.spec.driver.pod.secrets.push(SecretInfo {
            name: "s".into(),
            path: "/s".into(),
            secret_type: "Magic".into()
        })),
        ["spec.driver.secrets[0].secretType"]
    );
}

#[test]
fn mounts_must_name_a_volume() {
    let mount = VolumeMount {
        name: "data".into(),
        mount_path: "/data".into(),
        ..Default::default()
    };
    assert_eq!(
        paths_after(|a| a.spec.executor.pod.volume_mounts.push(mount.clone())),
        ["spec.executor.volumeMounts[0].name"]
    );
    assert!(
        paths_after(|a| {
            a.spec.volumes.push(Volume {
                name: "data".into(),
                ..Default::default()
            });
            a.spec.executor.pod.volume_mounts.push(mount.clone());
        })
        .is_empty()
    );
}

#[test]
fn ports_and_service_types() {
    assert_eq!(
        paths_after(|a| {
            a.spec.driver.ports.push(Port {
                name: "p".into(),
                protocol: "HTTP".into(),
                container_port: 70000,
            });
            a.spec.spark_ui_options = Some(SparkUiConfiguration {
                service_type: Some("Public".into()),
                ..Default::default()
            });
        }),
        [
            "spec.driver.ports[0].containerPort",
            "spec.driver.ports[0].protocol",
            "spec.sparkUIOptions.serviceType"
        ]
    );
}

/// What the real spark-submit of Spark 4.0.1 does with each (instances, dynamic allocation).
#[test]
fn executor_instances_as_spark_submit_accepts_them() {
    let with = |instances: Option<i32>, conf: &[(&str, &str)], dynamic: Option<bool>| {
        paths_after(|a| {
            a.spec.executor.instances = instances;
            a.spec.spark_conf = conf
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            a.spec.dynamic_allocation = dynamic.map(|enabled| DynamicAllocation {
                enabled: Some(enabled),
                ..Default::default()
            });
        })
    };
    let instances = ["spec.executor.instances"];
    let none: [&str; 0] = [];
    // Refused: "Number of executors must be a positive number".
    assert_eq!(with(Some(0), &[], None), instances);
    assert_eq!(with(Some(0), &[], Some(false)), instances);
    assert_eq!(
        with(
            Some(0),
            &[("spark.dynamicAllocation.enabled", "false")],
            None
        ),
        instances
    );
    assert_eq!(with(Some(-1), &[], None), instances);
    // Dynamic allocation, from the spec or sparkConf in any case, lifts the check.
    assert_eq!(with(Some(0), &[], Some(true)), none);
    assert_eq!(
        with(
            Some(0),
            &[("spark.dynamicAllocation.enabled", "TRUE")],
            None
        ),
        none
    );
    assert_eq!(
        with(
            Some(0),
            &[("spark.dynamicAllocation.enabled", "true")],
            Some(false)
        ),
        none
    );
    // A negative count is never meant, even where spark-submit does not look.
    assert_eq!(with(Some(-1), &[], Some(true)), instances);
    assert_eq!(with(Some(1), &[], None), none);
    assert_eq!(with(None, &[], None), none);

    // sparkConf's count is spark-submit's when the spec has none, and is overridden otherwise.
    let conf_path = ["spec.sparkConf[spark.executor.instances]"];
    assert_eq!(
        with(None, &[("spark.executor.instances", "0")], None),
        conf_path
    );
    assert_eq!(
        with(None, &[("spark.executor.instances", "two")], None),
        conf_path
    );
    assert_eq!(with(None, &[("spark.executor.instances", "3")], None), none);
    assert_eq!(
        with(None, &[("spark.executor.instances", "0")], Some(true)),
        none
    );
    assert_eq!(
        with(Some(2), &[("spark.executor.instances", "0")], None),
        none
    );

    let mut app = spark_pi();
    app.spec.executor.instances = Some(0);
    let message = validate_application(&app)[0].to_string();
    assert!(
        message.contains("spark-submit refuses")
            && message.contains("1 or more")
            && message.contains("dynamicAllocation"),
        "{message}"
    );
}

#[test]
fn dynamic_allocation_bounds() {
    assert_eq!(
        paths_after(|a| {
            a.spec.dynamic_allocation = Some(DynamicAllocation {
                enabled: Some(true),
                min_executors: Some(5),
                max_executors: Some(2),
                ..Default::default()
            })
        }),
        ["spec.dynamicAllocation.minExecutors"]
    );
}

#[test]
fn overhead_factor_ttl_gpu_and_packages() {
    assert_eq!(
        paths_after(|a| {
            a.spec.memory_overhead_factor = Some("ten percent".into());
            a.spec.time_to_live_seconds = Some(-1);
            a.spec.executor.pod.gpu = Some(GpuSpec {
                name: "nvidia.com/gpu".into(),
                quantity: 0,
            });
            a.spec.deps = Some(Dependencies {
                packages: vec!["org.example:lib".into()],
                ..Default::default()
            });
        }),
        [
            "spec.executor.gpu.quantity",
            "spec.memoryOverheadFactor",
            "spec.timeToLiveSeconds",
            "spec.deps.packages[0]"
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = validate_application(&{
        let mut a = spark_pi();
        a.spec.driver.pod.memory = Some("512x".into());
        a.spec.executor.pod.cores = Some(0);
        a.spec.main_class = None;
        a
    });
    assert_eq!(errors.len(), 3, "{}", describe(&errors));
    assert!(errors.iter().all(|e| !e.message.is_empty()));
}

fn scheduled(schedule: &str, zone: Option<&str>) -> ScheduledSparkApplication {
    let mut s = ScheduledSparkApplication::new(
        "nightly",
        ScheduledSparkApplicationSpec {
            schedule: schedule.into(),
            time_zone: zone.map(Into::into),
            template: spark_pi().spec,
            ..Default::default()
        },
    );
    s.metadata.namespace = Some("default".into());
    s
}

#[test]
fn scheduled_rules() {
    let paths = |s: &ScheduledSparkApplication| -> Vec<String> {
        validate_scheduled(s).into_iter().map(|e| e.path).collect()
    };
    assert!(paths(&scheduled("*/5 * * * *", Some("Europe/Berlin"))).is_empty());
    assert_eq!(paths(&scheduled("every day", None)), ["spec.schedule"]);
    assert_eq!(
        paths(&scheduled("@daily", Some("Moon/Base"))),
        ["spec.timeZone"]
    );
    let mut s = scheduled("@daily", None);
    s.spec.successful_run_history_limit = Some(-1);
    s.spec.template.executor.pod.cores = Some(0);
    s.metadata.name = Some("n".repeat(46));
    assert_eq!(
        paths(&s),
        [
            "metadata.name",
            "spec.successfulRunHistoryLimit",
            "spec.template.executor.cores"
        ]
    );
}

#[test]
fn an_unknown_pull_policy_is_refused_by_the_typed_rules_as_by_the_json_ones() {
    let typed = {
        let mut app = spark_pi();
        app.spec.image_pull_policy = Some("Whenever".into());
        validate_application(&app)
    };
    let mut json = serde_json::to_value(spark_pi()).unwrap();
    json["spec"]["imagePullPolicy"] = "Whenever".into();
    assert_eq!(typed, validate_application_json(&json));
    assert_eq!(typed.len(), 1);
    assert_eq!(typed[0].path, "spec.imagePullPolicy");
    assert!(typed[0].message.contains("Always, IfNotPresent, Never"));
}

#[test]
fn image_references_and_service_accounts_a_cluster_would_refuse() {
    let paths = paths_after(|app| {
        app.spec.image = Some("apache/spärk:4".into());
        app.spec.executor.pod.image = Some("Apache/Spark".into());
        app.spec.driver.pod.service_account = Some("spark_driver".into());
        app.spec.executor.pod.service_account = Some("sérvice".into());
    });
    assert_eq!(
        paths,
        [
            "spec.image",
            "spec.executor.image",
            "spec.driver.serviceAccount",
            "spec.executor.serviceAccount"
        ]
    );
}
