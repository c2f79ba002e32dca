//! Applications and contexts the tests share.

use std::path::PathBuf;

use spark_operator_api::SparkApplication;

use crate::submission::{SubmissionContext, SubmissionOptions, SubmissionPlan, plan};

pub const MASTER: &str = "https://127.0.0.1:6443";
pub const SUBMIT_TIME_MS: i64 = 1_764_000_000_000;

/// The first document of `examples/<name>`, as the API server would return it (with a uid).
pub fn example(name: &str) -> SparkApplication {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let first = serde_yaml::Deserializer::from_str(&text)
        .next()
        .expect("a document");
    let mut app: SparkApplication =
        serde::Deserialize::deserialize(first).expect("a SparkApplication");
    app.metadata.uid = Some("6f1c1d3e-0000-4000-8000-000000000001".into());
    app
}

pub fn context(app: &SparkApplication) -> SubmissionContext {
    context_with(app, SubmissionOptions::default())
}

pub fn context_with(app: &SparkApplication, options: SubmissionOptions) -> SubmissionContext {
    SubmissionContext::with_options(app, "attempt-1", SUBMIT_TIME_MS, MASTER, options)
}

pub fn plan_of(app: &SparkApplication) -> SubmissionPlan {
    plan(app, &context(app)).expect("a plan")
}

/// An application from YAML (apiVersion and kind may be left out), with a uid.
pub fn app_from_yaml(yaml: &str) -> SparkApplication {
    let mut app: SparkApplication =
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    app.metadata.uid = Some("6f1c1d3e-0000-4000-8000-000000000001".into());
    app
}

/// A Scala application named `app` in namespace `jobs`, with `extra` appended to its spec (indented
/// by two spaces).
pub fn scala_app(extra: &str) -> SparkApplication {
    let extra: String = extra.lines().map(|line| format!("  {line}\n")).collect();
    app_from_yaml(&format!(
        "apiVersion: sparkoperator.k8s.io/v1beta2
kind: SparkApplication
metadata:
  name: app
  namespace: jobs
spec:
  type: Scala
  sparkVersion: 4.0.0
  image: apache/spark:4.0.0
  mainClass: org.example.Main
  mainApplicationFile: local:///opt/app.jar
{extra}"
    ))
}

/// The Spark container of a pod: the one named `name`.
pub fn container<'a>(
    pod: &'a k8s_openapi::api::core::v1::Pod,
    name: &str,
) -> &'a k8s_openapi::api::core::v1::Container {
    let spec = pod.spec.as_ref().expect("a pod spec");
    spec.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The executor pod template of a plan, parsed back from its ConfigMap.
pub fn executor_template(plan: &SubmissionPlan) -> k8s_openapi::api::core::v1::Pod {
    let data = plan
        .executor_template_config_map
        .data
        .as_ref()
        .expect("data");
    serde_yaml::from_str(&data["podspec-configmap-key"]).expect("a pod")
}

/// The value of environment variable `name`.
pub fn env<'a>(
    container: &'a k8s_openapi::api::core::v1::Container,
    name: &str,
) -> Option<&'a str> {
    container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.as_deref())
}
