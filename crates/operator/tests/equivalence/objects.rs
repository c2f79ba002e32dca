//! The objects of one submission as the API server stores them, gathered from the namespace the
//! submission went to, with what is random by design replaced by placeholders: the application
//! id, the unique ids in the resource prefix and the ConfigMap names, the local directory's UUID,
//! uids, resource versions, timestamps, the submit time and the API server URL.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use spark_operator::submission::properties;

/// The ConfigMap key holding the executor pod template, and the driver volumes Spark names.
const TEMPLATE_KEY: &str = "podspec-configmap-key";
const CONF_VOLUME: &str = "spark-conf-volume-driver";
const TEMPLATE_VOLUME: &str = "pod-template-volume";

/// Normalised objects by role: `driverPod`, `driverService`, `driverConfigMap`,
/// `sparkProperties`, `executorTemplateConfigMap`, `executorTemplate`, and `other.<Kind>/<name>`
/// for anything else in the namespace.
pub type Objects = BTreeMap<String, Value>;

pub async fn collect(
    client: &Client,
    namespace: &str,
    master_url: &str,
) -> Result<Objects, String> {
    let pods = list::<Pod>(client, namespace).await?;
    let [pod] = pods.as_slice() else {
        return Err(format!("expected one driver pod, found {}", pods.len()));
    };
    let services = list::<Service>(client, namespace).await?;
    let config_maps = list::<ConfigMap>(client, namespace).await?;
    let secrets = list::<Secret>(client, namespace).await?;
    let claims = list::<PersistentVolumeClaim>(client, namespace).await?;

    let pod_value = to_value(pod)?;
    let volume_config_map = |volume: &str| {
        pod_value["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == volume)
            .and_then(|v| v["configMap"]["name"].as_str())
            .map(str::to_string)
    };
    let conf_map_name =
        volume_config_map(CONF_VOLUME).ok_or("driver has no configuration volume")?;
    let template_map_name = volume_config_map(TEMPLATE_VOLUME);
    let conf_map = config_maps
        .iter()
        .find(|c| c.name_any() == conf_map_name)
        .ok_or_else(|| format!("ConfigMap {conf_map_name} missing"))?;
    let text = conf_map
        .data
        .as_ref()
        .and_then(|d| d.get("spark.properties"))
        .ok_or("no spark.properties")?;
    let mut props = properties::parse(text).map_err(|e| format!("spark.properties: {e}"))?;
    let service_name = props
        .get("spark.driver.host")
        .and_then(|h| h.split('.').next())
        .ok_or("no spark.driver.host")?
        .to_string();
    if props.contains_key("spark.app.submitTime") {
        props.insert("spark.app.submitTime".into(), "<SUBMIT_TIME>".into());
    }

    let mut replacements: Vec<(String, String)> = Vec::new();
    let mut replace = |from: &str, to: &str| {
        if !from.is_empty() {
            replacements.push((from.to_string(), to.to_string()));
        }
    };
    replace(&pod.uid().unwrap_or_default(), "<DRIVER_POD_UID>");
    replace(
        pod.labels().get("spark-app-selector").map_or("", |s| s),
        "<APP_ID>",
    );
    replace(&service_name, "<DRIVER_SVC>");
    replace(&conf_map_name, "<DRIVER_CONF_MAP>");
    if let Some(name) = &template_map_name {
        replace(name, "<POD_TEMPLATE_CONF_MAP>");
        if let Some(prefix) = name.strip_suffix("-driver-podspec-conf-map") {
            replace(prefix, "<PREFIX>");
        }
    }
    let local_dir = regex::Regex::new(
        r"/var/data/spark-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    )
    .map_err(|e| e.to_string())?;
    let pod_text = pod_value.to_string();
    let mut dirs: Vec<&str> = local_dir.find_iter(&pod_text).map(|m| m.as_str()).collect();
    dirs.dedup();
    for (i, dir) in dirs.iter().enumerate() {
        replace(dir, &format!("<LOCAL_DIR_{i}>"));
    }
    replace(master_url, "<MASTER>");
    replacements.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));

    let mut objects = Objects::new();
    objects.insert("driverPod".into(), strip(pod_value));
    objects.insert("sparkProperties".into(), json!(props));
    let mut conf_value = strip(to_value(conf_map)?);
    conf_value["data"]["spark.properties"] = json!("<compared as sparkProperties>");
    objects.insert("driverConfigMap".into(), conf_value);
    let mut template_seen = None;
    if let Some(name) = &template_map_name {
        let map = config_maps
            .iter()
            .find(|c| &c.name_any() == name)
            .ok_or_else(|| format!("ConfigMap {name} missing"))?;
        let yaml = map.data.as_ref().and_then(|d| d.get(TEMPLATE_KEY));
        if let Some(yaml) = yaml {
            let template: Value =
                serde_yaml::from_str(yaml).map_err(|e| format!("executor template: {e}"))?;
            objects.insert("executorTemplate".into(), template);
        }
        let mut value = strip(to_value(map)?);
        value["data"][TEMPLATE_KEY] = json!("<compared as executorTemplate>");
        objects.insert("executorTemplateConfigMap".into(), value);
        template_seen = Some(name.clone());
    }
    for service in &services {
        let name = service.name_any();
        let value = strip(to_value(service)?);
        if name == service_name {
            objects.insert("driverService".into(), value);
        } else if name != "kubernetes" {
            objects.insert(format!("other.Service/{name}"), value);
        }
    }
    for map in &config_maps {
        let name = map.name_any();
        if name != conf_map_name && Some(&name) != template_seen.as_ref() {
            objects.insert(format!("other.ConfigMap/{name}"), strip(to_value(map)?));
        }
    }
    for secret in &secrets {
        objects.insert(
            format!("other.Secret/{}", secret.name_any()),
            strip(to_value(secret)?),
        );
    }
    for claim in &claims {
        objects.insert(
            format!("other.PersistentVolumeClaim/{}", claim.name_any()),
            strip(to_value(claim)?),
        );
    }

    let mut text = serde_json::to_string(&objects).map_err(|e| e.to_string())?;
    for (from, to) in &replacements {
        text = text.replace(from.as_str(), to);
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

async fn list<K>(client: &Client, namespace: &str) -> Result<Vec<K>, String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| format!("listing {}: {e}", K::kind(&K::DynamicType::default())))
}

fn to_value(object: &impl serde::Serialize) -> Result<Value, String> {
    serde_json::to_value(object).map_err(|e| e.to_string())
}

/// Drops what the API server sets on every object and the status.
fn strip(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            metadata.remove(key);
        }
    }
    value
}
