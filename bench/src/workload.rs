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

/// Namespace of the warm-up application.
pub const WARM_UP_NAMESPACE: &str = "default";
/// The service account the applications' drivers run as: the chart's.
const SPARK_SERVICE_ACCOUNT: &str = spark_operator::install::CHART_SPARK_SERVICE_ACCOUNT;
/// The label the operator puts on everything of an application, naming it.
const APP_NAME_LABEL: &str = "sparkoperator.k8s.io/app-name";

/// The client configuration of the cluster of `kubeconfig`.
pub async fn config(kubeconfig: &Path) -> anyhow::Result<kube::Config> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig)?;
    Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?)
}

/// A new client (its own connection pool) for the cluster of `kubeconfig`.
pub async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    Ok(Client::try_from(config(kubeconfig).await?)?)
}

pub fn app_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    ApiResource::from_gvk_with_plural(&gvk, "sparkapplications")
}

pub fn apps(client: Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &app_resource())
}

/// Name of the `i`th object of a run.
pub fn name(i: usize) -> String {
    format!("bench-{i:05}")
}

/// Namespace of the `i`th object of a run, with objects dealt round-robin over `count` namespaces.
pub fn namespace(i: usize, count: usize) -> String {
    format!("bench-ns-{:03}", i % count.max(1))
}

/// Creates the namespaces `namespace(0..count)`, and in them and in the warm-up namespace what
/// the Helm chart makes in its job namespaces (the Spark service account the applications' drivers
/// run as, with its Role and RoleBinding): the API server refuses a driver whose service account
/// does not exist.
pub async fn create_namespaces(client: &Client, count: usize) -> anyhow::Result<()> {
    let api: Api<DynamicObject> =
        Api::all_with(client.clone(), &ApiResource::erase::<Namespace>(&()));
    let mut job_namespaces = vec![WARM_UP_NAMESPACE.to_string()];
    for i in 0..count.max(1) {
        let name = namespace(i, count);
        let value = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        create(&api, &serde_json::from_value(value)?).await?;
        job_namespaces.push(name);
    }
    for job_namespace in job_namespaces {
        spark_operator::install::install_spark_service_account(
            client,
            &job_namespace,
            SPARK_SERVICE_ACCOUNT,
        )
        .await
        .with_context(|| format!("the Spark service account of {job_namespace}"))?;
    }
    Ok(())
}

/// examples/spark-pi.yaml with a driver that runs for zero seconds and `executors` executors.
pub fn application(name: &str, namespace: &str, executors: u32) -> DynamicObject {
    let value = json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": name, "namespace": namespace},
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
                "serviceAccount": SPARK_SERVICE_ACCOUNT,
                "annotations": {"localcluster/run-seconds": "0"},
            },
            "executor": {"instances": executors, "cores": 1, "memory": "512m"},
        },
    });
    serde_json::from_value(value).expect("the application is a valid DynamicObject")
}

/// A small ConfigMap, for the write ceiling.
fn config_map(name: &str, namespace: &str) -> DynamicObject {
    let value = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"spark.properties": "spark.app.name=bench\nspark.executor.instances=0\n"},
    });
    serde_json::from_value(value).expect("the ConfigMap is a valid DynamicObject")
}

/// Creates objects 0..n of `resource` (each names its namespace), object `i` by client
/// `i % clients.len()`, each client one request at a time, as fast as they can or, with `rate`,
/// object `i` no earlier than `i / rate` seconds after the start. Returns when each create was
/// answered, by index.
pub async fn create_all(
    clients: &[Client],
    n: usize,
    resource: &ApiResource,
    rate: Option<f64>,
    object: impl Fn(usize) -> DynamicObject + Clone + Send + 'static,
) -> anyhow::Result<Vec<Instant>> {
    let workers = clients.len().max(1);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (k, client) in clients.iter().enumerate() {
        let (client, resource) = (client.clone(), resource.clone());
        let object = object.clone();
        tasks.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for i in (k..n).step_by(workers) {
                if let Some(rate) = rate.filter(|r| *r > 0.0) {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate))
                        .await;
                }
                let object = object(i);
                let namespace = object.namespace().unwrap_or_default();
                let api = Api::namespaced_with(client.clone(), &namespace, &resource);
                create(&api, &object).await?;
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

/// Creates applications 0..n, dealt over `namespaces` namespaces.
pub async fn create_apps(
    clients: &[Client],
    n: usize,
    namespaces: usize,
    executors: u32,
    rate: Option<f64>,
) -> anyhow::Result<Vec<Instant>> {
    create_all(clients, n, &app_resource(), rate, move |i| {
        application(&name(i), &namespace(i, namespaces), executors)
    })
    .await
}

/// ConfigMaps per second that `clients` get into the cluster: `n` creates (dealt over the
/// namespaces as the applications are), first sent to last answered.
pub async fn write_ceiling(clients: &[Client], n: usize, namespaces: usize) -> anyhow::Result<f64> {
    let resource = ApiResource::erase::<ConfigMap>(&());
    let start = Instant::now();
    let answered = create_all(clients, n, &resource, None, move |i| {
        config_map(&name(i), &namespace(i, namespaces))
    })
    .await?;
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
        let apps = Api::<DynamicObject>::all_with(client.clone(), &app_resource());
        match apps.list(&ListParams::default().limit(1)).await {
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
    let pods: Api<Pod> = Api::all(client);
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
    let apps = Api::<DynamicObject>::all_with(client, &app_resource());
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
    fn objects_are_dealt_over_the_namespaces() {
        assert_eq!(namespace(0, 100), "bench-ns-000");
        assert_eq!(namespace(101, 100), "bench-ns-001");
        assert_eq!(namespace(5, 1), "bench-ns-000");
        assert_eq!(namespace(5, 0), "bench-ns-000");
    }

    #[test]
    fn the_application_is_spark_pi_with_an_instant_driver() {
        let app = application("bench-00001", "bench-ns-001", 0);
        assert_eq!(app.name_any(), "bench-00001");
        assert_eq!(app.namespace().as_deref(), Some("bench-ns-001"));
        let spec = &app.data["spec"];
        assert_eq!(
            spec["driver"]["annotations"]["localcluster/run-seconds"],
            "0"
        );
        assert_eq!(spec["executor"]["instances"], 0);
        assert_eq!(spec["mainClass"], "org.apache.spark.examples.SparkPi");
    }
}
