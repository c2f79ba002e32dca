//! The workload: deterministic SparkApplications (and ConfigMaps for the cluster's ceiling), created
//! by a few concurrent clients, and the watches that see their driver pods and their ends.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

pub const NAMESPACE: &str = "default";
/// The label the operator puts on everything of an application, naming it.
const APP_NAME_LABEL: &str = "sparkoperator.k8s.io/app-name";

/// A new client (its own connection pool) for the cluster of `kubeconfig`.
pub async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

fn app_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    ApiResource::from_gvk_with_plural(&gvk, "sparkapplications")
}

pub fn apps(client: Client) -> Api<DynamicObject> {
    Api::namespaced_with(client, NAMESPACE, &app_resource())
}

fn config_maps(client: Client) -> Api<DynamicObject> {
    Api::namespaced_with(client, NAMESPACE, &ApiResource::erase::<ConfigMap>(&()))
}

/// Name of the `i`th object of a run.
pub fn name(i: usize) -> String {
    format!("bench-{i:05}")
}

/// examples/spark-pi.yaml with a driver that runs for zero seconds and `executors` executors.
pub fn application(name: &str, executors: u32) -> DynamicObject {
    let value = json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "type": "Scala",
            "mode": "cluster",
            "image": "apache/spark:4.0.0",
            "imagePullPolicy": "IfNotPresent",
            "mainClass": "org.apache.spark.examples.SparkPi",
            "mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
            "arguments": ["1000"],
            "sparkVersion": "4.0.0",
            "driver": {
                "cores": 1,
                "memory": "512m",
                "serviceAccount": "spark-operator-spark",
                "annotations": {"localcluster/run-seconds": "0"},
            },
            "executor": {"instances": executors, "cores": 1, "memory": "512m"},
        },
    });
    serde_json::from_value(value).expect("the application is a valid DynamicObject")
}

/// A small ConfigMap, for the write ceiling.
fn config_map(name: &str) -> DynamicObject {
    let value = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"spark.properties": "spark.app.name=bench\nspark.executor.instances=0\n"},
    });
    serde_json::from_value(value).expect("the ConfigMap is a valid DynamicObject")
}

/// Creates objects 0..n, object `i` by client `i % clients.len()`, each client one request at a
/// time. Returns when each create was answered, by index.
pub async fn create_all(
    clients: &[Client],
    n: usize,
    api: fn(Client) -> Api<DynamicObject>,
    object: impl Fn(usize) -> DynamicObject + Clone + Send + 'static,
) -> anyhow::Result<Vec<Instant>> {
    let workers = clients.len().max(1);
    let mut tasks = Vec::new();
    for (k, client) in clients.iter().enumerate() {
        let api = api(client.clone());
        let object = object.clone();
        tasks.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for i in (k..n).step_by(workers) {
                create(&api, &object(i)).await?;
                answered.push((i, Instant::now()));
            }
            anyhow::Ok(answered)
        }));
    }
    let mut times = vec![None; n];
    for task in tasks {
        for (i, at) in task.await?? {
            times[i] = Some(at);
        }
    }
    Ok(times
        .into_iter()
        .map(|t| t.expect("every index created"))
        .collect())
}

/// One create, retried a few times on errors other than "already exists" (a retry of a create
/// whose answer was lost).
async fn create(api: &Api<DynamicObject>, object: &DynamicObject) -> anyhow::Result<()> {
    let mut tries = 0;
    loop {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => return Ok(()),
            Err(error) if tries < 5 => {
                tries += 1;
                eprintln!("create {} failed ({error}); retrying", object.name_any());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error).context(format!("creating {}", object.name_any())),
        }
    }
}

/// ConfigMaps per second that `clients` get into the cluster: `n` creates, first sent to last
/// answered.
pub async fn write_ceiling(clients: &[Client], n: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let answered = create_all(clients, n, config_maps, |i| config_map(&name(i))).await?;
    let last = answered.iter().max().copied().unwrap_or(start);
    Ok(n as f64 / last.duration_since(start).as_secs_f64().max(1e-9))
}

/// The cluster's resourceVersion counter: how many writes it has stored.
pub async fn resource_version(client: &Client) -> anyhow::Result<u64> {
    let list = Api::<Namespace>::all(client.clone())
        .list_metadata(&ListParams::default().limit(1))
        .await?;
    list.metadata
        .resource_version
        .and_then(|rv| rv.parse().ok())
        .context("the list has no numeric resourceVersion")
}

/// Waits until SparkApplications are served (the operator installed the CRD).
pub async fn wait_served(client: &Client, seconds: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        match apps(client.clone())
            .list(&ListParams::default().limit(1))
            .await
        {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                bail!("SparkApplications not served within {seconds}s: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// What the bench's watches saw, by application name: when its driver pod first arrived, and when
/// it ended and whether it COMPLETED.
#[derive(Debug, Default)]
pub struct Observed {
    pub drivers: HashMap<String, Instant>,
    pub ended: HashMap<String, (Instant, bool)>,
}

pub type Shared = Arc<Mutex<Observed>>;

/// Watches driver pods; the first event of each (ADDED) is when the bench learns it exists.
pub fn watch_drivers(client: Client, observed: Shared) -> tokio::task::JoinHandle<()> {
    let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
    let config = watcher::Config::default().labels("spark-role=driver");
    tokio::spawn(async move {
        let mut events = watcher::watcher(pods, config).boxed();
        while let Some(event) = events.next().await {
            let now = Instant::now();
            if let Ok(Event::Apply(pod) | Event::InitApply(pod)) = event
                && let Some(app) = pod.labels().get(APP_NAME_LABEL)
            {
                let mut seen = observed.lock().expect("not poisoned");
                seen.drivers.entry(app.clone()).or_insert(now);
            }
        }
    })
}

/// Watches applications for COMPLETED and FAILED.
pub fn watch_ends(client: Client, observed: Shared) -> tokio::task::JoinHandle<()> {
    let apps = apps(client);
    tokio::spawn(async move {
        let mut events = watcher::watcher(apps, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            let now = Instant::now();
            if let Ok(Event::Apply(app) | Event::InitApply(app)) = event {
                let state = &app.data["status"]["applicationState"]["state"];
                let completed = state == "COMPLETED";
                if completed || state == "FAILED" {
                    let mut seen = observed.lock().expect("not poisoned");
                    seen.ended.entry(app.name_any()).or_insert((now, completed));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_creation_order() {
        assert_eq!(name(7), "bench-00007");
        assert!(name(999) < name(1000));
    }

    #[test]
    fn the_application_is_spark_pi_with_an_instant_driver() {
        let app = application("bench-00001", 0);
        assert_eq!(app.name_any(), "bench-00001");
        let spec = &app.data["spec"];
        assert_eq!(
            spec["driver"]["annotations"]["localcluster/run-seconds"],
            "0"
        );
        assert_eq!(spec["executor"]["instances"], 0);
        assert_eq!(spec["mainClass"], "org.apache.spark.examples.SparkPi");
    }
}
