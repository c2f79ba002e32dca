//! What each kind does to an object before it is stored (the "strategy" of the real registry):
//! defaults, fields the server assigns, status it owns, fields that cannot change.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::Cluster;
use crate::error::{ApiError, Cause};
use crate::kinds::ResourceType;
use crate::meta;
use crate::pod_resources;

fn kind_of(resource: &ResourceType) -> (&str, &str) {
    (resource.group.as_str(), resource.plural.as_str())
}

/// Prepares a new object; returns the fields its CRD schema does not know (now pruned).
pub(super) fn prepare_create(
    cluster: &Cluster,
    resource: &ResourceType,
    object: &mut Value,
) -> Result<Vec<String>, ApiError> {
    match kind_of(resource) {
        ("", "pods") => {
            default_pod(object);
            object["status"] =
                json!({"phase": "Pending", "qosClass": pod_resources::qos_class(object)});
        }
        ("", "services") => prepare_service(cluster, None, object)?,
        ("", "namespaces") => {
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
            let name = meta::name(object).to_string();
            let metadata = meta::metadata_mut(object);
            let labels = metadata.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert("kubernetes.io/metadata.name".into(), name.into());
            }
        }
        ("", "secrets") => prepare_secret(object)?,
        ("", "persistentvolumeclaims") => object["status"] = json!({"phase": "Pending"}),
        ("", "limitranges") => crate::admission::limit_ranger::default_limit_range(object),
        ("apiextensions.k8s.io", "customresourcedefinitions") => prepare_crd(None, object)?,
        _ if resource.is_custom() && resource.has_status() => {
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
        }
        _ => super::workloads::prepare_create(resource, object)?,
    }
    Ok(prune_and_default(resource, object))
}

/// Prepares a replacement of `current`; returns the fields its CRD schema does not know.
pub(super) fn prepare_update(
    cluster: &Cluster,
    resource: &ResourceType,
    current: &Value,
    object: &mut Value,
    subresource: Option<&str>,
) -> Result<Vec<String>, ApiError> {
    match kind_of(resource) {
        ("", "services") => prepare_service(cluster, Some(current), object)?,
        ("", "namespaces") if subresource != Some("finalize") => {
            object["spec"]["finalizers"] = current
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(json!([]));
        }
        ("", "secrets") => {
            prepare_secret(object)?;
            check_immutable_data(resource, current, object)?;
        }
        ("", "configmaps") => check_immutable_data(resource, current, object)?,
        ("", "limitranges") => crate::admission::limit_ranger::default_limit_range(object),
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            prepare_crd(Some(current), object)?
        }
        _ => super::workloads::prepare_update(resource, current, object, subresource)?,
    }
    Ok(prune_and_default(resource, object))
}

/// Prunes unknown fields and fills defaults from a CRD schema; returns the pruned fields.
fn prune_and_default(resource: &ResourceType, object: &mut Value) -> Vec<String> {
    let Some(schema) = resource.custom.as_ref().and_then(|c| c.schema.as_ref()) else {
        return Vec::new();
    };
    let original = object.clone();
    schema.prune(object);
    let mut removed = Vec::new();
    removed_fields(&original, object, "", &mut removed);
    schema.apply_defaults(object);
    removed
}

/// Paths (`spec.driver.foo`, `spec.volumes[0].bar`) present in `before` but not in `after`.
fn removed_fields(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, value) in old {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match new.get(key) {
                    Some(kept) => removed_fields(value, kept, &child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            for (index, (value, kept)) in old.iter().zip(new).enumerate() {
                removed_fields(value, kept, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

fn immutable(resource: &ResourceType, name: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        &resource.qualified_kind(),
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: message.into(),
            field: field.into(),
        }],
    )
}

/// Pod defaults the real API server fills in, so clients read back what they would there.
fn default_pod(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let defaults = [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("securityContext", json!({})),
        ("schedulerName", json!("default-scheduler")),
        ("enableServiceLinks", json!(true)),
        ("preemptionPolicy", json!("PreemptLowerPriority")),
        ("priority", json!(0)),
    ];
    for (field, value) in defaults {
        spec.entry(field).or_insert(value);
    }
    let account = spec
        .get("serviceAccountName")
        .or_else(|| spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), account.clone().into());
    spec.insert("serviceAccount".into(), account.into());
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            default_container(container);
        }
    }
}

fn default_container(container: &mut Map<String, Value>) {
    default_container_fields(container);
    let resources = container.entry("resources").or_insert_with(|| json!({}));
    // A limit without a request is also the request, as the API server defaults a pod's (not a
    // pod template's).
    if let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned()
        && !limits.is_empty()
        && let Some(resources) = resources.as_object_mut()
    {
        let requests = resources.entry("requests").or_insert_with(|| json!({}));
        if let Some(requests) = requests.as_object_mut() {
            for (name, limit) in limits {
                requests.entry(name).or_insert(limit);
            }
        }
    }
}

/// The defaults of a container that a pod and a pod template share: the image pull policy
/// (`Always` for `:latest` or no tag), the termination message, empty resources and ports'
/// protocol.
pub(super) fn default_container_fields(container: &mut Map<String, Value>) {
    let image = container
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let last_segment = image.rsplit('/').next().unwrap_or_default();
    let latest =
        !image.contains('@') && (!last_segment.contains(':') || last_segment.ends_with(":latest"));
    let pull = if latest { "Always" } else { "IfNotPresent" };
    container
        .entry("imagePullPolicy")
        .or_insert_with(|| pull.into());
    container
        .entry("terminationMessagePath")
        .or_insert_with(|| "/dev/termination-log".into());
    container
        .entry("terminationMessagePolicy")
        .or_insert_with(|| "File".into());
    container.entry("resources").or_insert_with(|| json!({}));
    if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert_with(|| "TCP".into());
        }
    }
}

/// Upserts a condition in `status.conditions`, keeping its transition time when unchanged.
pub(super) fn set_condition(
    object: &mut Value,
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
) {
    let now = meta::now();
    if !object.get("status").is_some_and(Value::is_object) {
        object["status"] = json!({});
    }
    let conditions = object["status"]
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    let Some(Value::Array(conditions)) = conditions else {
        return;
    };
    let mut condition =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    if !reason.is_empty() {
        condition["reason"] = json!(reason);
    }
    if !message.is_empty() {
        condition["message"] = json!(message);
    }
    match conditions.iter_mut().find(|c| c["type"] == kind) {
        Some(existing) => {
            if existing["status"] == status {
                condition["lastTransitionTime"] = existing["lastTransitionTime"].clone();
            }
            *existing = condition;
        }
        None => conditions.push(condition),
    }
}

/// Assigns a clusterIP (kept across updates), and defaults the ports and policies.
fn prepare_service(
    cluster: &Cluster,
    current: Option<&Value>,
    service: &mut Value,
) -> Result<(), ApiError> {
    if !service.get("spec").is_some_and(Value::is_object) {
        service["spec"] = json!({});
    }
    let name = meta::name(service).to_string();
    let spec = &mut service["spec"];
    let service_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    spec["type"] = json!(service_type);
    let requested = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let existing = current
        .and_then(|c| meta::str_at(c, &["spec", "clusterIP"]))
        .unwrap_or_default()
        .to_string();
    if service_type != "ExternalName" {
        let ip = match (requested.as_str(), existing.as_str()) {
            ("", "") => cluster.allocate_service_ip(),
            ("", kept) => kept.to_string(),
            (asked, "") => asked.to_string(),
            (asked, kept) if asked == kept => kept.to_string(),
            (_, _) => {
                return Err(ApiError::invalid(
                    "Service",
                    &name,
                    vec![Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!("Invalid value: \"{requested}\": field is immutable"),
                        field: "spec.clusterIPs[0]".into(),
                    }],
                ));
            }
        };
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        if ip != "None" {
            spec["ipFamilies"] = json!(["IPv4"]);
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
        let map = spec.as_object_mut().expect("spec was made an object above");
        map.entry("sessionAffinity")
            .or_insert_with(|| "None".into());
        map.entry("internalTrafficPolicy")
            .or_insert_with(|| "Cluster".into());
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.entry("protocol").or_insert_with(|| "TCP".into());
            if let Some(number) = port.get("port").cloned() {
                port.entry("targetPort").or_insert(number);
            }
        }
    }
    if service.get("status").is_none() {
        service["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}

/// `stringData` is merged into `data`, base64-encoded, as the API server does.
fn prepare_secret(secret: &mut Value) -> Result<(), ApiError> {
    let Some(map) = secret.as_object_mut() else {
        return Ok(());
    };
    map.entry("type").or_insert_with(|| "Opaque".into());
    let Some(Value::Object(string_data)) = map.remove("stringData") else {
        return Ok(());
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if let Some(data) = data.as_object_mut() {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or_default();
            data.insert(
                key,
                base64::engine::general_purpose::STANDARD
                    .encode(text)
                    .into(),
            );
        }
    }
    Ok(())
}

/// ConfigMaps and Secrets marked `immutable: true` keep their data.
fn check_immutable_data(
    resource: &ResourceType,
    current: &Value,
    object: &Value,
) -> Result<(), ApiError> {
    if current.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let name = meta::name(current);
    for field in ["data", "binaryData"] {
        if current.get(field) != object.get(field) {
            return Err(immutable(
                resource,
                name,
                field,
                "Forbidden: field is immutable when `immutable` is set",
            ));
        }
    }
    if object.get("immutable").and_then(Value::as_bool) != Some(true) {
        return Err(immutable(
            resource,
            name,
            "immutable",
            "Forbidden: field is immutable when `immutable` is set",
        ));
    }
    Ok(())
}

/// A valid CRD gets the status the apiextensions controllers would give it: names accepted,
/// established, stored versions.
fn prepare_crd(current: Option<&Value>, crd: &mut Value) -> Result<(), ApiError> {
    if let Err(error) = crate::kinds::crd_resource_types(crd) {
        return Err(ApiError::invalid(
            "CustomResourceDefinition.apiextensions.k8s.io",
            meta::name(crd),
            error.causes,
        ));
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let mut accepted = json!({
        "kind": kind,
        "listKind": names.get("listKind").and_then(Value::as_str).map(str::to_string).unwrap_or(format!("{kind}List")),
        "plural": names["plural"],
        "singular": names.get("singular").and_then(Value::as_str).map(str::to_string).unwrap_or(kind.to_lowercase()),
    });
    for optional in ["shortNames", "categories"] {
        if let Some(value) = names.get(optional) {
            accepted[optional] = value.clone();
        }
    }
    let storage = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|versions| versions.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let mut stored_versions: Vec<String> = current
        .and_then(|c| c.pointer("/status/storedVersions"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if !stored_versions.contains(&storage) {
        stored_versions.push(storage);
    }
    crd["status"] = current
        .and_then(|c| c.get("status"))
        .cloned()
        .unwrap_or(json!({}));
    crd["status"]["acceptedNames"] = accepted;
    crd["status"]["storedVersions"] = json!(stored_versions);
    set_condition(
        crd,
        "NamesAccepted",
        "True",
        "NoConflicts",
        "no conflicts found",
    );
    set_condition(
        crd,
        "Established",
        "True",
        "InitialNamesAccepted",
        "the initial names have been accepted",
    );
    // CRD conditions carry no probe time.
    if let Some(conditions) = crd
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for condition in conditions.iter_mut().filter_map(Value::as_object_mut) {
            condition.remove("lastProbeTime");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_pruned_paths() {
        let before = json!({"spec": {"a": 1, "b": {"c": 2}, "list": [{"x": 1, "y": 2}]}});
        let after = json!({"spec": {"a": 1, "b": {}, "list": [{"x": 1}]}});
        let mut removed = Vec::new();
        removed_fields(&before, &after, "", &mut removed);
        assert_eq!(removed, ["spec.b.c", "spec.list[0].y"]);
    }

    #[test]
    fn qos_follows_requests_and_limits() {
        let pod = |resources: Value| json!({"spec": {"containers": [{"name": "c", "resources": resources}]}});
        assert_eq!(pod_resources::qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            pod_resources::qos_class(&pod(json!({"requests": {"cpu": "1"}}))),
            "Burstable"
        );
        assert_eq!(
            pod_resources::qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
    }

    #[test]
    fn pod_defaults_follow_the_image_tag() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "spark:3.5"}, {"name": "b", "image": "busybox"}]}});
        default_pod(&mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(pod["spec"]["containers"][1]["imagePullPolicy"], "Always");
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn secret_string_data_is_encoded() {
        let mut secret = json!({"stringData": {"a": "hi"}, "data": {"b": "eA=="}});
        prepare_secret(&mut secret).unwrap();
        assert_eq!(
            secret,
            json!({"type": "Opaque", "data": {"a": "aGk=", "b": "eA=="}})
        );
    }

    #[test]
    fn conditions_keep_transition_time_while_unchanged() {
        let mut object = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "old"}]}});
        set_condition(&mut object, "Ready", "True", "R", "");
        assert_eq!(
            object["status"]["conditions"][0]["lastTransitionTime"],
            "old"
        );
        set_condition(&mut object, "Ready", "False", "R", "");
        assert_ne!(
            object["status"]["conditions"][0]["lastTransitionTime"],
            "old"
        );
    }
}
