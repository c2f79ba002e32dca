//! What a Spark driver does on Kubernetes that the operator relies on, simulated: once running,
//! it reads its `spark.properties` and creates its executor pods, named, labelled and owned as
//! Spark's `ExecutorPodsAllocator` makes them; when it ends, its executors end too. A Spark
//! Connect server (a driver in client mode, started by a shell script) does the same from the
//! `--conf` options of its script, and serves until its pod is deleted. A driver or server run
//! as a real process (`process`) does all this itself.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, Patch};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tracing::debug;

use super::executor_pod;
use super::kubelet::{self, SimulatedRun};
use super::process::entrypoint::{SparkRole, connect_server_script};
use super::process::shell;
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

/// The script of the pod's Spark Connect server container, if it runs one.
pub fn connect_server(pod: &Value) -> Option<&str> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .filter(|c| SparkRole::of_container(c) == Some(SparkRole::ConnectServer))
        .find_map(connect_server_script)
}

/// The configuration a Spark Connect server starts with: the literal `--conf` options of its
/// script, and an application id (`spark-` and the pod's uid, where Spark draws a random one).
pub fn connect_server_conf(pod: &Value, script: &str) -> BTreeMap<String, String> {
    let mut conf: BTreeMap<String, String> = shell::conf_options(&shell::words(script))
        .into_iter()
        .collect();
    let uid: String = pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    conf.entry("spark.app.id".into())
        .or_insert_with(|| format!("spark-{uid}"));
    conf
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
            if let Some(app_id) = run.pod["metadata"]["labels"]["spark-app-selector"].as_str() {
                end_executors(&run.api, app_id, run.plan.exit_code).await;
            }
            run.end().await;
        });
    }
}

/// A simulated Spark Connect server's run: it creates its executors once running and serves
/// until its pod is deleted; a run whose planned exit code is not 0 (`localcluster/exit-code`,
/// or this run's in `localcluster/exit-codes`) fails after `localcluster/run-seconds` instead,
/// ending its executors first.
pub(super) fn run_connect_server(run: SimulatedRun, script: &str) {
    let conf = connect_server_conf(&run.pod, script);
    let app_id = conf.get("spark.app.id").cloned().unwrap_or_default();
    let creating = {
        let api = run.api.clone();
        let server = run.pod.clone();
        let conf = conf.clone();
        tokio::spawn(async move {
            let template = match conf
                .get("spark.kubernetes.executor.podTemplateFile")
                .and_then(|path| mounted_config_map(&server, path))
            {
                Some((name, key)) => {
                    let namespace = server["metadata"]["namespace"].as_str().unwrap_or_default();
                    let config_maps = Api::namespaced(api.clone().into_client(), namespace);
                    template_from(&config_maps, &name, &key).await
                }
                None => None,
            };
            create(&api, executor_pods(&server, &conf, template.as_ref())).await
        })
    };
    if run.plan.exit_code == 0 {
        return;
    }
    let duration = run.plan.duration.unwrap_or_default();
    let script = script.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(duration).await;
        let _ = creating.await;
        end_executors(&run.api, &app_id, run.plan.exit_code).await;
        // A restarted server starts over: its executors anew.
        if let Some(next) = run.end_or_restart().await {
            run_connect_server(next, &script);
        }
    });
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
        Some(name) => template_from(&config_maps, &name, executor_pod::POD_TEMPLATE_KEY).await,
        None => None,
    };
    let conf = parse_properties(&properties);
    create(api, executor_pods(driver, &conf, template.as_ref())).await;
}

/// The executor pod template under `key` of ConfigMap `name`, if it is there and parses.
async fn template_from(config_maps: &Api<ConfigMap>, name: &str, key: &str) -> Option<Value> {
    let text = config_maps.get_opt(name).await.ok()??.data?.remove(key)?;
    serde_yaml::from_str::<Value>(&text).ok()
}

/// The ConfigMap and key a pod mounts at `path` (a file of a `configMap` volume), as a Spark
/// Connect server mounts its executor pod template.
fn mounted_config_map(pod: &Value, path: &str) -> Option<(String, String)> {
    let containers = pod["spec"]["containers"].as_array()?;
    let mount = containers
        .iter()
        .filter_map(|c| c["volumeMounts"].as_array())
        .flatten()
        .find(|m| {
            let at = m["mountPath"].as_str().unwrap_or_default();
            at == path
                || path
                    .strip_prefix(at)
                    .is_some_and(|rest| rest.starts_with('/'))
        })?;
    let at = mount["mountPath"].as_str()?;
    let file = match mount["subPath"].as_str() {
        Some(sub) if at == path => sub.to_string(),
        _ => path.strip_prefix(at)?.trim_start_matches('/').to_string(),
    };
    let volume = pod["spec"]["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == mount["name"])?;
    let source = &volume["configMap"];
    let key = source["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["path"].as_str() == Some(&file)))
        .and_then(|i| i["key"].as_str())
        .unwrap_or(&file)
        .to_string();
    Some((source["name"].as_str()?.to_string(), key))
}

/// Creates executor pods, as the driver's Kubernetes client.
async fn create(api: &Api<Pod>, executors: Vec<Value>) {
    for executor in executors {
        let Ok(pod) = serde_json::from_value::<Pod>(executor) else {
            continue;
        };
        if let Err(error) = api.create(&post_as(SPARK_DRIVER), &pod).await {
            debug!(%error, pod = %pod.name_any(), "could not create executor");
        }
    }
}

/// Ends the executors of application `app_id` when its driver ends, as Spark stops them
/// before the driver exits.
async fn end_executors(api: &Api<Pod>, app_id: &str, exit_code: i32) {
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
    fn a_connect_server_makes_its_executors_from_its_script() {
        let script = "${SPARK_HOME}/sbin/start-connect-server.sh --master k8s://https://x:443 \
            --conf spark.kubernetes.executor.label.sparkoperator.k8s.io/connect-name=sc \
            --conf spark.executor.instances=2 --conf spark.kubernetes.executor.podNamePrefix=sc \
            --conf 'spark.sql.shuffle.partitions=4' --conf spark.driver.host=$(echo ${POD_IP})";
        let server = json!({"metadata": {"name": "sc-server", "namespace": "default",
                                         "uid": "0a-1b", "labels": {"spark-role": "connect-server"}},
                            "spec": {"containers": [{"name": "spark-kubernetes-driver",
                                "command": ["bash", "-c"], "args": [script]}]}});
        assert_eq!(connect_server(&server), Some(script));
        assert!(!is_driver(&server));
        let conf = connect_server_conf(&server, script);
        assert_eq!(conf["spark.app.id"], "spark-0a1b");
        assert_eq!(conf["spark.sql.shuffle.partitions"], "4");
        assert!(!conf.contains_key("spark.driver.host"));
        let pods = executor_pods(&server, &conf, None);
        assert_eq!(pods.len(), 2);
        assert_eq!(pods[1]["metadata"]["name"], "sc-exec-2");
        let labels = &pods[0]["metadata"]["labels"];
        assert_eq!(labels["sparkoperator.k8s.io/connect-name"], "sc");
        assert_eq!(labels["spark-role"], "executor");
        assert_eq!(
            pods[0]["metadata"]["ownerReferences"][0]["name"],
            "sc-server"
        );
        assert_eq!(connect_server(&driver()), None);
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
