//! The command the Spark image runs for a Spark container: for a `driver` or `executor`
//! container, its entrypoint's (the driver through `spark-submit` in client mode, as it is
//! already inside the cluster; the executor as a plain JVM running Spark's Kubernetes executor
//! backend); for a container that runs the image's `start-connect-server.sh` through `bash -c`,
//! the Spark Connect server that script starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::shell;

/// What a Spark container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparkRole {
    Driver,
    Executor,
    /// `bash -c "<the image's start-connect-server.sh> OPTIONS"`.
    ConnectServer,
}

/// The main class `start-connect-server.sh` submits.
pub const CONNECT_SERVER_CLASS: &str = "org.apache.spark.sql.connect.service.SparkConnectServer";

/// How a command line may name the image's start script.
const CONNECT_START_SCRIPTS: [&str; 4] = [
    "${SPARK_HOME}/sbin/start-connect-server.sh",
    "$SPARK_HOME/sbin/start-connect-server.sh",
    "\"${SPARK_HOME}\"/sbin/start-connect-server.sh",
    "/opt/spark/sbin/start-connect-server.sh",
];

impl SparkRole {
    /// The role of a container: the first argument the image's entrypoint dispatches on, or a
    /// shell running the start script of the Spark Connect server; `None` for any other
    /// container (including one that replaces the entrypoint with another `command`).
    pub fn of_container(container: &serde_json::Value) -> Option<SparkRole> {
        if container["command"]
            .as_array()
            .is_some_and(|command| !command.is_empty())
        {
            return connect_server_script(container).map(|_| SparkRole::ConnectServer);
        }
        match container["args"][0].as_str() {
            Some("driver") => Some(SparkRole::Driver),
            Some("executor") => Some(SparkRole::Executor),
            _ => None,
        }
    }
}

/// The script of a container that starts the Spark Connect server through `bash -c`, as
/// Kubeflow's SparkConnect controller writes it.
pub fn connect_server_script(container: &serde_json::Value) -> Option<&str> {
    let command: Vec<&str> = container["command"]
        .as_array()?
        .iter()
        .map(|c| c.as_str())
        .collect::<Option<_>>()?;
    if !matches!(
        command.as_slice(),
        ["bash" | "/bin/bash" | "/usr/bin/bash", "-c"]
    ) {
        return None;
    }
    let script = container["args"][0].as_str()?;
    let first = shell::words(script).into_iter().next()?;
    CONNECT_START_SCRIPTS
        .contains(&first.raw.as_str())
        .then_some(script)
}

/// `script` with the paths of its literal `--conf` values rewritten by `rewrite` (but the
/// executors' volume settings, which describe the pods the server makes), each rewritten value
/// quoted again; every other word as written.
pub fn rewrite_conf_paths(script: &str, rewrite: impl Fn(&str) -> String) -> String {
    let words = shell::words(script);
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let after_conf = i > 0 && words[i - 1].literal.as_deref() == Some("--conf");
        let option = word.literal.as_deref().and_then(|w| w.split_once('='));
        match option {
            Some((key, value)) if after_conf && !key.contains(".volumes.") => {
                let rewritten = rewrite(value);
                if rewritten == value {
                    out.push(word.raw.clone());
                } else {
                    out.push(shell::quoted(&format!("{key}={rewritten}")));
                }
            }
            _ => out.push(word.raw.clone()),
        }
    }
    out.join(" ")
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
        SparkRole::ConnectServer => connect_server(args, env, installation),
    }
}

/// The Spark Connect server, from its container's script (`args[0]`, paths already mapped). The
/// image's `start-connect-server.sh` runs `spark-daemon.sh submit`, which with
/// `SPARK_NO_DAEMONIZE` set runs `spark-submit --class SparkConnectServer --name "Spark Connect
/// server" OPTIONS` in the foreground; the `pyspark` package ships spark-submit and the
/// server's jar but not the script, so the script's first word is replaced by that command and
/// the rest is run by bash as written (which expands `$(...)` and `${POD_IP}`). Added at the end
/// (the last of an option wins): the master as the cluster's plain-HTTP URL, since the server
/// has no service account token or CA to reach the address it is given, and the pod's IP as the
/// address to bind, since pods share this machine's ports (Kubeflow binds `0.0.0.0`).
fn connect_server(
    args: &[String],
    env: &BTreeMap<String, String>,
    installation: &Installation,
) -> Result<Command, String> {
    let script = args
        .first()
        .ok_or("the Spark Connect server container has no script")?;
    let pod_ip = env
        .get("SPARK_LOCAL_IP")
        .ok_or("the Spark Connect server container has no pod IP")?;
    let mut words = vec![format!(
        "exec \"${{SPARK_HOME}}/bin/spark-submit\" --class {CONNECT_SERVER_CLASS} --name 'Spark Connect server'"
    )];
    words.extend(shell::words(script).into_iter().skip(1).map(|w| w.raw));
    words.push(format!("--master k8s://{}", installation.api_url));
    words.push(format!("--conf spark.driver.bindAddress={pod_ip}"));
    words.push(format!(
        "--conf spark.connect.grpc.binding.address={pod_ip}"
    ));
    Ok(Command {
        program: PathBuf::from("bash"),
        args: vec!["-c".into(), words.join(" ")],
    })
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
    fn a_shell_running_the_start_script_is_a_connect_server() {
        let server = json!({"command": ["bash", "-c"],
            "args": ["${SPARK_HOME}/sbin/start-connect-server.sh --master k8s://https://10.0.0.1:443"]});
        assert_eq!(
            SparkRole::of_container(&server),
            Some(SparkRole::ConnectServer)
        );
        let other = json!({"command": ["bash", "-c"], "args": ["sleep 1"]});
        assert_eq!(SparkRole::of_container(&other), None);
        let sh = json!({"command": ["sh", "-c"],
            "args": ["${SPARK_HOME}/sbin/start-connect-server.sh"]});
        assert_eq!(SparkRole::of_container(&sh), None);
    }

    #[test]
    fn the_connect_server_runs_spark_submit_bound_to_the_pod_against_the_local_api() {
        let script = "${SPARK_HOME}/sbin/start-connect-server.sh --master k8s://https://10.0.0.1:443 \
            --conf spark.kubernetes.executor.podTemplateFile=/tmp/spark/t.yaml \
            --conf 'spark.app.note=it'\"'\"'s' --conf spark.driver.bindAddress=0.0.0.0 \
            --conf spark.driver.host=$(echo ${POD_IP})";
        let rewritten = rewrite_conf_paths(script, |v| v.replace("/tmp/spark", "/pods/p/conf"));
        assert!(
            rewritten
                .contains("--conf 'spark.kubernetes.executor.podTemplateFile=/pods/p/conf/t.yaml'"),
            "{rewritten}"
        );
        assert!(
            rewritten.contains(r#"'spark.app.note=it'"'"'s'"#),
            "{rewritten}"
        );
        assert!(rewritten.contains("spark.driver.host=$(echo ${POD_IP})"));
        let env = BTreeMap::from([("SPARK_LOCAL_IP".to_string(), "127.1.0.7".to_string())]);
        let command = command(
            SparkRole::ConnectServer,
            &[rewritten],
            &env,
            &installation(),
        )
        .unwrap();
        assert_eq!(command.program, PathBuf::from("bash"));
        assert_eq!(command.args[0], "-c");
        let run = &command.args[1];
        assert!(
            run.starts_with(
                "exec \"${SPARK_HOME}/bin/spark-submit\" --class org.apache.spark.sql.connect.service.SparkConnectServer --name 'Spark Connect server' --master k8s://https://10.0.0.1:443 "
            ),
            "{run}"
        );
        assert!(
            run.ends_with(
                "--master k8s://http://127.0.0.1:6444 --conf spark.driver.bindAddress=127.1.0.7 \
                 --conf spark.connect.grpc.binding.address=127.1.0.7"
                    .replace("                 ", "")
                    .as_str()
            ),
            "{run}"
        );
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
