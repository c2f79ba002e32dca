//! The executor pod as a simulated Spark driver makes it, as Spark's executor feature steps do:
//! from the executor pod template when there is one (`spark.kubernetes.executor.podTemplateFile`,
//! mounted from a ConfigMap), with Spark's name, labels, owner, node selectors and the
//! container's image, environment and resources (cores, memory plus overhead) on top.
//!
//! The resources and node selectors matter: without them an executor would fit any node and no
//! quota, so a cluster would be kinder to it than Kubernetes is to Spark's.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::kubelet;

/// The volume through which the operator (and spark-submit) mounts the executor pod template.
pub const POD_TEMPLATE_VOLUME: &str = "pod-template-volume";
/// The key of the template in that ConfigMap.
pub const POD_TEMPLATE_KEY: &str = "podspec-configmap-key";
/// Spark's name for the executor container.
const EXECUTOR_CONTAINER: &str = "spark-kubernetes-executor";
const MIB: u64 = 1024 * 1024;

/// The name of the ConfigMap holding the driver's executor pod template, if it mounts one.
pub fn template_config_map(driver: &Value) -> Option<String> {
    driver["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"].as_str() == Some(POD_TEMPLATE_VOLUME))?["configMap"]["name"]
        .as_str()
        .map(str::to_string)
}

/// Executor `id`'s pod: `template` (or an empty pod) with what Spark sets.
pub fn build(
    id: u32,
    name: &str,
    driver: &Value,
    conf: &BTreeMap<String, String>,
    template: Option<&Value>,
) -> Value {
    let mut pod = template.cloned().unwrap_or_else(|| json!({}));
    let app_id = conf.get("spark.app.id").cloned().unwrap_or_default();
    pod["apiVersion"] = json!("v1");
    pod["kind"] = json!("Pod");
    let metadata = object(&mut pod, "metadata");
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), driver["metadata"]["namespace"].clone());
    let labels = object_in(metadata, "labels");
    labels.extend(as_json(prefixed(conf, "spark.kubernetes.executor.label.")));
    labels.insert("spark-app-selector".into(), json!(app_id));
    labels.insert("spark-exec-id".into(), json!(id.to_string()));
    labels.insert("spark-role".into(), json!("executor"));
    labels.insert("spark-exec-resourceprofile-id".into(), json!("0"));
    if let Some(app) = driver["metadata"]["labels"]["spark-app-name"].as_str() {
        labels.insert("spark-app-name".into(), json!(app));
    }
    let annotations = object_in(metadata, "annotations");
    annotations.extend(as_json(prefixed(
        conf,
        "spark.kubernetes.executor.annotation.",
    )));
    annotations.insert(kubelet::RUN_SECONDS_ANNOTATION.into(), json!("forever"));
    if let Some(code) =
        driver["metadata"]["annotations"][super::spark::EXECUTOR_EXIT_CODE_ANNOTATION].as_str()
    {
        annotations.insert(kubelet::EXIT_CODE_ANNOTATION.into(), json!(code));
    }
    let owners = metadata
        .entry("ownerReferences")
        .or_insert_with(|| json!([]));
    if let Some(owners) = owners.as_array_mut() {
        owners.push(json!({
            "apiVersion": "v1", "kind": "Pod", "controller": true,
            "name": driver["metadata"]["name"], "uid": driver["metadata"]["uid"],
        }));
    }
    let spec = object(&mut pod, "spec");
    spec.insert("restartPolicy".into(), json!("Never"));
    spec.insert("hostname".into(), json!(name));
    let selector = object_in(spec, "nodeSelector");
    selector.extend(as_json(prefixed(conf, "spark.kubernetes.node.selector.")));
    selector.extend(as_json(prefixed(
        conf,
        "spark.kubernetes.executor.node.selector.",
    )));
    if selector.is_empty() {
        spec.remove("nodeSelector");
    }
    // The template's service account, else the executors' own, else the driver's: the API
    // server refuses the pod if it does not exist.
    let templated = ["serviceAccountName", "serviceAccount"]
        .iter()
        .any(|field| {
            spec.get(*field)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
    let account = conf
        .get("spark.kubernetes.authenticate.executor.serviceAccountName")
        .or_else(|| conf.get("spark.kubernetes.authenticate.driver.serviceAccountName"));
    if let Some(account) = account.filter(|_| !templated) {
        spec.insert("serviceAccountName".into(), json!(account));
        spec.insert("serviceAccount".into(), json!(account));
    }
    let container = executor_container(spec, conf);
    container.insert("name".into(), json!(EXECUTOR_CONTAINER));
    let image = conf
        .get("spark.kubernetes.executor.container.image")
        .or_else(|| conf.get("spark.kubernetes.container.image"));
    if let Some(image) = image {
        container.insert("image".into(), json!(image));
    }
    container.insert("args".into(), json!(["executor"]));
    let env = container.entry("env").or_insert_with(|| json!([]));
    if let Some(env) = env.as_array_mut() {
        env.push(json!({"name": "SPARK_EXECUTOR_ID", "value": id.to_string()}));
        env.push(json!({"name": "SPARK_APPLICATION_ID", "value": app_id}));
    }
    container.insert("resources".into(), resources(conf));
    pod
}

/// The template's executor container (the named one, else the first), or a new one.
fn executor_container<'a>(
    spec: &'a mut Map<String, Value>,
    conf: &BTreeMap<String, String>,
) -> &'a mut Map<String, Value> {
    let wanted = conf.get("spark.kubernetes.executor.podTemplateContainerName");
    let containers = spec.entry("containers").or_insert_with(|| json!([]));
    if !containers.is_array() {
        *containers = json!([]);
    }
    let list = containers.as_array_mut().expect("an array");
    let index = wanted
        .and_then(|name| {
            list.iter()
                .position(|c| c["name"].as_str() == Some(name.as_str()))
        })
        .unwrap_or(0);
    if list.is_empty() {
        list.push(json!({}));
    }
    if !list[index].is_object() {
        list[index] = json!({});
    }
    list[index].as_object_mut().expect("an object")
}

/// Spark's executor resources: cores as the CPU request (or `request.cores`), memory plus
/// overhead as the memory request and limit, `limit.cores` as the CPU limit.
fn resources(conf: &BTreeMap<String, String>) -> Value {
    let cores = conf
        .get("spark.kubernetes.executor.request.cores")
        .or_else(|| conf.get("spark.executor.cores"))
        .cloned()
        .unwrap_or_else(|| "1".into());
    let memory = conf
        .get("spark.executor.memory")
        .and_then(|m| mib(m))
        .unwrap_or(1024);
    let factor: f64 = conf
        .get("spark.executor.memoryOverheadFactor")
        .or_else(|| conf.get("spark.kubernetes.memoryOverheadFactor"))
        .and_then(|f| f.parse().ok())
        .unwrap_or(0.1);
    let overhead = conf
        .get("spark.executor.memoryOverhead")
        .and_then(|m| mib(m))
        .unwrap_or_else(|| ((memory as f64 * factor) as u64).max(384));
    let total = format!("{}Mi", memory + overhead);
    let mut limits = json!({"memory": total});
    if let Some(limit) = conf.get("spark.kubernetes.executor.limit.cores") {
        limits["cpu"] = json!(limit);
    }
    json!({"requests": {"cpu": cores, "memory": total}, "limits": limits})
}

/// A JVM size (`512m`, `2g`, `1024` in MiB) in MiB.
fn mib(size: &str) -> Option<u64> {
    let size = size.trim().to_ascii_lowercase();
    let digits = size
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(size.len());
    let number: u64 = size[..digits].parse().ok()?;
    let unit = match size[digits..].trim_end_matches('b') {
        "" | "m" => MIB,
        "k" => 1024,
        "g" => MIB * 1024,
        "t" => MIB * 1024 * 1024,
        _ => return None,
    };
    Some(number * unit / MIB)
}

pub fn prefixed(conf: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    conf.iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(prefix)?.to_string(), value.clone())))
        .collect()
}

fn as_json(map: BTreeMap<String, String>) -> impl Iterator<Item = (String, Value)> {
    map.into_iter().map(|(k, v)| (k, Value::String(v)))
}

fn object<'a>(value: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !value[key].is_object() {
        value[key] = json!({});
    }
    value[key].as_object_mut().expect("an object")
}

fn object_in<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver() -> Value {
        json!({"metadata": {"name": "pi-driver", "namespace": "default", "uid": "u1",
                            "labels": {"spark-role": "driver", "spark-app-name": "pi"},
                            "annotations": {}}})
    }

    #[test]
    fn the_template_is_the_base_and_spark_sets_the_rest() {
        let template = json!({
            "metadata": {"labels": {"team": "data"}, "ownerReferences": [{"kind": "SparkApplication", "name": "pi"}]},
            "spec": {
                "nodeSelector": {"disk": "nvme"},
                "tolerations": [{"key": "spark", "operator": "Exists"}],
                "containers": [{"name": "sidecar"}, {"name": "spark-kubernetes-executor", "env": [{"name": "A", "value": "1"}]}],
            },
        });
        let conf: BTreeMap<String, String> = [
            ("spark.app.id", "spark-1"),
            ("spark.executor.memory", "512m"),
            ("spark.executor.cores", "2"),
            (
                "spark.kubernetes.executor.podTemplateContainerName",
                "spark-kubernetes-executor",
            ),
            ("spark.kubernetes.executor.node.selector.zone", "a"),
            ("spark.kubernetes.container.image", "apache/spark:4.0.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let pod = build(1, "pi-exec-1", &driver(), &conf, Some(&template));
        assert_eq!(pod["metadata"]["labels"]["team"], "data");
        assert_eq!(pod["metadata"]["labels"]["spark-role"], "executor");
        assert_eq!(
            pod["metadata"]["ownerReferences"].as_array().unwrap().len(),
            2
        );
        assert_eq!(
            pod["spec"]["nodeSelector"],
            json!({"disk": "nvme", "zone": "a"})
        );
        assert_eq!(pod["spec"]["tolerations"][0]["key"], "spark");
        let executor = &pod["spec"]["containers"][1];
        assert_eq!(executor["image"], "apache/spark:4.0.0");
        assert_eq!(executor["env"][0]["name"], "A");
        assert_eq!(
            executor["resources"],
            json!({"requests": {"cpu": "2", "memory": "896Mi"}, "limits": {"memory": "896Mi"}})
        );
        assert_eq!(pod["spec"]["containers"][0]["name"], "sidecar");
    }

    #[test]
    fn without_a_template_the_pod_is_spark_s_own() {
        let conf = BTreeMap::from([("spark.executor.memory".to_string(), "4g".to_string())]);
        let pod = build(2, "x-exec-2", &driver(), &conf, None);
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["name"], EXECUTOR_CONTAINER);
        assert_eq!(container["resources"]["requests"]["memory"], "4505Mi");
        assert_eq!(container["resources"]["requests"]["cpu"], "1");
        assert!(pod["spec"].get("nodeSelector").is_none());
        assert!(pod["spec"].get("serviceAccountName").is_none());
    }

    #[test]
    fn executors_run_as_their_account_else_the_drivers() {
        let driver_account = "spark.kubernetes.authenticate.driver.serviceAccountName";
        let mut conf = BTreeMap::from([(driver_account.to_string(), "spark".to_string())]);
        let pod = build(1, "x-exec-1", &driver(), &conf, None);
        assert_eq!(pod["spec"]["serviceAccountName"], "spark");
        conf.insert(
            "spark.kubernetes.authenticate.executor.serviceAccountName".into(),
            "executors".into(),
        );
        let pod = build(1, "x-exec-1", &driver(), &conf, None);
        assert_eq!(pod["spec"]["serviceAccountName"], "executors");
        let template = json!({"spec": {"serviceAccountName": "templated"}});
        let pod = build(1, "x-exec-1", &driver(), &conf, Some(&template));
        assert_eq!(pod["spec"]["serviceAccountName"], "templated");
    }
}
