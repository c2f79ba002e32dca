//! Kubeflow's own test cases of its YuniKorn integration (their figures), and the PodGroups of
//! Volcano and scheduler-plugins.

use serde_json::json;
use spark_operator_api::{
    ApplicationType, BatchSchedulerConfiguration, DynamicAllocation, SparkApplicationSpec,
};

use super::*;

fn scala_pi() -> SparkApplicationSpec {
    let mut spec = SparkApplicationSpec {
        app_type: ApplicationType::Scala,
        ..Default::default()
    };
    spec.driver.pod.cores = Some(1);
    spec.driver.pod.core_limit = Some("1200m".into());
    spec.driver.pod.memory = Some("512m".into());
    spec.executor.instances = Some(2);
    spec.executor.pod.cores = Some(1);
    spec.executor.pod.core_limit = Some("1200m".into());
    spec.executor.pod.memory = Some("512m".into());
    spec.batch_scheduler_options = Some(BatchSchedulerConfiguration {
        queue: Some("root.default".into()),
        ..Default::default()
    });
    spec
}

#[test]
fn yunikorn_task_groups_of_spark_pi() {
    assert_eq!(
        task_groups(&scala_pi()),
        json!([
            {"name": "spark-driver", "minMember": 1, "minResource": {"cpu": "1", "memory": "896Mi"}},
            {"name": "spark-executor", "minMember": 2, "minResource": {"cpu": "1", "memory": "896Mi"}},
        ])
    );
}

#[test]
fn yunikorn_task_groups_with_dynamic_allocation_and_overheads() {
    let mut spec = SparkApplicationSpec {
        app_type: ApplicationType::Python,
        memory_overhead_factor: Some("0.3".into()),
        ..Default::default()
    };
    spec.driver.core_request = Some("2000m".into());
    spec.driver.pod.cores = Some(4);
    spec.driver.pod.memory = Some("8g".into());
    spec.executor.instances = Some(4);
    spec.executor.pod.memory_overhead = Some("2g".into());
    spec.executor.pod.cores = Some(8);
    spec.executor.pod.memory = Some("64g".into());
    spec.dynamic_allocation = Some(DynamicAllocation {
        enabled: Some(true),
        initial_executors: Some(8),
        min_executors: Some(2),
        ..Default::default()
    });
    assert_eq!(
        task_groups(&spec),
        json!([
            {"name": "spark-driver", "minMember": 1, "minResource": {"cpu": "2000m", "memory": "10649Mi"}},
            {"name": "spark-executor", "minMember": 8, "minResource": {"cpu": "8", "memory": "67584Mi"}},
        ])
    );
}

#[test]
fn yunikorn_task_groups_carry_placement() {
    let mut spec = SparkApplicationSpec {
        app_type: ApplicationType::Python,
        node_selector: [("key".to_string(), "value".to_string())].into(),
        ..Default::default()
    };
    spec.driver.pod.cores = Some(1);
    spec.driver.pod.memory = Some("1g".into());
    spec.driver.pod.node_selector = [
        ("key".to_string(), "newvalue".to_string()),
        ("key2".to_string(), "value2".to_string()),
    ]
    .into();
    spec.executor.instances = Some(1);
    spec.executor.pod.cores = Some(1);
    spec.executor.pod.memory = Some("1g".into());
    spec.executor.pod.labels = [("label".to_string(), "value".to_string())].into();
    let groups = task_groups(&spec);
    assert_eq!(
        groups[0]["minResource"],
        json!({"cpu": "1", "memory": "1433Mi"})
    );
    assert_eq!(
        groups[0]["nodeSelector"],
        json!({"key": "newvalue", "key2": "value2"})
    );
    assert_eq!(groups[1]["nodeSelector"], json!({"key": "value"}));
    assert_eq!(groups[1]["labels"], json!({"label": "value"}));
}

#[test]
fn yunikorn_annotates_both_roles_and_labels_the_queue() {
    let mut spec = scala_pi();
    assert_eq!(
        prepare(&Gang::YuniKorn, &mut spec, "pi", "default", json!({})),
        None
    );
    assert_eq!(
        spec.driver.pod.annotations[TASK_GROUP_NAME_ANNOTATION],
        "spark-driver"
    );
    assert_eq!(
        spec.executor.pod.annotations[TASK_GROUP_NAME_ANNOTATION],
        "spark-executor"
    );
    assert!(spec.driver.pod.annotations[TASK_GROUPS_ANNOTATION].contains("spark-executor"));
    assert_eq!(spec.executor.pod.labels["queue"], "root.default");
    assert_eq!(spec.driver.pod.scheduler_name.as_deref(), Some("yunikorn"));
}

#[test]
fn volcano_has_a_pod_group_sized_for_the_whole_application() {
    let mut spec = scala_pi();
    spec.batch_scheduler_options
        .as_mut()
        .unwrap()
        .priority_class_name = Some("high".into());
    let owner = json!({"kind": "SparkApplication", "name": "pi"});
    let group = prepare(&Gang::Volcano, &mut spec, "pi", "jobs", owner.clone()).unwrap();
    assert_eq!(group["apiVersion"], "scheduling.volcano.sh/v1beta1");
    assert_eq!(
        group["metadata"],
        json!({"name": "spark-pi-pg", "namespace": "jobs", "ownerReferences": [owner]})
    );
    assert_eq!(
        group["spec"],
        json!({"minMember": 1, "minResources": {"cpu": "3", "memory": "2688Mi"},
               "queue": "root.default", "priorityClassName": "high"})
    );
    assert_eq!(
        spec.driver.pod.annotations[VOLCANO_GROUP_ANNOTATION],
        "spark-pi-pg"
    );
    assert_eq!(
        spec.executor.pod.annotations[VOLCANO_GROUP_ANNOTATION],
        "spark-pi-pg"
    );
}

#[test]
fn the_options_resources_replace_the_reckoned_ones() {
    let mut spec = scala_pi();
    spec.batch_scheduler_options.as_mut().unwrap().resources = [(
        "cpu".to_string(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity("10".into()),
    )]
    .into();
    let group = prepare(&Gang::Volcano, &mut spec, "pi", "jobs", json!({})).unwrap();
    assert_eq!(group["spec"]["minResources"], json!({"cpu": "10"}));
}

#[test]
fn coscheduling_labels_both_roles_and_names_its_scheduler() {
    let mut spec = scala_pi();
    let gang = Gang::Coscheduling("scheduler-plugins-scheduler".into());
    let group = prepare(&gang, &mut spec, "pi", "jobs", json!({})).unwrap();
    assert_eq!(group["apiVersion"], "scheduling.x-k8s.io/v1alpha1");
    assert_eq!(
        group["metadata"]["name"], "pi-pg",
        "Kubeflow's kubescheduler name"
    );
    assert_eq!(spec.driver.pod.labels[COSCHEDULING_GROUP_LABEL], "pi-pg");
    assert_eq!(
        spec.executor.pod.scheduler_name.as_deref(),
        Some("scheduler-plugins-scheduler")
    );
}

#[test]
fn only_a_known_scheduler_with_batch_scheduling_on_is_a_gang() {
    let mut spec = scala_pi();
    let mut batch = BatchScheduling {
        enabled: false,
        default_scheduler: Some("volcano".into()),
        kube_scheduler_names: vec!["coscheduler".into()],
    };
    assert_eq!(batch.gang_of(&spec), None, "off");
    batch.enabled = true;
    assert_eq!(batch.gang_of(&spec), Some(Gang::Volcano), "the default");
    spec.batch_scheduler = Some("coscheduler".into());
    assert_eq!(
        batch.gang_of(&spec),
        Some(Gang::Coscheduling("coscheduler".into()))
    );
    spec.batch_scheduler = Some("my-scheduler".into());
    assert_eq!(batch.gang_of(&spec), None, "only its schedulerName");
}

#[test]
fn a_volcano_group_the_user_named_is_left_alone() {
    let mut spec = scala_pi();
    spec.driver
        .pod
        .annotations
        .insert(VOLCANO_GROUP_ANNOTATION.into(), "mine".into());
    assert_eq!(
        prepare(&Gang::Volcano, &mut spec, "pi", "jobs", json!({})),
        None
    );
    assert_eq!(
        spec.driver.pod.annotations[VOLCANO_GROUP_ANNOTATION],
        "mine"
    );
    assert!(spec.executor.pod.annotations.is_empty());
}

#[test]
fn yunikorn_executor_memory_counts_pyspark_and_off_heap_memory() {
    let python_pi = |conf: &[(&str, &str)]| {
        let mut spec = scala_pi();
        spec.app_type = ApplicationType::Python;
        spec.spark_conf = conf
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        task_groups(&spec)[1]["minResource"]["memory"].clone()
    };
    let pyspark = ("spark.executor.pyspark.memory", "500m");
    let off_heap = [
        ("spark.memory.offHeap.enabled", "true"),
        ("spark.memory.offHeap.size", "400m"),
    ];
    assert_eq!(python_pi(&[pyspark]), "1396Mi");
    assert_eq!(python_pi(&off_heap), "1296Mi");
    assert_eq!(python_pi(&[pyspark, off_heap[0], off_heap[1]]), "1796Mi");
}
