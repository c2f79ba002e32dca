//! The strategies of the workload kinds (Deployment, ReplicaSet, StatefulSet, DaemonSet,
//! ReplicationController, Job, CronJob): the defaults the API server fills in, the status a new
//! object starts with, and the checks it makes (a selector that selects the template's labels,
//! a selector that never changes, a Job's restart policy). Pure functions over the object.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, Cause};
use crate::kinds::ResourceType;
use crate::meta;
use crate::selector::LabelSelector;

/// The workload kinds, by (group, plural).
fn workload(resource: &ResourceType) -> Option<&'static str> {
    Some(match (resource.group.as_str(), resource.plural.as_str()) {
        ("apps", "deployments") => "Deployment",
        ("apps", "replicasets") => "ReplicaSet",
        ("apps", "statefulsets") => "StatefulSet",
        ("apps", "daemonsets") => "DaemonSet",
        ("", "replicationcontrollers") => "ReplicationController",
        ("batch", "jobs") => "Job",
        ("batch", "cronjobs") => "CronJob",
        _ => return None,
    })
}

/// Defaults and checks a new workload object; a no-op for other kinds.
pub(super) fn prepare_create(resource: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    let Some(kind) = workload(resource) else {
        return Ok(());
    };
    set_defaults(kind, object);
    if kind == "Job" {
        stamp_job_uid(object);
    }
    object["status"] = initial_status(kind);
    validate(resource, kind, object)
}

/// Defaults and checks a replacement: the status and (except for ReplicationControllers) the
/// selector stay as they were.
pub(super) fn prepare_update(
    resource: &ResourceType,
    current: &Value,
    object: &mut Value,
    subresource: Option<&str>,
) -> Result<(), ApiError> {
    let Some(kind) = workload(resource) else {
        return Ok(());
    };
    if subresource == Some("status") {
        return Ok(());
    }
    set_defaults(kind, object);
    let selector_path = if kind == "CronJob" {
        "/spec/jobTemplate/spec/selector"
    } else {
        "/spec/selector"
    };
    if kind != "ReplicationController"
        && object.pointer(selector_path) != current.pointer(selector_path)
    {
        let shown = object
            .pointer(selector_path)
            .cloned()
            .unwrap_or(Value::Null);
        return Err(ApiError::invalid(
            &resource.qualified_kind(),
            meta::name(object),
            vec![invalid(
                "spec.selector",
                format!("Invalid value: {}: field is immutable", go_selector(&shown)),
            )],
        ));
    }
    validate(resource, kind, object)
}

fn invalid(field: &str, message: String) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message,
        field: field.into(),
    }
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: "Required value".into(),
        field: field.into(),
    }
}

/// How Go prints a selector in a message (enough to recognise it).
fn go_selector(selector: &Value) -> String {
    let labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k:?}:{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!("v1.LabelSelector{{MatchLabels:map[string]string{{{labels}}}}}")
}

fn insert(object: &mut Value, path: &[&str], value: Value) {
    let mut here = object;
    for step in &path[..path.len() - 1] {
        if !here.get(*step).is_some_and(Value::is_object) {
            here[*step] = json!({});
        }
        here = &mut here[*step];
    }
    if let Some(map) = here.as_object_mut() {
        map.entry(path[path.len() - 1]).or_insert(value);
    }
}

/// `spec.<field>.type` defaulted to `RollingUpdate`, and, when it is, the `rollingUpdate`
/// parameters' defaults: the update strategy of Deployments (`strategy`), StatefulSets and
/// DaemonSets (`updateStrategy`).
fn default_rolling_update(object: &mut Value, field: &str, parameters: &[(&str, Value)]) {
    insert(object, &["spec", field, "type"], json!("RollingUpdate"));
    if object["spec"][field]["type"] != "RollingUpdate" {
        return;
    }
    for (name, value) in parameters {
        insert(
            object,
            &["spec", field, "rollingUpdate", name],
            value.clone(),
        );
    }
}

fn set_defaults(kind: &str, object: &mut Value) {
    let template = match kind {
        "CronJob" => "/spec/jobTemplate/spec/template",
        _ => "/spec/template",
    };
    if let Some(template) = object.pointer_mut(template) {
        default_template(template);
    }
    match kind {
        "Deployment" => {
            insert(object, &["spec", "replicas"], json!(1));
            default_rolling_update(
                object,
                "strategy",
                &[("maxUnavailable", json!("25%")), ("maxSurge", json!("25%"))],
            );
            insert(object, &["spec", "revisionHistoryLimit"], json!(10));
            insert(object, &["spec", "progressDeadlineSeconds"], json!(600));
        }
        "ReplicaSet" => insert(object, &["spec", "replicas"], json!(1)),
        "StatefulSet" => {
            insert(object, &["spec", "replicas"], json!(1));
            insert(
                object,
                &["spec", "podManagementPolicy"],
                json!("OrderedReady"),
            );
            default_rolling_update(object, "updateStrategy", &[("partition", json!(0))]);
            insert(object, &["spec", "revisionHistoryLimit"], json!(10));
            insert(
                object,
                &[
                    "spec",
                    "persistentVolumeClaimRetentionPolicy",
                    "whenDeleted",
                ],
                json!("Retain"),
            );
            insert(
                object,
                &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"],
                json!("Retain"),
            );
        }
        "DaemonSet" => {
            default_rolling_update(
                object,
                "updateStrategy",
                &[("maxUnavailable", json!(1)), ("maxSurge", json!(0))],
            );
            insert(object, &["spec", "revisionHistoryLimit"], json!(10));
        }
        "ReplicationController" => {
            insert(object, &["spec", "replicas"], json!(1));
            // The selector and the object's labels default to the template's labels.
            let labels = object
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            if object
                .pointer("/spec/selector")
                .is_none_or(|s| s.as_object().is_none_or(Map::is_empty))
            {
                object["spec"]["selector"] = labels.clone();
            }
            if meta::labels(object).is_empty() && labels.as_object().is_some_and(|l| !l.is_empty())
            {
                meta::set_meta(object, "labels", labels);
            }
        }
        "Job" => default_job(object),
        "CronJob" => {
            insert(object, &["spec", "concurrencyPolicy"], json!("Allow"));
            insert(object, &["spec", "suspend"], json!(false));
            insert(object, &["spec", "successfulJobsHistoryLimit"], json!(3));
            insert(object, &["spec", "failedJobsHistoryLimit"], json!(1));
        }
        _ => {}
    }
}

/// A Job's defaults; its selector comes from its uid (`stamp_job_uid`).
fn default_job(job: &mut Value) {
    let spec_has = |job: &Value, field: &str| {
        job.pointer(&format!("/spec/{field}"))
            .is_some_and(|v| !v.is_null())
    };
    if !spec_has(job, "completions") && !spec_has(job, "parallelism") {
        insert(job, &["spec", "completions"], json!(1));
        insert(job, &["spec", "parallelism"], json!(1));
    }
    insert(job, &["spec", "parallelism"], json!(1));
    insert(job, &["spec", "backoffLimit"], json!(6));
    insert(job, &["spec", "completionMode"], json!("NonIndexed"));
    insert(job, &["spec", "suspend"], json!(false));
    if job.pointer("/spec/podFailurePolicy").is_none() {
        insert(
            job,
            &["spec", "podReplacementPolicy"],
            json!("TerminatingOrFailed"),
        );
    }
}

/// The labels the API server puts on a Job's selector and template, from its uid.
fn stamp_job_uid(job: &mut Value) {
    if job.pointer("/spec/manualSelector") == Some(&json!(true))
        || job.pointer("/spec/selector").is_some()
    {
        return;
    }
    let uid = meta::uid(job).to_string();
    let name = meta::name(job).to_string();
    let labels = json!({
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    });
    job["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    insert(job, &["spec", "template", "metadata", "labels"], json!({}));
    if let (Some(template), Some(labels)) = (
        job.pointer_mut("/spec/template/metadata/labels")
            .and_then(Value::as_object_mut),
        labels.as_object(),
    ) {
        for (key, value) in labels {
            template.entry(key.clone()).or_insert(value.clone());
        }
    }
}

/// A pod template's defaults (the pod spec's own, not what admission adds to pods).
fn default_template(template: &mut Value) {
    insert(template, &["metadata", "creationTimestamp"], Value::Null);
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for (field, value) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("securityContext", json!({})),
        ("schedulerName", json!("default-scheduler")),
    ] {
        spec.entry(field).or_insert(value);
    }
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                super::strategy::default_container_fields(container);
            }
        }
    }
}

/// The status a new object is stored with, as the API server writes an empty one.
fn initial_status(kind: &str) -> Value {
    match kind {
        "ReplicaSet" | "ReplicationController" => json!({"replicas": 0}),
        "StatefulSet" => json!({"replicas": 0, "availableReplicas": 0}),
        "DaemonSet" => json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
            "desiredNumberScheduled": 0, "numberReady": 0}),
        _ => json!({}),
    }
}

fn labels_of(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn validate(resource: &ResourceType, kind: &str, object: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let (spec, spec_path) = match kind {
        "CronJob" => (
            object.pointer("/spec/jobTemplate/spec"),
            "spec.jobTemplate.spec",
        ),
        _ => (object.get("spec"), "spec"),
    };
    if kind == "CronJob" {
        match object.pointer("/spec/schedule").and_then(Value::as_str) {
            None | Some("") => causes.push(required("spec.schedule")),
            Some(schedule)
                if schedule.split_whitespace().count() != 5 && !schedule.starts_with('@') =>
            {
                causes.push(invalid("spec.schedule", format!("Invalid value: {schedule:?}: expected exactly 5 fields, found {}: {schedule:?}", schedule.split_whitespace().count())));
            }
            Some(_) => {}
        }
    }
    let template = spec.and_then(|s| s.get("template"));
    let containers = template
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        causes.push(required(&format!("{spec_path}.template.spec.containers")));
    }
    if let Some(replicas) = spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64)
        && replicas < 0
    {
        causes.push(invalid(
            &format!("{spec_path}.replicas"),
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let template_labels = labels_of(template.and_then(|t| t.pointer("/metadata/labels")));
    let selector = spec.and_then(|s| s.get("selector"));
    match kind {
        "ReplicationController" => {
            let selector = labels_of(selector);
            if selector.is_empty() {
                causes.push(required("spec.selector"));
            } else if !selector
                .iter()
                .all(|(k, v)| template_labels.get(k) == Some(v))
            {
                causes.push(invalid("spec.template.metadata.labels", "Invalid value: map[string]string{...}: `selector` does not match template `labels`".to_string()));
            }
        }
        "Job" | "CronJob" => {
            let policy = template
                .and_then(|t| t.pointer("/spec/restartPolicy"))
                .and_then(Value::as_str);
            if !matches!(policy, Some("Never" | "OnFailure")) {
                causes.push(Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!(
                        "Unsupported value: {:?}: supported values: \"OnFailure\", \"Never\"",
                        policy.unwrap_or_default()
                    ),
                    field: format!("{spec_path}.template.spec.restartPolicy"),
                });
            }
        }
        _ => match selector {
            None | Some(Value::Null) => causes.push(required("spec.selector")),
            Some(selector) => match LabelSelector::from_json(selector) {
                Err(error) => causes.push(invalid("spec.selector", error.to_string())),
                Ok(_) if empty_selector(selector) => causes.push(invalid(
                    "spec.selector",
                    format!(
                        "Invalid value: {}: empty selector is invalid for deployment",
                        go_selector(selector)
                    ),
                )),
                Ok(matcher) if !matcher.matches(&template_labels) => causes.push(invalid(
                    "spec.template.metadata.labels",
                    format!(
                        "Invalid value: {}: `selector` does not match template `labels`",
                        go_labels(&template_labels)
                    ),
                )),
                Ok(_) => {}
            },
        },
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &resource.qualified_kind(),
            meta::name(object),
            causes,
        ))
    }
}

fn empty_selector(selector: &Value) -> bool {
    let empty = |field: &str| match selector.get(field) {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Array(list)) => list.is_empty(),
        Some(_) => false,
    };
    empty("matchLabels") && empty("matchExpressions")
}

fn go_labels(labels: &BTreeMap<String, String>) -> String {
    let listed: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("map[string]string{{{}}}", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_get_the_api_servers_defaults() {
        let mut deployment = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        set_defaults("Deployment", &mut deployment);
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(
            deployment["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(deployment["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(deployment["spec"]["progressDeadlineSeconds"], 600);
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["imagePullPolicy"], "Always");
        assert_eq!(
            deployment["spec"]["template"]["spec"]["restartPolicy"],
            "Always"
        );
        assert!(
            deployment["spec"]["template"]["spec"]
                .get("serviceAccountName")
                .is_none()
        );
    }

    #[test]
    fn jobs_default_completions_and_take_their_uid_labels() {
        let mut job = json!({"metadata": {"name": "pi", "uid": "u1"}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "perl:5"}]}}}});
        set_defaults("Job", &mut job);
        stamp_job_uid(&mut job);
        assert_eq!(
            (
                job["spec"]["completions"].clone(),
                job["spec"]["parallelism"].clone(),
                job["spec"]["backoffLimit"].clone()
            ),
            (json!(1), json!(1), json!(6))
        );
        assert_eq!(
            job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        assert_eq!(
            job["spec"]["template"]["metadata"]["labels"]["job-name"],
            "pi"
        );
        let mut parallel = json!({"spec": {"parallelism": 3}});
        default_job(&mut parallel);
        assert!(parallel["spec"].get("completions").is_none());
    }
}
