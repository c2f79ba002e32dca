//! Each group of spec fields shows up as the Spark configuration Kubeflow translates it to, and
//! where Spark puts it in the driver pod.

use std::collections::BTreeMap;

use super::fixtures::*;
use crate::submission::{SubmissionError, plan, spark_conf, spark_submit_args};

fn conf_of(app: &spark_operator_api::SparkApplication) -> BTreeMap<String, String> {
    spark_conf(app, &context(app)).expect("a conf")
}

fn assert_conf(conf: &BTreeMap<String, String>, expected: &[(&str, &str)]) {
    for (key, value) in expected {
        assert_eq!(conf.get(*key).map(String::as_str), Some(*value), "{key}");
    }
}

#[test]
fn driver_and_executor_resources() {
    let app = scala_app(
        "driver:
  cores: 2
  coreRequest: 1500m
  coreLimit: 2500m
  memory: 2g
  memoryOverhead: 512m
  javaOptions: -XX:+UseG1GC
executor:
  instances: 3
  cores: 4
  coreRequest: 3500m
  coreLimit: '4'
  memory: 8g
  memoryOverhead: 1g
  javaOptions: -Dexec=1
  deleteOnTermination: false
  serviceAccount: executors",
    );
    let conf = conf_of(&app);
    assert_conf(
        &conf,
        &[
            ("spark.driver.cores", "2"),
            ("spark.kubernetes.driver.request.cores", "1500m"),
            ("spark.kubernetes.driver.limit.cores", "2500m"),
            ("spark.driver.memory", "2g"),
            ("spark.driver.memoryOverhead", "512m"),
            ("spark.driver.extraJavaOptions", "-XX:+UseG1GC"),
            ("spark.executor.instances", "3"),
            ("spark.executor.cores", "4"),
            ("spark.kubernetes.executor.request.cores", "3500m"),
            ("spark.kubernetes.executor.limit.cores", "4"),
            ("spark.executor.memory", "8g"),
            ("spark.executor.memoryOverhead", "1g"),
            ("spark.executor.extraJavaOptions", "-Dexec=1"),
            ("spark.kubernetes.executor.deleteOnTermination", "false"),
            (
                "spark.kubernetes.authenticate.executor.serviceAccountName",
                "executors",
            ),
        ],
    );
    let plan = plan(&app, &context(&app)).unwrap();
    let resources = container(&plan.driver_pod, "spark-kubernetes-driver")
        .resources
        .clone()
        .unwrap();
    let requests = resources.requests.unwrap();
    let limits = resources.limits.unwrap();
    assert_eq!(requests["cpu"].0, "1500m");
    assert_eq!(limits["cpu"].0, "2500m");
    // 2048 + the explicit 512 overhead.
    assert_eq!(requests["memory"].0, "2560Mi");
    assert_eq!(limits["memory"].0, "2560Mi");
}

#[test]
fn memory_overhead_follows_the_factor() {
    let jvm = scala_app("driver:\n  memory: 1g");
    let plan_jvm = plan(&jvm, &context(&jvm)).unwrap();
    let memory = |plan: &crate::submission::SubmissionPlan| {
        let resources = container(&plan.driver_pod, "spark-kubernetes-driver")
            .resources
            .clone()
            .unwrap();
        resources.requests.unwrap()["memory"].0.clone()
    };
    assert_eq!(memory(&plan_jvm), "1408Mi");

    let mut python = scala_app("driver:\n  memory: 1g");
    python.spec.main_application_file = Some("local:///opt/app.py".into());
    python.spec.main_class = None;
    let plan_python = plan(&python, &context(&python)).unwrap();
    assert_eq!(memory(&plan_python), "1433Mi"); // 1024 + 409
    assert_eq!(
        plan_python.spark_properties["spark.kubernetes.memoryOverheadFactor"],
        "0.4"
    );

    let factor = scala_app("memoryOverheadFactor: '0.5'\ndriver:\n  memory: 2g");
    let plan_factor = plan(&factor, &context(&factor)).unwrap();
    assert_eq!(memory(&plan_factor), "3072Mi");
    assert_eq!(
        plan_factor.spark_properties["spark.kubernetes.memoryOverheadFactor"],
        "0.5"
    );
}

#[test]
fn labels_annotations_and_service_metadata() {
    let mut app = scala_app(
        "driver:
  labels:
    team: data
    run: '{{APP_ID}}'
  annotations:
    note: driver
  serviceLabels:
    exposed: 'yes'
  serviceAnnotations:
    lb: internal
executor:
  labels:
    team: data-exec
  annotations:
    note: executor",
    );
    let labels = app.metadata.labels.get_or_insert_default();
    labels.insert("owner".into(), "alice".into());
    labels.insert("kueue.x-k8s.io/queue-name".into(), "q".into());
    let ctx = context(&app);
    let conf = conf_of(&app);
    assert_conf(
        &conf,
        &[
            ("spark.kubernetes.driver.label.team", "data"),
            ("spark.kubernetes.driver.label.owner", "alice"),
            ("spark.kubernetes.driver.annotation.note", "driver"),
            ("spark.kubernetes.driver.service.label.exposed", "yes"),
            ("spark.kubernetes.driver.service.annotation.lb", "internal"),
            ("spark.kubernetes.executor.label.team", "data-exec"),
            ("spark.kubernetes.executor.label.owner", "alice"),
            ("spark.kubernetes.executor.annotation.note", "executor"),
        ],
    );
    assert!(
        !conf.keys().any(|k| k.contains("kueue")),
        "Kueue labels are not copied"
    );

    let plan = plan(&app, &ctx).unwrap();
    let pod_labels = plan.driver_pod.metadata.labels.clone().unwrap();
    assert_eq!(pod_labels["team"], "data");
    assert_eq!(pod_labels["run"], ctx.app_id, "{{APP_ID}} is substituted");
    assert_eq!(pod_labels["owner"], "alice");
    assert_eq!(
        plan.driver_pod.metadata.annotations.clone().unwrap()["note"],
        "driver"
    );
    let service = &plan.driver_service;
    assert_eq!(service.metadata.labels.clone().unwrap()["exposed"], "yes");
    assert_eq!(
        service.metadata.annotations.clone().unwrap()["lb"],
        "internal"
    );
    assert_eq!(
        service.spec.as_ref().unwrap().selector.as_ref(),
        Some(&pod_labels)
    );

    let reserved = scala_app("driver:\n  labels:\n    spark-role: mine");
    assert_eq!(
        plan_err(&reserved),
        SubmissionError::ReservedLabel("spark-role".into())
    );
}

fn plan_err(app: &spark_operator_api::SparkApplication) -> SubmissionError {
    plan(app, &context(app)).expect_err("the plan fails")
}

#[test]
fn environment_and_secrets() {
    let app = scala_app(
        "driver:
  envVars:
    MODE: batch
  envSecretKeyRefs:
    TOKEN:
      name: creds
      key: token
  env:
  - name: FROM_SPEC
    value: yes
  envFrom:
  - configMapRef:
      name: settings
  secrets:
  - name: gcp
    path: /mnt/gcp
    secretType: GCPServiceAccount
  - name: tokens
    path: /mnt/hadoop/
    secretType: HadoopDelegationToken
executor:
  envVars:
    MODE: exec
  envSecretKeyRefs:
    TOKEN:
      name: creds
      key: token
  secrets:
  - name: gcp
    path: /mnt/gcp
    secretType: GCPServiceAccount",
    );
    let conf = conf_of(&app);
    assert_conf(
        &conf,
        &[
            ("spark.kubernetes.driverEnv.MODE", "batch"),
            ("spark.kubernetes.driver.secretKeyRef.TOKEN", "creds:token"),
            ("spark.kubernetes.driver.secrets.gcp", "/mnt/gcp"),
            ("spark.kubernetes.driver.secrets.tokens", "/mnt/hadoop/"),
            (
                "spark.kubernetes.driverEnv.GOOGLE_APPLICATION_CREDENTIALS",
                "/mnt/gcp/key.json",
            ),
            (
                "spark.kubernetes.driverEnv.HADOOP_TOKEN_FILE_LOCATION",
                "/mnt/hadoop/hadoop.token",
            ),
            ("spark.executorEnv.MODE", "exec"),
            (
                "spark.kubernetes.executor.secretKeyRef.TOKEN",
                "creds:token",
            ),
            ("spark.kubernetes.executor.secrets.gcp", "/mnt/gcp"),
            (
                "spark.executorEnv.GOOGLE_APPLICATION_CREDENTIALS",
                "/mnt/gcp/key.json",
            ),
        ],
    );
    let plan = plan(&app, &context(&app)).unwrap();
    let driver = container(&plan.driver_pod, "spark-kubernetes-driver");
    let names: Vec<&str> = driver
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "SPARK_USER",
            "SPARK_APPLICATION_ID",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "HADOOP_TOKEN_FILE_LOCATION",
            "MODE",
            "SPARK_DRIVER_BIND_ADDRESS",
            "TOKEN",
            "SPARK_LOCAL_DIRS",
            "SPARK_CONF_DIR",
            "FROM_SPEC",
        ]
    );
    let token = driver
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "TOKEN")
        .unwrap();
    let selector = token
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (selector.name.as_str(), selector.key.as_str()),
        ("creds", "token")
    );
    assert_eq!(
        driver.env_from.as_ref().unwrap()[0]
            .config_map_ref
            .as_ref()
            .unwrap()
            .name,
        "settings"
    );
    let mounts: Vec<(&str, &str)> = driver
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .filter(|(name, _)| name.ends_with("-volume") && *name != "pod-template-volume")
        .collect();
    assert_eq!(
        mounts,
        [
            ("gcp-volume", "/mnt/gcp"),
            ("tokens-volume", "/mnt/hadoop/")
        ]
    );
    let volumes = plan
        .driver_pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap();
    let gcp = volumes.iter().find(|v| v.name == "gcp-volume").unwrap();
    assert_eq!(
        gcp.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("gcp")
    );
}

#[test]
fn dependencies() {
    let app = scala_app(
        "deps:
  jars: [local:///opt/extra.jar, s3a://bucket/lib.jar]
  files: [https://repo/data.csv]
  pyFiles: [local:///opt/lib.zip]
  packages: [org.apache.spark:spark-avro_2.13:4.0.0]
  excludePackages: [com.example:unwanted]
  repositories: [https://repo.example/maven]
  archives: ['s3a://bucket/env.tar.gz#env']",
    );
    let conf = conf_of(&app);
    assert_conf(
        &conf,
        &[
            (
                "spark.jars",
                "local:///opt/extra.jar,s3a://bucket/lib.jar,local:///opt/app.jar",
            ),
            ("spark.files", "https://repo/data.csv"),
            ("spark.submit.pyFiles", "local:///opt/lib.zip"),
            (
                "spark.jars.packages",
                "org.apache.spark:spark-avro_2.13:4.0.0",
            ),
            ("spark.jars.excludes", "com.example:unwanted"),
            ("spark.jars.repositories", "https://repo.example/maven"),
            ("spark.archives", "s3a://bucket/env.tar.gz#env"),
        ],
    );
    let args = spark_submit_args(&app, &context(&app)).unwrap();
    let position = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{flag}"))
    };
    assert_eq!(
        args[position("--jars") + 1],
        "local:///opt/extra.jar,s3a://bucket/lib.jar"
    );
    assert_eq!(
        args[position("--packages") + 1],
        "org.apache.spark:spark-avro_2.13:4.0.0"
    );
    assert_eq!(
        args[position("--exclude-packages") + 1],
        "com.example:unwanted"
    );
    assert_eq!(
        args[position("--repositories") + 1],
        "https://repo.example/maven"
    );
    assert_eq!(args[position("--py-files") + 1], "local:///opt/lib.zip");
    assert_eq!(args[position("--files") + 1], "https://repo/data.csv");
    assert_eq!(
        args[position("--archives") + 1],
        "s3a://bucket/env.tar.gz#env"
    );
    assert!(
        position("--archives") < position("--conf"),
        "options come before --conf pairs"
    );

    let local = scala_app("deps:\n  jars: [/home/me/lib.jar]");
    assert!(
        matches!(plan_err(&local), SubmissionError::LocalDependency { key, .. } if key == "spark.jars")
    );
    let mut local_main = scala_app("");
    local_main.spec.main_application_file = Some("file:///home/me/app.jar".into());
    assert!(matches!(
        plan_err(&local_main),
        SubmissionError::LocalDependency { .. }
    ));
}

#[test]
fn images_configuration_and_options() {
    let app = scala_app(
        "imagePullPolicy: Always
imagePullSecrets: [registry-a, registry-b]
hadoopConf:
  fs.s3a.endpoint: http://minio:9000
sparkConf:
  spark.ui.showConsoleProgress: 'false'
  spark.kubernetes.container.image.pullPolicy: IfNotPresent
  spark.driver.cores: '8'
  spark.kubernetes.namespace: elsewhere
  spark.driver.host: my-host
  not.a.spark.key: dropped
nodeSelector:
  disk: ssd
proxyUser: alice
driver:
  cores: 2
  image: custom/driver:1
  kubernetesMaster: https://api.internal:443
executor:
  image: custom/executor:1",
    );
    let conf = conf_of(&app);
    assert_conf(
        &conf,
        &[
            ("spark.kubernetes.container.image", "apache/spark:4.0.0"),
            ("spark.kubernetes.driver.container.image", "custom/driver:1"),
            (
                "spark.kubernetes.executor.container.image",
                "custom/executor:1",
            ),
            // sparkConf comes after the image options: it wins over imagePullPolicy...
            (
                "spark.kubernetes.container.image.pullPolicy",
                "IfNotPresent",
            ),
            // ...and loses to the driver options after it.
            ("spark.driver.cores", "2"),
            (
                "spark.kubernetes.container.image.pullSecrets",
                "registry-a,registry-b",
            ),
            ("spark.hadoop.fs.s3a.endpoint", "http://minio:9000"),
            ("spark.ui.showConsoleProgress", "false"),
            ("spark.kubernetes.node.selector.disk", "ssd"),
            ("spark.kubernetes.driver.master", "https://api.internal:443"),
            ("spark.kubernetes.namespace", "jobs"),
        ],
    );
    assert!(
        !conf.contains_key("spark.driver.host"),
        "cluster mode drops a user driver host"
    );
    assert!(
        !conf.contains_key("not.a.spark.key"),
        "spark-submit ignores non-Spark keys"
    );

    let ctx = context(&app);
    let args = spark_submit_args(&app, &ctx).unwrap();
    let proxy = args.iter().position(|a| a == "--proxy-user").unwrap();
    assert_eq!(args[proxy + 1], "alice");
    assert_eq!(
        args[proxy + 2],
        "local:///opt/app.jar",
        "the proxy user comes right before the main file"
    );

    let plan = plan(&app, &ctx).unwrap();
    let spec = plan.driver_pod.spec.as_ref().unwrap();
    let pull: Vec<&str> = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(pull, ["registry-a", "registry-b"]);
    assert_eq!(spec.node_selector.clone().unwrap()["disk"], "ssd");
    let driver = container(&plan.driver_pod, "spark-kubernetes-driver");
    assert_eq!(driver.image.as_deref(), Some("custom/driver:1"));
    assert_eq!(driver.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(env(driver, "SPARK_USER"), Some("alice"));
    assert_eq!(
        &driver.args.as_ref().unwrap()[..3],
        ["driver", "--proxy-user", "alice"]
    );
}

#[test]
fn dynamic_allocation_and_python_version() {
    let app = scala_app(
        "pythonVersion: '3'
dynamicAllocation:
  enabled: true
  initialExecutors: 2
  minExecutors: 1
  maxExecutors: 10
  shuffleTrackingTimeout: 60000",
    );
    let conf = conf_of(&app);
    assert_conf(
        &conf,
        &[
            ("spark.dynamicAllocation.enabled", "true"),
            ("spark.dynamicAllocation.initialExecutors", "2"),
            ("spark.dynamicAllocation.minExecutors", "1"),
            ("spark.dynamicAllocation.maxExecutors", "10"),
            ("spark.dynamicAllocation.shuffleTracking.enabled", "true"),
            ("spark.dynamicAllocation.shuffleTracking.timeout", "60000"),
            ("spark.kubernetes.pyspark.pythonVersion", "3"),
        ],
    );
    // With dynamic allocation Kubeflow sets no default executor count.
    assert!(!conf.contains_key("spark.executor.instances"));
}

#[test]
fn monitoring_with_prometheus() {
    let app = scala_app(
        "monitoring:
  exposeDriverMetrics: true
  exposeExecutorMetrics: true
  prometheus:
    jmxExporterJar: /prometheus/jmx_prometheus_javaagent.jar
    port: 8091
driver:
  javaOptions: -Dx=1",
    );
    let conf = conf_of(&app);
    let agent = "-javaagent:/prometheus/jmx_prometheus_javaagent.jar=8091:/etc/metrics/conf/prometheus.yaml";
    assert_conf(
        &conf,
        &[
            ("spark.metrics.namespace", "jobs.app"),
            ("spark.metrics.conf", "/etc/metrics/conf/metrics.properties"),
            ("spark.driver.extraJavaOptions", &format!("-Dx=1 {agent}")),
            ("spark.executor.extraJavaOptions", agent),
            (
                "spark.kubernetes.driver.annotation.prometheus.io/scrape",
                "true",
            ),
            (
                "spark.kubernetes.driver.annotation.prometheus.io/port",
                "8091",
            ),
            (
                "spark.kubernetes.driver.annotation.prometheus.io/path",
                "/metrics",
            ),
            (
                "spark.kubernetes.executor.annotation.prometheus.io/scrape",
                "true",
            ),
        ],
    );
    let plan = plan(&app, &context(&app)).unwrap();
    let config_map = plan.prometheus_config_map.as_ref().unwrap();
    assert_eq!(config_map.metadata.name.as_deref(), Some("app-prom-conf"));
    let data = config_map.data.as_ref().unwrap();
    assert!(data["metrics.properties"].contains("JmxSink"));
    assert!(data["prometheus.yaml"].contains("spark_driver_$3_$4"));

    let driver = container(&plan.driver_pod, "spark-kubernetes-driver");
    let port = driver
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("jmx-exporter"))
        .unwrap();
    assert_eq!(port.container_port, 8091);
    let mount = driver
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "app-prom-conf-vol")
        .unwrap();
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        ("/etc/metrics/conf", Some(true))
    );
    let template = executor_template(&plan);
    let executor = container(&template, "spark-kubernetes-executor");
    assert!(
        executor
            .ports
            .iter()
            .flatten()
            .any(|p| p.container_port == 8091)
    );
    assert!(
        template
            .spec
            .unwrap()
            .volumes
            .unwrap()
            .iter()
            .any(|v| v.name == "app-prom-conf-vol")
    );
}
