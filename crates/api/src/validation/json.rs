//! Validation of a resource as it arrives (JSON), before it is typed: unknown enum values and wrong
//! types are reported with their paths instead of failing the whole object.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{FieldError, Problems, validate_application, validate_connect, validate_scheduled};
use crate::{ScheduledSparkApplication, SparkApplication, SparkConnect};

/// Fields typed as enums, whose value must be one of a fixed set, relative to a SparkApplication
/// spec. (Fields typed as strings with a fixed set of values are checked by the typed rules, which
/// the controller applies too.)
const SPEC_ENUMS: &[(&str, &[&str])] = &[
    ("type", &["Java", "Scala", "Python", "R"]),
    ("mode", &["cluster", "client"]),
    ("pythonVersion", &["2", "3"]),
    ("restartPolicy.type", &["Never", "Always", "OnFailure"]),
];

/// Every problem of a SparkApplication given as JSON.
pub fn validate_application_json(object: &Value) -> Vec<FieldError> {
    let mut problems = Problems::default();
    check_enums(object.get("spec"), "spec", SPEC_ENUMS, &mut problems);
    check_ingress_ports(object.get("spec"), "spec", &mut problems);
    if !problems.errors.is_empty() {
        return problems.into_vec();
    }
    match typed::<SparkApplication>(object) {
        Ok(app) => validate_application(&app),
        Err(error) => vec![error],
    }
}

/// Every problem of a ScheduledSparkApplication given as JSON.
pub fn validate_scheduled_json(object: &Value) -> Vec<FieldError> {
    let mut problems = Problems::default();
    let spec = object.get("spec");
    check_enums(
        spec,
        "spec",
        &[("concurrencyPolicy", &["Allow", "Forbid", "Replace"])],
        &mut problems,
    );
    let template = spec.and_then(|s| s.get("template"));
    check_enums(template, "spec.template", SPEC_ENUMS, &mut problems);
    check_ingress_ports(template, "spec.template", &mut problems);
    if !problems.errors.is_empty() {
        return problems.into_vec();
    }
    match typed::<ScheduledSparkApplication>(object) {
        Ok(scheduled) => validate_scheduled(&scheduled),
        Err(error) => vec![error],
    }
}

/// Every problem of a SparkConnect given as JSON.
pub fn validate_connect_json(object: &Value) -> Vec<FieldError> {
    match typed::<SparkConnect>(object) {
        Ok(connect) => validate_connect(&connect),
        Err(error) => vec![error],
    }
}

fn check_enums(
    spec: Option<&Value>,
    prefix: &str,
    enums: &[(&str, &[&str])],
    problems: &mut Problems,
) {
    let Some(spec) = spec else { return };
    for (path, allowed) in enums {
        let value = path.split('.').try_fold(spec, |v, key| v.get(key));
        match value {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => {}
            Some(other) => problems.add(
                format!("{prefix}.{path}"),
                super::unsupported_value(other, allowed),
            ),
        }
    }
}

/// A `driverIngressOptions` entry without its `servicePort`, which the Service it asks for
/// cannot do without (Kubeflow's webhook refuses it too).
fn check_ingress_ports(spec: Option<&Value>, prefix: &str, problems: &mut Problems) {
    let entries = spec
        .and_then(|s| s.get("driverIngressOptions"))
        .and_then(Value::as_array);
    for (i, entry) in entries.into_iter().flatten().enumerate() {
        if entry.get("servicePort").is_none_or(Value::is_null) {
            problems.add(
                format!("{prefix}.driverIngressOptions[{i}].servicePort"),
                "is missing: give the port of the Service in front of the driver, e.g. 4040",
            );
        }
    }
}

fn typed<T: DeserializeOwned>(object: &Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(object).map_err(|error| {
        let path = error.path().to_string();
        let (path, message) = within_flattened_pod_spec(object, &path)
            .unwrap_or_else(|| (path, error.inner().to_string()));
        FieldError {
            path: if path == "." { "(root)".into() } else { path },
            message: format!("{message}; correct the value's type"),
        }
    })
}

/// Serde reports an error inside the flattened `SparkPodSpec` of `driver` or `executor` at the role
/// itself; reading the role again as a pod spec finds the field.
fn within_flattened_pod_spec(object: &Value, path: &str) -> Option<(String, String)> {
    if !(path.ends_with("driver") || path.ends_with("executor")) {
        return None;
    }
    let role = path.split('.').try_fold(object, |v, key| v.get(key))?;
    let error = serde_path_to_error::deserialize::<_, crate::SparkPodSpec>(role).err()?;
    Some((
        format!("{path}.{}", error.path()),
        error.inner().to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(spec: Value) -> Value {
        json!({"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
               "metadata": {"name": "pi", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn unknown_enum_values_name_the_field_and_the_choices() {
        let errors = validate_application_json(&app(json!({
            "type": "Jave", "sparkVersion": "4.0.0", "mode": "local",
            "restartPolicy": {"type": "Sometimes"}})));
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.type", "spec.mode", "spec.restartPolicy.type"]);
        assert!(errors[0].message.contains("Java, Scala, Python, R"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let errors = validate_application_json(&app(json!({
            "type": "Scala", "sparkVersion": "4.0.0", "driver": {"cores": "two"}})));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "spec.driver.cores");
    }

    #[test]
    fn a_valid_object_goes_on_to_the_typed_rules() {
        let errors = validate_application_json(&app(json!({
            "type": "Scala", "sparkVersion": "4.0.0", "image": "apache/spark:4.0.0"})));
        assert!(
            errors.iter().any(|e| e.path == "spec.mainApplicationFile"),
            "{errors:?}"
        );
    }

    #[test]
    fn scheduled_checks_its_policy_and_its_template() {
        let errors = validate_scheduled_json(&json!({
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "@daily", "concurrencyPolicy": "Never",
                     "template": {"type": "Go", "sparkVersion": "4"}}}));
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.concurrencyPolicy", "spec.template.type"]);
    }
}
