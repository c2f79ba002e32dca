//! `sparkctl` on an application that real Spark ran on the local cluster: the log it shows is
//! Spark's own, and the status lists the executor Spark created.

use testkit::real_spark::{RealSpark, pi_from};

const SPARKCTL: &str = env!("CARGO_BIN_EXE_sparkctl");

fn sparkctl(spark: &RealSpark, args: &[&str]) -> String {
    let output = std::process::Command::new(SPARKCTL)
        .args(args)
        .env("KUBECONFIG", spark.kubeconfig())
        .env("NO_COLOR", "1")
        .output()
        .expect("sparkctl runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sparkctl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_shows_what_spark_printed_and_status_the_executor_it_created() {
    let Some(spark) = RealSpark::start().await else {
        return;
    };
    let (name, app, log) = spark.run_completed("spark-pi-python.yaml").await;
    let pi = pi_from(&log);

    let shown = sparkctl(&spark, &["log", &name]);
    assert!(
        shown.contains(&format!("Pi is roughly {pi:.6}")),
        "sparkctl log {name}:\n{shown}"
    );
    let status = sparkctl(&spark, &["status", &name]);
    let executor = app
        .status
        .as_ref()
        .and_then(|s| s.executor_state.keys().next().cloned())
        .expect("an executor in the status");
    assert!(
        status.contains("COMPLETED") && status.contains(&executor),
        "sparkctl status {name}:\n{status}"
    );
}
