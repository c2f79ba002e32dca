//! The `spark-operator` binary as users run it: `run-local` (the quick start) and
//! `controller start` against a cluster found through KUBECONFIG.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Env, spark_pi};
use spark_operator_api::ApplicationStateType as State;

const BINARY: &str = env!("CARGO_BIN_EXE_spark-operator");

/// A directory of the test's own, removed when the test ends (passed or failed).
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("spark-operator-test-{name}-"))
        .tempdir()
        .unwrap()
}

fn workspace_file(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn run_local_runs_the_example_to_completed() {
    let scratch = scratch("run-local");
    let dir = scratch.path();
    let output = Command::new(BINARY)
        .args([
            "run-local",
            "--simulated",
            &workspace_file("examples/spark-pi.yaml"),
            "--timeout-seconds",
            "60",
        ])
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for state in ["SUBMITTED", "RUNNING", "COMPLETED"] {
        assert!(stdout.contains(state), "{state} not shown:\n{stdout}");
    }
    assert!(
        dir.join("kubeconfig").exists(),
        "the kubeconfig for kubectl is written"
    );
}

#[test]
fn run_local_exits_non_zero_when_the_application_fails() {
    let scratch = scratch("run-local-fails");
    let dir = scratch.path();
    let file = dir.join("failing.yaml");
    std::fs::write(
        &file,
        spark_pi(
            "doomed",
            r#""localcluster/run-seconds": "0.2", "localcluster/exit-code": "2""#,
            "",
        ),
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args(["run-local", "--simulated"])
        .arg(&file)
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("doomed FAILED") && stderr.contains("ExitCode: 2"),
        "{stderr}"
    );
}

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
