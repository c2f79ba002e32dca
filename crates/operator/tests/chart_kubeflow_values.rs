//! Kubeflow's values files work with our chart: rendered with Kubeflow's default values
//! (`kubeflow/values.txt`, facts derived from Kubeflow's chart) and with
//! `kubeflow/every-feature-values.yaml`, our chart gives each Deployment every argument
//! Kubeflow's chart gives it (`kubeflow/arguments.txt`), every key of Kubeflow's values has an
//! effect on what is rendered (or is listed below with the reason it has none), and a misspelt
//! key is refused by `values.schema.json`, as Helm refuses it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use testkit::helm::install::documents;
use testkit::helm::{self, Release, chart_dir};

/// Kubeflow's keys that change nothing rendered here, and why.
const WITHOUT_EFFECT: &[(&str, &str)] = &[
    (
        "controller.pprof.portName",
        "no pprof port or Service is made: there is no Go runtime to profile",
    ),
    (
        "submitter.serviceUrl",
        "the REST submitter is refused (its gate fails the chart with the reason)",
    ),
    ("submitter.requestTimeout", "as submitter.serviceUrl"),
    ("submitter.startupTimeout", "as submitter.serviceUrl"),
    ("submitter.maxRetries", "as submitter.serviceUrl"),
    ("submitter.initialBackoff", "as submitter.serviceUrl"),
    (
        "submitter.startupProbe.periodSeconds",
        "as submitter.serviceUrl",
    ),
    (
        "submitter.startupProbe.failureThreshold",
        "as submitter.serviceUrl",
    ),
];

const API_VERSIONS: &[&str] = &[
    "cert-manager.io/v1/Certificate",
    "cert-manager.io/v1/Issuer",
    "monitoring.coreos.com/v1/PodMonitor",
];

fn facts(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kubeflow")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Kubeflow's value keys with their defaults, from `values.txt`.
fn kubeflow_defaults() -> Vec<(String, Value)> {
    facts("values.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, json) = l.split_once(' ').expect("KEY JSON");
            (key.to_string(), serde_json::from_str(json).expect("JSON"))
        })
        .collect()
}

fn set(values: &mut Value, key: &str, value: Value) {
    let mut node = values;
    let parts: Vec<&str> = key.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(*part)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    node.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_string(), value);
}

fn get<'a>(values: &'a Value, key: &str) -> &'a Value {
    key.split('.').fold(values, |node, part| &node[part])
}

/// Kubeflow's values.yaml, as the facts hold it.
fn kubeflow_values() -> Value {
    let mut values = Value::Object(Default::default());
    for (key, value) in kubeflow_defaults() {
        set(&mut values, &key, value);
    }
    values
}

fn every_feature_values() -> Value {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&facts("every-feature-values.yaml")).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// Our chart rendered with `values` (as one values file).
fn render(values: &Value) -> Result<String, String> {
    let values = serde_yaml::to_string(values).unwrap();
    let release = Release {
        name: "spark-operator",
        namespace: "spark-operator",
        values: &values,
    };
    helm::render_with_api_versions(&chart_dir(), &release, API_VERSIONS)
        .map(|rendered| helm::manifest(&rendered))
}

fn container_args(manifest: &str, deployment: &str) -> Vec<String> {
    documents(manifest)
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == deployment)
        .unwrap_or_else(|| panic!("no Deployment {deployment} in\n{manifest}"))["spec"]["template"]
        ["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// `[VALUES COMMAND]` of `arguments.txt`.
fn kubeflow_arguments(section: &str) -> Vec<String> {
    let text = facts("arguments.txt");
    let mut lines = text.lines().skip_while(|l| *l != format!("[{section}]"));
    lines.next().unwrap_or_else(|| panic!("no [{section}]"));
    lines
        .take_while(|l| !l.starts_with('[') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn kubeflows_values_give_our_deployments_every_argument_kubeflows_chart_gives() {
    for (values_name, values) in [
        ("default", kubeflow_values()),
        ("every-feature", every_feature_values()),
    ] {
        let manifest = render(&values)
            .unwrap_or_else(|e| panic!("our chart renders Kubeflow's {values_name} values: {e}"));
        for (command, deployment) in [
            ("controller", "spark-operator-controller"),
            ("webhook", "spark-operator-webhook"),
        ] {
            let ours = container_args(&manifest, deployment);
            let missing: Vec<String> = kubeflow_arguments(&format!("{values_name} {command}"))
                .into_iter()
                .filter(|arg| !ours.contains(arg))
                .collect();
            assert!(
                missing.is_empty(),
                "{values_name} {command}: our chart does not pass {missing:?}; it passes {ours:?}"
            );
        }
    }
}

/// Another value of the same kind as `value`, for a key the every-feature file leaves at its
/// default.
fn another(value: &Value) -> Value {
    match value {
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) => Value::from(n.as_i64().unwrap_or(0) + 1),
        Value::String(s) if s == "http" => Value::from("https"),
        Value::String(s) if s.is_empty() => Value::from("custom"),
        Value::String(s) => Value::from(format!("{s}x")),
        Value::Array(items) if items.is_empty() => serde_json::json!(["x"]),
        Value::Array(_) => serde_json::json!([]),
        other => other.clone(),
    }
}

#[test]
fn every_key_of_kubeflows_values_has_its_effect() {
    let every_feature = every_feature_values();
    let full = render(&every_feature).expect("the every-feature values render");
    let without_effect: BTreeMap<&str, &str> = WITHOUT_EFFECT.iter().copied().collect();
    let mut no_effect = Vec::new();
    for (key, default) in kubeflow_defaults() {
        // From the every-feature values, the key set back to Kubeflow's default, or, where the
        // file leaves it there, to another value.
        let value = get(&every_feature, &key).clone();
        let changed_to = if value == default {
            another(&default)
        } else {
            default
        };
        let mut changed = every_feature.clone();
        set(&mut changed, &key, changed_to);
        let differs = match render(&changed) {
            Ok(manifest) => manifest != full,
            Err(_) => true,
        };
        match (differs, without_effect.contains_key(key.as_str())) {
            (true, true) => panic!("{key} is listed as without effect, but has one"),
            (false, false) => no_effect.push(key),
            _ => {}
        }
    }
    assert!(
        no_effect.is_empty(),
        "these keys change nothing: {no_effect:?}"
    );
}

#[test]
fn a_misspelt_or_unknown_key_is_refused() {
    for (values, key) in [
        ("controller:\n  replica: 2\n", "replica"),
        ("webhok:\n  enable: true\n", "webhok"),
        ("prometheus:\n  metrics:\n    labelz: team\n", "labelz"),
    ] {
        let release = Release {
            name: "spark-operator",
            namespace: "spark-operator",
            values,
        };
        let error = helm::render(&chart_dir(), &release)
            .map(|_| ())
            .unwrap_err();
        assert!(
            error.contains(&format!("Additional property {key} is not allowed")),
            "{values}: {error}"
        );
    }
    let wrong_type = Release {
        name: "spark-operator",
        namespace: "spark-operator",
        values: "controller:\n  workers: many\n",
    };
    let error = helm::render(&chart_dir(), &wrong_type)
        .map(|_| ())
        .unwrap_err();
    assert!(
        error.contains("controller.workers: Invalid type"),
        "{error}"
    );
}
