//! The real `sparkctl` binary against the local cluster with the operator running.

use std::path::PathBuf;
use std::process::Output;

use spark_operator_api::ApplicationStateType as State;
use testkit::fixtures::{scheduled, spark_pi};
use testkit::{Env, eventually};

const SPARKCTL: &str = env!("CARGO_BIN_EXE_sparkctl");

struct Cli {
    kubeconfig: PathBuf,
    dir: PathBuf,
}

impl Cli {
    fn new(env: &Env, name: &str) -> Cli {
        let kubeconfig = env.kubeconfig_in(name);
        let dir = env.scratch_dir(name);
        Cli { kubeconfig, dir }
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(SPARKCTL)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("NO_COLOR")
            .output()
            .await
            .unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

/// Each executor row of `sparkctl status` starts with the ID its pod's name ends with.
fn assert_executor_ids(status: &str) {
    let rows: Vec<&str> = status.lines().filter(|l| l.contains("-exec-")).collect();
    assert!(!rows.is_empty(), "{status}");
    for row in rows {
        let id = row.split_whitespace().next().unwrap();
        assert!(
            row.contains(&format!("-exec-{id} ")),
            "ID {id} of {row:?}:\n{status}"
        );
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_wait_list_status_event_log_delete() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "lifecycle");
    let two = format!(
        "{}---{}",
        spark_pi("first", r#""localcluster/run-seconds": "0.3""#, ""),
        spark_pi("second", r#""localcluster/run-seconds": "0.3""#, "")
    );
    let file = cli.file("two.yaml", &two);
    let created = cli.run(&["create", "-f", &file, "--wait"]).await;
    let out = stdout(&created);
    assert!(created.status.success(), "{out}{}", stderr(&created));
    assert!(
        out.contains("sparkapplication first created")
            && out.contains("sparkapplication second created"),
        "{out}"
    );
    assert!(
        out.contains("first\tCOMPLETED") && out.contains("second\tCOMPLETED"),
        "{out}"
    );
    assert!(!out.contains('\x1b'), "no colour into a pipe");

    let listed = cli.run(&["list"]).await;
    let out = stdout(&listed);
    assert!(listed.status.success());
    let header = out.lines().next().unwrap();
    for column in ["NAME", "STATE", "ATTEMPTS", "START", "FINISH", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("first") && l.contains("COMPLETED")),
        "{out}"
    );
    let all = stdout(&cli.run(&["list", "-A", "-o", "wide"]).await);
    assert!(
        all.starts_with("NAMESPACE") && all.contains("first-driver"),
        "{all}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&cli.run(&["list", "-o", "json"]).await)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let status = cli.run(&["status", "first"]).await;
    let out = stdout(&status);
    assert!(status.status.success());
    assert!(
        out.contains("COMPLETED") && out.contains("first-driver") && out.contains("first-ui-svc"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("-exec-")).count(),
        2,
        "both executors listed:\n{out}"
    );
    assert_executor_ids(&out);
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&stdout(&cli.run(&["status", "first", "-o", "yaml"]).await)).unwrap();
    assert_eq!(yaml["status"]["applicationState"]["state"], "COMPLETED");

    let events = stdout(&cli.run(&["event", "first"]).await);
    assert!(
        events.contains("SparkApplicationSubmitted")
            && events.contains("SparkApplicationCompleted"),
        "{events}"
    );

    let log = cli.run(&["log", "first"]).await;
    assert!(log.status.success(), "{}", stderr(&log));
    assert!(
        stdout(&log).contains("first-driver"),
        "the driver's (simulated) log: {}",
        stdout(&log)
    );
    let executor_log = cli.run(&["log", "first", "-e", "1", "--tail", "5"]).await;
    assert!(executor_log.status.success(), "{}", stderr(&executor_log));
    assert!(
        stdout(&executor_log).contains("-exec-1"),
        "{}",
        stdout(&executor_log)
    );
    let followed = cli.run(&["log", "first", "--follow"]).await;
    assert!(
        followed.status.success(),
        "following a finished driver ends"
    );

    // An executor whose pod is gone keeps its ID, from the pod's name.
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::default_namespaced(env.client.clone());
    let executors = kube::api::ListParams::default()
        .labels("sparkoperator.k8s.io/app-name=first,spark-role=executor");
    pods.delete_collection(&Default::default(), &executors)
        .await
        .unwrap();
    eventually(10, || async {
        let left = pods.list(&executors).await.unwrap();
        left.items.is_empty().then_some(())
    })
    .await;
    assert_executor_ids(&stdout(&cli.run(&["status", "first"]).await));

    let deleted = cli.run(&["delete", "first", "second"]).await;
    assert!(deleted.status.success());
    assert!(stdout(&deleted).contains("sparkapplication first deleted"));
    eventually(10, || async {
        env.app("first").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_failed_application_makes_create_wait_exit_non_zero() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "failing");
    let file = cli.file(
        "bad.yaml",
        &spark_pi(
            "broken-job",
            r#""localcluster/run-seconds": "0.2", "localcluster/exit-code": "4""#,
            "",
        ),
    );
    let created = cli.run(&["create", "-f", &file, "--wait"]).await;
    assert!(!created.status.success());
    assert!(
        stdout(&created).contains("broken-job\tFAILED"),
        "{}",
        stdout(&created)
    );
    assert!(
        stdout(&created).contains("ExitCode: 4"),
        "the error is shown: {}",
        stdout(&created)
    );
}

#[tokio::test]
async fn create_takes_the_file_as_kubeflows_sparkctl_did() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "positional");
    let file = cli.file(
        "app.yaml",
        &spark_pi("positional", r#""localcluster/run-seconds": "0.2""#, ""),
    );
    let created = cli.run(&["create", &file, "--wait"]).await;
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stdout(&created).contains("positional\tCOMPLETED"),
        "{}",
        stdout(&created)
    );
    let both = cli.run(&["create", &file, "-f", &file]).await;
    assert!(!both.status.success());
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
}

#[tokio::test]
async fn suspend_and_resume() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "suspend");
    env.create(&spark_pi(
        "long",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("long", State::Running, 30).await;
    let suspended = cli.run(&["suspend", "long"]).await;
    assert!(suspended.status.success() && stdout(&suspended).contains("long suspended"));
    env.wait_for("long", State::Suspended, 30).await;
    let resumed = cli.run(&["resume", "long"]).await;
    assert!(resumed.status.success() && stdout(&resumed).contains("long resumed"));
    env.wait_for("long", State::Running, 30).await;
}

#[tokio::test]
async fn a_one_off_run_from_a_scheduled_application() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "from");
    let template = spark_pi("unused", r#""localcluster/run-seconds": "0.2""#, "");
    let nightly = scheduled("nightly", "@yearly", "", &template);
    let file = cli.file("nightly.yaml", &nightly);
    assert!(cli.run(&["create", "-f", &file]).await.status.success());
    let run = cli.run(&["create", "--from", "nightly", "--wait"]).await;
    let out = stdout(&run);
    assert!(run.status.success(), "{out}{}", stderr(&run));
    assert!(
        out.contains("nightly-") && out.contains("COMPLETED"),
        "{out}"
    );
}

#[tokio::test]
async fn errors_a_person_can_act_on() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "errors");
    let missing = cli.run(&["status", "nope"]).await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("SparkApplication nope not found in namespace default"),
        "{}",
        stderr(&missing)
    );

    let file = cli.file("broken.yaml", "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata:\n  name: [oops\n");
    let bad = cli.run(&["create", "-f", &file]).await;
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("line"),
        "the line is named: {}",
        stderr(&bad)
    );

    let unreachable = tokio::process::Command::new(SPARKCTL)
        .args(["list"])
        .env(
            "KUBECONFIG",
            cli.file("nowhere.kubeconfig", &unreachable_kubeconfig()),
        )
        .output()
        .await
        .unwrap();
    assert!(!unreachable.status.success());
    assert!(
        stderr(&unreachable).contains("cannot reach the cluster"),
        "{}",
        stderr(&unreachable)
    );

    let completion = cli.run(&["completion", "bash"]).await;
    assert!(completion.status.success() && stdout(&completion).contains("sparkctl"));
}

/// Input a user really writes: JSON as Python's json.dump writes it, a namespace that is not
/// there, -n against the file's own namespace, a kubeconfig or context that does not exist.
#[tokio::test]
async fn input_as_users_write_it() {
    let env = Env::start().await;
    let cli = Cli::new(&env, "input");
    let mut app: serde_json::Value = serde_yaml::from_str(&spark_pi(
        "rocket",
        r#""localcluster/run-seconds": "0.2""#,
        "",
    ))
    .unwrap();
    app["metadata"]["annotations"] = serde_json::json!({"note": "\u{1f680}"});
    // serde_json writes the emoji as it is; Python writes it as a surrogate pair.
    let json = serde_json::to_string(&app)
        .unwrap()
        .replace('\u{1f680}', "\\ud83d\\ude80");
    assert!(json.contains("\\ud83d"), "{json}");
    let file = cli.file("rocket.json", &json);
    let created = cli.run(&["create", "-f", &file]).await;
    assert!(created.status.success(), "{}", stderr(&created));
    let stored = env.app("rocket").await.expect("created");
    assert_eq!(stored.metadata.annotations.unwrap()["note"], "\u{1f680}");

    app["metadata"]["name"] = "elsewhere".into();
    app["metadata"]["namespace"] = "nowhere".into();
    let file = cli.file("elsewhere.json", &serde_json::to_string(&app).unwrap());
    let missing = cli.run(&["create", "-f", &file]).await;
    assert!(!missing.status.success());
    let message = stderr(&missing);
    assert!(
        message.contains(r#"namespace "nowhere" does not exist"#)
            && message.contains("kubectl create namespace nowhere")
            && !message.contains("ErrorResponse")
            && !message.contains("Status {"),
        "{message}"
    );
    let mismatch = cli.run(&["create", "-f", &file, "-n", "default"]).await;
    assert!(!mismatch.status.success());
    assert!(
        stderr(&mismatch).contains("--namespace=nowhere"),
        "{}",
        stderr(&mismatch)
    );

    let no_file = cli
        .run(&["--kubeconfig", "/nonexistent/kubeconfig", "list"])
        .await;
    let message = stderr(&no_file);
    assert!(!no_file.status.success());
    assert_eq!(
        message.matches("/nonexistent/kubeconfig").count(),
        1,
        "{message}"
    );
    assert_eq!(message.matches("No such file").count(), 1, "{message}");

    let no_context = cli.run(&["--context", "ghost", "list"]).await;
    let message = stderr(&no_context);
    assert!(!no_context.status.success());
    assert!(
        message.contains(r#"context "ghost""#) && message.contains("localcluster"),
        "the contexts that exist are listed: {message}"
    );
}

fn unreachable_kubeconfig() -> String {
    "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:9'}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_reaches_the_drivers_ui_port() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let env = Env::start().await;
    let cli = Cli::new(&env, "forward");
    env.create(&spark_pi(
        "ui",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("ui", State::Running, 30).await;
    let driver = env.pods().get("ui-driver").await.unwrap();
    let ip = driver.status.unwrap().pod_ip.unwrap();
    // The Spark UI of the "driver": a one-line HTTP server on the pod's address.
    let listener = tokio::net::TcpListener::bind((ip.as_str(), 4040))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nSpark UI",
                )
                .await;
        }
    });
    let mut forward = tokio::process::Command::new(SPARKCTL)
        .args(["forward", "ui", "-p", "0"])
        .env("KUBECONFIG", &cli.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(forward.stdout.take().unwrap())
        .read_line(&mut first)
        .await
        .unwrap();
    let local = first.split_whitespace().nth(2).unwrap().to_string();
    assert!(
        first.contains("-> 4040") && first.contains("ui-driver"),
        "{first}"
    );
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(&local).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200") && response.ends_with("Spark UI"),
            "{response}"
        );
    }
    forward.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_follow_prints_new_events_as_they_come() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let env = Env::start().await;
    let cli = Cli::new(&env, "event-follow");
    env.create(&spark_pi(
        "watched",
        r#""localcluster/run-seconds": "forever""#,
        "",
    ))
    .await;
    env.wait_for("watched", State::Running, 30).await;
    let mut follow = tokio::process::Command::new(SPARKCTL)
        .args(["event", "watched", "--follow"])
        .env("KUBECONFIG", &cli.kubeconfig)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let submitted = line.contains("SparkApplicationSubmitted");
        seen.push(line);
        if submitted {
            break;
        }
    }
    assert!(cli.run(&["suspend", "watched"]).await.status.success());
    let suspended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("SparkApplicationSuspended") {
                return line;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("the new event is printed while following");
    assert!(suspended.contains("is suspended"), "{suspended}");
    follow.kill().await.unwrap();
}
