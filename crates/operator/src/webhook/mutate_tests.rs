use serde_json::json;

use super::*;

fn app() -> SparkApplication {
    serde_yaml::from_str(
        r#"
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata: {name: pi, namespace: default, uid: 11111111-2222-3333-4444-555555555555}
spec:
  type: Scala
  mode: cluster
  image: apache/spark:4.0.0
  mainClass: org.apache.spark.examples.SparkPi
  mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar
  sparkVersion: 4.0.0
  volumes:
    - name: data
      emptyDir: {}
  driver:
    cores: 1
    memory: 512m
  executor:
    instances: 1
    memory: 512m
    env: [{name: FROM_APP, value: "1"}]
    envFrom: [{configMapRef: {name: shared}}]
    volumeMounts: [{name: data, mountPath: /data}]
    configMaps: [{name: extra-conf, path: /etc/extra}]
    tolerations: [{key: dedicated, operator: Equal, value: spark, effect: NoSchedule}]
    nodeSelector: {disk: ssd}
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]
    securityContext: {runAsNonRoot: true}
    podSecurityContext: {fsGroup: 185}
    sidecars: [{name: logger, image: busybox}]
    initContainers: [{name: init, image: busybox}]
    hostAliases: [{ip: 10.0.0.1, hostnames: [db]}]
    dnsConfig: {nameservers: [1.1.1.1]}
    schedulerName: my-scheduler
    priorityClassName: high
    terminationGracePeriodSeconds: 7
    gpu: {name: nvidia.com/gpu, quantity: 2}
    ports: [{name: extra, containerPort: 7777, protocol: TCP}]
    lifecycle: {preStop: {exec: {command: [sh, -c, "sleep 1"]}}}
"#,
    )
    .expect("test application parses")
}

fn executor_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "pi-exec-1", "namespace": "default", "labels": {
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
            "sparkoperator.k8s.io/app-name": "pi", "spark-role": "executor"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "spark-kubernetes-executor",
            "image": "apache/spark:4.0.0", "env": [{"name": "SPARK_EXECUTOR_ID", "value": "1"}]}]}
    })
}

fn apply(pod: &Value, patch: &[Value]) -> Value {
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(patch.to_vec())).expect("patch reads");
    let mut pod = pod.clone();
    json_patch::patch(&mut pod, &patch).expect("patch applies");
    pod
}

#[test]
fn managed_pods_are_recognised_and_others_are_not() {
    assert_eq!(
        managed_pod(&executor_pod()),
        Some(("pi".to_string(), Role::Executor))
    );
    let mut other = executor_pod();
    other["metadata"]["labels"]["sparkoperator.k8s.io/launched-by-spark-operator"] = json!("false");
    assert_eq!(managed_pod(&other), None);
    assert_eq!(managed_pod(&json!({"metadata": {}})), None);
    assert_eq!(managed_pod(&json!(null)), None);
}

#[test]
fn an_executor_gets_what_the_application_asks_once() {
    let app = app();
    let pod = executor_pod();
    let patch = patch_for(&pod, &app, Role::Executor).expect("patch");
    assert!(!patch.is_empty());
    let mutated = apply(&pod, &patch);
    let spec = &mutated["spec"];
    let container = &spec["containers"][0];
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, ["SPARK_EXECUTOR_ID", "FROM_APP"]);
    assert_eq!(container["envFrom"][0]["configMapRef"]["name"], "shared");
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert!(mounts.contains(&"/data") && mounts.contains(&"/etc/extra"));
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], "2");
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["ports"][0]["containerPort"], 7777);
    assert!(container["lifecycle"]["preStop"].is_object());
    let volumes: Vec<&str> = spec["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(volumes.contains(&"data"));
    assert_eq!(spec["tolerations"][0]["key"], "dedicated");
    assert_eq!(spec["nodeSelector"]["disk"], "ssd");
    assert!(spec["affinity"]["nodeAffinity"].is_object());
    assert_eq!(spec["securityContext"]["fsGroup"], 185);
    assert_eq!(spec["containers"][1]["name"], "logger");
    assert_eq!(spec["initContainers"][0]["name"], "init");
    assert_eq!(spec["hostAliases"][0]["ip"], "10.0.0.1");
    assert_eq!(spec["dnsConfig"]["nameservers"][0], "1.1.1.1");
    assert_eq!(spec["schedulerName"], "my-scheduler");
    assert_eq!(spec["priorityClassName"], "high");
    assert_eq!(spec["terminationGracePeriodSeconds"], 7);
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(
        mutated["metadata"]["ownerReferences"][0]["uid"],
        "11111111-2222-3333-4444-555555555555"
    );
    // Idempotent: a mutated pod needs nothing more.
    assert_eq!(
        patch_for(&mutated, &app, Role::Executor).expect("patch"),
        Vec::<Value>::new()
    );
}

#[test]
fn what_the_pod_has_is_kept() {
    let app = app();
    let mut pod = executor_pod();
    pod["spec"]["containers"][0]["env"] = json!([{"name": "FROM_APP", "value": "pod's"}]);
    pod["spec"]["nodeSelector"] = json!({"disk": "hdd"});
    let mutated = apply(&pod, &patch_for(&pod, &app, Role::Executor).expect("patch"));
    assert_eq!(
        mutated["spec"]["containers"][0]["env"],
        json!([{"name": "FROM_APP", "value": "pod's"}])
    );
    assert_eq!(mutated["spec"]["nodeSelector"]["disk"], "hdd");
}

#[test]
fn a_driver_gets_the_driver_part_and_bad_pods_are_errors() {
    let app = app();
    let mut pod = executor_pod();
    pod["metadata"]["labels"]["spark-role"] = json!("driver");
    pod["spec"]["containers"][0]["name"] = json!("spark-kubernetes-driver");
    let mutated = apply(&pod, &patch_for(&pod, &app, Role::Driver).expect("patch"));
    // The executor's settings are not the driver's.
    assert!(mutated["spec"]["tolerations"].is_null());
    assert_eq!(
        mutated["metadata"]["ownerReferences"][0]["controller"],
        true
    );
    assert!(patch_for(&json!({"spec": 5}), &app, Role::Driver).is_err());
}

#[test]
fn pods_of_a_gang_get_their_group_when_spark_left_it_out() {
    let mut volcano = app();
    volcano.spec.batch_scheduler = Some("volcano".into());
    let pod = executor_pod();
    let mutated = apply(&pod, &patch_for(&pod, &volcano, Role::Executor).unwrap());
    assert_eq!(
        mutated["metadata"]["annotations"]["scheduling.k8s.io/group-name"],
        "spark-pi-pg"
    );
    assert_eq!(mutated["spec"]["schedulerName"], "volcano");
    let mut yunikorn = app();
    yunikorn.spec.batch_scheduler = Some("yunikorn".into());
    let mutated = apply(&pod, &patch_for(&pod, &yunikorn, Role::Executor).unwrap());
    assert_eq!(
        mutated["metadata"]["annotations"]["yunikorn.apache.org/task-group-name"],
        "spark-executor"
    );
    assert_eq!(
        patch_for(&mutated, &yunikorn, Role::Executor).unwrap(),
        Vec::<Value>::new(),
        "once"
    );
}
