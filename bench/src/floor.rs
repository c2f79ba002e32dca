//! The floor under the operator's CPU: a client that makes, for each application, the requests
//! the operator makes and holds the watches it holds, with none of its decisions. Its submission
//! is the operator's own code (`submitter::Submitter`: the same objects, built and created the same
//! way); its Events and status patches are the ones a successful application gets; its watches
//! are the operator's four, decoded into the same shapes; it runs on one thread, as the operator
//! does by default, ten applications at a time. What it leaves out is the controller: the queue
//! and scheduler of kube-runtime, the reflector, the lifecycle's decisions, the indexes, the
//! metrics, and the re-decoding of an application at each of its reconciles. Its CPU per
//! application is what the operator's cannot go below through the same libraries and requests.
//!
//! It runs as a child process of the bench (`spark-bench --floor-client KUBECONFIG`), so that its
//! CPU is read from `/proc` exactly as the operator's is.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus, Service};
use kube::api::{Patch, PatchParams};
use kube::core::Request;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;
use spark_operator::config::ControllerConfig;
use spark_operator::controller::event_recorder::EventPublisher;
use spark_operator::runtime::wakeups;
use spark_operator::shapes::{CachedApplication, Metadata, Slim};
use spark_operator::submission::LABEL_APP_NAME;
use spark_operator::submitter::Submitter;
use spark_operator_api::{DriverInfo, SparkApplication};

use crate::procs::{self, Binaries};
use crate::workload;

/// Applications handled at once: the operator's default number of concurrent reconciles.
const CONCURRENCY: usize = 10;
/// The cluster is taken as done with a run once nothing was written for this long.
const QUIET: Duration = Duration::from_millis(500);

/// What the floor measured at one size.
#[derive(Debug, Clone, Copy)]
pub struct FloorResult {
    pub n: usize,
    pub completed: usize,
    pub cpu_secs: f64,
    pub executors: u32,
}

impl FloorResult {
    pub fn cpu_per_app_ms(&self) -> f64 {
        self.cpu_secs * 1000.0 / self.n.max(1) as f64
    }

    /// Requests per application: the 5 + 2 × executors Events, 2 ConfigMaps, 2 Services, the
    /// driver pod and 5 status patches.
    pub fn requests_per_app(&self) -> u32 {
        5 + 2 * executors_of(Some(self.executors as i32)) + 2 + 2 + 1 + 5
    }
}

/// Runs the floor client at `n` applications on a fresh cluster: the same applications, namespaces
/// and clients as a burst of the operator's run.
pub async fn measure(
    bins: &Binaries,
    work: &Path,
    n: usize,
    clients: usize,
    namespaces: usize,
    executors: u32,
    timeout: Duration,
) -> anyhow::Result<FloorResult> {
    let kubeconfig = work.join("kubeconfig");
    let mut cluster = procs::start_cluster(bins, work, &kubeconfig).await?;
    let observer = workload::client(&kubeconfig).await?;
    spark_operator::install::install_crds(&observer)
        .await
        .context("installing the CRDs")?;
    let writers = crate::clients(&kubeconfig, clients).await?;
    workload::create_namespaces(&writers[0], namespaces).await?;
    let mut floor = procs::start_floor_client(work, &kubeconfig, &ready_path(&kubeconfig)).await?;
    let observed = Arc::new(Mutex::new(workload::Observed::default()));
    let ends = workload::watch_ends(observer.clone(), observed.clone());

    let before = floor.usage()?;
    let start = Instant::now();
    workload::create_apps(&writers, n, namespaces, executors, None).await?;
    let deadline = start + timeout;
    let log = work.join("floor-client.log");
    let mut written = workload::resource_version(&observer).await?;
    loop {
        tokio::time::sleep(QUIET).await;
        floor.check_alive(&log)?;
        cluster.check_alive(&work.join("localcluster.log"))?;
        let now_written = workload::resource_version(&observer).await?;
        let ended = observed.lock().expect("not poisoned").ended.len();
        if ended >= n && now_written == written {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "the floor client ended {ended} of {n} applications within {}s; see {}",
                timeout.as_secs(),
                log.display()
            );
        }
        written = now_written;
    }
    let after = floor.usage()?;
    ends.abort();
    let seen = std::mem::take(&mut *observed.lock().expect("not poisoned"));
    floor.stop().await;
    cluster.stop().await;
    Ok(FloorResult {
        n,
        completed: seen.ended.values().filter(|(_, ok)| *ok).count(),
        cpu_secs: after.cpu_secs - before.cpu_secs,
        executors,
    })
}

/// The child process: serves every application it sees until it is killed; writes
/// [`ready_path`] once its watches hold their first listing. Its runtime is the operator's by
/// default: one thread, woken at most once per `--min-wakeup-interval`'s default while busy.
pub fn client_main(kubeconfig: &Path) -> anyhow::Result<()> {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    wakeups::batched(&mut builder, wakeups::DEFAULT_MIN_WAKEUP_INTERVAL)
        .enable_all()
        .build()?
        .block_on(serve(kubeconfig, &ready_path(kubeconfig)))
}

async fn serve(kubeconfig: &Path, ready: &Path) -> anyhow::Result<()> {
    let config = workload::config(kubeconfig).await?;
    let master_url = config.cluster_url.to_string();
    // Named as the operator names itself, so that its writes are recorded as the operator's.
    let client = Client::try_from(spark_operator::runtime::identified(config))?;
    let controller = ControllerConfig {
        master_url: Some(master_url.clone()),
        ..ControllerConfig::default()
    };
    let ctx = Arc::new(Floor {
        client: client.clone(),
        events: EventPublisher::new(client.clone(), &controller.reporter),
        submitter: Submitter::new(client.clone(), controller, master_url, Default::default()),
    });
    let labelled = || watcher::Config::default().labels(LABEL_APP_NAME);
    let (synced, mut listed) = tokio::sync::mpsc::unbounded_channel();
    let pods = drain(
        Api::<Slim<Pod, PodStatus>>::all(client.clone()),
        labelled(),
        synced.clone(),
        |_| {},
    );
    let config_maps = drain(
        Api::<Metadata<ConfigMap>>::all(client.clone()),
        labelled(),
        synced.clone(),
        |_| {},
    );
    let services = drain(
        Api::<Metadata<Service>>::all(client.clone()),
        labelled(),
        synced.clone(),
        |_| {},
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut handled = HashSet::new();
    let apps = drain(
        Api::<CachedApplication>::all(client.clone()),
        watcher::Config::default(),
        synced,
        move |app: CachedApplication| {
            if app.status.is_none() && handled.insert(app.uid().unwrap_or_default()) {
                let (ctx, slots) = (ctx.clone(), slots.clone());
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    if let Err(error) = run_like_the_operator(&ctx, &app).await {
                        eprintln!("{}: {error:#}", app.name_any());
                    }
                });
            }
        },
    );
    let signal_ready = async move {
        for _ in 0..4 {
            listed.recv().await;
        }
        if let Err(error) = std::fs::write(ready, "ready\n") {
            eprintln!("writing {}: {error}", ready.display());
        }
        std::future::pending::<()>().await
    };
    futures::join!(pods, config_maps, services, apps, signal_ready);
    Ok(())
}

/// Watches `api`, passing each object that arrives to `seen`, and says on `listed` when the first
/// listing is complete.
async fn drain<K>(
    api: Api<K>,
    config: watcher::Config,
    listed: tokio::sync::mpsc::UnboundedSender<()>,
    mut seen: impl FnMut(K),
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut events = watcher(api, config).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                let _ = listed.send(());
            }
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => seen(object),
            Ok(_) => {}
            Err(error) => eprintln!("watch: {error}"),
        }
    }
}

/// A successful application as the operator sees it through: added, submitted by the operator's
/// own code, its driver running, its executors pending then completed, its driver completed, the
/// application completed; an Event at each step and a status patch at each change of state.
/// What the floor client's applications share: the operator's client, Event recorder and
/// submitter.
struct Floor {
    client: Client,
    events: EventPublisher,
    submitter: Submitter,
}

async fn run_like_the_operator(ctx: &Floor, cached: &CachedApplication) -> anyhow::Result<()> {
    let app = cached.decode().map_err(anyhow::Error::msg)?;
    let name = app.name_any();
    let event =
        |reason: &'static str, message: String| ctx.events.publish(&app, false, reason, message);
    event(
        "SparkApplicationAdded",
        format!("SparkApplication {name} was added, enqueuing it for submission"),
    )
    .await;
    // One attempt per application: its uid serves as the submission id.
    let submission_id = app.uid().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let submitted = ctx.submitter.submit(&app, &submission_id, now).await?;
    let (driver_pod_name, app_id) = (submitted.driver_pod_name, submitted.app_id);
    let web_ui = submitted.web_ui;
    let mut driver = DriverInfo {
        web_ui_service_name: web_ui.service_name,
        web_ui_port: web_ui.port,
        web_ui_address: web_ui.address,
        web_ui_ingress_name: web_ui.ingress_name,
        web_ui_ingress_address: web_ui.ingress_address,
        ..DriverInfo::default()
    };
    event(
        "SparkApplicationSubmitted",
        format!("SparkApplication {name} was submitted successfully"),
    )
    .await;
    driver.pod_name = Some(driver_pod_name.clone());
    patch_status(
        ctx,
        &app,
        json!({
            "applicationState": {"state": "SUBMITTED"},
            "driverInfo": driver,
            "executionAttempts": 1,
            "lastSubmissionAttemptTime": now.to_string(),
            "observedGeneration": app.metadata.generation,
            "sparkApplicationId": app_id,
            "submissionAttempts": 1,
            "submissionID": submission_id,
        }),
    )
    .await?;
    event(
        "SparkDriverRunning",
        format!("Driver {driver_pod_name} is running"),
    )
    .await;
    patch_status(ctx, &app, json!({"applicationState": {"state": "RUNNING"}})).await?;
    let executors: Vec<String> = (1..=executors_of(app.spec.executor.instances))
        .map(|k| format!("{name}-exec-{k}"))
        .collect();
    let states = |state: &str| {
        let map: serde_json::Map<String, serde_json::Value> = executors
            .iter()
            .map(|e| (e.clone(), json!(state)))
            .collect();
        serde_json::Value::Object(map)
    };
    for executor in &executors {
        event(
            "SparkExecutorPending",
            format!("Executor {executor} is pending"),
        )
        .await;
    }
    patch_status(ctx, &app, json!({"executorState": states("PENDING")})).await?;
    for executor in &executors {
        event(
            "SparkExecutorCompleted",
            format!("Executor {executor} completed"),
        )
        .await;
    }
    event(
        "SparkDriverCompleted",
        format!("Driver {driver_pod_name} completed"),
    )
    .await;
    patch_status(
        ctx,
        &app,
        json!({"applicationState": {"state": "SUCCEEDING"}, "executorState": states("COMPLETED")}),
    )
    .await?;
    event(
        "SparkApplicationCompleted",
        format!("SparkApplication {name} completed"),
    )
    .await;
    let ended = jiff::Timestamp::now().to_string();
    patch_status(
        ctx,
        &app,
        json!({"applicationState": {"state": "COMPLETED"}, "terminationTime": ended}),
    )
    .await
}

/// The executors the floor client reports for `instances`: at least one, as Spark starts.
fn executors_of(instances: Option<i32>) -> u32 {
    instances.unwrap_or(1).max(1) as u32
}

/// A merge patch of the status, its answer not read, as the operator writes one (without the
/// resourceVersion the operator's carries: nothing else writes these applications).
async fn patch_status(
    ctx: &Floor,
    app: &SparkApplication,
    status: serde_json::Value,
) -> anyhow::Result<()> {
    let namespace = app.namespace().unwrap_or_default();
    let request = Request::new(SparkApplication::url_path(&(), Some(&namespace)))
        .patch_subresource(
            "status",
            &app.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )?;
    ctx.client.request_text(request).await?;
    Ok(())
}

/// The section of results.md beside the operator's own figures at the same size.
pub fn section(floor: &FloorResult, operator_cpu_per_app_ms: Option<f64>) -> String {
    let operator = operator_cpu_per_app_ms.map_or("-".to_string(), |ms| format!("{ms:.3}"));
    let ratio = operator_cpu_per_app_ms.map_or("-".to_string(), |ms| {
        format!("{:.2}", ms / floor.cpu_per_app_ms().max(1e-9))
    });
    format!(
        "The floor: the operator's requests and watches without its decisions (bench/README.md, \
         \"The floor\"), a burst of N applications:\n\n\
         | N | COMPLETED | requests per app | floor CPU per app (ms) | operator CPU per app, burst (ms) | operator / floor |\n\
         |---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} | {:.3} | {operator} | {ratio} |\n",
        floor.n,
        floor.completed,
        floor.requests_per_app(),
        floor.cpu_per_app_ms(),
    )
}

/// The path the child's readiness is written to, beside the kubeconfig.
pub fn ready_path(kubeconfig: &Path) -> PathBuf {
    kubeconfig.with_file_name("floor-client.ready")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_requests_of_a_successful_application() {
        let one = FloorResult {
            n: 1000,
            completed: 1000,
            cpu_secs: 1.2,
            executors: 1,
        };
        // 7 Events, 2 ConfigMaps, 2 Services, the driver pod, 5 status patches.
        assert_eq!(one.requests_per_app(), 17);
        assert!((one.cpu_per_app_ms() - 1.2).abs() < 1e-9);
        let three = FloorResult {
            executors: 3,
            ..one
        };
        assert_eq!(three.requests_per_app(), 21);
        // Zero executors are reported as one, as the client sends their Events.
        let none = FloorResult {
            executors: 0,
            ..one
        };
        assert_eq!(none.requests_per_app(), 17);
    }

    #[test]
    fn the_section_puts_the_operator_beside_the_floor() {
        let floor = FloorResult {
            n: 1000,
            completed: 1000,
            cpu_secs: 1.25,
            executors: 1,
        };
        let beside = section(&floor, Some(1.875));
        assert!(
            beside.contains("| 1000 | 1000 | 17 | 1.250 | 1.875 | 1.50 |"),
            "{beside}"
        );
        assert!(section(&floor, None).contains("| 1.250 | - | - |"));
    }
}
