//! SparkConnect end to end on the local cluster with simulated nodes, whose Spark Connect server
//! creates its executors as Spark's would: Ready with every status field and object as
//! Kubeflow's e2e test asserts them, a failing server reported and replaced, a spec change
//! restarting the server, deletion, an operator restart adopting the running server, and an
//! invalid resource failing with the field named.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use spark_operator::config::ControllerConfig;
use spark_operator::metrics::Metrics;
use spark_operator_api::SparkConnect;
use testkit::fixtures::spark_connect;
use testkit::{Env, eventually, repository};

/// Kubeflow's executor selector labels.
const EXECUTORS: &str = "sparkoperator.k8s.io/launched-by-spark-operator=true,sparkoperator.k8s.io/connect-name=NAME,spark-role=executor";

fn executors_of(name: &str) -> ListParams {
    ListParams::default().labels(&EXECUTORS.replace("NAME", name))
}

async fn server(env: &Env, name: &str) -> Option<Pod> {
    env.pods()
        .get_opt(&format!("{name}-server"))
        .await
        .expect("get server pod")
}

/// How many server pods the operator says it created, from a SparkConnect's event reasons.
fn servers_created(reasons: &[String]) -> usize {
    reasons
        .iter()
        .filter(|r| *r == "SparkConnectServerCreated")
        .count()
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The operator with a metrics registry the test reads.
fn start_operator(env: &mut Env) -> Metrics {
    let metrics = Metrics::default();
    let config = ControllerConfig {
        metrics: metrics.clone(),
        ..env.config()
    };
    env.start_operator_with(config);
    metrics
}

fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
    metrics
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_is_ready_with_every_status_field_and_object_kubeflow_asserts() {
    let mut env = Env::without_operator().await;
    let metrics = start_operator(&mut env);
    let kubectl = env.kubectl("kubectl");
    let example = repository().join("examples/spark-connect.yaml");
    kubectl
        .ok(&["apply", "-f", testkit::kubectl::path_arg(&example)])
        .await;
    let name = "spark-connect";
    let connect = env.wait_for_connect(name, "Ready", 20).await;
    let uid = connect.uid().expect("uid");

    // The server pod: ready, from the template, owned by the SparkConnect.
    let pod = server(&env, name).await.expect("server pod");
    assert!(ready(&pod), "{:?}", pod.status);
    let labels = pod.labels();
    for (key, value) in [
        ("app", "spark-connect"),
        ("sparkoperator.k8s.io/launched-by-spark-operator", "true"),
        ("sparkoperator.k8s.io/connect-name", name),
        ("spark-role", "connect-server"),
        ("spark-version", "4.0.1"),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
    }
    let owner = &pod.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("SparkConnect", uid.as_str(), Some(true))
    );
    let container = &pod.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&["bash".into(), "-c".into()][..])
    );
    let command = &container.args.as_ref().unwrap()[0];
    for option in [
        "${SPARK_HOME}/sbin/start-connect-server.sh --master k8s://https://127.0.0.1:",
        "--conf spark.executor.instances=1 ",
        "--conf 'spark.sql.shuffle.partitions=4'",
        "--conf spark.kubernetes.driver.pod.name=spark-connect-server ",
        "--conf spark.kubernetes.executor.podTemplateFile=/tmp/spark/executor-pod-template.yaml",
    ] {
        assert!(command.contains(option), "{option:?} not in {command}");
    }

    // The executors, made by the server, ready, as many as asked for.
    let executors = env.pods().list(&executors_of(name)).await.unwrap().items;
    assert_eq!(executors.len(), 1, "{executors:?}");
    assert!(executors.iter().all(ready));
    assert_eq!(executors[0].name_any(), "spark-connect-exec-1");
    assert_eq!(
        executors[0].owner_references()[0].name,
        "spark-connect-server"
    );

    // The Service with the gRPC port, selecting the server; the executor template's ConfigMap.
    let services: Api<Service> = Api::default_namespaced(env.client.clone());
    let service = services.get("spark-connect-server").await.expect("Service");
    let spec = service.spec.as_ref().unwrap();
    let ports: BTreeMap<String, i32> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.port))
        .collect();
    assert_eq!(
        ports,
        [
            ("blockmanager".into(), 7079),
            ("driver-rpc".into(), 7078),
            ("spark-connect-server".into(), 15002),
            ("web-ui".into(), 4040),
        ]
        .into()
    );
    let selector = spec.selector.as_ref().unwrap();
    assert!(selector.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let config_maps: Api<ConfigMap> = Api::default_namespaced(env.client.clone());
    let template = &config_maps
        .get("spark-connect-conf")
        .await
        .unwrap()
        .data
        .unwrap()["executor-pod-template.yaml"];
    assert!(template.contains("spark-kubernetes-executor"), "{template}");
    assert_eq!(
        env.owned_by_uid(&uid).await,
        [
            "ConfigMap/spark-connect-conf",
            "Pod/spark-connect-exec-1",
            "Pod/spark-connect-server",
            "Service/spark-connect-server",
        ]
        .map(String::from)
        .into()
    );

    // Every status field.
    let connect = eventually(10, || async {
        let connect = env.connects().get(name).await.unwrap();
        let running = connect.status.as_ref()?.executors.get("running").copied();
        (running == Some(1)).then_some(connect)
    })
    .await;
    let status = connect.status.unwrap();
    assert_eq!(status.state.as_deref(), Some("Ready"));
    let condition = &status.conditions[0];
    assert_eq!(
        (
            condition.type_.as_str(),
            condition.status.as_str(),
            condition.reason.as_str(),
            condition.message.as_str()
        ),
        (
            "ServerPodReady",
            "True",
            "ServerPodReady",
            "Server pod is ready"
        )
    );
    let server_status = status.server.unwrap();
    assert_eq!(
        server_status.pod_name.as_deref(),
        Some("spark-connect-server")
    );
    assert_eq!(
        server_status.pod_ip,
        pod.status.as_ref().and_then(|s| s.pod_ip.clone())
    );
    assert_eq!(
        server_status.service_name.as_deref(),
        Some("spark-connect-server")
    );
    assert_eq!(status.executors, [("running".to_string(), 1)].into());
    assert!(status.start_time.is_some() && status.last_update_time.is_some());
    let table = kubectl.ok(&["get", "sparkconn", name]).await;
    assert!(
        table.contains("spark-connect-server") && table.contains("Ready"),
        "{table}"
    );
    let reasons = env.event_reasons_of("SparkConnect", name).await;
    for reason in ["SparkConnectServerCreated", "SparkConnectReady"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
    // Without `--metrics-labels`, the series have no labels, as Kubeflow's.
    let text = metrics.encode();
    assert_eq!(
        sample(&metrics, "spark_connect_count "),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&metrics, "spark_connect_ready_count "),
        Some(1.0),
        "{text}"
    );

    // A deleted Service is made again.
    let deleted = service.uid();
    services
        .delete("spark-connect-server", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, || async {
        let service = services.get_opt("spark-connect-server").await.unwrap()?;
        (service.uid() != deleted).then_some(())
    })
    .await;
}

/// The (state, condition message) pairs of the SparkConnect `name` as its watch shows them,
/// from now until `done` holds of them, for up to `seconds`.
async fn states_until(
    watch: &mut (impl futures::Stream<Item = Result<SparkConnect, watcher::Error>> + Unpin),
    seconds: u64,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let watching = async {
        while let Some(Ok(connect)) = watch.next().await {
            let status = connect.status.clone().unwrap_or_default();
            let state = status.state.clone().unwrap_or_default();
            let message = status
                .conditions
                .first()
                .map(|c| c.message.clone())
                .unwrap_or_default();
            if seen.last() != Some(&(state.clone(), message.clone())) {
                seen.push((state, message));
            }
            if done(&seen) {
                return;
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(seconds), watching).await;
    assert!(finished.is_ok(), "not there within {seconds}s: {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_server_is_reported_with_its_reason_and_replaced() {
    let env = Env::start().await;
    // The first server fails half a second in; the next one serves. Under `restartPolicy:
    // Never` its pod ends Failed (under the default `Always` the kubelet would restart it in
    // place instead, see the next test).
    let annotations = r#""localcluster/run-seconds": "0.5", "localcluster/exit-codes": "1,0""#;
    let config = watcher::Config::default().fields("metadata.name=flaky");
    let mut watch = watcher(env.connects(), config).applied_objects().boxed();
    let mut connect: serde_json::Value =
        serde_yaml::from_str(&spark_connect("flaky", annotations, "")).unwrap();
    connect["spec"]["server"]["template"]["spec"]["restartPolicy"] = "Never".into();
    env.create_connect(&serde_json::to_string(&connect).unwrap())
        .await;
    let states = states_until(&mut watch, 30, |seen| {
        let failed = seen.iter().position(|(state, _)| state == "Failed");
        failed.is_some_and(|at| seen[at..].iter().any(|(state, _)| state == "Ready"))
    })
    .await;
    let failed = states
        .iter()
        .find(|(state, _)| state == "Failed")
        .expect("Failed");
    assert_eq!(
        failed.1, "Server pod is not ready: exited with code 1 (Error)",
        "{states:?}"
    );
    let order: Vec<&str> = states
        .iter()
        .map(|(state, _)| state.as_str())
        .filter(|state| !state.is_empty())
        .collect();
    // Provisioning, (Ready,) Failed, Provisioning again for the replacement, Ready.
    assert_eq!(order.first(), Some(&"Provisioning"), "{states:?}");
    assert_eq!(order.last(), Some(&"Ready"), "{states:?}");
    assert!(
        order.windows(2).any(|w| w == ["Failed", "Provisioning"]),
        "{states:?}"
    );
    let replacement = server(&env, "flaky").await.expect("the replacement");
    assert!(ready(&replacement));
    assert_eq!(
        env.kubectl("kubectl")
            .ok(&[
                "get",
                "pods",
                "-l",
                "spark-role=connect-server",
                "-o",
                "name"
            ])
            .await
            .trim(),
        "pod/flaky-server",
        "one server"
    );
    let reasons = env.event_reasons_of("SparkConnect", "flaky").await;
    assert!(
        reasons.iter().any(|r| r == "SparkConnectServerFailed"),
        "{reasons:?}"
    );
    assert_eq!(servers_created(&reasons), 2, "{reasons:?}");
}

/// Under the default `restartPolicy: Always` a server that exits is restarted in place by the
/// kubelet: the same pod serves again, and the operator neither reports it failed nor replaces
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_in_place_is_kept() {
    let env = Env::start().await;
    let annotations = r#""localcluster/run-seconds": "0.5", "localcluster/exit-codes": "1,0""#;
    env.create_connect(&spark_connect("restarted", annotations, ""))
        .await;
    let serving = testkit::eventually(30, || async {
        let pod = server(&env, "restarted").await?;
        let restarts = pod.status.as_ref()?.container_statuses.as_ref()?[0].restart_count;
        (restarts == 1 && ready(&pod)).then_some(pod)
    })
    .await;
    env.wait_for_connect("restarted", "Ready", 20).await;
    let now = server(&env, "restarted").await.expect("the server");
    assert_eq!(now.metadata.uid, serving.metadata.uid, "the same pod");
    let reasons = env.event_reasons_of("SparkConnect", "restarted").await;
    assert!(
        !reasons.iter().any(|r| r == "SparkConnectServerFailed"),
        "{reasons:?}"
    );
    assert_eq!(servers_created(&reasons), 1, "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_restarts_the_server_with_the_new_spec() {
    let env = Env::start().await;
    env.create_connect(&spark_connect("edited", "", "")).await;
    env.wait_for_connect("edited", "Ready", 20).await;
    let first = server(&env, "edited").await.unwrap();
    let patch = serde_json::json!({"spec": {"executor": {"instances": 1},
        "sparkConf": {"spark.sql.shuffle.partitions": "8"}}});
    env.connects()
        .patch("edited", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let second = eventually(20, || async {
        let pod = server(&env, "edited").await?;
        (pod.uid() != first.uid() && ready(&pod)).then_some(pod)
    })
    .await;
    let command = &second.spec.unwrap().containers[0].args.clone().unwrap()[0];
    assert!(
        command.contains("--conf spark.executor.instances=1 "),
        "{command}"
    );
    assert!(
        command.contains("'spark.sql.shuffle.partitions=8'"),
        "{command}"
    );
    // The old server's executors go with it; the new one makes one.
    let status = eventually(20, || async {
        let connect = env.connects().get("edited").await.unwrap();
        let status = connect.status?;
        let executors = env
            .pods()
            .list(&executors_of("edited"))
            .await
            .unwrap()
            .items;
        (status.state.as_deref() == Some("Ready")
            && status.executors == [("running".to_string(), 1)].into()
            && executors.len() == 1)
            .then_some(status)
    })
    .await;
    assert_eq!(
        status.server.unwrap().pod_ip,
        second.status.and_then(|s| s.pod_ip)
    );
    let reasons = env.event_reasons_of("SparkConnect", "edited").await;
    assert!(
        reasons.iter().any(|r| r == "SparkConnectSpecChanged"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_spark_connect_removes_its_server_executors_service_and_config_map() {
    let env = Env::start().await;
    env.create_connect(&spark_connect("doomed", "", "")).await;
    let connect = env.wait_for_connect("doomed", "Ready", 20).await;
    eventually(10, || async {
        let owned = env.owned_by_uid(&connect.uid().unwrap()).await;
        (owned.len() == 5).then_some(())
    })
    .await;
    env.kubectl("kubectl")
        .ok(&["delete", "sparkconnect", "doomed", "--wait=true"])
        .await;
    let left = eventually(20, || async {
        let names = env.object_names().await;
        let left: Vec<String> = names.into_iter().filter(|n| n.contains("doomed")).collect();
        left.is_empty().then_some(left)
    })
    .await;
    assert!(left.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restart_adopts_the_running_server() {
    let mut env = Env::start().await;
    env.create_connect(&spark_connect("kept", "", "")).await;
    env.wait_for_connect("kept", "Ready", 20).await;
    let before = server(&env, "kept").await.unwrap();
    let executors_before: Vec<String> = env
        .pods()
        .list(&executors_of("kept"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.uid().unwrap())
        .collect();
    env.stop_operator().await;
    let metrics = start_operator(&mut env);
    // The new operator has looked at the SparkConnect.
    eventually(20, || async {
        let series =
            r#"controller_runtime_reconcile_total{controller="sparkconnect",result="success"}"#;
        sample(&metrics, series).filter(|n| *n >= 1.0)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server(&env, "kept").await.unwrap();
    assert_eq!(after.uid(), before.uid(), "the server pod was replaced");
    let executors_after: Vec<String> = env
        .pods()
        .list(&executors_of("kept"))
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.uid().unwrap())
        .collect();
    assert_eq!(executors_after, executors_before);
    let connect = env.connects().get("kept").await.unwrap();
    assert_eq!(
        connect.status.and_then(|s| s.state).as_deref(),
        Some("Ready")
    );
    let reasons = env.event_reasons_of("SparkConnect", "kept").await;
    assert_eq!(servers_created(&reasons), 1, "{reasons:?}");
    assert_eq!(sample(&metrics, "spark_connect_ready_count "), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_spark_connect_fails_with_the_field_named_and_makes_nothing() {
    let env = Env::start().await;
    let yaml = spark_connect("broken", "", "").replace("memory: 512m", "memory: lots");
    env.create_connect(&yaml).await;
    let connect = env.wait_for_connect("broken", "Failed", 20).await;
    let message = &connect.status.unwrap().conditions[0].message;
    assert!(
        message
            .contains("invalid SparkConnect: spec.executor.memory: \"lots\" is not a Spark size"),
        "{message}"
    );
    assert!(server(&env, "broken").await.is_none());
    let reasons = env.event_reasons_of("SparkConnect", "broken").await;
    assert_eq!(reasons, ["SparkConnectInvalid"]);
}
