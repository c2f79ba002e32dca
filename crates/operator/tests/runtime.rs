//! The production runtime on the local cluster: metrics scraped over HTTP, the health probes,
//! leader election between operator instances (each in its own tokio runtime, so that killing
//! one is like killing its process), and the Helm chart's RBAC against the requests the operator
//! really makes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Event;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use spark_operator::config::ControllerConfig;
use spark_operator::leader::{LeaderElectionConfig, LeadershipEnd, Timings};
use spark_operator::metrics::{Metrics, MetricsConfig};
use spark_operator::runtime::{Operator, RuntimeConfig};
use spark_operator_api::{ApplicationStateType as State, SparkApplication};
use testkit::fixtures::{SparkApplicationFixture, spark_pi};
use testkit::net::http_get;
use testkit::proxy::Proxy;
use testkit::rbac::{Permission, chart_grants, permission};
use testkit::{Env, eventually};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

const LOCK: &str = "spark-operator-lock";

fn timings() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(500),
    }
}

/// One operator process: its own runtime, client, metrics and endpoints.
struct Instance {
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    ended: Option<oneshot::Receiver<(spark_operator::error::Result<LeadershipEnd>, Instant)>>,
    metrics: SocketAddr,
    health: SocketAddr,
}

impl Instance {
    /// Starts an operator that reaches the cluster at `url` (the cluster or a proxy in front).
    async fn launch(env: &Env, url: String, identity: Option<&str>) -> Instance {
        let metrics = Metrics::new(MetricsConfig {
            labels: vec!["namespace".into(), "team".into()],
            ..MetricsConfig::default()
        });
        let config = RuntimeConfig {
            controller: ControllerConfig {
                metrics: metrics.clone(),
                ..env.config()
            },
            leader_election: identity.map(|identity| LeaderElectionConfig {
                lock_name: LOCK.into(),
                lock_namespace: "default".into(),
                identity: identity.into(),
                timings: timings(),
            }),
            metrics_address: Some("127.0.0.1:0".parse().unwrap()),
            metrics_endpoint: "/metrics".into(),
            health_address: Some("127.0.0.1:0".parse().unwrap()),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let kubeconfig = env.cluster.kubeconfig();
        let (stop, mut stopped) = watch::channel(false);
        let (bound_tx, bound) = oneshot::channel();
        let (ended_tx, ended) = oneshot::channel();
        runtime.spawn(async move {
            let config_of_client = config_at(&kubeconfig, &url).await;
            let client =
                spark_operator::runtime::client(config_of_client, &metrics, None).expect("client");
            let operator = Operator::bind(config).await.expect("endpoints bind");
            let _ = bound_tx.send((
                operator.metrics_address().unwrap(),
                operator.health_address().unwrap(),
            ));
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let end = operator.run(client, shutdown).await;
            let _ = ended_tx.send((end, Instant::now()));
        });
        let (metrics, health) = bound.await.expect("operator bound its endpoints");
        Instance {
            runtime: Some(runtime),
            stop,
            ended: Some(ended),
            metrics,
            health,
        }
    }

    async fn scrape(&self) -> String {
        let (code, body) = http_get(self.metrics, "/metrics").await;
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Kills the process: every task stops where it is, nothing is released.
    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// SIGTERM: waits for the graceful end.
    async fn terminate(&mut self) -> LeadershipEnd {
        let _ = self.stop.send(true);
        self.ended().await.0
    }

    /// How the operator ended, and when.
    async fn ended(&mut self) -> (LeadershipEnd, Instant) {
        let ended = self.ended.take().expect("not awaited yet");
        let (end, at) = tokio::time::timeout(Duration::from_secs(30), ended)
            .await
            .expect("operator ends within 30s")
            .expect("operator task reports its end");
        (end.expect("operator ends without an error"), at)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn config_at(kubeconfig: &str, url: &str) -> kube::Config {
    let mut kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig");
    for named in &mut kubeconfig.clusters {
        if let Some(cluster) = named.cluster.as_mut() {
            cluster.server = Some(url.to_string());
        }
    }
    let options = kube::config::KubeConfigOptions::default();
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("config")
}

async fn client_at(kubeconfig: &str, url: &str) -> Client {
    Client::try_from(config_at(kubeconfig, url).await).expect("client")
}

async fn holder(env: &Env) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), "default");
    leases
        .get_opt(LOCK)
        .await
        .expect("get lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

async fn wait_for_holder(env: &Env, identity: &str, seconds: u64) -> Instant {
    eventually(seconds, || async {
        (holder(env).await.as_deref() == Some(identity)).then(Instant::now)
    })
    .await
}

fn labelled(yaml: String, labels: &str) -> String {
    yaml.replacen(
        "  namespace: default\n",
        &format!("  namespace: default\n  labels: {{{labels}}}\n"),
        1,
    )
}

/// The value of the sample `series` (name and labels, exactly as exposed), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

#[tokio::test]
async fn metrics_count_runs_once_readyz_waits_for_caches_and_the_chart_grants_every_call() {
    let env = Env::without_operator().await;
    let http = env
        .cluster
        .http_url()
        .expect("the cluster serves plain HTTP");
    let target: SocketAddr = http.trim_start_matches("http://").parse().unwrap();
    let proxy = Proxy::start(target).await;
    let url = format!("http://{}", proxy.address);
    // --install-crds, through the proxy, so that its calls are recorded too.
    let recorded = client_at(&env.cluster.kubeconfig(), &url).await;
    spark_operator::install::install_crds(&recorded)
        .await
        .expect("CRDs");

    let mut first = Instance::launch(&env, url.clone(), Some("first")).await;
    assert_eq!(http_get(first.health, "/healthz").await.0, 200);
    eventually(20, || async {
        let (code, body) = http_get(first.health, "/readyz").await;
        (code == 200 && body.starts_with("ok")).then_some(())
    })
    .await;

    let ok = labelled(
        spark_pi("good", r#""localcluster/run-seconds": "1""#, ""),
        "team: data",
    );
    env.create(&ok).await;
    let failing = r#""localcluster/run-seconds": "0.5", "localcluster/exit-code": "1""#;
    env.create(&spark_pi("bad", failing, "")).await;
    env.wait_for("good", State::Completed, 60).await;
    env.wait_for("bad", State::Failed, 60).await;

    let data = r#"{namespace="default",team="data"}"#;
    let unknown = r#"{namespace="default",team="Unknown"}"#;
    let metrics = eventually(10, || async {
        let metrics = first.scrape().await;
        let running = sample(&metrics, &format!("spark_application_running_count{data}"));
        (running == Some(0.0)).then_some(metrics)
    })
    .await;
    for (series, expected) in [
        (format!("spark_application_count{data}"), 1.0),
        (format!("spark_application_count{unknown}"), 1.0),
        (format!("spark_application_submit_count{data}"), 1.0),
        (format!("spark_application_success_count{data}"), 1.0),
        (format!("spark_application_failure_count{unknown}"), 1.0),
        (format!("spark_executor_success_count{data}"), 2.0),
        (
            format!("spark_application_success_execution_time_seconds_count{data}"),
            1.0,
        ),
        (
            format!("spark_application_failure_execution_time_seconds_count{unknown}"),
            1.0,
        ),
        (
            format!("spark_application_submit_latency_seconds_count{data}"),
            1.0,
        ),
        (
            format!("spark_application_start_latency_seconds_count{data}"),
            1.0,
        ),
        (
            format!("spark_application_start_latency_seconds_histogram_count{data}"),
            1.0,
        ),
        (
            format!(r#"leader_election_master_status{{name="{LOCK}"}}"#),
            1.0,
        ),
    ] {
        assert_eq!(
            sample(&metrics, &series),
            Some(expected),
            "{series} in\n{metrics}"
        );
    }
    assert!(sample(&metrics, &format!("spark_application_failure_count{data}")).is_none());
    assert!(metrics.contains("# TYPE spark_application_count counter"));
    let reconciles = sample(
        &metrics,
        r#"controller_runtime_reconcile_total{controller="sparkapplication",result="success"}"#,
    );
    assert!(reconciles.is_some_and(|n| n >= 4.0), "{metrics}");
    assert!(metrics.contains("controller_runtime_reconcile_time_seconds_bucket"));
    // The client's requests, counted as they were answered through the proxy: each application
    // made at least its driver pod, two ConfigMaps and two Services, and had its status patched
    // on submission, on running and on ending.
    let requests = |code: &str, method: &str| {
        let series = format!(
            r#"rest_client_requests_total{{code="{code}",host="{}",method="{method}"}}"#,
            proxy.address
        );
        sample(&metrics, &series).unwrap_or(0.0)
    };
    assert!(requests("201", "POST") >= 10.0, "{metrics}");
    assert!(requests("200", "PATCH") >= 6.0, "{metrics}");
    assert!(requests("200", "GET") >= 1.0, "{metrics}");

    // SIGTERM releases the lease: the next instance leads at once and counts nothing again.
    assert_eq!(first.terminate().await, LeadershipEnd::Shutdown);
    assert_eq!(holder(&env).await, None);
    let second = Instance::launch(&env, url, Some("second")).await;
    wait_for_holder(&env, "second", 3).await;
    tokio::time::sleep(env.config().resync_period + Duration::from_secs(1)).await;
    let metrics = second.scrape().await;
    assert!(
        !metrics.contains("spark_application_success_count{"),
        "a restart counted again:\n{metrics}"
    );
    drop(second);

    // Least privilege: every call was granted, and every grant was called (or is named below).
    let used: BTreeSet<Permission> = proxy
        .requests()
        .iter()
        .filter_map(|(method, path)| permission(method, path))
        .collect();
    let granted: BTreeSet<Permission> = [
        "operator-rules.yaml",
        "leader-election-rules.yaml",
        "crd-rules.yaml",
    ]
    .iter()
    .flat_map(|f| chart_grants(f))
    .collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(missing.is_empty(), "the chart does not grant {missing:?}");
    let p = |g: &str, r: &str, v: &str| (g.to_string(), r.to_string(), v.to_string());
    // Granted for paths this run does not take, each checked by reading the code it serves.
    let not_exercised: BTreeSet<Permission> = [
        p("", "pods", "delete"), // a retry deletes the attempt's objects (application.rs)
        p("", "services", "delete"),
        p("", "configmaps", "delete"),
        p("", "services", "get"), // create_or_adopt reads an existing object of the same name
        p("", "configmaps", "get"),
        p("", "pods", "get"),
        p("", "pods", "patch"), // spark-submit mode: the driver made owned by its application
        p("networking.k8s.io", "ingresses", "create"), // only with --ingress-url-format
        p("networking.k8s.io", "ingresses", "get"),
        p("networking.k8s.io", "ingresses", "delete"),
        p("networking.k8s.io", "ingresses", "list"),
        p("sparkoperator.k8s.io", "sparkapplications", "create"), // scheduled runs (scheduled.rs)
        p("sparkoperator.k8s.io", "sparkapplications", "delete"), // time to live, run history
        p("sparkoperator.k8s.io", "sparkapplications/status", "patch"), // unreadable objects
        p(
            "sparkoperator.k8s.io",
            "scheduledsparkapplications/status",
            "update",
        ),
        // SparkConnects (controller/connect/reconcile.rs): this run makes none.
        p("", "services", "patch"),
        p("", "configmaps", "patch"),
        p("sparkoperator.k8s.io", "sparkconnects/status", "patch"),
        // Only for applications whose pods do not start (controller/application/troubles.rs).
        p("", "events", "list"),
        p("", "resourcequotas", "list"),
        // await_condition stops at the initial list when the CRDs are established already.
        p("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ]
    .into_iter()
    .collect();
    let unused: Vec<_> = granted
        .iter()
        .filter(|g| !used.contains(*g) && !not_exercised.contains(*g))
        .collect();
    assert!(
        unused.is_empty(),
        "granted but never called: {unused:?}\ncalled: {used:?}"
    );
}

/// Applications of the burst a killed leader leaves to its standby.
const BURST: usize = 100;

#[tokio::test]
async fn a_standby_takes_over_a_burst_when_the_leader_is_killed_and_nothing_runs_twice() {
    let started = Instant::now();
    let env = Env::without_operator().await;
    let mut leader = Instance::launch(&env, env.cluster.url(), Some("a")).await;
    wait_for_holder(&env, "a", 10).await;
    let standby = Instance::launch(&env, env.cluster.url(), Some("b")).await;
    let (code, body) = http_get(standby.health, "/readyz").await;
    assert_eq!(code, 200, "a standby is ready: {body}");
    assert!(body.starts_with("standby"), "{body}");

    let names: Vec<String> = (0..BURST).map(|i| format!("burst-{i}")).collect();
    let creating = {
        let client = env.client.clone();
        let names = names.clone();
        tokio::spawn(async move {
            let apps: Api<SparkApplication> = Api::namespaced(client, "default");
            for name in &names {
                let app = SparkApplication::spark_pi(name).runs_for("1");
                apps.create(&Default::default(), &app)
                    .await
                    .expect("application created");
            }
        })
    };
    // Kill the leader mid-burst: once it has submitted some applications, while others are
    // still being created, so the standby inherits submitted, half-done and new ones.
    let submitted_when_killed = eventually(60, || async {
        let apps = env.apps().list(&Default::default()).await.ok()?;
        let submitted = apps
            .items
            .iter()
            .filter(|a| {
                a.status
                    .as_ref()
                    .is_some_and(|s| s.submission_attempts == Some(1))
            })
            .count();
        (submitted >= 10).then_some(submitted)
    })
    .await;
    let killed = Instant::now();
    leader.kill();
    let took_over = wait_for_holder(&env, "b", 20).await;
    // The lease runs out a lease duration after the standby last saw it renewed (at most a retry
    // period after the kill); the standby takes it at its next try, one more retry period on.
    let t = timings();
    assert!(
        took_over - killed <= t.lease_duration + t.retry_period * 3,
        "took over after {:?}",
        took_over - killed
    );
    creating.await.expect("every application created");
    assert!(
        submitted_when_killed < BURST,
        "the leader was killed after the burst, not during it"
    );
    for name in &names {
        let app = env.wait_for(name, State::Completed, 120).await;
        let status = app.status.unwrap();
        assert_eq!(
            status.submission_attempts,
            Some(1),
            "{name} submitted twice"
        );
        assert_eq!(status.execution_attempts, Some(1), "{name} ran twice");
    }
    // One driver pod per application, never deleted and made again ...
    let drivers = env
        .pods()
        .list(&ListParams::default().labels("spark-role=driver"))
        .await
        .expect("list drivers")
        .items;
    let mut drivers_per_app: BTreeMap<String, usize> = BTreeMap::new();
    for pod in &drivers {
        let app = pod.labels()["sparkoperator.k8s.io/app-name"].clone();
        *drivers_per_app.entry(app).or_default() += 1;
    }
    assert_eq!(drivers_per_app.len(), BURST, "{drivers_per_app:?}");
    assert!(
        drivers_per_app.values().all(|n| *n == 1),
        "{drivers_per_app:?}"
    );
    // ... and at most one Submitted event each (the killed leader may not have recorded its own).
    let events: Api<Event> = Api::namespaced(env.client.clone(), "default");
    let mut submitted_events: BTreeMap<String, usize> = BTreeMap::new();
    for event in events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
    {
        if event.reason.as_deref() == Some("SparkApplicationSubmitted") {
            let app = event.involved_object.name.unwrap_or_default();
            *submitted_events.entry(app).or_default() += 1;
        }
    }
    let twice: Vec<_> = submitted_events.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "submitted twice according to events: {twice:?}"
    );
    let metrics = standby.scrape().await;
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"leader_election_master_status{{name="{LOCK}"}}"#)
        ),
        Some(1.0)
    );
    eprintln!(
        "{BURST} applications, leader killed after {submitted_when_killed} submissions, \
         standby leading {:?} after the kill, all completed {:?} after the start",
        took_over - killed,
        started.elapsed()
    );
}

#[tokio::test]
async fn a_leader_cut_off_from_the_api_stops_before_its_lease_can_be_taken() {
    let env = Env::without_operator().await;
    let https: SocketAddr = env
        .cluster
        .url()
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(https).await;
    let mut leader = Instance::launch(&env, format!("https://{}", proxy.address), Some("a")).await;
    wait_for_holder(&env, "a", 10).await;
    let _standby = Instance::launch(&env, env.cluster.url(), Some("b")).await;
    env.create(&spark_pi(
        "before",
        r#""localcluster/run-seconds": "0.5""#,
        "",
    ))
    .await;
    env.wait_for("before", State::Completed, 60).await;

    let cut = Instant::now();
    proxy.cut();
    let leader_end = tokio::spawn(async move {
        let ended = leader.ended().await;
        (ended, leader)
    });
    let took_over = wait_for_holder(&env, "b", 20).await;
    let ((end, stopped), _leader) = leader_end.await.unwrap();
    assert!(matches!(end, LeadershipEnd::Lost(_)), "{end:?}");
    assert!(
        stopped < took_over,
        "the old leader stopped {:?} after the cut, the standby took over {:?} after it",
        stopped - cut,
        took_over - cut
    );
    env.create(&spark_pi(
        "after",
        r#""localcluster/run-seconds": "0.5""#,
        "",
    ))
    .await;
    env.wait_for("after", State::Completed, 60).await;
}
