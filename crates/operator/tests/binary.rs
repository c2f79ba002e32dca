//! The `spark-operator` binary as users run it: `controller start` against a cluster found
//! through KUBECONFIG.

use std::process::{Command, Stdio};
use std::time::Duration;

use spark_operator_api::ApplicationStateType as State;
use testkit::fixtures::spark_pi;
use testkit::{Env, scratch};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

#[tokio::test]
async fn controller_start_runs_against_the_kubeconfig_cluster_and_stops_on_sigterm() {
    let env = Env::without_operator().await;
    let scratch = scratch("controller-start");
    let dir = scratch.path();
    env.cluster
        .write_kubeconfig(&dir.join("kubeconfig"))
        .unwrap();
    let mut operator = tokio::process::Command::new(BINARY)
        .args([
            "controller",
            "start",
            "--namespaces",
            "default",
            "--controller-threads",
            "4",
            "--log-format",
            "json",
        ])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    env.create(&spark_pi(
        "from-binary",
        r#""localcluster/run-seconds": "0.2""#,
        "",
    ))
    .await;
    env.wait_for("from-binary", State::Completed, 60).await;

    let pid = operator.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(15), operator.wait())
        .await
        .expect("the operator stops within 15s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
