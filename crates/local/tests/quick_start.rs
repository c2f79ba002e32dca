//! The `spark-local` binary as a new user runs it: the quick start's command, to COMPLETED and to
//! FAILED.

use std::process::Command;

use testkit::fixtures::spark_pi;
use testkit::{repository, scratch};

const BINARY: &str = env!("CARGO_BIN_EXE_spark-local");

#[test]
fn runs_the_example_to_completed() {
    let scratch = scratch("completed");
    let dir = scratch.path();
    let output = Command::new(BINARY)
        .args(["--simulated", "--timeout-seconds", "60"])
        .arg(repository().join("examples/spark-pi.yaml"))
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
fn exits_non_zero_when_the_application_fails() {
    let scratch = scratch("fails");
    let dir = scratch.path();
    let file = dir.join("failing.yaml");
    // Its driver runs as `spark`, which the file makes, as a user whose applications use their
    // own service account does.
    let app = spark_pi(
        "doomed",
        r#""localcluster/run-seconds": "0.2", "localcluster/exit-code": "2""#,
        "",
    );
    let account =
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: spark, namespace: default}\n";
    std::fs::write(&file, format!("{account}---\n{app}")).unwrap();
    let output = Command::new(BINARY)
        .arg("--simulated")
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
