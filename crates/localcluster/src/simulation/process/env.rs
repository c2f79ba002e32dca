//! A container's environment as the kubelet computes it: `envFrom` first, then `env` in order,
//! with `$(NAME)` references to earlier variables expanded and `valueFrom` resolved from the pod
//! itself (`fieldRef`) or from ConfigMaps and Secrets fetched beforehand.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// ConfigMap and Secret data of the pod's namespace, by name: what `configMapKeyRef`,
/// `secretKeyRef` and `envFrom` read (Secret values already decoded).
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub config_maps: HashMap<String, BTreeMap<String, String>>,
    /// The `binaryData` keys of each ConfigMap, which volumes (not the environment) can name.
    pub binary_keys: HashMap<String, Vec<String>>,
    pub secrets: HashMap<String, BTreeMap<String, String>>,
}

/// The names of the ConfigMaps and Secrets a container's environment refers to.
pub fn referenced_sources(container: &Value) -> (Vec<String>, Vec<String>) {
    let (mut config_maps, mut secrets) = (Vec::new(), Vec::new());
    for from in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(name) = from["configMapRef"]["name"].as_str() {
            config_maps.push(name.to_string());
        }
        if let Some(name) = from["secretRef"]["name"].as_str() {
            secrets.push(name.to_string());
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        if let Some(name) = var["valueFrom"]["configMapKeyRef"]["name"].as_str() {
            config_maps.push(name.to_string());
        }
        if let Some(name) = var["valueFrom"]["secretKeyRef"]["name"].as_str() {
            secrets.push(name.to_string());
        }
    }
    config_maps.sort();
    config_maps.dedup();
    secrets.sort();
    secrets.dedup();
    (config_maps, secrets)
}

/// The environment of `container` in `pod` (whose status already holds its podIP), or why the
/// container cannot start, worded as the kubelet's `CreateContainerConfigError` message.
pub fn container_env(
    pod: &Value,
    container: &Value,
    sources: &Sources,
) -> Result<Vec<(String, String)>, String> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let set = |vars: &mut Vec<(String, String)>, name: String, value: String| {
        vars.retain(|(existing, _)| *existing != name);
        vars.push((name, value));
    };
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        let (data, kind, reference) = if from["configMapRef"].is_object() {
            let name = from["configMapRef"]["name"].as_str().unwrap_or_default();
            (
                sources.config_maps.get(name),
                "configmap",
                &from["configMapRef"],
            )
        } else {
            let name = from["secretRef"]["name"].as_str().unwrap_or_default();
            (sources.secrets.get(name), "secret", &from["secretRef"])
        };
        match data {
            Some(data) => {
                for (key, value) in data {
                    set(&mut vars, format!("{prefix}{key}"), value.clone());
                }
            }
            None if reference["optional"] == true => {}
            None => {
                return Err(format!(
                    "{kind} \"{}\" not found",
                    reference["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or_default().to_string();
        let value = match var["valueFrom"].as_object() {
            None => expand(var["value"].as_str().unwrap_or_default(), &vars),
            Some(_) => match value_from(pod, &var["valueFrom"], sources)? {
                Some(value) => value,
                None => continue,
            },
        };
        set(&mut vars, name, value);
    }
    Ok(vars)
}

/// Expands `$(NAME)` with earlier variables; `$$` escapes a `$`; unknown references stay as
/// written, as the kubelet leaves them.
pub fn expand(value: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&rest[at..at + end + 3]),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn value_from(pod: &Value, from: &Value, sources: &Sources) -> Result<Option<String>, String> {
    if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
        return field(pod, path)
            .map(Some)
            .ok_or_else(|| format!("unsupported fieldPath: {path}"));
    }
    if let Some(resource) = from["resourceFieldRef"]["resource"].as_str() {
        return Ok(Some(resource_field(pod, from, resource)));
    }
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    for (kind, kind_name, reference, store) in [
        (
            "configmap",
            "ConfigMap",
            &from["configMapKeyRef"],
            &sources.config_maps,
        ),
        ("secret", "Secret", &from["secretKeyRef"], &sources.secrets),
    ] {
        if !reference.is_object() {
            continue;
        }
        let name = reference["name"].as_str().unwrap_or_default();
        let key = reference["key"].as_str().unwrap_or_default();
        let optional = reference["optional"] == true;
        return match store.get(name).map(|data| data.get(key)) {
            Some(Some(value)) => Ok(Some(value.clone())),
            _ if optional => Ok(None),
            None => Err(format!("{kind} \"{name}\" not found")),
            Some(None) => Err(format!(
                "couldn't find key {key} in {kind_name} {namespace}/{name}"
            )),
        };
    }
    Ok(None)
}

/// The downward API fields a container's environment may name.
fn field(pod: &Value, path: &str) -> Option<String> {
    let text = |pointer: &str| {
        pod.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let keyed = |map: &str, rest: &str| {
        let key = rest.strip_prefix("['")?.strip_suffix("']")?;
        Some(
            pod["metadata"][map][key]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    match path {
        "metadata.name" => text("/metadata/name"),
        "metadata.namespace" => text("/metadata/namespace"),
        "metadata.uid" => text("/metadata/uid"),
        "spec.nodeName" => text("/spec/nodeName"),
        "spec.serviceAccountName" => text("/spec/serviceAccountName").or(Some("default".into())),
        "status.podIP" => text("/status/podIP"),
        "status.hostIP" => text("/status/hostIP"),
        "status.podIPs" => text("/status/podIP"),
        "status.hostIPs" => text("/status/hostIP"),
        _ => {
            if let Some(rest) = path.strip_prefix("metadata.labels") {
                keyed("labels", rest)
            } else if let Some(rest) = path.strip_prefix("metadata.annotations") {
                keyed("annotations", rest)
            } else {
                None
            }
        }
    }
}

/// `resourceFieldRef`: the container's limit (or request) as written; whole cores for `cpu` as
/// the kubelet rounds them up.
fn resource_field(pod: &Value, from: &Value, resource: &str) -> String {
    let container = from["resourceFieldRef"]["containerName"].as_str();
    let spec = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| container.is_none() || c["name"].as_str() == container);
    let Some(spec) = spec else {
        return String::new();
    };
    let (section, name) = resource.split_once('.').unwrap_or(("limits", resource));
    let value = spec["resources"][section][name]
        .as_str()
        .or_else(|| spec["resources"]["requests"][name].as_str())
        .unwrap_or_default();
    match (name, value.strip_suffix('m')) {
        ("cpu", Some(millis)) => millis
            .parse::<u64>()
            .map(|m| m.div_ceil(1000).to_string())
            .unwrap_or_else(|_| value.to_string()),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "pi-driver", "namespace": "jobs", "uid": "u-1",
                         "labels": {"spark-role": "driver"}},
            "spec": {"nodeName": "node-0", "containers": [{"name": "spark-kubernetes-driver",
                     "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}}}]},
            "status": {"podIP": "127.1.0.7", "hostIP": "127.0.0.1"},
        })
    }

    #[test]
    fn values_field_refs_and_expansion() {
        let container = json!({"env": [
            {"name": "SPARK_DRIVER_BIND_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['spark-role']"}}},
            {"name": "URL", "value": "spark://$(POD):7078/$(MISSING)/$$(POD)"},
            {"name": "CORES", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ]});
        let env = container_env(&pod(), &container, &Sources::default()).unwrap();
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("SPARK_DRIVER_BIND_ADDRESS"), Some("127.1.0.7"));
        assert_eq!(get("POD"), Some("pi-driver"));
        assert_eq!(get("ROLE"), Some("driver"));
        assert_eq!(get("URL"), Some("spark://pi-driver:7078/$(MISSING)/$(POD)"));
        assert_eq!(get("CORES"), Some("2"));
    }

    #[test]
    fn config_maps_and_secrets_in_order_with_optional_ones() {
        let container = json!({
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "APP_"},
                    {"secretRef": {"name": "absent", "optional": true}}],
        "env": [
            {"name": "APP_MODE", "value": "override"},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "MAYBE", "valueFrom": {"configMapKeyRef": {"name": "none", "key": "k", "optional": true}}},
        ]});
        let mut sources = Sources::default();
        sources.config_maps.insert(
            "settings".into(),
            BTreeMap::from([
                ("MODE".into(), "batch".into()),
                ("LEVEL".into(), "3".into()),
            ]),
        );
        sources.secrets.insert(
            "creds".into(),
            BTreeMap::from([("password".into(), "s3cret".into())]),
        );
        let env = container_env(&pod(), &container, &sources).unwrap();
        assert_eq!(
            env,
            vec![
                ("APP_LEVEL".to_string(), "3".to_string()),
                ("APP_MODE".to_string(), "override".to_string()),
                ("PASSWORD".to_string(), "s3cret".to_string()),
            ]
        );
        assert_eq!(
            referenced_sources(&container),
            (
                vec!["none".to_string(), "settings".to_string()],
                vec!["absent".to_string(), "creds".to_string()]
            )
        );
    }

    #[test]
    fn a_missing_required_source_stops_the_container() {
        let container = json!({"env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]});
        assert_eq!(
            container_env(&pod(), &container, &Sources::default()),
            Err("secret \"creds\" not found".to_string())
        );
    }
}
