//! What a Spark driver does on Kubernetes that the operator relies on, simulated: once running,
//! it reads its `spark.properties` and creates its executor pods, named, labelled and owned as
//! Spark's `ExecutorPodsAllocator` makes them; when it ends, its executors end too. A driver run
//! as a real process (`process`) does all this itself.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, Patch};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tracing::debug;

use super::executor_pod;
use super::kubelet::{self, SimulatedRun};
use super::{now, post_as};

/// The field manager of a driver's writes: Spark's Kubernetes client, fabric8.
const SPARK_DRIVER: &str = "fabric8-kubernetes-client";

/// The volume through which Spark mounts the driver's `spark.properties`.
pub const DRIVER_CONF_VOLUME: &str = "spark-conf-volume-driver";
/// Exit code of the simulated executors of a driver carrying it (default 0).
pub const EXECUTOR_EXIT_CODE_ANNOTATION: &str = "localcluster/executor-exit-code";

/// Spark's `spark.executor.instances` default on Kubernetes without dynamic allocation.
const DEFAULT_EXECUTOR_INSTANCES: u32 = 2;
/// No simulated driver asks for more; keeps a typo from creating thousands of pods.
const MAX_SIMULATED_EXECUTORS: u32 = 64;

/// Whether the pod is a Spark driver (by Spark's own role label).
pub fn is_driver(pod: &Value) -> bool {
    pod["metadata"]["labels"]["spark-role"].as_str() == Some("driver")
}

/// The name of the ConfigMap holding the driver's `spark.properties`.
pub fn driver_conf_map(pod: &Value) -> Option<String> {
    pod["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"].as_str() == Some(DRIVER_CONF_VOLUME))?["configMap"]["name"]
        .as_str()
        .map(str::to_string)
}

/// Parses Java properties text.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    java_properties::read(text.as_bytes())
        .map(|map| map.into_iter().collect())
        .unwrap_or_default()
}

/// The executor pod name prefix Spark's driver uses when spark-submit set none: the application
/// name and a 16-hex-digit id (here taken from the application id, so it is stable), lowercased,
/// with anything but letters, digits and `-` turned into `-`.
pub fn default_pod_name_prefix(app_name: &str, app_id: &str) -> String {
    let id_part = app_id.strip_prefix("spark-").unwrap_or(app_id);
    let hex: String = id_part.chars().filter(char::is_ascii_hexdigit).collect();
    let id = hex.get(hex.len().saturating_sub(16)..).unwrap_or_default();
    let raw = format!("{app_name}-{id}").trim().to_lowercase();
    let mut prefix = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && prefix.ends_with('-')) {
            prefix.push(c);
        }
    }
    prefix
}

/// The executor pods the driver creates, in executor-id order, from its executor pod
/// `template` when it has one.
pub fn executor_pods(
    driver: &Value,
    conf: &BTreeMap<String, String>,
    template: Option<&Value>,
) -> Vec<Value> {
    let dynamic = conf
        .get("spark.dynamicAllocation.enabled")
        .map(String::as_str)
        == Some("true");
    let instances = if dynamic {
        conf.get("spark.dynamicAllocation.initialExecutors")
            .or_else(|| conf.get("spark.dynamicAllocation.minExecutors"))
    } else {
        conf.get("spark.executor.instances")
    }
    .and_then(|n| n.trim().parse::<u32>().ok())
    .unwrap_or(if dynamic {
        0
    } else {
        DEFAULT_EXECUTOR_INSTANCES
    })
    .min(MAX_SIMULATED_EXECUTORS);
    let app_id = conf.get("spark.app.id").cloned().unwrap_or_default();
    let prefix = conf
        .get("spark.kubernetes.executor.podNamePrefix")
        .cloned()
        .unwrap_or_else(|| {
            let app_name = conf
                .get("spark.app.name")
                .map(String::as_str)
                .or(driver["metadata"]["name"].as_str())
                .unwrap_or("spark");
            default_pod_name_prefix(app_name, &app_id)
        });
    (1..=instances)
        .map(|id| executor_pod::build(id, &format!("{prefix}-exec-{id}"), driver, conf, template))
        .collect()
}

/// The exit code an executor ends with when its driver ends: its own annotation, else the
/// driver's exit code.
pub fn executor_exit_code(executor: &Value, driver_exit_code: i32) -> i32 {
    executor["metadata"]["annotations"][kubelet::EXIT_CODE_ANNOTATION]
        .as_str()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(driver_exit_code)
}

/// A simulated driver's run: it creates its executors once running and, when its time is up,
/// ends them before it ends itself.
pub(super) fn run_driver(run: SimulatedRun) {
    // In a task of its own: it may wait for the driver's ConfigMap, and the watch loop must not.
    let creating = {
        let (api, driver) = (run.api.clone(), run.pod.clone());
        tokio::spawn(async move { start_executors(&api, &driver).await })
    };
    if let Some(duration) = run.plan.duration {
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            let _ = creating.await;
            end_executors(&run.api, &run.pod, run.plan.exit_code).await;
            run.end().await;
        });
    }
}

/// Creates the executors of a driver that just started, as the Spark driver would.
async fn start_executors(api: &Api<Pod>, driver: &Value) {
    let Some(conf_map) = driver_conf_map(driver) else {
        return;
    };
    let namespace = driver["metadata"]["namespace"].as_str().unwrap_or_default();
    let config_maps: Api<ConfigMap> = Api::namespaced(api.clone().into_client(), namespace);
    // spark-submit creates the ConfigMap just after the pod (owned by it); a kubelet would wait
    // for the volume before starting the container, so the simulated driver waits for it too.
    let mut waited = 0;
    let properties = loop {
        match config_maps.get_opt(&conf_map).await {
            Ok(Some(cm)) => {
                break cm
                    .data
                    .and_then(|mut data| data.remove("spark.properties"))
                    .unwrap_or_default();
            }
            Ok(None) if waited < 100 => {
                waited += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(None) | Err(_) => {
                debug!(conf_map, "driver configuration not found; no executors");
                return;
            }
        }
    };
    let template = match executor_pod::template_config_map(driver) {
        Some(name) => config_maps
            .get_opt(&name)
            .await
            .ok()
            .flatten()
            .and_then(|cm| cm.data?.remove(executor_pod::POD_TEMPLATE_KEY))
            .and_then(|text| serde_yaml::from_str::<Value>(&text).ok()),
        None => None,
    };
    let conf = parse_properties(&properties);
    for executor in executor_pods(driver, &conf, template.as_ref()) {
        let Ok(pod) = serde_json::from_value::<Pod>(executor) else {
            continue;
        };
        if let Err(error) = api.create(&post_as(SPARK_DRIVER), &pod).await {
            debug!(%error, pod = %pod.name_any(), "could not create executor");
        }
    }
}

/// Ends the executors of a driver that is ending, as Spark stops them before the driver exits.
async fn end_executors(api: &Api<Pod>, driver: &Value, exit_code: i32) {
    let Some(app_id) = driver["metadata"]["labels"]["spark-app-selector"].as_str() else {
        return;
    };
    let selector = format!("spark-app-selector={app_id},spark-role=executor");
    let Ok(executors) = api.list(&ListParams::default().labels(&selector)).await else {
        return;
    };
    for executor in executors {
        let Ok(value) = serde_json::to_value(&executor) else {
            continue;
        };
        let running = if value["status"]["phase"] == "Running" {
            value["status"].clone()
        } else {
            kubelet::running_status(&value, "127.0.0.1", "", &now())
        };
        let code = executor_exit_code(&value, exit_code);
        let finished = kubelet::finished_status(&running, code, &now());
        let _ = api
            .patch_status(
                &executor.name_any(),
                &kubelet::as_kubelet(),
                &Patch::Merge(&json!({"status": finished})),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver() -> Value {
        json!({"metadata": {"name": "pi-driver", "namespace": "default", "uid": "u1",
                            "labels": {"spark-role": "driver", "spark-app-name": "pi"},
                            "annotations": {}},
               "spec": {"volumes": [{"name": DRIVER_CONF_VOLUME, "configMap": {"name": "spark-drv-1-conf-map"}}]}})
    }

    #[test]
    fn without_a_prefix_executors_are_named_after_the_application() {
        assert_eq!(
            default_pod_name_prefix("Spark Pi_v2", "spark-0123456789abcdef0123456789abcdef"),
            "spark-pi-v2-0123456789abcdef"
        );
        let conf = parse_properties(
            "spark.executor.instances=1\nspark.app.name=pi\nspark.app.id=spark-00ff\n",
        );
        assert_eq!(
            executor_pods(&driver(), &conf, None)[0]["metadata"]["name"],
            "pi-00ff-exec-1"
        );
    }

    #[test]
    fn executors_follow_the_properties() {
        let conf = parse_properties(
            "spark.executor.instances=3\nspark.app.id=spark-abc\nspark.kubernetes.executor.podNamePrefix=pi-1234\n\
             spark.kubernetes.executor.label.team=data\nspark.kubernetes.container.image=apache/spark:4.0.0\n",
        );
        assert!(is_driver(&driver()));
        assert_eq!(
            driver_conf_map(&driver()).as_deref(),
            Some("spark-drv-1-conf-map")
        );
        let pods = executor_pods(&driver(), &conf, None);
        assert_eq!(pods.len(), 3);
        assert_eq!(pods[2]["metadata"]["name"], "pi-1234-exec-3");
        let labels = &pods[0]["metadata"]["labels"];
        assert_eq!(labels["spark-role"], "executor");
        assert_eq!(labels["spark-exec-id"], "1");
        assert_eq!(labels["spark-app-selector"], "spark-abc");
        assert_eq!(labels["team"], "data");
        assert_eq!(pods[0]["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(
            pods[0]["spec"]["containers"][0]["image"],
            "apache/spark:4.0.0"
        );
    }

    #[test]
    fn default_and_dynamic_instances() {
        assert_eq!(executor_pods(&driver(), &BTreeMap::new(), None).len(), 2);
        let dynamic = parse_properties(
            "spark.dynamicAllocation.enabled=true\nspark.dynamicAllocation.minExecutors=1\n",
        );
        assert_eq!(executor_pods(&driver(), &dynamic, None).len(), 1);
        let huge = parse_properties("spark.executor.instances=100000\n");
        assert_eq!(
            executor_pods(&driver(), &huge, None).len(),
            MAX_SIMULATED_EXECUTORS as usize
        );
    }

    #[test]
    fn executor_exit_code_defaults_to_the_drivers() {
        let mut conf = BTreeMap::new();
        conf.insert("spark.executor.instances".to_string(), "1".to_string());
        let plain = &executor_pods(&driver(), &conf, None)[0];
        assert_eq!(executor_exit_code(plain, 0), 0);
        assert_eq!(executor_exit_code(plain, 1), 1);
        let mut failing = driver();
        failing["metadata"]["annotations"][EXECUTOR_EXIT_CODE_ANNOTATION] = json!("137");
        assert_eq!(
            executor_exit_code(&executor_pods(&failing, &conf, None)[0], 0),
            137
        );
    }
}
