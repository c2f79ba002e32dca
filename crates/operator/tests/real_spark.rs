//! Real Spark on the local cluster: the operator submits natively, the local cluster runs the
//! driver as a Spark process (`spark-submit` in client mode, as the Spark image does), the driver
//! creates its executor pods through the API server and the runtime runs those as processes
//! too. The answers come from Spark's own output.

use testkit::real_spark::{RealSpark, pi_from, registered_executors};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_pi_computes_pi_with_an_executor_that_spark_created() {
    let Some(spark) = RealSpark::start().await else {
        return;
    };
    let (name, app, log) = spark.run_completed("spark-pi-python.yaml").await;

    let pi = pi_from(&log);
    assert!(
        (pi - std::f64::consts::PI).abs() < 0.05,
        "Pi is roughly {pi}"
    );
    let driver = app
        .status
        .as_ref()
        .and_then(|s| s.driver_info.pod_name.clone())
        .unwrap_or_default();
    let kubectl_log = spark.kubectl().ok(&["logs", &driver]).await;
    assert!(
        kubectl_log.contains(&format!("Pi is roughly {pi:.6}")),
        "kubectl logs {driver}:\n{kubectl_log}"
    );

    let status = app.status.as_ref().expect("status");
    let executors = &status.executor_state;
    assert_eq!(executors.len(), 1, "executor states: {executors:?}");
    assert_eq!(registered_executors(&log), 1, "driver log:\n{log}");
    assert!(
        executors
            .keys()
            .all(|pod| pod.starts_with(&format!("{name}-"))),
        "executor pods named by Spark after the application: {executors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_reads_a_mounted_file_and_counts_its_words() {
    let Some(spark) = RealSpark::start().await else {
        return;
    };
    let (_, _, log) = spark.run_completed("spark-wordcount-python.yaml").await;
    let count = |word: &str| {
        log.lines()
            .find_map(|line| line.strip_prefix(&format!("{word}: ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert_eq!(count("spark"), Some(3), "driver log:\n{log}");
    assert_eq!(count("runs"), Some(2));
    assert_eq!(count("kubernetes"), Some(1));
    assert_eq!(count("words"), Some(1));
    assert!(registered_executors(&log) >= 1, "driver log:\n{log}");
}
