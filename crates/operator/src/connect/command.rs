//! The command that starts the Spark Connect server, as Kubeflow's controller writes it
//! (`internal/controller/sparkconnect/options.go`): `${SPARK_HOME}/sbin/start-connect-server.sh`
//! and `--master`/`--conf` options, joined into one string for `bash -c`, so that the shell
//! expands the pod's IP into `spark.driver.host` when the container starts.

use kube::ResourceExt;
use spark_operator_api::validation::template_image;
use spark_operator_api::{SparkConnect, naming};

use super::{EXECUTOR_TEMPLATE_PATH, LABEL_CONNECT_NAME};
use crate::submission::{EXECUTOR_CONTAINER, LABEL_LAUNCHED_BY, SubmissionError, api_server_url};

/// The script the image ships to start the server.
pub const START_SCRIPT: &str = "${SPARK_HOME}/sbin/start-connect-server.sh";
/// The script that stops it (the container's preStop hook).
pub const STOP_SCRIPT: &str = "${SPARK_HOME}/sbin/stop-connect-server.sh";
/// The fixed ports the server's Service exposes.
pub const DRIVER_PORT: i32 = 7078;
pub const BLOCK_MANAGER_PORT: i32 = 7079;

/// `spark.driver.host`: the pod's IP from the `POD_IP` variable, bracketed when it is IPv6.
const DRIVER_HOST: &str = "$(host=${POD_IP}; if [[ $host == *:* ]] && [[ $host != \\[* ]]; then echo \"[$host]\"; else echo \"$host\"; fi)";

/// The server's start command, one word per element: the start script, `--master`, then
/// `--conf` options in Kubeflow's order (namespace, images, `sparkConf`, `hadoopConf`, the
/// server's, the executors', the executor pod template's, dynamic allocation). Values from
/// `sparkConf` and `hadoopConf` are single-quoted for the shell; maps are in key order.
pub fn start_command(
    connect: &SparkConnect,
    master_url: &str,
) -> Result<Vec<String>, SubmissionError> {
    let spec = &connect.spec;
    let name = connect.name_any();
    let mut words = Words(vec![START_SCRIPT.to_string()]);
    words.0.extend([
        "--master".into(),
        format!("k8s://{}", api_server_url(master_url)?),
    ]);
    words.conf(
        "spark.kubernetes.namespace",
        connect.namespace().unwrap_or_default(),
    );
    let image = executor_image(connect).ok_or(SubmissionError::MissingImage)?;
    words.conf("spark.kubernetes.container.image", image.clone());
    words.conf("spark.kubernetes.executor.container.image", image);
    for (key, value) in &spec.spark_conf {
        // The server's pod name is the operator's.
        if key != "spark.kubernetes.driver.pod.name" {
            words.quoted(key, value);
        }
    }
    for (key, value) in &spec.hadoop_conf {
        match key.strip_prefix("spark.hadoop.") {
            Some(_) => words.quoted(key, value),
            None => words.quoted(&format!("spark.hadoop.{key}"), value),
        }
    }
    for role in ["driver", "executor"] {
        let label = |key: &str| format!("spark.kubernetes.{role}.label.{key}");
        words.conf(&label(LABEL_LAUNCHED_BY), "true".into());
        words.conf(&label(LABEL_CONNECT_NAME), name.clone());
        for (key, value) in connect.labels() {
            words.conf(&label(key), value.clone());
        }
        if role == "driver" {
            if let Some(cores) = spec.server.cores {
                words.conf("spark.driver.cores", cores.to_string());
            }
            if let Some(memory) = &spec.server.memory {
                words.conf("spark.driver.memory", memory.clone());
            }
            words.conf("spark.driver.bindAddress", "0.0.0.0".into());
            words.conf("spark.driver.host", DRIVER_HOST.into());
            words.conf("spark.driver.port", DRIVER_PORT.to_string());
            words.conf(
                "spark.driver.blockManager.port",
                BLOCK_MANAGER_PORT.to_string(),
            );
            words.conf(
                "spark.kubernetes.driver.pod.name",
                naming::connect_server_pod_name(&name),
            );
        }
    }
    let executor = &spec.executor;
    if let Some(instances) = executor.instances {
        words.conf("spark.executor.instances", instances.to_string());
    }
    if let Some(cores) = executor.cores {
        words.conf("spark.executor.cores", cores.to_string());
    }
    if let Some(memory) = &executor.memory {
        words.conf("spark.executor.memory", memory.clone());
    }
    words.conf("spark.kubernetes.executor.podNamePrefix", name.clone());
    if executor.template.is_some() {
        words.conf(
            "spark.kubernetes.executor.podTemplateFile",
            EXECUTOR_TEMPLATE_PATH.into(),
        );
        words.conf(
            "spark.kubernetes.executor.podTemplateContainerName",
            EXECUTOR_CONTAINER.into(),
        );
    }
    let dynamic = spec.dynamic_allocation.as_ref();
    if let Some(dynamic) = dynamic.filter(|d| d.enabled == Some(true)) {
        words.conf("spark.dynamicAllocation.enabled", "true".into());
        for (key, value) in [
            ("initialExecutors", dynamic.initial_executors),
            ("minExecutors", dynamic.min_executors),
            ("maxExecutors", dynamic.max_executors),
        ] {
            if let Some(value) = value {
                words.conf(&format!("spark.dynamicAllocation.{key}"), value.to_string());
            }
        }
        words.conf(
            "spark.dynamicAllocation.shuffleTracking.enabled",
            dynamic.shuffle_tracking_enabled.unwrap_or(true).to_string(),
        );
        if let Some(timeout) = dynamic.shuffle_tracking_timeout {
            words.conf(
                "spark.dynamicAllocation.shuffleTracking.timeout",
                timeout.to_string(),
            );
        }
    }
    Ok(words.0)
}

/// The words of the command, as they are added.
struct Words(Vec<String>);

impl Words {
    /// `--conf key=value`, the value as it is (Kubeflow's own values).
    fn conf(&mut self, key: &str, value: String) {
        self.0.push("--conf".into());
        self.0.push(format!("{key}={value}"));
    }

    /// `--conf 'key=value'`, quoted for the shell (the spec's values).
    fn quoted(&mut self, key: &str, value: &str) {
        self.0.push("--conf".into());
        self.0.push(shell_quoted(&format!("{key}={value}")));
    }
}

/// The executors' image: the one of the executor template's Spark container, else `spec.image`.
pub fn executor_image(connect: &SparkConnect) -> Option<String> {
    let spec = &connect.spec;
    template_image(spec.executor.template.as_ref(), EXECUTOR_CONTAINER)
        .or(spec.image.as_deref().filter(|i| !i.trim().is_empty()))
        .map(str::to_string)
}

/// `text` as one single-quoted shell word (a `'` inside becomes `'"'"'`), as Kubeflow quotes
/// `sparkConf` and `hadoopConf` entries.
pub fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r#"'"'"'"#))
}
