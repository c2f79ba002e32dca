//! The command the Spark image's entrypoint runs for a `driver` or `executor` container: the
//! driver through `spark-submit` in client mode (it is already inside the cluster), the executor
//! as a plain JVM running Spark's Kubernetes executor backend.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The first argument the Spark image's entrypoint dispatches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparkRole {
    Driver,
    Executor,
}

impl SparkRole {
    /// The role a container's arguments ask the entrypoint for; `None` for any other container
    /// (including one that replaces the entrypoint with a `command`).
    pub fn of_container(container: &serde_json::Value) -> Option<SparkRole> {
        if container["command"]
            .as_array()
            .is_some_and(|command| !command.is_empty())
        {
            return None;
        }
        match container["args"][0].as_str() {
            Some("driver") => Some(SparkRole::Driver),
            Some("executor") => Some(SparkRole::Executor),
            _ => None,
        }
    }
}

/// What runs the processes: the Spark installation standing for the image's `/opt/spark`, and
/// the JVM.
#[derive(Debug, Clone)]
pub struct Installation {
    pub spark_home: PathBuf,
    /// `$JAVA_HOME`; `java` is looked up on `PATH` without it.
    pub java_home: Option<PathBuf>,
    /// The API server URL the driver creates its executors through, in place of the in-cluster
    /// `https://kubernetes.default.svc` (plain HTTP: the driver has no service account token or
    /// CA mounted).
    pub api_url: String,
}

impl Installation {
    /// The `java` the processes run: `$JAVA_HOME/bin/java`, else the one on `PATH`.
    pub fn java(&self) -> PathBuf {
        match &self.java_home {
            Some(home) => home.join("bin").join("java"),
            None => PathBuf::from("java"),
        }
    }
}

/// A process to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// The entrypoint's command for a container of `role`, whose arguments after the role are `args`
/// and whose environment (paths already mapped) is `env`.
pub fn command(
    role: SparkRole,
    args: &[String],
    env: &BTreeMap<String, String>,
    installation: &Installation,
) -> Result<Command, String> {
    match role {
        SparkRole::Driver => Ok(driver(args, env, installation)),
        SparkRole::Executor => executor(env, installation),
    }
}

fn driver(args: &[String], env: &BTreeMap<String, String>, installation: &Installation) -> Command {
    let bind_address = env
        .get("SPARK_DRIVER_BIND_ADDRESS")
        .cloned()
        .unwrap_or_default();
    let mut all = vec![
        "--conf".to_string(),
        format!("spark.driver.bindAddress={bind_address}"),
        "--conf".to_string(),
        format!("spark.kubernetes.driver.master={}", installation.api_url),
        "--deploy-mode".to_string(),
        "client".to_string(),
    ];
    all.extend(args.iter().cloned());
    Command {
        program: installation.spark_home.join("bin").join("spark-submit"),
        args: all,
    }
}

fn executor(
    env: &BTreeMap<String, String>,
    installation: &Installation,
) -> Result<Command, String> {
    let required = |name: &str| {
        env.get(name)
            .filter(|value| !value.is_empty())
            .cloned()
            .ok_or_else(|| format!("the executor container has no {name} in its environment"))
    };
    let memory = required("SPARK_EXECUTOR_MEMORY")?;
    let mut args = java_options(env);
    args.push(format!("-Xms{memory}"));
    args.push(format!("-Xmx{memory}"));
    args.push("-cp".into());
    args.push(class_path(env, installation));
    args.push("org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend".into());
    for (flag, variable) in [
        ("--driver-url", "SPARK_DRIVER_URL"),
        ("--executor-id", "SPARK_EXECUTOR_ID"),
        ("--cores", "SPARK_EXECUTOR_CORES"),
        ("--app-id", "SPARK_APPLICATION_ID"),
        ("--hostname", "SPARK_EXECUTOR_POD_IP"),
        ("--resourceProfileId", "SPARK_RESOURCE_PROFILE_ID"),
        ("--podName", "SPARK_EXECUTOR_POD_NAME"),
    ] {
        args.push(flag.into());
        args.push(required(variable)?);
    }
    Ok(Command {
        program: installation.java(),
        args,
    })
}

/// `SPARK_JAVA_OPT_<n>` values in the numeric order of `n`, as the driver numbers them.
fn java_options(env: &BTreeMap<String, String>) -> Vec<String> {
    let mut numbered: Vec<(u64, &String)> = env
        .iter()
        .filter_map(|(name, value)| {
            let n = name.strip_prefix("SPARK_JAVA_OPT_")?.parse().ok()?;
            Some((n, value))
        })
        .collect();
    numbered.sort();
    numbered
        .into_iter()
        .map(|(_, value)| value.clone())
        .collect()
}

/// The configuration directory, `SPARK_CLASSPATH`, Spark's jars, then the extra and Hadoop
/// class paths, in the entrypoint's order.
fn class_path(env: &BTreeMap<String, String>, installation: &Installation) -> String {
    let jars = installation.spark_home.join("jars").join("*");
    let mut parts: Vec<String> = Vec::new();
    if let Some(hadoop) = env.get("HADOOP_CONF_DIR") {
        parts.push(hadoop.clone());
    }
    parts.push(match env.get("SPARK_CONF_DIR") {
        Some(conf) => conf.clone(),
        None => installation
            .spark_home
            .join("conf")
            .to_string_lossy()
            .into_owned(),
    });
    parts.push(env.get("SPARK_CLASSPATH").cloned().unwrap_or_default());
    parts.push(jars.to_string_lossy().into_owned());
    for extra in ["SPARK_EXTRA_CLASSPATH", "SPARK_DIST_CLASSPATH"] {
        if let Some(value) = env.get(extra) {
            parts.push(value.clone());
        }
    }
    parts.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn installation() -> Installation {
        Installation {
            spark_home: PathBuf::from("/py/pyspark"),
            java_home: Some(PathBuf::from("/usr/lib/jvm/17")),
            api_url: "http://127.0.0.1:6444".into(),
        }
    }

    #[test]
    fn roles_come_from_the_arguments_unless_a_command_replaces_the_entrypoint() {
        let role = |c| SparkRole::of_container(&c);
        assert_eq!(
            role(json!({"args": ["driver", "--properties-file", "x"]})),
            Some(SparkRole::Driver)
        );
        assert_eq!(
            role(json!({"args": ["executor"]})),
            Some(SparkRole::Executor)
        );
        assert_eq!(
            role(json!({"args": ["driver"], "command": ["/bin/sh"]})),
            None
        );
        assert_eq!(role(json!({"args": ["sleep", "1"]})), None);
        assert_eq!(role(json!({"image": "busybox"})), None);
    }

    #[test]
    fn the_driver_runs_spark_submit_in_client_mode_against_the_local_api() {
        let env = BTreeMap::from([(
            "SPARK_DRIVER_BIND_ADDRESS".to_string(),
            "127.1.0.9".to_string(),
        )]);
        let args: Vec<String> = [
            "--properties-file",
            "/pods/p/conf/spark.properties",
            "--class",
            "org.apache.spark.deploy.PythonRunner",
            "local:///py/pyspark/pi.py",
            "10",
        ]
        .map(String::from)
        .to_vec();
        let command = command(SparkRole::Driver, &args, &env, &installation()).unwrap();
        assert_eq!(
            command.program,
            PathBuf::from("/py/pyspark/bin/spark-submit")
        );
        assert_eq!(
            command.args[..6],
            [
                "--conf",
                "spark.driver.bindAddress=127.1.0.9",
                "--conf",
                "spark.kubernetes.driver.master=http://127.0.0.1:6444",
                "--deploy-mode",
                "client"
            ]
        );
        assert_eq!(command.args[6..], args[..]);
    }

    #[test]
    fn the_executor_runs_the_backend_with_its_options_in_order() {
        let mut env: BTreeMap<String, String> = [
            ("SPARK_EXECUTOR_MEMORY", "512m"),
            (
                "SPARK_DRIVER_URL",
                "spark://CoarseGrainedScheduler@pi-svc.jobs.svc:7078",
            ),
            ("SPARK_EXECUTOR_ID", "1"),
            ("SPARK_EXECUTOR_CORES", "1"),
            ("SPARK_APPLICATION_ID", "spark-abc"),
            ("SPARK_EXECUTOR_POD_IP", "127.1.0.10"),
            ("SPARK_RESOURCE_PROFILE_ID", "0"),
            ("SPARK_EXECUTOR_POD_NAME", "pi-exec-1"),
            ("SPARK_CONF_DIR", "/pods/e/conf"),
            ("SPARK_JAVA_OPT_10", "-Dten"),
            ("SPARK_JAVA_OPT_2", "-Dtwo"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let launch = command(SparkRole::Executor, &[], &env, &installation()).unwrap();
        assert_eq!(launch.program, PathBuf::from("/usr/lib/jvm/17/bin/java"));
        assert_eq!(
            launch.args[..5],
            ["-Dtwo", "-Dten", "-Xms512m", "-Xmx512m", "-cp"]
        );
        assert_eq!(launch.args[5], "/pods/e/conf::/py/pyspark/jars/*");
        assert_eq!(
            launch.args[6..10],
            [
                "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
                "--driver-url",
                "spark://CoarseGrainedScheduler@pi-svc.jobs.svc:7078",
                "--executor-id"
            ]
        );
        env.remove("SPARK_EXECUTOR_POD_NAME");
        assert_eq!(
            command(SparkRole::Executor, &[], &env, &installation()),
            Err("the executor container has no SPARK_EXECUTOR_POD_NAME in its environment".into())
        );
    }
}
