//! `sparkctl` on an application that real Spark ran on the local cluster: the log it shows is
//! Spark's own, and the status lists the executor Spark created. And a real Spark Connect
//! server on the local cluster, queried by a `pyspark[connect]` client through
//! `sparkctl connect forward`.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use testkit::real_spark::{RealSpark, pi_from, registered_executors};
use tokio::io::{AsyncBufReadExt, BufReader};

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

/// A Spark Connect client: Python with `pyspark[connect]` (`.ci/run` installs it), or `None`
/// (with a notice) without it, unless `REQUIRE_SPARK` is set.
fn connect_client() -> Option<&'static str> {
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyspark.sql.connect.session, grpc, pandas, pyarrow",
        ])
        .output();
    match probe {
        Ok(output) if output.status.success() => Some("python3"),
        outcome => {
            let why = match outcome {
                Ok(output) => String::from_utf8_lossy(&output.stderr).into_owned(),
                Err(error) => error.to_string(),
            };
            assert!(
                std::env::var_os("REQUIRE_SPARK").is_none(),
                "REQUIRE_SPARK is set but the Spark Connect client is missing \
                 (pip install 'pyspark[connect]==4.0.1'): {why}"
            );
            eprintln!("skipping: no Spark Connect client (pip install 'pyspark[connect]==4.0.1')");
            None
        }
    }
}

/// What the client runs: a sum over a million rows, which the server plans and its executors
/// compute.
const CLIENT: &str = r#"
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
total = spark.range(1, 1_000_001).selectExpr("sum(id) AS total").collect()[0]["total"]
print(f"SUM={total}", flush=True)
spark.stop()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spark_connect_client_queries_through_sparkctl_forward_on_executors_the_server_made() {
    let Some(spark) = RealSpark::start().await else {
        return;
    };
    let Some(python) = connect_client() else {
        return;
    };
    let connect = spark.connect_ready("spark-connect.yaml").await;
    let name = connect.name_any();

    // `sparkctl connect forward`: a local port to the server's gRPC port, through the API server.
    let mut forward = tokio::process::Command::new(SPARKCTL)
        .args(["connect", "forward", &name, "-p", "0"])
        .env("KUBECONFIG", spark.kubeconfig())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("sparkctl connect forward runs");
    let mut lines = BufReader::new(forward.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("Clients connect to ") {
                return url.to_string();
            }
        }
        panic!("sparkctl connect forward ended without a URL");
    })
    .await
    .expect("sparkctl connect forward listens");
    assert!(url.starts_with("sc://127.0.0.1:"), "{url}");

    let scratch = testkit::scratch("spark-connect-client");
    let script = scratch.path().join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let client = tokio::process::Command::new(python)
        .arg(&script)
        .arg(&url)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), client)
        .await
        .expect("the query ends within 240 s")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let server_log = sparkctl(&spark, &["connect", "log", &name]);
    assert!(
        output.status.success() && stdout.contains("SUM=500000500000"),
        "client: {stdout}{}\nserver log:\n{server_log}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The query ran on an executor the server created through the API server.
    let pods: Api<Pod> = Api::default_namespaced(spark.client());
    let selector = format!(
        "sparkoperator.k8s.io/connect-name={name},sparkoperator.k8s.io/launched-by-spark-operator=true,spark-role=executor"
    );
    let executors = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items;
    assert!(!executors.is_empty(), "no executor pods");
    for executor in &executors {
        let owner = &executor.owner_references()[0];
        assert_eq!(owner.name, format!("{name}-server"), "{owner:?}");
        let creator = executor
            .managed_fields()
            .first()
            .and_then(|f| f.manager.clone());
        assert_eq!(creator.as_deref(), Some("fabric8-kubernetes-client"));
    }
    assert!(
        registered_executors(&server_log) >= 1,
        "server log:\n{server_log}"
    );
    let executor_log = sparkctl(&spark, &["connect", "log", &name, "-e", "1"]);
    assert!(
        executor_log.contains("Finished task"),
        "executor 1 ran no task:\n{executor_log}"
    );
    let status = sparkctl(&spark, &["connect", "status", &name]);
    assert!(
        status.contains("Ready") && status.contains(&format!("{name}-exec-1")),
        "{status}"
    );
    forward.kill().await.ok();
}
