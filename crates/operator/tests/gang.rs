//! Gang scheduling end to end on the local cluster with its batch schedulers installed: the
//! PodGroups Volcano and scheduler-plugins wait on, made as Kubeflow makes them, gone when the
//! application ends; gangs that do not both fit run one after the other; YuniKorn's task groups;
//! the driver's PodDisruptionBudget; and a clear failure where the cluster has no Volcano.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use localcluster::simulation::NodesConfig;
use localcluster::simulation::gang::BatchScheduler;
use serde_json::Value;
use spark_operator::submission::gang::BatchScheduling;
use spark_operator_api::{
    ApplicationStateType as State, BatchSchedulerConfiguration, SparkApplication,
};
use std::collections::BTreeSet;
use testkit::fixtures::SparkApplicationFixture;

use testkit::rbac::{Permission, chart_grants, permission};
use testkit::{Env, Mode};

const COSCHEDULER: &str = "scheduler-plugins-scheduler";

fn installed(nodes: NodesConfig) -> NodesConfig {
    NodesConfig {
        batch_schedulers: vec![
            BatchScheduler::Volcano,
            BatchScheduler::YuniKorn,
            BatchScheduler::Coscheduling(COSCHEDULER.into()),
        ],
        ..nodes
    }
}

/// The operator's settings with batch scheduling and driver budgets on.
fn gang_scheduling(env: &Env) -> spark_operator::config::ControllerConfig {
    let mut config = env.config();
    config.batch_scheduling = BatchScheduling {
        enabled: true,
        default_scheduler: None,
        kube_scheduler_names: vec![COSCHEDULER.into()],
    };
    config.enable_driver_pdb = true;
    config
}

/// A cluster with Volcano, YuniKorn and a coscheduling scheduler, and an operator that
/// gang-schedules with them and protects drivers, in `mode`.
async fn env_with_schedulers(mode: Mode, nodes: NodesConfig) -> Option<Env> {
    let mut env = Env::without_operator_in_with_nodes(mode, installed(nodes)).await?;
    let config = gang_scheduling(&env);
    env.start_operator_with(config);
    Some(env)
}

fn pod_groups(env: &Env, group: &str, version: &str) -> Api<DynamicObject> {
    let kind = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, "PodGroup"),
        "podgroups",
    );
    Api::namespaced_with(env.client.clone(), "default", &kind)
}

/// Waits until the object `name` exists; returns it.
async fn made<K>(api: &Api<K>, name: &str, seconds: u64) -> K
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    testkit::eventually(seconds, || async { api.get_opt(name).await.ok().flatten() }).await
}

/// Waits until the object `name` is gone.
async fn until_gone<K>(api: &Api<K>, name: &str)
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    testkit::eventually(20, || async {
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .is_none()
            .then_some(())
    })
    .await;
}

fn gang(name: &str, scheduler: &str) -> SparkApplication {
    SparkApplication::spark_pi(name).runs_for("3").with(|app| {
        app.spec.batch_scheduler = Some(scheduler.into());
        app.spec.batch_scheduler_options = Some(BatchSchedulerConfiguration {
            queue: Some("spark".into()),
            priority_class_name: Some("batch-high".into()),
            ..Default::default()
        });
        app.spec.driver_pod_disruption_budget = Some(true);
    })
}

/// A PodGroup while the application runs, named, sized and owned as Kubeflow's, and gone after.
async fn pod_group_lives_with_the_application(
    env: &Env,
    app: &str,
    (group, version, name): (&str, &str, &str),
) -> Value {
    let groups = pod_groups(env, group, version);
    let stored = serde_json::to_value(made(&groups, name, env.mode.patience(20)).await).unwrap();
    assert_eq!(stored["metadata"]["ownerReferences"][0]["name"], app);
    assert_eq!(stored["spec"]["minMember"], 1);
    assert_eq!(
        stored["spec"]["minResources"],
        serde_json::json!({"cpu": "3", "memory": "2688Mi"}),
        "the driver and two executors, each 1 CPU and 512m with Spark's 384 MiB overhead"
    );
    env.wait_for(app, State::Completed, 60).await;
    until_gone(&groups, name).await;
    stored
}

testkit::in_both_modes!(
    a_volcano_application_waits_on_its_pod_group,
    a_coscheduled_application_waits_on_its_pod_group,
    a_yunikorn_driver_carries_its_task_groups,
);

async fn a_volcano_application_waits_on_its_pod_group(mode: Mode) {
    let Some(env) = env_with_schedulers(mode, NodesConfig::default()).await else {
        return;
    };
    env.create(&gang("vc", "volcano").to_yaml()).await;
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(env.client.clone(), "default");
    let driver = made(&env.pods(), "vc-driver", env.mode.patience(20)).await;
    let annotations = driver.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations["scheduling.k8s.io/group-name"], "spark-vc-pg");
    assert_eq!(
        driver.spec.as_ref().unwrap().scheduler_name.as_deref(),
        Some("volcano")
    );
    let budget = made(&budgets, "vc-driver", 10).await;
    let budget_spec = budget.spec.unwrap();
    assert_eq!(
        budget_spec.min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );
    let group = pod_group_lives_with_the_application(
        &env,
        "vc",
        ("scheduling.volcano.sh", "v1beta1", "spark-vc-pg"),
    )
    .await;
    assert_eq!(group["spec"]["queue"], "spark");
    assert_eq!(group["spec"]["priorityClassName"], "batch-high");
    // The executors were placed in the group too.
    let executors = env.pod_names("vc", "executor").await;
    assert!(!executors.is_empty(), "the driver made executors");
    until_gone(&budgets, "vc-driver").await;
}

async fn a_coscheduled_application_waits_on_its_pod_group(mode: Mode) {
    let Some(env) = env_with_schedulers(mode, NodesConfig::default()).await else {
        return;
    };
    env.create(&gang("co", COSCHEDULER).to_yaml()).await;
    let driver = made(&env.pods(), "co-driver", env.mode.patience(20)).await;
    let labels = driver.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["scheduling.x-k8s.io/pod-group"], "co-pg");
    assert_eq!(
        driver.spec.as_ref().unwrap().scheduler_name.as_deref(),
        Some(COSCHEDULER)
    );
    pod_group_lives_with_the_application(&env, "co", ("scheduling.x-k8s.io", "v1alpha1", "co-pg"))
        .await;
}

async fn a_yunikorn_driver_carries_its_task_groups(mode: Mode) {
    let Some(env) = env_with_schedulers(mode, NodesConfig::default()).await else {
        return;
    };
    env.create(&gang("yk", "yunikorn").to_yaml()).await;
    let driver = made(&env.pods(), "yk-driver", env.mode.patience(20)).await;
    let annotations = driver.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations["yunikorn.apache.org/task-group-name"],
        "spark-driver"
    );
    let groups: Value =
        serde_json::from_str(&annotations["yunikorn.apache.org/task-groups"]).unwrap();
    assert_eq!(
        groups,
        serde_json::json!([
            {"name": "spark-driver", "minMember": 1, "minResource": {"cpu": "1", "memory": "896Mi"}},
            {"name": "spark-executor", "minMember": 2, "minResource": {"cpu": "1", "memory": "896Mi"}},
        ]),
        "Kubeflow's figures for Spark Pi"
    );
    assert_eq!(driver.metadata.labels.unwrap_or_default()["queue"], "spark");
    env.wait_for("yk", State::Completed, 60).await;
}

/// One node with room for one gang at a time: the second application's driver waits, with its
/// group named, instead of starting beside the first and waiting for executors for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gangs_that_do_not_both_fit_run_one_after_the_other() {
    let one_node = NodesConfig {
        count: 1,
        cpu: 4,
        memory_gib: 16,
        ..NodesConfig::default()
    };
    let env = env_with_schedulers(Mode::Native, one_node).await.unwrap();
    env.create(&gang("first", "volcano").to_yaml()).await;
    testkit::eventually(20, || async {
        let phase = env
            .pods()
            .get_opt("first-driver")
            .await
            .ok()??
            .status?
            .phase?;
        (phase == "Running").then_some(())
    })
    .await;
    env.create(&gang("second", "volcano").to_yaml()).await;
    let waiting = testkit::eventually(20, || async {
        let status = env.pods().get_opt("second-driver").await.ok()??.status?;
        let condition = status
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        condition
            .message
            .filter(|m| m.contains("default/spark-second-pg"))
    })
    .await;
    assert!(waiting.contains("minResources"), "{waiting}");
    let second = env.app("second").await.unwrap();
    assert_eq!(
        second.status.unwrap().application_state.state,
        State::Submitted
    );
    env.wait_for("first", State::Completed, 60).await;
    env.wait_for("second", State::Completed, 60).await;
    // The second driver started only once the first application had ended.
    let first_end = env
        .app("first")
        .await
        .unwrap()
        .status
        .unwrap()
        .termination_time
        .unwrap();
    let second_driver_start = env
        .app("second")
        .await
        .unwrap()
        .status
        .unwrap()
        .last_submission_attempt_time
        .unwrap();
    assert!(
        second_driver_start.0 <= first_end.0,
        "submitted while the first ran"
    );
}

#[tokio::test]
async fn a_volcano_application_fails_clearly_where_volcano_is_not_installed() {
    let mut env = Env::without_operator().await;
    let mut config = env.config();
    config.batch_scheduling.enabled = true;
    env.start_operator_with(config);
    let mut app = gang("novc", "volcano");
    app.spec.restart_policy = Default::default();
    env.create(&app.to_yaml()).await;
    env.wait_for("novc", State::Failed, 30).await;
    let message = env
        .app("novc")
        .await
        .unwrap()
        .status
        .unwrap()
        .application_state
        .error_message
        .unwrap_or_default();
    assert!(
        message
            .contains("does not serve PodGroups (scheduling.volcano.sh/v1beta1): install Volcano"),
        "{message}"
    );
    assert!(
        env.pods().get_opt("novc-driver").await.unwrap().is_none(),
        "no driver"
    );
}

/// Least privilege: what the operator calls for gang scheduling and driver budgets is granted by
/// the chart's rules for them, and each of those grants is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_grants_what_gang_scheduling_calls_and_no_more() {
    let mut env = Env::without_operator_with_nodes(installed(NodesConfig::default())).await;
    let http = env.cluster.http_url().expect("plain HTTP");
    let proxy =
        testkit::proxy::Proxy::start(http.trim_start_matches("http://").parse().unwrap()).await;
    let mut client_config = env.operator_client_config();
    client_config.cluster_url = format!("http://{}", proxy.address).parse().unwrap();
    let client = kube::Client::try_from(client_config).unwrap();
    let config = gang_scheduling(&env);
    env.start_operator_on(client, config);
    env.create(&gang("rbac-vc", "volcano").to_yaml()).await;
    env.create(&gang("rbac-co", COSCHEDULER).to_yaml()).await;
    env.wait_for("rbac-vc", State::Completed, 60).await;
    env.wait_for("rbac-co", State::Completed, 60).await;
    // The ends' deletions come after the state is written.
    let groups = pod_groups(&env, "scheduling.x-k8s.io", "v1alpha1");
    until_gone(&groups, "rbac-co-pg").await;
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(env.client.clone(), "default");
    until_gone(&budgets, "rbac-co-driver").await;
    let used: BTreeSet<Permission> = proxy
        .requests()
        .iter()
        .filter_map(|(method, path)| permission(method, path))
        .collect();
    let gang_grants: BTreeSet<Permission> = ["batch-scheduler-rules.yaml", "driver-pdb-rules.yaml"]
        .iter()
        .flat_map(|f| chart_grants(f))
        .collect();
    let mut granted = chart_grants("operator-rules.yaml");
    granted.extend(gang_grants.iter().cloned());
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(missing.is_empty(), "the chart does not grant {missing:?}");
    let unused: Vec<_> = gang_grants.difference(&used).collect();
    assert!(unused.is_empty(), "granted but never called: {unused:?}");
}
