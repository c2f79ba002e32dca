//! A pod's volumes as directories of its own: ConfigMaps and Secrets written out as files,
//! emptyDirs created, hostPaths used where they are. The result is the [`PathMap`] from the
//! container's mount paths to those directories. The kubelet starts a pod only once its volumes'
//! sources exist (`simulation::startup`), so they are read once here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use serde_json::Value;

use super::paths::PathMap;

/// Writes the volumes `container` mounts under `pod_dir/volumes` and returns the path map of
/// the container, extending `map` (the image's own directories).
pub async fn materialise(
    client: &Client,
    pod: &Value,
    container: &Value,
    pod_dir: &Path,
    mut map: PathMap,
) -> Result<PathMap, String> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let volumes: BTreeMap<&str, &Value> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["name"].as_str()?, v)))
        .collect();
    let mut dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = mount["name"].as_str().unwrap_or_default();
        let mount_path = mount["mountPath"].as_str().unwrap_or_default();
        let Some(volume) = volumes.get(name) else {
            return Err(format!(
                "volume \"{name}\" of mount {mount_path} is not in the pod's volumes"
            ));
        };
        let dir = match dirs.get(name) {
            Some(dir) => dir.clone(),
            None => {
                let dir = volume_dir(
                    client,
                    namespace,
                    volume,
                    &pod_dir.join("volumes").join(name),
                )
                .await?;
                dirs.insert(name.to_string(), dir.clone());
                dir
            }
        };
        let host = match mount["subPath"].as_str().filter(|s| !s.is_empty()) {
            Some(sub) => dir.join(sub),
            None => dir,
        };
        map.add(mount_path, &host);
    }
    // spark-submit points the driver at paths inside its mounts (the executor pod template, say):
    // the properties it reads must name them where they are now.
    // Only the pod's own copies: a hostPath is this machine's file, not the pod's.
    for dir in dirs.values().filter(|dir| dir.starts_with(pod_dir)) {
        let properties = dir.join("spark.properties");
        if let Ok(text) = std::fs::read_to_string(&properties) {
            write(&properties, map.rewrite_properties(&text).as_bytes(), None)?;
        }
    }
    Ok(map)
}

async fn volume_dir(
    client: &Client,
    namespace: &str,
    volume: &Value,
    dir: &Path,
) -> Result<PathBuf, String> {
    if let Some(path) = volume["hostPath"]["path"].as_str() {
        if volume["hostPath"]["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("DirectoryOrCreate"))
        {
            std::fs::create_dir_all(path).map_err(|e| format!("hostPath {path}: {e}"))?;
        }
        return Ok(PathBuf::from(path));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if volume["configMap"].is_object() {
        let source = &volume["configMap"];
        if let Some(files) = config_map_files(client, namespace, source).await? {
            write_items(dir, source, files)?;
        }
    } else if volume["secret"].is_object() {
        let source = &volume["secret"];
        if let Some(files) = secret_files(client, namespace, source).await? {
            write_items(dir, source, files)?;
        }
    }
    // emptyDir, and kinds with nothing to put in them here (projected tokens, claims): a
    // directory of its own.
    Ok(dir.to_path_buf())
}

/// The files of a ConfigMap volume, or `None` when it is optional and absent.
async fn config_map_files(
    client: &Client,
    namespace: &str,
    source: &Value,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let name = source["name"].as_str().unwrap_or_default();
    let found: Option<ConfigMap> =
        volume_source(client, namespace, "configmap", name, source).await?;
    Ok(found.map(|config_map| {
        let text = config_map.data.unwrap_or_default().into_iter();
        let binary = config_map.binary_data.unwrap_or_default().into_iter();
        text.map(|(k, v)| (k, v.into_bytes()))
            .chain(binary.map(|(k, v)| (k, v.0)))
            .collect()
    }))
}

/// The files of a Secret volume, or `None` when it is optional and absent.
async fn secret_files(
    client: &Client,
    namespace: &str,
    source: &Value,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let name = source["secretName"].as_str().unwrap_or_default();
    let found: Option<Secret> = volume_source(client, namespace, "secret", name, source).await?;
    Ok(found.map(|secret| {
        let data = secret.data.unwrap_or_default().into_iter();
        let text = secret.string_data.unwrap_or_default().into_iter();
        data.map(|(k, v)| (k, v.0))
            .chain(text.map(|(k, v)| (k, v.into_bytes())))
            .collect()
    }))
}

/// The object a volume takes its files from, or `None` when it is optional and absent; an error
/// naming it when a required one is gone.
async fn volume_source<K>(
    client: &Client,
    namespace: &str,
    kind: &str,
    name: &str,
    source: &Value,
) -> Result<Option<K>, String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api
        .get_opt(name)
        .await
        .map_err(|e| format!("{kind} \"{name}\": {e}"))?
    {
        Some(object) => Ok(Some(object)),
        None if source["optional"] == true => Ok(None),
        None => Err(format!("{kind} \"{name}\" not found")),
    }
}

/// Writes the keys a volume selects (`items`, or every key) with their modes.
fn write_items(dir: &Path, source: &Value, files: BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let default_mode = source["defaultMode"].as_u64().map(|m| m as u32);
    match source["items"].as_array().filter(|items| !items.is_empty()) {
        Some(items) => {
            for item in items {
                let key = item["key"].as_str().unwrap_or_default();
                let path = item["path"].as_str().unwrap_or(key);
                let Some(content) = files.get(key) else {
                    return Err(format!("couldn't find key {key} in the volume's source"));
                };
                let mode = item["mode"].as_u64().map(|m| m as u32).or(default_mode);
                write(&dir.join(safe_relative(path)?), content, mode)?;
            }
        }
        None => {
            for (key, content) in &files {
                write(&dir.join(safe_relative(key)?), content, default_mode)?;
            }
        }
    }
    Ok(())
}

/// A volume item path stays inside its volume, as the API server's validation requires.
fn safe_relative(path: &str) -> Result<&str, String> {
    let escapes = path.starts_with('/') || path.split('/').any(|part| part == "..");
    match escapes {
        true => Err(format!(
            "volume item path {path} must be relative and must not contain '..'"
        )),
        false => Ok(path),
    }
}

fn write(path: &Path, content: &[u8], mode: Option<u32>) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(path, content).map_err(|e| format!("writing {}: {e}", path.display()))?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        // The owner keeps read access: the process runs as this user, not as the pod's.
        let mode = (mode & 0o777) | 0o400;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("setting the mode of {}: {e}", path.display()))?;
    }
    Ok(())
}
