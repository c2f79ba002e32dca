//! The examples, object by object, as spark-submit would create them.

use std::collections::BTreeMap;

use serde_json::json;

use super::fixtures::*;
use crate::submission::{properties, spark_submit_args};

fn owner() -> serde_json::Value {
    json!([{
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "name": "spark-pi",
        "uid": "6f1c1d3e-0000-4000-8000-000000000001",
        "controller": true,
        "blockOwnerDeletion": true,
    }])
}

#[test]
fn spark_pi_driver_pod() {
    let app = example("spark-pi.yaml");
    let ctx = context(&app);
    let plan = plan_of(&app);
    let prefix = &plan.names.resource_prefix;
    assert_eq!(prefix, &format!("spark-pi-{}", ctx.unique_id));
    let local_dir = plan.driver_pod.spec.as_ref().unwrap().containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()[1]
        .mount_path
        .clone();
    assert!(local_dir.starts_with("/var/data/spark-"), "{local_dir}");

    let expected = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "spark-pi-driver",
            "namespace": "default",
            "labels": {
                "spark-app-name": "spark-pi",
                "spark-app-selector": ctx.app_id,
                "spark-role": "driver",
                "spark-version": "4.0.0",
                "sparkoperator.k8s.io/app-name": "spark-pi",
                "sparkoperator.k8s.io/launched-by-spark-operator": "true",
                "sparkoperator.k8s.io/mutated-by-spark-operator": "true",
                "sparkoperator.k8s.io/submission-id": "attempt-1",
            },
            "ownerReferences": owner(),
        },
        "spec": {
            "enableServiceLinks": false,
            "restartPolicy": "Never",
            "serviceAccount": "spark-operator-spark",
            "serviceAccountName": "spark-operator-spark",
            "containers": [{
                "name": "spark-kubernetes-driver",
                "image": "apache/spark:4.0.0",
                "imagePullPolicy": "IfNotPresent",
                "args": [
                    "driver", "--properties-file", "/opt/spark/conf/spark.properties",
                    "--class", "org.apache.spark.examples.SparkPi",
                    "local:///opt/spark/examples/jars/spark-examples.jar", "1000",
                ],
                "ports": [
                    {"name": "driver-rpc-port", "containerPort": 7078, "protocol": "TCP"},
                    {"name": "blockmanager", "containerPort": 7079, "protocol": "TCP"},
                    {"name": "spark-ui", "containerPort": 4040, "protocol": "TCP"},
                ],
                "env": [
                    {"name": "SPARK_USER", "value": "spark"},
                    {"name": "SPARK_APPLICATION_ID", "value": ctx.app_id},
                    {"name": "SPARK_DRIVER_BIND_ADDRESS",
                     "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                    {"name": "SPARK_LOCAL_DIRS", "value": local_dir},
                    {"name": "SPARK_CONF_DIR", "value": "/opt/spark/conf"},
                ],
                // 512m + max(0.1 × 512, 384) = 896Mi, requested and limited alike.
                "resources": {
                    "requests": {"cpu": "1", "memory": "896Mi"},
                    "limits": {"memory": "896Mi"},
                },
                "volumeMounts": [
                    {"name": "pod-template-volume", "mountPath": "/opt/spark/pod-template"},
                    {"name": "spark-local-dir-1", "mountPath": local_dir},
                    {"name": "spark-conf-volume-driver", "mountPath": "/opt/spark/conf"},
                ],
            }],
            "volumes": [
                {"name": "pod-template-volume", "configMap": {
                    "name": format!("{prefix}-driver-podspec-conf-map"),
                    "items": [{"key": "podspec-configmap-key", "path": "pod-spec-template.yml"}],
                }},
                {"name": "spark-local-dir-1", "emptyDir": {}},
                {"name": "spark-conf-volume-driver", "configMap": {
                    "name": format!("spark-drv-{}-conf-map", ctx.unique_id),
                    "items": [{"key": "spark.properties", "path": "spark.properties", "mode": 420}],
                }},
            ],
        },
    });
    assert_eq!(serde_json::to_value(&plan.driver_pod).unwrap(), expected);
}

#[test]
fn spark_pi_properties() {
    let app = example("spark-pi.yaml");
    let ctx = context(&app);
    let plan = plan_of(&app);
    let prefix = &plan.names.resource_prefix;
    let expected: BTreeMap<String, String> = [
        ("spark.app.id", ctx.app_id.clone()),
        ("spark.app.name", "spark-pi".into()),
        ("spark.app.submitTime", SUBMIT_TIME_MS.to_string()),
        ("spark.driver.blockManager.port", "7079".into()),
        ("spark.driver.cores", "1".into()),
        (
            "spark.driver.host",
            format!("{prefix}-driver-svc.default.svc"),
        ),
        ("spark.driver.memory", "512m".into()),
        ("spark.driver.port", "7078".into()),
        ("spark.executor.cores", "1".into()),
        ("spark.executor.instances", "1".into()),
        ("spark.executor.memory", "512m".into()),
        (
            "spark.jars",
            "local:///opt/spark/examples/jars/spark-examples.jar".into(),
        ),
        (
            "spark.kubernetes.authenticate.driver.serviceAccountName",
            "spark-operator-spark".into(),
        ),
        (
            "spark.kubernetes.container.image",
            "apache/spark:4.0.0".into(),
        ),
        (
            "spark.kubernetes.container.image.pullPolicy",
            "IfNotPresent".into(),
        ),
        (
            "spark.kubernetes.driver.container.image",
            "apache/spark:4.0.0".into(),
        ),
        (
            "spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name",
            "spark-pi".into(),
        ),
        (
            "spark.kubernetes.driver.label.sparkoperator.k8s.io/launched-by-spark-operator",
            "true".into(),
        ),
        (
            "spark.kubernetes.driver.label.sparkoperator.k8s.io/mutated-by-spark-operator",
            "true".into(),
        ),
        (
            "spark.kubernetes.driver.label.sparkoperator.k8s.io/submission-id",
            "attempt-1".into(),
        ),
        ("spark.kubernetes.driver.master", MASTER.into()),
        ("spark.kubernetes.driver.pod.name", "spark-pi-driver".into()),
        (
            "spark.kubernetes.driver.podTemplateContainerName",
            "spark-kubernetes-driver".into(),
        ),
        (
            "spark.kubernetes.driver.podTemplateFile",
            "/tmp/spark/attempt-1/driver-pod-template.yaml".into(),
        ),
        (
            "spark.kubernetes.executor.container.image",
            "apache/spark:4.0.0".into(),
        ),
        (
            "spark.kubernetes.executor.label.sparkoperator.k8s.io/app-name",
            "spark-pi".into(),
        ),
        (
            "spark.kubernetes.executor.label.sparkoperator.k8s.io/launched-by-spark-operator",
            "true".into(),
        ),
        (
            "spark.kubernetes.executor.label.sparkoperator.k8s.io/mutated-by-spark-operator",
            "true".into(),
        ),
        (
            "spark.kubernetes.executor.label.sparkoperator.k8s.io/submission-id",
            "attempt-1".into(),
        ),
        ("spark.kubernetes.executor.podNamePrefix", prefix.clone()),
        (
            "spark.kubernetes.executor.podTemplateContainerName",
            "spark-kubernetes-executor".into(),
        ),
        (
            "spark.kubernetes.executor.podTemplateFile",
            "/opt/spark/pod-template/pod-spec-template.yml".into(),
        ),
        ("spark.kubernetes.memoryOverheadFactor", "0.1".into()),
        ("spark.kubernetes.namespace", "default".into()),
        ("spark.kubernetes.resource.type", "java".into()),
        (
            "spark.kubernetes.submission.waitAppCompletion",
            "false".into(),
        ),
        ("spark.kubernetes.submitInDriver", "true".into()),
        ("spark.master", format!("k8s://{MASTER}")),
        ("spark.submit.deployMode", "cluster".into()),
        ("spark.submit.pyFiles", String::new()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(plan.spark_properties, expected);

    // The ConfigMap holds them as Java wrote them, plus the namespace entry spark-submit leaves.
    let data = plan.driver_config_map.data.as_ref().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data["spark.kubernetes.namespace"], "default");
    let text = &data["spark.properties"];
    assert!(text.starts_with(&format!(
        "#Java properties built from Kubernetes config map with name: spark-drv-{}-conf-map\n#Mon Nov 24 16:00:00 UTC 2025\n",
        ctx.unique_id
    )));
    assert!(
        text.contains("\nspark.master=k8s\\://https\\://127.0.0.1\\:6443\n"),
        "{text}"
    );
    assert_eq!(properties::parse(text).unwrap(), expected);
    assert_eq!(plan.driver_config_map.immutable, Some(true));
    assert_eq!(
        serde_json::to_value(&plan.driver_config_map.metadata.owner_references).unwrap(),
        owner()
    );
}

#[test]
fn spark_pi_services_and_templates() {
    let app = example("spark-pi.yaml");
    let ctx = context(&app);
    let plan = plan_of(&app);
    let prefix = &plan.names.resource_prefix;
    let selector = plan.driver_pod.metadata.labels.clone().unwrap();
    let expected = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": format!("{prefix}-driver-svc"),
            "namespace": "default",
            "labels": {
                "spark-app-selector": ctx.app_id,
                "sparkoperator.k8s.io/app-name": "spark-pi",
                "sparkoperator.k8s.io/submission-id": "attempt-1",
            },
            "ownerReferences": owner(),
        },
        "spec": {
            "clusterIP": "None",
            "ipFamilyPolicy": "SingleStack",
            "ipFamilies": ["IPv4"],
            "selector": selector,
            "ports": [
                {"name": "driver-rpc-port", "port": 7078, "targetPort": 7078},
                {"name": "blockmanager", "port": 7079, "targetPort": 7079},
                {"name": "spark-ui", "port": 4040, "targetPort": 4040},
            ],
        },
    });
    assert_eq!(
        serde_json::to_value(&plan.driver_service).unwrap(),
        expected
    );

    let ui = plan.ui_service.as_ref().unwrap();
    assert_eq!(ui.metadata.name.as_deref(), Some("spark-pi-ui-svc"));
    assert_eq!(
        serde_json::to_value(ui.spec.as_ref().unwrap()).unwrap(),
        json!({
            "type": "ClusterIP",
            "selector": {"sparkoperator.k8s.io/app-name": "spark-pi", "spark-role": "driver"},
            "ports": [{"name": "spark-driver-ui-port", "port": 4040, "targetPort": 4040}],
        })
    );
    assert!(plan.ui_ingress.is_none());

    let template_map = &plan.executor_template_config_map;
    assert_eq!(
        template_map.metadata.name.as_deref(),
        Some(format!("{prefix}-driver-podspec-conf-map").as_str())
    );
    assert_eq!(template_map.immutable, Some(true));
    let template: serde_json::Value =
        serde_yaml::from_str(&template_map.data.as_ref().unwrap()["podspec-configmap-key"])
            .unwrap();
    let mut executor_owner = owner();
    executor_owner[0]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k != "controller" && k != "blockOwnerDeletion");
    assert_eq!(
        template,
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"ownerReferences": executor_owner},
            "spec": {"containers": [{"name": "spark-kubernetes-executor"}], "enableServiceLinks": false},
        })
    );
    let names: Vec<_> = plan
        .config_maps()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("{prefix}-driver-podspec-conf-map"),
            format!("spark-drv-{}-conf-map", ctx.unique_id)
        ]
    );
    assert_eq!(plan.services().count(), 2);
}

#[test]
fn spark_pi_spark_submit_arguments() {
    let app = example("spark-pi.yaml");
    let args = spark_submit_args(&app, &context(&app)).unwrap();
    let conf = |kv: &str| ["--conf".to_string(), kv.to_string()];
    let mut expected: Vec<String> = [
        "--master",
        "k8s://https://127.0.0.1:6443",
        "--deploy-mode",
        "cluster",
        "--class",
        "org.apache.spark.examples.SparkPi",
        "--name",
        "spark-pi",
    ]
    .map(String::from)
    .to_vec();
    for kv in [
        "spark.kubernetes.namespace=default",
        "spark.kubernetes.driver.master=https://127.0.0.1:6443",
        "spark.kubernetes.container.image=apache/spark:4.0.0",
        "spark.kubernetes.container.image.pullPolicy=IfNotPresent",
        "spark.kubernetes.submission.waitAppCompletion=false",
        "spark.kubernetes.driver.pod.name=spark-pi-driver",
        "spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name=spark-pi",
        "spark.kubernetes.driver.label.sparkoperator.k8s.io/launched-by-spark-operator=true",
        "spark.kubernetes.driver.label.sparkoperator.k8s.io/mutated-by-spark-operator=true",
        "spark.kubernetes.driver.label.sparkoperator.k8s.io/submission-id=attempt-1",
        "spark.kubernetes.driver.container.image=apache/spark:4.0.0",
        "spark.driver.cores=1",
        "spark.driver.memory=512m",
        "spark.kubernetes.authenticate.driver.serviceAccountName=spark-operator-spark",
        "spark.kubernetes.executor.label.sparkoperator.k8s.io/app-name=spark-pi",
        "spark.kubernetes.executor.label.sparkoperator.k8s.io/launched-by-spark-operator=true",
        "spark.kubernetes.executor.label.sparkoperator.k8s.io/mutated-by-spark-operator=true",
        "spark.kubernetes.executor.label.sparkoperator.k8s.io/submission-id=attempt-1",
        "spark.executor.instances=1",
        "spark.kubernetes.executor.container.image=apache/spark:4.0.0",
        "spark.executor.cores=1",
        "spark.executor.memory=512m",
        "spark.kubernetes.driver.podTemplateFile=/tmp/spark/attempt-1/driver-pod-template.yaml",
        "spark.kubernetes.driver.podTemplateContainerName=spark-kubernetes-driver",
        "spark.kubernetes.executor.podTemplateFile=/tmp/spark/attempt-1/executor-pod-template.yaml",
        "spark.kubernetes.executor.podTemplateContainerName=spark-kubernetes-executor",
    ] {
        expected.extend(conf(kv));
    }
    expected.extend([
        "local:///opt/spark/examples/jars/spark-examples.jar".into(),
        "1000".into(),
    ]);
    assert_eq!(args, expected);
}

#[test]
fn python_pi() {
    let app = example("spark-pi-python.yaml");
    let plan = plan_of(&app);
    let container = &plan.driver_pod.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.args.as_deref().unwrap(),
        [
            "driver",
            "--properties-file",
            "/opt/spark/conf/spark.properties",
            "--class",
            "org.apache.spark.deploy.PythonRunner",
            "local:///opt/spark/examples/src/main/python/pi.py",
            "10",
        ]
    );
    // 512m + max(0.4 × 512 = 204, 384).
    let resources = container.resources.as_ref().unwrap();
    assert_eq!(resources.requests.as_ref().unwrap()["memory"].0, "896Mi");
    let props = &plan.spark_properties;
    assert_eq!(props["spark.kubernetes.resource.type"], "python");
    assert_eq!(props["spark.kubernetes.memoryOverheadFactor"], "0.4");
    assert_eq!(props["spark.kubernetes.pyspark.pythonVersion"], "3");
    assert_eq!(props["spark.submit.pyFiles"], "");
    // spark-submit adds the main file to spark.jars only for JVM applications.
    assert!(!props.contains_key("spark.jars"));
    let env: Vec<&str> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        env,
        [
            "SPARK_USER",
            "SPARK_APPLICATION_ID",
            "SPARK_DRIVER_BIND_ADDRESS",
            "SPARK_LOCAL_DIRS",
            "SPARK_CONF_DIR"
        ]
    );
}
