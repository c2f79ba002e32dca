//! The server's objects and the reconcile's decisions, checked against Kubeflow's controller.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use serde_json::{Value, json};
use spark_operator_api::SparkConnect;

use super::*;
use crate::lifecycle::{PodPhase, Termination, Waiting};

const MASTER: &str = "https://10.96.0.1:443";

/// Kubeflow's example, as `examples/sparkconnect/spark-connect.yaml` writes it (shortened).
fn kubeflow_example() -> SparkConnect {
    serde_json::from_value(json!({
        "apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
        "metadata": {"name": "spark-connect", "namespace": "default", "uid": "u-1",
                     "generation": 1, "labels": {"team": "data"}},
        "spec": {
            "sparkVersion": "4.0.1",
            "sparkConf": {"spark.sql.shuffle.partitions": "4", "spark.app.note": "it's"},
            "hadoopConf": {"fs.s3a.endpoint": "http://minio:9000", "spark.hadoop.a": "b"},
            "server": {"cores": 1, "memory": "1g", "template": {
                "metadata": {"labels": {"key1": "value1"}, "annotations": {"key3": "value3"}},
                "spec": {"containers": [{"name": "spark-kubernetes-driver",
                                         "image": "apache/spark:4.0.1"}],
                         "serviceAccount": "spark-operator-spark"}}},
            "executor": {"instances": 2, "cores": 1, "memory": "512m", "template": {
                "metadata": {"labels": {"key1": "value1"}},
                "spec": {"containers": [{"name": "spark-kubernetes-executor",
                                         "image": "apache/spark:4.0.1-python3"}]}}}
        }
    }))
    .unwrap()
}

fn plain() -> SparkConnect {
    serde_json::from_value(json!({
        "apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
        "metadata": {"name": "sc", "namespace": "jobs", "uid": "u-2"},
        "spec": {"sparkVersion": "4.0.1", "image": "apache/spark:4.0.1",
                 "server": {}, "executor": {"instances": 1}}
    }))
    .unwrap()
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn the_command_is_kubeflows_in_its_order() {
    let words = command::start_command(&kubeflow_example(), MASTER).unwrap();
    let expected = [
        "${SPARK_HOME}/sbin/start-connect-server.sh",
        "--master",
        "k8s://https://10.96.0.1:443",
        "--conf",
        "spark.kubernetes.namespace=default",
        "--conf",
        "spark.kubernetes.container.image=apache/spark:4.0.1-python3",
        "--conf",
        "spark.kubernetes.executor.container.image=apache/spark:4.0.1-python3",
        "--conf",
        r#"'spark.app.note=it'"'"'s'"#,
        "--conf",
        "'spark.sql.shuffle.partitions=4'",
        "--conf",
        "'spark.hadoop.fs.s3a.endpoint=http://minio:9000'",
        "--conf",
        "'spark.hadoop.a=b'",
        "--conf",
        "spark.kubernetes.driver.label.sparkoperator.k8s.io/launched-by-spark-operator=true",
        "--conf",
        "spark.kubernetes.driver.label.sparkoperator.k8s.io/connect-name=spark-connect",
        "--conf",
        "spark.kubernetes.driver.label.team=data",
        "--conf",
        "spark.driver.cores=1",
        "--conf",
        "spark.driver.memory=1g",
        "--conf",
        "spark.driver.bindAddress=0.0.0.0",
        "--conf",
        r#"spark.driver.host=$(host=${POD_IP}; if [[ $host == *:* ]] && [[ $host != \[* ]]; then echo "[$host]"; else echo "$host"; fi)"#,
        "--conf",
        "spark.driver.port=7078",
        "--conf",
        "spark.driver.blockManager.port=7079",
        "--conf",
        "spark.kubernetes.driver.pod.name=spark-connect-server",
        "--conf",
        "spark.kubernetes.executor.label.sparkoperator.k8s.io/launched-by-spark-operator=true",
        "--conf",
        "spark.kubernetes.executor.label.sparkoperator.k8s.io/connect-name=spark-connect",
        "--conf",
        "spark.kubernetes.executor.label.team=data",
        "--conf",
        "spark.executor.instances=2",
        "--conf",
        "spark.executor.cores=1",
        "--conf",
        "spark.executor.memory=512m",
        "--conf",
        "spark.kubernetes.executor.podNamePrefix=spark-connect",
        "--conf",
        "spark.kubernetes.executor.podTemplateFile=/tmp/spark/executor-pod-template.yaml",
        "--conf",
        "spark.kubernetes.executor.podTemplateContainerName=spark-kubernetes-executor",
    ];
    assert_eq!(words, expected);
}

#[test]
fn dynamic_allocation_and_the_managed_pod_name() {
    let mut connect = plain();
    connect
        .spec
        .spark_conf
        .insert("spark.kubernetes.driver.pod.name".into(), "mine".into());
    connect.spec.dynamic_allocation = serde_json::from_value(
        json!({"enabled": true, "minExecutors": 1, "maxExecutors": 4, "shuffleTrackingTimeout": 60000}),
    )
    .unwrap();
    let words = command::start_command(&connect, "k8s://api.example.com:6443").unwrap();
    assert_eq!(words[2], "k8s://https://api.example.com:6443");
    let text = words.join(" ");
    assert!(!text.contains("=mine"), "{text}");
    assert!(text.ends_with(
        "--conf spark.dynamicAllocation.enabled=true \
         --conf spark.dynamicAllocation.minExecutors=1 \
         --conf spark.dynamicAllocation.maxExecutors=4 \
         --conf spark.dynamicAllocation.shuffleTracking.enabled=true \
         --conf spark.dynamicAllocation.shuffleTracking.timeout=60000"
    ));
    assert!(command::start_command(&connect, "ftp://x").is_err());
    connect.spec.image = None;
    assert!(command::start_command(&connect, MASTER).is_err());
}

#[test]
fn the_server_pod_from_the_template() {
    let objects = build(&kubeflow_example(), MASTER).unwrap();
    let pod = json_of(&objects.server_pod);
    let meta = &pod["metadata"];
    assert_eq!(meta["name"], "spark-connect-server");
    assert_eq!(meta["namespace"], "default");
    assert_eq!(
        meta["labels"],
        json!({"key1": "value1", "sparkoperator.k8s.io/launched-by-spark-operator": "true",
               "sparkoperator.k8s.io/connect-name": "spark-connect",
               "spark-role": "connect-server", "spark-version": "4.0.1"})
    );
    assert_eq!(meta["annotations"]["key3"], "value3");
    assert_eq!(
        meta["annotations"][SERVER_HASH_ANNOTATION],
        objects.server_hash.as_str()
    );
    assert_eq!(
        meta["ownerReferences"],
        json!([{"apiVersion": "sparkoperator.k8s.io/v1alpha1", "kind": "SparkConnect",
                "name": "spark-connect", "uid": "u-1", "controller": true,
                "blockOwnerDeletion": true}])
    );
    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccount"], "spark-operator-spark");
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(
        spec["volumes"],
        json!([{"name": "spark-conf", "configMap": {"name": "spark-connect-conf",
                "items": [{"key": "executor-pod-template.yaml", "path": "executor-pod-template.yaml"}]}}])
    );
    let server = &spec["containers"][0];
    assert_eq!(server["image"], "apache/spark:4.0.1");
    assert_eq!(server["command"], json!(["bash", "-c"]));
    let args = server["args"][0].as_str().unwrap();
    assert!(args.starts_with("${SPARK_HOME}/sbin/start-connect-server.sh --master k8s://"));
    assert_eq!(
        server["startupProbe"],
        json!({"tcpSocket": {"port": 15002}, "initialDelaySeconds": 5, "periodSeconds": 10,
               "timeoutSeconds": 1, "failureThreshold": 30})
    );
    assert_eq!(
        server["readinessProbe"],
        json!({"tcpSocket": {"port": 15002}, "periodSeconds": 10, "timeoutSeconds": 1,
               "failureThreshold": 3})
    );
    assert_eq!(
        server["env"],
        json!([{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
               {"name": "SPARK_NO_DAEMONIZE", "value": "true"}])
    );
    assert_eq!(
        server["volumeMounts"],
        json!([{"name": "spark-conf", "subPath": "executor-pod-template.yaml",
                "mountPath": "/tmp/spark/executor-pod-template.yaml", "readOnly": true}])
    );
    assert_eq!(
        server["lifecycle"]["preStop"]["exec"]["command"],
        json!(["bash", "-c", "${SPARK_HOME}/sbin/stop-connect-server.sh"])
    );
}

#[test]
fn without_a_template_the_pod_has_one_server_container_of_the_spec_image() {
    let objects = build(&plain(), MASTER).unwrap();
    let spec = objects.server_pod.spec.as_ref().unwrap();
    assert_eq!(spec.containers.len(), 1);
    assert_eq!(spec.containers[0].name, "spark-kubernetes-driver");
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some("apache/spark:4.0.1")
    );
    // A template's own probes and container order are kept; the server container is the
    // named one.
    let mut connect = plain();
    connect.spec.server.template = serde_json::from_value(json!({"spec": {"containers": [
        {"name": "sidecar", "image": "busybox"},
        {"name": "spark-kubernetes-driver", "readinessProbe": {"exec": {"command": ["true"]}}}]}}))
    .unwrap();
    let pod = json_of(&build(&connect, MASTER).unwrap().server_pod);
    assert_eq!(pod["spec"]["containers"][0]["command"], Value::Null);
    let server = &pod["spec"]["containers"][1];
    assert_eq!(server["image"], "apache/spark:4.0.1");
    assert_eq!(server["readinessProbe"]["exec"]["command"][0], "true");
    assert_eq!(server["startupProbe"]["tcpSocket"]["port"], 15002);
}

#[test]
fn the_service_has_kubeflows_ports_or_the_given_shape() {
    let objects = build(&plain(), MASTER).unwrap();
    let service = json_of(&objects.service);
    assert_eq!(service["metadata"]["name"], "sc-server");
    assert_eq!(
        service["metadata"]["labels"],
        json!({"sparkoperator.k8s.io/created-by-spark-operator": "true",
               "sparkoperator.k8s.io/connect-name": "sc"})
    );
    let ports: Vec<(String, i64, String)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["port"].as_i64().unwrap(),
                p["appProtocol"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("driver-rpc".into(), 7078, "tcp".into()),
            ("blockmanager".into(), 7079, "tcp".into()),
            ("web-ui".into(), 4040, "http".into()),
            ("spark-connect-server".into(), 15002, "grpc".into()),
        ]
    );
    assert_eq!(service["spec"]["selector"]["spark-role"], "connect-server");

    let mut connect = plain();
    connect.spec.server.service = serde_json::from_value(json!({
        "metadata": {"name": "sc-grpc", "namespace": "elsewhere", "labels": {"expose": "yes"}},
        "spec": {"type": "NodePort", "selector": {"extra": "x"},
                 "ports": [{"port": 80}]}}))
    .unwrap();
    let service = json_of(&build(&connect, MASTER).unwrap().service);
    assert_eq!(service["metadata"]["name"], "sc-grpc");
    assert_eq!(service["metadata"]["namespace"], "jobs");
    assert_eq!(service["metadata"]["labels"]["expose"], "yes");
    assert_eq!(service["spec"]["type"], "NodePort");
    assert_eq!(service["spec"]["selector"]["extra"], "x");
    assert_eq!(service["spec"]["ports"].as_array().unwrap().len(), 4);
}

#[test]
fn the_config_map_holds_the_executor_template() {
    let objects = build(&kubeflow_example(), MASTER).unwrap();
    let data = objects.config_map.data.as_ref().unwrap();
    let template: Value = serde_yaml::from_str(&data[EXECUTOR_TEMPLATE_FILE]).unwrap();
    assert_eq!(
        template["spec"]["containers"][0]["name"],
        "spark-kubernetes-executor"
    );
    assert_eq!(objects.config_map.name_any(), "spark-connect-conf");
    let none = build(&plain(), MASTER).unwrap();
    assert_eq!(
        none.config_map.data.unwrap()[EXECUTOR_TEMPLATE_FILE],
        "null\n"
    );
}

#[test]
fn the_server_hash_follows_what_the_server_reads() {
    let hash = |change: fn(&mut SparkConnect)| {
        let mut connect = kubeflow_example();
        change(&mut connect);
        build(&connect, MASTER).unwrap().server_hash
    };
    let base = hash(|_| {});
    assert_eq!(base.len(), 16);
    assert_eq!(base, hash(|c| c.status = Some(Default::default())));
    assert_eq!(
        base,
        hash(|c| c.spec.server.service = Some(Default::default()))
    );
    assert_ne!(base, hash(|c| c.spec.executor.instances = Some(3)));
    assert_ne!(
        base,
        hash(|c| {
            let template = c.spec.executor.template.as_mut().unwrap();
            template.metadata.as_mut().unwrap().labels = None;
        })
    );
    assert_ne!(
        base,
        hash(|c| {
            c.labels_mut().insert("team".into(), "ml".into());
        })
    );
}

#[test]
fn current_objects_ignore_what_the_api_server_fills_in() {
    let objects = build(&plain(), MASTER).unwrap();
    let mut stored: Service = objects.service.clone();
    let spec = stored.spec.as_mut().unwrap();
    spec.cluster_ip = Some("10.0.0.7".into());
    spec.type_ = Some("ClusterIP".into());
    stored.metadata.resource_version = Some("7".into());
    stored
        .labels_mut()
        .insert("added-by-someone".into(), "x".into());
    assert!(service_is_current(&stored, &objects.service));
    stored.spec.as_mut().unwrap().type_ = Some("NodePort".into());
    assert!(!service_is_current(&stored, &objects.service));

    let mut config_map = objects.config_map.clone();
    assert!(config_map_is_current(&config_map, &objects.config_map));
    config_map.metadata.owner_references = None;
    assert!(!config_map_is_current(&config_map, &objects.config_map));
}

fn now() -> Timestamp {
    "2026-01-01T00:01:00Z".parse().unwrap()
}

fn server(phase: PodPhase, ready: bool, hash: &str) -> ServerPod {
    ServerPod {
        name: "sc-server".into(),
        uid: "pod-1".into(),
        phase,
        ready,
        deleting: false,
        hash: Some(hash.into()),
        pod_ip: Some("127.1.0.4".into()),
        restarts: 0,
        terminated: None,
        waiting: None,
        running_waiting: None,
        pod_message: None,
        finished: None,
    }
}

fn observed(server: Option<ServerPod>) -> Observation {
    Observation {
        server,
        executor_phases: vec![],
        config_map_current: true,
        service_current: true,
        failures: 0,
        now: now(),
    }
}

fn with_state(state: &str) -> SparkConnect {
    let mut connect = plain();
    connect.status = Some(spark_operator_api::SparkConnectStatus {
        state: Some(state.into()),
        ..Default::default()
    });
    connect
}

fn events(decision: &Decision) -> Vec<&'static str> {
    decision
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Event { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_connect_gets_its_objects_and_is_provisioning() {
    let connect = plain();
    let objects = build(&connect, MASTER).unwrap();
    let mut nothing = observed(None);
    nothing.config_map_current = false;
    nothing.service_current = false;
    let decision = decide(&connect, &objects, &nothing, &Settings::default());
    assert_eq!(
        decision.actions[..3],
        [
            Action::ApplyConfigMap,
            Action::ApplyService,
            Action::CreateServer
        ]
    );
    assert_eq!(events(&decision), [reasons::SERVER_CREATED]);
    let status = &decision.status;
    assert_eq!(status.state.as_deref(), Some("Provisioning"));
    assert_eq!(status.start_time.as_ref().map(|t| t.0), Some(now()));
    assert_eq!(status.last_update_time.as_ref().map(|t| t.0), Some(now()));
    let server = status.server.as_ref().unwrap();
    assert_eq!(server.pod_name.as_deref(), Some("sc-server"));
    assert_eq!(server.service_name.as_deref(), Some("sc-server"));
    let condition = &status.conditions[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("ServerPodReady", "False")
    );
    assert_eq!(condition.reason, "ServerPodNotReady");
}

#[test]
fn pending_and_starting_servers_are_provisioning_with_why() {
    let connect = with_state("Provisioning");
    let objects = build(&connect, MASTER).unwrap();
    let mut pending = server(PodPhase::Pending, false, &objects.server_hash);
    pending.waiting = Some(Waiting {
        reason: "Unschedulable".into(),
        message: Some("0/3 nodes are available".into()),
    });
    let decision = decide(
        &connect,
        &objects,
        &observed(Some(pending)),
        &Settings::default(),
    );
    assert_eq!(decision.status.state.as_deref(), Some("Provisioning"));
    assert_eq!(
        decision.status.conditions[0].message,
        "Server pod is not ready: Unschedulable: 0/3 nodes are available"
    );
    assert!(decision.actions.is_empty());
    let starting = server(PodPhase::Running, false, &objects.server_hash);
    let decision = decide(
        &connect,
        &objects,
        &observed(Some(starting)),
        &Settings::default(),
    );
    assert_eq!(decision.status.state.as_deref(), Some("Provisioning"));
    assert!(
        decision.status.conditions[0]
            .message
            .contains("does not accept connections on port 15002 yet")
    );
}

#[test]
fn a_ready_server_is_ready_with_its_address_and_executors() {
    let connect = with_state("Provisioning");
    let objects = build(&connect, MASTER).unwrap();
    let mut seen = observed(Some(server(PodPhase::Running, true, &objects.server_hash)));
    seen.executor_phases = vec![
        Some("Running".into()),
        Some("Running".into()),
        Some("Pending".into()),
    ];
    seen.failures = 2;
    let decision = decide(&connect, &objects, &seen, &Settings::default());
    let status = &decision.status;
    assert_eq!(status.state.as_deref(), Some("Ready"));
    assert_eq!(
        status.server.as_ref().unwrap().pod_ip.as_deref(),
        Some("127.1.0.4")
    );
    assert_eq!(
        status.executors,
        [("pending".to_string(), 1), ("running".to_string(), 2)].into()
    );
    let condition = &status.conditions[0];
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "ServerPodReady")
    );
    assert_eq!(condition.message, "Server pod is ready");
    assert!(decision.actions.contains(&Action::ForgetFailures));
    assert_eq!(events(&decision), [reasons::READY]);
    let Some(Action::Event { message, .. }) = decision.actions.last() else {
        panic!("{:?}", decision.actions)
    };
    assert!(
        message.contains("sc://sc-server.jobs.svc:15002"),
        "{message}"
    );

    // The same again changes nothing, not even the update time.
    let mut again = connect.clone();
    again.status = Some(decision.status.clone());
    let later = Observation {
        now: now() + jiff::SignedDuration::from_secs(30),
        failures: 0,
        ..seen
    };
    let repeat = decide(&again, &objects, &later, &Settings::default());
    assert_eq!(repeat.status, decision.status);
    assert!(repeat.actions.is_empty(), "{:?}", repeat.actions);
}

#[test]
fn a_ready_server_that_stops_answering_is_not_ready() {
    let connect = with_state("Ready");
    let objects = build(&connect, MASTER).unwrap();
    let mut crashing = server(PodPhase::Running, false, &objects.server_hash);
    crashing.restarts = 1;
    crashing.running_waiting = Some(Waiting {
        reason: "CrashLoopBackOff".into(),
        message: Some("back-off 10s".into()),
    });
    let decision = decide(
        &connect,
        &objects,
        &observed(Some(crashing)),
        &Settings::default(),
    );
    assert_eq!(decision.status.state.as_deref(), Some("NotReady"));
    assert_eq!(
        decision.status.conditions[0].message,
        "Server pod is not ready: CrashLoopBackOff: back-off 10s"
    );
    assert_eq!(events(&decision), [reasons::NOT_READY]);
}

#[test]
fn a_failed_server_is_reported_and_replaced_with_back_off() {
    let connect = with_state("Ready");
    let objects = build(&connect, MASTER).unwrap();
    let mut failed = server(PodPhase::Failed, false, &objects.server_hash);
    failed.terminated = Some(Termination {
        exit_code: 1,
        reason: Some("Error".into()),
        message: None,
    });
    failed.finished = Some(now() - jiff::SignedDuration::from_secs(3));
    let first = decide(
        &connect,
        &objects,
        &observed(Some(failed.clone())),
        &Settings::default(),
    );
    assert_eq!(first.status.state.as_deref(), Some("Failed"));
    assert_eq!(
        first.status.conditions[0].message,
        "Server pod is not ready: exited with code 1 (Error)"
    );
    assert!(
        first
            .actions
            .contains(&Action::DeleteServer { failed: true })
    );
    assert_eq!(events(&first), [reasons::SERVER_FAILED]);
    // After two failures in a row the next replacement waits 20 s from the end.
    let mut after_two = observed(Some(failed));
    after_two.failures = 2;
    let waiting = decide(
        &with_state("Failed"),
        &objects,
        &after_two,
        &Settings::default(),
    );
    assert!(
        !waiting
            .actions
            .iter()
            .any(|a| matches!(a, Action::DeleteServer { .. }))
    );
    assert_eq!(waiting.requeue_after, Some(Duration::from_secs(17)));
    assert!(events(&waiting).is_empty(), "reported once");
}

#[test]
fn replacement_waits_double_up_to_the_cap() {
    let settings = Settings::default();
    let waits: Vec<u64> = [0, 1, 2, 3, 10]
        .map(|n| settings.replacement_delay(n).as_secs())
        .to_vec();
    assert_eq!(waits, [0, 10, 20, 40, 300]);
}

#[test]
fn a_changed_spec_replaces_the_server_and_a_foreign_pod_is_adopted() {
    let connect = with_state("Ready");
    let objects = build(&connect, MASTER).unwrap();
    let old = server(PodPhase::Running, true, "0123456789abcdef");
    let decision = decide(
        &connect,
        &objects,
        &observed(Some(old)),
        &Settings::default(),
    );
    assert!(
        decision
            .actions
            .contains(&Action::DeleteServer { failed: false })
    );
    assert_eq!(events(&decision), [reasons::SPEC_CHANGED]);
    assert_eq!(decision.status.state.as_deref(), Some("NotReady"));
    let mut deleting = server(PodPhase::Running, true, "0123456789abcdef");
    deleting.deleting = true;
    let waiting = decide(
        &connect,
        &objects,
        &observed(Some(deleting)),
        &Settings::default(),
    );
    assert!(waiting.actions.is_empty());
    assert_eq!(waiting.requeue_after, Some(Duration::from_secs(2)));
    let mut unmarked = server(PodPhase::Running, true, "");
    unmarked.hash = None;
    let adopted = decide(
        &connect,
        &objects,
        &observed(Some(unmarked)),
        &Settings::default(),
    );
    assert_eq!(adopted.status.state.as_deref(), Some("Ready"));
    assert!(adopted.actions.is_empty());
}

#[test]
fn an_invalid_connect_fails_once_with_its_problems() {
    let connect = plain();
    let decision = reject_invalid(&connect, "spec.image: missing", now());
    assert_eq!(decision.status.state.as_deref(), Some("Failed"));
    assert!(
        decision.status.conditions[0]
            .message
            .ends_with("invalid SparkConnect: spec.image: missing")
    );
    assert_eq!(events(&decision), [reasons::INVALID]);
    let mut again = connect;
    again.status = Some(decision.status.clone());
    let repeat = reject_invalid(&again, "spec.image: missing", now());
    assert!(repeat.actions.is_empty());
    assert_eq!(repeat.status, decision.status);
}

#[test]
fn server_pods_are_read_from_their_status() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "sc-server", "annotations": {SERVER_HASH_ANNOTATION: "h"},
                     "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Failed", "podIP": "127.1.0.9",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "spark-kubernetes-driver", "image": "i", "imageID": "",
                "ready": false, "restartCount": 2, "state": {"terminated": {"exitCode": 137,
                "reason": "OOMKilled", "finishedAt": "2026-01-01T00:00:30Z"}}}]}
    }))
    .unwrap();
    let server = ServerPod::of(&pod.metadata, pod.status.as_ref());
    assert_eq!(server.phase, PodPhase::Failed);
    assert!(server.deleting && !server.ready);
    assert_eq!(server.hash.as_deref(), Some("h"));
    assert_eq!(server.restarts, 2);
    assert_eq!(server.terminated.as_ref().map(|t| t.exit_code), Some(137));
    assert_eq!(
        server.finished,
        Some("2026-01-01T00:00:30Z".parse().unwrap())
    );
    assert_eq!(State::parse(Some("NotReady")), Some(State::NotReady));
    assert_eq!(State::parse(Some("")), None);
}
