//! Spark's own `spark-submit` (Spark 4.0.1, fabric8 7.x) in cluster mode against the local cluster
//! with its simulated nodes, waiting for the application as it does by default
//! (`spark.kubernetes.submission.waitAppCompletion=true`): it creates the driver pod, then the
//! driver's Service and ConfigMap owned by that pod, watches the pod over a WebSocket and returns
//! once the simulated kubelet has ended the driver.
//!
//! Needs Spark: `SPARK_HOME`, or `pip install pyspark==4.0.1` (CI installs it). Without it the test
//! is skipped with a notice.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use localcluster::LocalCluster;
use localcluster::simulation::{self, NodesConfig};
use testkit::cluster;

/// Spark's installation as the operator finds it: `SPARK_HOME`, else the installed pyspark.
fn find_spark_home() -> Result<PathBuf, String> {
    let has_submit = |dir: &Path| dir.join("bin").join("spark-submit").is_file();
    if let Some(dir) = std::env::var_os("SPARK_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_submit(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "SPARK_HOME={} has no bin/spark-submit",
                dir.display()
            ))
        };
    }
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, pyspark; print(os.path.dirname(pyspark.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .map_err(|error| format!("SPARK_HOME is not set and python3 cannot run: {error}"))?;
    let dir = PathBuf::from(String::from_utf8_lossy(&probe.stdout).trim());
    if probe.status.success() && has_submit(&dir) {
        Ok(dir)
    } else {
        Err("SPARK_HOME is not set and python3 cannot import pyspark".into())
    }
}

/// What one `spark-submit` run left behind.
struct Submitted {
    exit_code: Option<i32>,
    output: String,
    /// When spark-submit had exited.
    exited_at: jiff::Timestamp,
}

async fn submit(
    spark_home: &Path,
    kubeconfig: &Path,
    cluster: &LocalCluster,
    driver: &str,
    exit_code: u8,
) -> Submitted {
    let annotation = "spark.kubernetes.driver.annotation.localcluster";
    let confs = [
        "spark.kubernetes.submission.waitAppCompletion=true".to_string(),
        "spark.kubernetes.container.image=apache/spark:4.0.1".to_string(),
        format!("spark.kubernetes.driver.pod.name={driver}"),
        "spark.kubernetes.report.interval=1s".to_string(),
        format!("{annotation}/run-seconds=2"),
        format!("{annotation}/exit-code={exit_code}"),
    ];
    let mut command = tokio::process::Command::new(spark_home.join("bin/spark-submit"));
    command
        .arg("--master")
        .arg(format!("k8s://{}", cluster.url()))
        .args(["--deploy-mode", "cluster", "--name", driver]);
    for conf in &confs {
        command.args(["--conf", conf]);
    }
    let output = command
        .args([
            "--class",
            "org.apache.spark.examples.SparkPi",
            "local:///opt/spark/examples/jars/spark-examples.jar",
        ])
        .env("SPARK_HOME", spark_home)
        .env("KUBECONFIG", kubeconfig)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .expect("spark-submit returns within 180s")
        .expect("spark-submit runs");
    Submitted {
        exit_code: output.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        exited_at: jiff::Timestamp::now(),
    }
}

/// The driver's phase and when its container ended, read after spark-submit returned.
async fn ended_driver(client: &Client, name: &str) -> (String, jiff::Timestamp, i32) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = pods.get(name).await.expect("the driver pod exists");
    let status = pod.status.unwrap_or_default();
    let terminated = status
        .container_statuses
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| c.state.and_then(|s| s.terminated))
        .expect("the driver's container has terminated");
    let finished = terminated
        .finished_at
        .expect("a terminated container has finishedAt")
        .0;
    (
        status.phase.unwrap_or_default(),
        finished,
        terminated.exit_code,
    )
}

/// Checks the Service and the `spark.properties` ConfigMap spark-submit made for a driver are owned
/// by the driver pod, so deleting the pod deletes them.
async fn assert_owned_by_driver(client: &Client, driver: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let uid = pods.get(driver).await.unwrap().uid().unwrap();
    let owned_by_driver =
        |owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
            owners
                .iter()
                .any(|o| o.kind == "Pod" && o.name == driver && o.uid == uid)
        };
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let services = services.list(&ListParams::default()).await.unwrap();
    let service = services
        .items
        .iter()
        .find(|s| owned_by_driver(s.owner_references()))
        .unwrap_or_else(|| panic!("no Service owned by {driver}"));
    assert_eq!(
        service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()),
        Some("None"),
        "the driver's Service is headless"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let config_maps = config_maps.list(&ListParams::default()).await.unwrap();
    let properties = config_maps
        .items
        .iter()
        .filter(|c| owned_by_driver(c.owner_references()))
        .find_map(|c| c.data.as_ref()?.get("spark.properties"))
        .unwrap_or_else(|| panic!("no spark.properties ConfigMap owned by {driver}"));
    assert!(
        properties.contains(&format!("spark.kubernetes.driver.pod.name={driver}")),
        "{properties}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spark_submit_waits_for_the_driver_to_end() {
    let spark_home = match find_spark_home() {
        Ok(home) => home,
        Err(error) => {
            eprintln!("SKIPPED spark_submit_waits_for_the_driver_to_end: {error}");
            return;
        }
    };
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let simulated = tokio::spawn(simulation::run(client.clone(), NodesConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).unwrap();

    // Two JVMs at once: each mostly waits for its driver.
    let (succeeded, failed) = tokio::join!(
        submit(&spark_home, &kubeconfig, &cluster, "pi-ok-driver", 0),
        submit(&spark_home, &kubeconfig, &cluster, "pi-failing-driver", 3),
    );

    assert_eq!(succeeded.exit_code, Some(0), "{}", succeeded.output);
    let (phase, finished, code) = ended_driver(&client, "pi-ok-driver").await;
    assert_eq!((phase.as_str(), code), ("Succeeded", 0));
    assert!(
        finished <= succeeded.exited_at,
        "spark-submit returned at {} before the driver ended at {finished}",
        succeeded.exited_at
    );
    assert!(
        succeeded.output.contains("phase: Succeeded")
            && succeeded
                .output
                .contains("submission ID default:pi-ok-driver finished"),
        "{}",
        succeeded.output
    );
    assert_owned_by_driver(&client, "pi-ok-driver").await;

    // Spark 4.0.1 reports a failed driver in its output but still exits 0: waitAppCompletion only
    // waits, it does not turn the driver's exit code into spark-submit's.
    assert_eq!(failed.exit_code, Some(0), "{}", failed.output);
    let (phase, finished, code) = ended_driver(&client, "pi-failing-driver").await;
    assert_eq!((phase.as_str(), code), ("Failed", 3));
    assert!(finished <= failed.exited_at);
    assert!(
        failed.output.contains("phase: Failed") && failed.output.contains("exit code: 3"),
        "{}",
        failed.output
    );
    assert_owned_by_driver(&client, "pi-failing-driver").await;

    simulated.abort();
    cluster.shutdown().await;
}
