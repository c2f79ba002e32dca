//! The LimitRanger admission plugin: the LimitRanges of a pod's namespace give its containers the
//! requests and limits they do not set (`default`, `defaultRequest`), and refuse a pod outside
//! their `min`, `max` and `maxLimitRequestRatio`, per container and per pod, with the plugin's
//! words (`maximum cpu usage per Container is 2, but limit is 4`). Namespaces often pair a
//! LimitRange with a ResourceQuota so that pods without resources are admitted by the quota.
//!
//! It runs on pod creation, first among the mutating plugins as in the API server, and again
//! after the object's validation to check the constraints. A LimitRange's own defaults (`default`
//! from `max`, `defaultRequest` from `default` or `min`) are filled in when it is stored.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{AdmissionRequest, Operation};
use crate::error::ApiError;
use crate::pod_resources;
use crate::quantity::{self, ResourceList};
use crate::storage::Store;

/// The annotation saying what the plugin set.
pub const LIMIT_RANGER_ANNOTATION: &str = "kubernetes.io/limit-ranger";

fn applies(request: &AdmissionRequest) -> bool {
    request.operation == Operation::Create
        && request.subresource.is_none()
        && request.resource.group.is_empty()
        && request.resource.plural == "pods"
}

fn limit_ranges(store: &Store, namespace: &str) -> Vec<Arc<Value>> {
    store.list("limitranges", Some(namespace)).0
}

fn items<'a>(range: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> {
    range["spec"]["limits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |item| item["type"].as_str() == Some(kind))
}

/// Fills in the defaults of the namespace's LimitRanges.
pub(crate) fn mutate(store: &Store, request: &mut AdmissionRequest) {
    if !applies(request) {
        return;
    }
    let ranges = limit_ranges(store, &request.namespace);
    let Some(pod) = request.object.as_mut() else {
        return;
    };
    for range in &ranges {
        let (mut limits, mut requests) = (ResourceList::new(), ResourceList::new());
        for item in items(range, "Container") {
            limits.extend(quantity::resource_list(&item["default"]));
            requests.extend(quantity::resource_list(&item["defaultRequest"]));
        }
        let mut said = Vec::new();
        for (list, prefix) in [
            ("initContainers", "init container"),
            ("containers", "container"),
        ] {
            for container in pod["spec"][list].as_array_mut().into_iter().flatten() {
                said.extend(merge(container, &requests, &limits, prefix));
            }
        }
        if !said.is_empty() {
            // The pod's QoS class follows what it now requests.
            pod["status"]["qosClass"] = json!(pod_resources::qos_class(pod));
            let metadata = crate::meta::metadata_mut(pod);
            let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
            annotations[LIMIT_RANGER_ANNOTATION] =
                json!(format!("LimitRanger plugin set: {}", said.join("; ")));
        }
    }
}

/// Sets the defaults a container lacks; what was set, as the annotation words it.
fn merge(
    container: &mut Value,
    requests: &ResourceList,
    limits: &ResourceList,
    prefix: &str,
) -> Vec<String> {
    let name = container["name"].as_str().unwrap_or_default().to_string();
    if !container["resources"].is_object() {
        container["resources"] = json!({});
    }
    let mut said = Vec::new();
    for (section, defaults, word) in [
        ("requests", requests, "request"),
        ("limits", limits, "limit"),
    ] {
        let resources = &mut container["resources"];
        if !resources[section].is_object() {
            resources[section] = json!({});
        }
        let mut set = Vec::new();
        for (resource, value) in defaults {
            if resources[section].get(resource).is_none() {
                resources[section][resource] = json!(value.to_string());
                set.push(resource.clone());
            }
        }
        if resources[section].as_object().is_some_and(|m| m.is_empty())
            && let Some(map) = resources.as_object_mut()
        {
            map.remove(section);
        }
        if !set.is_empty() {
            said.push(format!("{} {word} for {prefix} {name}", set.join(", ")));
        }
    }
    said
}

/// Refuses a pod outside the namespace's LimitRanges.
pub(crate) fn validate(store: &Store, request: &AdmissionRequest) -> Result<(), ApiError> {
    if !applies(request) {
        return Ok(());
    }
    let Some(pod) = request.object.as_ref() else {
        return Ok(());
    };
    let mut errors = Vec::new();
    for range in limit_ranges(store, &request.namespace) {
        for item in items(&range, "Container") {
            for list in ["containers", "initContainers"] {
                for container in pod["spec"][list].as_array().into_iter().flatten() {
                    let requests = pod_resources::container(container, "requests");
                    let limits = pod_resources::container(container, "limits");
                    check(item, "Container", &requests, &limits, &mut errors);
                }
            }
        }
        for item in items(&range, "Pod") {
            let (requests, limits) = (pod_resources::requests(pod), pod_resources::limits(pod));
            check(item, "Pod", &requests, &limits, &mut errors);
        }
    }
    match errors.as_slice() {
        [] => Ok(()),
        [one] => Err(ApiError::forbidden_object("pods", &request.name, one)),
        many => Err(ApiError::forbidden_object(
            "pods",
            &request.name,
            &format!("[{}]", many.join(", ")),
        )),
    }
}

/// The `min`, `max` and `maxLimitRequestRatio` constraints of one item.
fn check(
    item: &Value,
    kind: &str,
    requests: &ResourceList,
    limits: &ResourceList,
    errors: &mut Vec<String>,
) {
    for (resource, enforced) in quantity::resource_list(&item["min"]) {
        let (request, limit) = (requests.get(&resource), limits.get(&resource));
        match (request, limit) {
            (None, _) => errors.push(format!(
                "minimum {resource} usage per {kind} is {enforced}.  No request is specified"
            )),
            (Some(request), _) if *request < enforced => errors.push(format!(
                "minimum {resource} usage per {kind} is {enforced}, but request is {request}"
            )),
            (_, Some(limit)) if *limit < enforced => errors.push(format!(
                "minimum {resource} usage per {kind} is {enforced}, but limit is {limit}"
            )),
            _ => {}
        }
    }
    for (resource, enforced) in quantity::resource_list(&item["max"]) {
        let (request, limit) = (requests.get(&resource), limits.get(&resource));
        match (request, limit) {
            (_, None) => errors.push(format!(
                "maximum {resource} usage per {kind} is {enforced}.  No limit is specified"
            )),
            (_, Some(limit)) if *limit > enforced => errors.push(format!(
                "maximum {resource} usage per {kind} is {enforced}, but limit is {limit}"
            )),
            (Some(request), _) if *request > enforced => errors.push(format!(
                "maximum {resource} usage per {kind} is {enforced}, but request is {request}"
            )),
            _ => {}
        }
    }
    for (resource, enforced) in quantity::resource_list(&item["maxLimitRequestRatio"]) {
        let request = requests.get(&resource).filter(|q| !q.is_zero());
        let limit = limits.get(&resource).filter(|q| !q.is_zero());
        let message = match (request, limit) {
            (None, _) => Some(format!(
                "{resource} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
            )),
            (_, None) => Some(format!(
                "{resource} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
            )),
            (Some(request), Some(limit)) => {
                let ratio = limit.milli_value() as f64 / request.milli_value() as f64;
                let allowed = enforced.milli_value() as f64 / 1000.0;
                (ratio.partial_cmp(&allowed) == Some(Ordering::Greater)).then(|| {
                    format!(
                        "{resource} max limit to request ratio per {kind} is {enforced}, but provided ratio is {ratio:.6}"
                    )
                })
            }
        };
        errors.extend(message);
    }
}

/// A LimitRange's own defaults, as the API server fills them in: for containers, `default` is
/// `max` and `defaultRequest` is `default`, else `min`, where not given.
pub(crate) fn default_limit_range(range: &mut Value) {
    for item in range["spec"]["limits"].as_array_mut().into_iter().flatten() {
        if item["type"].as_str() != Some("Container") {
            continue;
        }
        let max = quantity::resource_list(&item["max"]);
        let min = quantity::resource_list(&item["min"]);
        let mut defaults = quantity::resource_list(&item["default"]);
        for (resource, value) in &max {
            defaults.entry(resource.clone()).or_insert(*value);
        }
        let mut default_requests = quantity::resource_list(&item["defaultRequest"]);
        for (resource, value) in defaults.iter().chain(&min) {
            default_requests.entry(resource.clone()).or_insert(*value);
        }
        if !defaults.is_empty() {
            item["default"] = quantity::to_json(&defaults);
        }
        if !default_requests.is_empty() {
            item["defaultRequest"] = quantity::to_json(&default_requests);
        }
    }
}
