//! `pods/exec` and `pods/attach` against a pod run as a process, with the real kubectl (`exec`
//! with and without `-i`, exit codes, `cp` both ways) and kube-rs (`exec` with standard input,
//! `attach`), and the refusals for pods that cannot stream.
//!
//! The process runtime runs a Spark container as `$SPARK_HOME/bin/spark-submit`; here that is a
//! shell script of a stand-in installation, which answers each line of its standard input and
//! then waits, so no Spark or JVM is needed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, PostParams};
use localcluster::LocalCluster;
use localcluster::simulation::NodesConfig;
use serde_json::{Value, json};
use testkit::kubectl::path_arg;
use testkit::{Kubectl, cluster, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the stand-in `spark-submit` does: what a container's process does, printing, reading
/// its standard input and running on.
const SPARK_SUBMIT: &str = "#!/bin/sh
echo \"driver started\"
while read line; do echo \"heard $line\"; done
exec sleep 3600
";

struct Fixture {
    cluster: LocalCluster,
    kubectl: Kubectl,
    pods: Api<Pod>,
    dir: tempfile::TempDir,
}

async fn start() -> Fixture {
    let dir = testkit::scratch("exec");
    let bin = dir.path().join("spark/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("spark-submit");
    std::fs::write(&script, SPARK_SUBMIT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cluster = cluster::start().await;
    let processes = cluster
        .process_runtime(dir.path().join("spark"), dir.path().join("pods"))
        .unwrap();
    let nodes = NodesConfig {
        processes: Some(processes),
        ..Default::default()
    };
    tokio::spawn(localcluster::simulation::run(
        cluster.client().unwrap(),
        nodes,
    ));
    let kubectl = Kubectl::for_cluster(&cluster);
    let pods = Api::default_namespaced(cluster.client().unwrap());
    Fixture {
        cluster,
        kubectl,
        pods,
        dir,
    }
}

impl Fixture {
    /// Creates a pod and waits until it runs.
    async fn running(&self, pod: Value) -> String {
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
        eventually(30, || async {
            let pod = self.pods.get(&name).await.ok()?;
            let phase = pod.status?.phase?;
            (phase == "Running").then_some(())
        })
        .await;
        name
    }

    /// A pod whose container runs as a process, with an emptyDir at `/data`; `stdin` opens the
    /// container's standard input.
    async fn process_pod(&self, name: &str, stdin: bool) -> String {
        let pod = self
            .running(json!({
                "metadata": {"name": name},
                "spec": {
                    "containers": [{
                        "name": "spark-kubernetes-driver", "image": "apache/spark:4.0.1",
                        "args": ["driver"], "stdin": stdin, "stdinOnce": stdin,
                        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "GREETING", "value": "hello from $(POD)"}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }))
            .await;
        // The container's own output is recorded once its process runs.
        eventually(30, || async {
            let log = self.pods.logs(&pod, &Default::default()).await.ok()?;
            log.contains("driver started").then_some(())
        })
        .await;
        pod
    }

    async fn exec(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.exec_with_input(args, b"").await
    }

    async fn exec_with_input(&self, args: &[&str], input: &[u8]) -> (Option<i32>, String, String) {
        let output = self.kubectl.output_with_input(args, input).await;
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

#[tokio::test]
async fn kubectl_exec_runs_commands_in_the_pods_environment() {
    let fixture = start().await;
    let pod = fixture.process_pod("shell", false).await;

    let (code, out, err) = fixture
        .exec(&[
            "exec",
            &pod,
            "--",
            "sh",
            "-c",
            "echo $GREETING; pwd; echo oops >&2",
        ])
        .await;
    assert_eq!(code, Some(0), "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("hello from shell"));
    let working_dir = lines.next().unwrap();
    assert!(
        working_dir.ends_with("/work-dir") && working_dir.contains("shell-"),
        "the pod's own working directory: {working_dir}"
    );
    assert_eq!(err, "oops\n");

    // The exit code is kubectl's.
    let (code, _, err) = fixture
        .exec(&["exec", &pod, "--", "sh", "-c", "exit 3"])
        .await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("command terminated with exit code 3"), "{err}");

    // Standard input, closed when kubectl's ends (v5's close signal).
    let (code, out, err) = fixture
        .exec_with_input(
            &["exec", "-i", &pod, "--", "tr", "a-z", "A-Z"],
            b"quiet\nplease\n",
        )
        .await;
    assert_eq!((code, out.as_str()), (Some(0), "QUIET\nPLEASE\n"), "{err}");

    // Volume paths in the command's arguments are the pod's (not those inside a script).
    let (code, _, err) = fixture
        .exec_with_input(&["exec", "-i", &pod, "--", "tee", "/data/note"], b"kept\n")
        .await;
    assert_eq!(code, Some(0), "{err}");
    let (_, out, _) = fixture
        .exec(&["exec", &pod, "--", "cat", "/data/note"])
        .await;
    assert_eq!(out, "kept\n");

    let (code, _, err) = fixture.exec(&["exec", &pod, "--", "no-such-program"]).await;
    assert_ne!(code, Some(0));
    assert!(
        err.contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{err}"
    );
    let (code, _, err) = fixture
        .exec(&["exec", &pod, "-c", "sidecar", "--", "true"])
        .await;
    assert_ne!(code, Some(0));
    assert!(
        err.contains("container sidecar is not valid for pod shell"),
        "{err}"
    );
}

#[tokio::test]
async fn pods_that_cannot_stream_are_refused_as_kubernetes_refuses_them() {
    let fixture = start().await;
    // Running, but simulated: no container to stream from.
    let simulated = fixture
        .running(json!({"metadata": {"name": "paper",
                                     "annotations": {"localcluster/run-seconds": "forever"}},
                        "spec": {"containers": [{"name": "main", "image": "busybox"}]}}))
        .await;
    let (code, _, err) = fixture.exec(&["exec", &simulated, "--", "true"]).await;
    assert_ne!(code, Some(0));
    assert!(
        err.contains(
            r#"Internal error occurred: unable to upgrade connection: container not found ("main")"#
        ),
        "{err}"
    );

    // Never scheduled: no node to reach.
    let pending: Pod = serde_json::from_value(json!({
        "metadata": {"name": "nowhere"},
        "spec": {"nodeSelector": {"absent": "label"},
                 "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]}
    }))
    .unwrap();
    fixture
        .pods
        .create(&PostParams::default(), &pending)
        .await
        .unwrap();
    let (_, _, err) = fixture
        .exec(&["exec", "nowhere", "-c", "a", "--", "true"])
        .await;
    assert!(
        err.contains("pod nowhere does not have a host assigned"),
        "{err}"
    );
    // Two containers and none named: kube-rs sends no container.
    let refused = fixture
        .pods
        .exec("nowhere", ["true"], &AttachParams::default())
        .await;
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("a container name must be specified for pod nowhere, choose one of: [a b]"),
        "{error}"
    );
}

#[tokio::test]
async fn kubectl_cp_copies_into_and_out_of_a_pod() {
    let fixture = start().await;
    let pod = fixture.process_pod("files", false).await;
    let local = fixture.dir.path().join("local");
    std::fs::create_dir_all(local.join("tree/inner")).unwrap();
    std::fs::write(local.join("report.txt"), "forty-two\n").unwrap();
    std::fs::write(local.join("tree/inner/leaf.txt"), "leaf\n").unwrap();

    let file_in_pod = format!("{pod}:/data/report.txt");
    let copy_in = fixture
        .kubectl
        .run(&["cp", path_arg(&local.join("report.txt")), &file_in_pod])
        .await;
    assert!(copy_in.0, "{}", copy_in.1);
    let tree_in_pod = format!("{pod}:/data/tree");
    let copy_in = fixture
        .kubectl
        .run(&["cp", path_arg(&local.join("tree")), &tree_in_pod])
        .await;
    assert!(copy_in.0, "{}", copy_in.1);
    let (_, out, _) = fixture
        .exec(&[
            "exec",
            &pod,
            "--",
            "cat",
            "/data/report.txt",
            "/data/tree/inner/leaf.txt",
        ])
        .await;
    assert_eq!(out, "forty-two\nleaf\n");

    let back = fixture.dir.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    let copy_out = fixture
        .kubectl
        .run(&["cp", &file_in_pod, path_arg(&back.join("report.txt"))])
        .await;
    assert!(copy_out.0, "{}", copy_out.1);
    assert_eq!(read(&back.join("report.txt")), "forty-two\n");
    let copy_out = fixture
        .kubectl
        .run(&["cp", &tree_in_pod, path_arg(&back.join("tree"))])
        .await;
    assert!(copy_out.0, "{}", copy_out.1);
    assert_eq!(read(&back.join("tree/inner/leaf.txt")), "leaf\n");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

#[tokio::test]
async fn kube_rs_execs_with_stdin_and_attaches() {
    let fixture = start().await;
    let pod = fixture.process_pod("talker", true).await;

    let params = AttachParams::default().stdin(true).stderr(false);
    let mut process = fixture
        .pods
        .exec(
            &pod,
            ["sh", "-c", "read name; echo \"hi $name\"; exit 7"],
            &params,
        )
        .await
        .unwrap();
    let mut stdin = process.stdin().unwrap();
    stdin.write_all(b"kube\n").await.unwrap();
    drop(stdin);
    let mut out = String::new();
    process
        .stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let status = process.take_status().unwrap().await.unwrap();
    assert_eq!(out, "hi kube\n");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let cause = &status.details.unwrap().causes.unwrap()[0];
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("7"))
    );

    // Attached to the container's own process: what it prints, and its standard input.
    let params = AttachParams::default().stdin(true).stderr(false);
    let mut attached = fixture.pods.attach(&pod, &params).await.unwrap();
    let mut stdin = attached.stdin().unwrap();
    let mut stdout = attached.stdout().unwrap();
    stdin.write_all(b"attached\n").await.unwrap();
    let mut heard = vec![0u8; "heard attached\n".len()];
    stdout.read_exact(&mut heard).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&heard), "heard attached\n");
    drop(stdin);
    drop(stdout);
    attached.abort();
    drop(fixture.cluster);
}
