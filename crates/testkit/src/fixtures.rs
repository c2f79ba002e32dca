//! The resources the tests run: one Spark Pi, like `examples/spark-pi.yaml`, as the YAML a user
//! writes (for kubectl, sparkctl and spark-local, which read files) and as typed objects
//! built from that same YAML, with chainable tweaks:
//!
//! ```no_run
//! use spark_operator_api::SparkApplication;
//! use testkit::fixtures::SparkApplicationFixture;
//!
//! let app = SparkApplication::spark_pi("pi").runs_for("0.2").executors(1);
//! ```
//!
//! On the local cluster's simulated nodes a driver runs as its annotations say
//! (`localcluster/run-seconds`, `localcluster/exit-code`, ...): those are what tests vary most.
//! [`spark_connect`] is a SparkConnect, whose simulated server serves until it is deleted unless
//! its annotations make it fail.

use serde_yaml::{Mapping, Value};
use spark_operator_api::SparkApplication;

/// Spark Pi `name` in `default`, with the driver's annotations (the inside of a flow mapping,
/// such as `"localcluster/run-seconds": "0.2"`) and more `spec` fields (YAML lines indented by
/// two spaces) added.
pub fn spark_pi(name: &str, driver_annotations: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: {name}
  namespace: default
spec:
  type: Scala
  mode: cluster
  image: apache/spark:4.0.0
  mainClass: org.apache.spark.examples.SparkPi
  mainApplicationFile: local:///opt/spark/examples/jars/spark-examples.jar
  sparkVersion: 4.0.0
  driver:
    cores: 1
    memory: 512m
    serviceAccount: spark
    annotations: {{{driver_annotations}}}
  executor:
    instances: 2
    cores: 1
    memory: 512m
{extra_spec}
"#
    )
}

/// A ScheduledSparkApplication `name` in `default` that runs `application` (a SparkApplication's
/// YAML, such as [`spark_pi`]'s: its spec is the template) on `schedule`, with more `spec` fields
/// (YAML lines indented by two spaces) added.
pub fn scheduled(name: &str, schedule: &str, extra_spec: &str, application: &str) -> String {
    let application: Value = serde_yaml::from_str(application).expect("the application's YAML");
    let mut spec: Mapping = serde_yaml::from_str(extra_spec)
        .map(|extra: Option<Mapping>| extra.unwrap_or_default())
        .expect("the extra spec fields are a YAML mapping");
    spec.insert("schedule".into(), schedule.into());
    spec.insert("template".into(), application["spec"].clone());
    let scheduled = serde_json::json!({
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "ScheduledSparkApplication",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    });
    serde_yaml::to_string(&scheduled).expect("YAML")
}

/// A SparkConnect `name` in `default`, like Kubeflow's example: a server template with labels
/// and annotations (the server pod's annotations given as the inside of a flow mapping, such as
/// `"localcluster/exit-code": "1"`), two executors from a template, and more `spec` fields (YAML
/// lines indented by two spaces) added.
pub fn spark_connect(name: &str, server_annotations: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: sparkoperator.k8s.io/v1alpha1
kind: SparkConnect
metadata:
  name: {name}
  namespace: default
  labels:
    team: data
spec:
  sparkVersion: 4.0.1
  image: apache/spark:4.0.1
  server:
    cores: 1
    memory: 1g
    template:
      metadata:
        labels:
          key1: value1
        annotations: {{{server_annotations}}}
      spec:
        serviceAccountName: spark
        containers:
          - name: spark-kubernetes-driver
            imagePullPolicy: IfNotPresent
  executor:
    instances: 2
    cores: 1
    memory: 512m
    template:
      metadata:
        labels:
          key1: value1
      spec:
        containers:
          - name: spark-kubernetes-executor
{extra_spec}
"#
    )
}

/// Fixtures on the SparkApplication type.
pub trait SparkApplicationFixture: Sized {
    /// [`spark_pi`]`(name, "", "")`, typed.
    fn spark_pi(name: &str) -> Self;
    /// Adds the driver's `localcluster/run-seconds` annotation: how long its simulated run takes
    /// (seconds, or `forever`).
    fn runs_for(self, seconds: &str) -> Self;
    /// Sets the number of executors.
    fn executors(self, instances: i32) -> Self;
    /// Any other change.
    fn with(self, change: impl FnOnce(&mut Self)) -> Self;
    /// The YAML a user would write for it.
    fn to_yaml(&self) -> String;
}

impl SparkApplicationFixture for SparkApplication {
    fn spark_pi(name: &str) -> Self {
        serde_yaml::from_str(&spark_pi(name, "", "")).expect("Spark Pi parses")
    }

    fn runs_for(self, seconds: &str) -> Self {
        self.with(|app| {
            let annotations = &mut app.spec.driver.pod.annotations;
            annotations.insert("localcluster/run-seconds".into(), seconds.into());
        })
    }

    fn executors(self, instances: i32) -> Self {
        self.with(|app| app.spec.executor.instances = Some(instances))
    }

    fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }

    fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("YAML")
    }
}
