//! The applications the tests run, as YAML a user would write.

/// Kubeflow's Spark Pi example in `default`, with the driver's annotations (the inside of a flow
/// mapping, such as `"localcluster/run-seconds": "0.2"`) and more `spec` fields (YAML lines
/// indented by two spaces) added.
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
