//! Every file under `examples/` (the only applications the documentation shows) runs on the
//! local cluster as a user would apply it: each SparkApplication to COMPLETED, each
//! ScheduledSparkApplication to a schedule with its next run. Spark pods are simulated;
//! `real_spark.rs` runs the Python examples with real Spark.

use std::path::PathBuf;

use kube::Api;
use localcluster::simulation::NodesConfig;
use spark_operator::submission::gang::BatchScheduling;
use spark_operator_api::{ApplicationStateType, ScheduleState, ScheduledSparkApplication};
use testkit::kubectl::path_arg;
use testkit::{Env, repository, within};

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repository().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The batch schedulers Kubeflow's scheduler examples name, installed as `spark-local` installs
/// them, and an operator that gang-schedules with them.
async fn env_with_batch_schedulers() -> Env {
    let nodes = NodesConfig {
        batch_schedulers: ["volcano", "yunikorn", "coscheduling=kube-scheduler"]
            .iter()
            .map(|s| s.parse().expect("batch scheduler"))
            .collect(),
        ..NodesConfig::default()
    };
    let mut env = Env::without_operator_with_nodes(nodes).await;
    let mut config = env.config();
    config.batch_scheduling = BatchScheduling {
        enabled: true,
        default_scheduler: None,
        kube_scheduler_names: vec!["kube-scheduler".into()],
    };
    env.start_operator_with(config);
    env
}

#[tokio::test]
async fn every_example_runs_on_the_local_cluster() {
    let env = env_with_batch_schedulers().await;
    let kubectl = env.kubectl("examples");
    let mut applications = Vec::new();
    let mut schedules = Vec::new();
    for file in examples() {
        let applied = kubectl
            .ok(&[
                "apply",
                "--server-side",
                "-f",
                path_arg(&file),
                "-o",
                "name",
            ])
            .await;
        for line in applied.lines() {
            if let Some(name) = line.strip_prefix("sparkapplication.sparkoperator.k8s.io/") {
                applications.push(name.to_string());
            } else if let Some(name) =
                line.strip_prefix("scheduledsparkapplication.sparkoperator.k8s.io/")
            {
                schedules.push(name.to_string());
            }
        }
    }
    assert!(applications.len() >= 8, "{applications:?}");
    assert!(
        !schedules.is_empty(),
        "no ScheduledSparkApplication example"
    );
    for name in &applications {
        env.wait_for(name, ApplicationStateType::Completed, 60)
            .await;
    }
    let scheduled: Api<ScheduledSparkApplication> = Api::default_namespaced(env.client.clone());
    for name in &schedules {
        let next_run = within(30, || async {
            let schedule = scheduled.get(name).await.expect("get schedule");
            let status = schedule.status?;
            (status.schedule_state == ScheduleState::Scheduled)
                .then_some(status.next_run)
                .flatten()
        })
        .await;
        assert!(next_run.is_some(), "{name} has no next run");
    }
}
