//! Every example of `examples/` (each of Kubeflow's examples has its counterpart there) applied
//! with the real `kubectl` to a local cluster with the operator running: each SparkApplication
//! runs to COMPLETED (simulated pods: the jars and agents the examples name are not on this
//! machine), and the schedule is taken up. `validate_command.rs` checks that all of them pass
//! `spark-operator validate`.

use std::path::PathBuf;

use kube::Api;
use serde_json::Value;
use spark_operator_api::{ApplicationStateType as State, ScheduleState, ScheduledSparkApplication};
use testkit::env::Env;
use testkit::{repository, within};

/// Examples that need what this test's operator does not run: a batch scheduler (Volcano,
/// YuniKorn, or a second kube-scheduler selected through `--enable-batch-scheduler`), or a
/// Spark Connect server.
const NOT_RUN_HERE: &[&str] = &[
    "spark-pi-volcano.yaml",
    "spark-pi-yunikorn.yaml",
    "spark-pi-kube-scheduler.yaml",
    "spark-connect.yaml",
];

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repository().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The names of the objects of `kind` in `file`.
fn names_of(file: &PathBuf, kind: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("example readable");
    spark_operator_api::documents::parse(&text)
        .expect("example parses")
        .into_iter()
        .filter(|d: &Value| d["kind"] == kind)
        .filter_map(|d| d["metadata"]["name"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_runs_on_the_local_cluster() {
    let env = Env::start().await;
    let kubectl = env.kubectl("examples");
    let mut applications = Vec::new();
    let mut schedules = Vec::new();
    for file in examples() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if NOT_RUN_HERE.contains(&name.as_str()) {
            continue;
        }
        let (ok, output) = kubectl.run(&["apply", "-f", file.to_str().unwrap()]).await;
        assert!(ok, "{name}: {output}");
        applications.extend(names_of(&file, "SparkApplication"));
        schedules.extend(names_of(&file, "ScheduledSparkApplication"));
    }
    assert!(applications.len() >= 12, "{applications:?}");
    for app in &applications {
        env.wait_for(app, State::Completed, 120).await;
    }
    let api: Api<ScheduledSparkApplication> = Api::namespaced(env.client.clone(), "default");
    for schedule in &schedules {
        let scheduled = within(30, || async {
            let status = api.get(schedule).await.ok()?.status?;
            (status.schedule_state == ScheduleState::Scheduled && status.next_run.is_some())
                .then_some(())
        })
        .await;
        assert!(scheduled.is_some(), "{schedule} not scheduled");
    }
    assert!(!schedules.is_empty());
}
