//! The real kubectl (v1.32) against the local cluster over HTTPS, with a kubeconfig, HOME and
//! discovery cache in a temporary directory: CRDs and their objects, printer columns, jsonpath,
//! describe, explain, wait, delete --wait, server-side apply, logs (also followed with `-f`),
//! port-forward (SPDY in a WebSocket, and plain SPDY); what the API server refuses at admission
//! and kubectl refuses to apply (`admission`), what the scheduler and kubelets make of pods
//! (`nodes`), and the proxy subresources (`proxy`).

#[path = "kubectl/admission.rs"]
mod admission;
#[path = "kubectl/nodes.rs"]
mod nodes;
#[path = "kubectl/proxy.rs"]
mod proxy;

use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use localcluster::LocalCluster;
use serde_json::json;
use testkit::Kubectl;
use testkit::cluster;
use testkit::fixtures::spark_pi;
use testkit::kubectl::path_arg;
use testkit::net::free_port;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStderr, ChildStdout};

fn spark_api(cluster: &LocalCluster) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("sparkoperator.k8s.io", "v1beta2", "SparkApplication");
    Api::namespaced_with(
        cluster.client().unwrap(),
        "default",
        &ApiResource::from_gvk(&gvk),
    )
}

#[tokio::test]
async fn kubectl_serves_custom_resources() {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let crd = cluster::crd_dir().join("sparkoperator.k8s.io_sparkapplications.yaml");
    let created = kubectl.ok(&["apply", "-f", path_arg(&crd)]).await;
    assert!(
        created.contains("sparkapplications.sparkoperator.k8s.io created"),
        "{created}"
    );
    let crd_status = kubectl
        .ok(&[
            "get",
            "crd",
            "sparkapplications.sparkoperator.k8s.io",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ])
        .await;
    assert_eq!(crd_status, "True");

    let app = kubectl.file("app.yaml", &spark_pi("pi", "", ""));
    kubectl.ok(&["apply", "-f", path_arg(&app)]).await;
    // The CRD's printer columns in its order; Suspend, of priority 1, only in the wide form.
    let header = |table: &str| -> Vec<String> {
        let first = table.lines().next().unwrap_or_default();
        first.split_whitespace().map(String::from).collect()
    };
    let wide = kubectl
        .ok(&["get", "sparkapplications", "-o", "wide"])
        .await;
    assert_eq!(
        header(&wide),
        [
            "NAME", "STATUS", "ATTEMPTS", "START", "FINISH", "SUSPEND", "AGE"
        ]
    );
    let table = kubectl.ok(&["get", "sparkapplications"]).await;
    assert_eq!(
        header(&table),
        ["NAME", "STATUS", "ATTEMPTS", "START", "FINISH", "AGE"]
    );
    assert!(
        table.lines().nth(1).unwrap_or_default().starts_with("pi "),
        "{table}"
    );
    let main_class = kubectl
        .ok(&["get", "sparkapp", "pi", "-o", "jsonpath={.spec.mainClass}"])
        .await;
    assert_eq!(main_class, "org.apache.spark.examples.SparkPi");
    let described = kubectl.ok(&["describe", "sparkapplication", "pi"]).await;
    assert!(
        described.contains("Main Class:") && described.contains("SparkPi"),
        "{described}"
    );
    let explained = kubectl
        .ok(&["explain", "sparkapplication.spec.driver.cores"])
        .await;
    assert!(explained.contains("FIELD: cores <integer>"), "{explained}");

    // Schema validation: a wrong type is rejected with the field named.
    let invalid = kubectl.file(
        "invalid.yaml",
        &spark_pi("bad", "", "")
            .replace("  driver:\n    cores: 1\n", "  driver:\n    cores: many\n"),
    );
    let (accepted, message) = kubectl.run(&["apply", "-f", path_arg(&invalid)]).await;
    assert!(!accepted);
    assert!(message.contains("spec.driver.cores"), "{message}");

    // kubectl waits on a status field written by someone else.
    let waiter = {
        let args = [
            "wait",
            "sparkapplication/pi",
            "--for=jsonpath={.status.applicationState.state}=COMPLETED",
            "--timeout=20s",
        ];
        let run = kubectl.run(&args);
        let apps = spark_api(&cluster);
        let status =
            json!({"status": {"applicationState": {"state": "COMPLETED"}, "driverInfo": {}}});
        let writer = async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            apps.patch_status("pi", &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        };
        tokio::join!(run, writer).0
    };
    let (waited, output) = waiter;
    assert!(waited, "{output}");
    let state = kubectl
        .ok(&[
            "get",
            "sparkapp",
            "pi",
            "-o",
            "jsonpath={.status.applicationState.state}",
        ])
        .await;
    assert_eq!(state, "COMPLETED");

    let applied = kubectl
        .ok(&["apply", "--server-side", "-f", path_arg(&app)])
        .await;
    assert!(applied.contains("serverside-applied"), "{applied}");
    let deleted = kubectl
        .ok(&["delete", "sparkapplication", "pi", "--wait"])
        .await;
    assert!(deleted.contains("deleted"), "{deleted}");
    let (_, gone) = kubectl.run(&["get", "sparkapplication", "pi"]).await;
    assert!(
        gone.contains("sparkapplications.sparkoperator.k8s.io \"pi\" not found"),
        "{gone}"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn kubectl_core_workflow() {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let version = kubectl.ok(&["version"]).await;
    assert!(version.contains("Server Version: v1.32"), "{version}");
    let namespaces = kubectl.ok(&["get", "namespaces", "-o", "name"]).await;
    for expected in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            namespaces.contains(&format!("namespace/{expected}")),
            "{namespaces}"
        );
    }

    // Typed clients (kubectl create <kind>) send protobuf.
    kubectl.ok(&["create", "namespace", "work"]).await;
    let pod = kubectl.file("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: work\n  labels: {app: web}\nspec:\n  containers:\n  - name: main\n    image: nginx:1.27\n");
    kubectl.ok(&["apply", "-f", path_arg(&pod)]).await;
    let pods = kubectl.ok(&["get", "pods", "-n", "work"]).await;
    let header: Vec<&str> = pods
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert!(
        pods.contains("web") && pods.contains("0/1") && pods.contains("Pending"),
        "{pods}"
    );
    let selected = kubectl
        .ok(&[
            "get",
            "pods",
            "-A",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ])
        .await;
    assert_eq!(selected, "web");
    let logs = kubectl.ok(&["logs", "web", "-n", "work"]).await;
    assert!(logs.contains("simulated"), "{logs}");
    let label = kubectl
        .ok(&["label", "pod", "web", "-n", "work", "tier=front"])
        .await;
    assert!(label.contains("labeled"), "{label}");
    let described = kubectl.ok(&["describe", "pod", "web", "-n", "work"]).await;
    assert!(
        described.contains("tier=front") && described.contains("nginx:1.27"),
        "{described}"
    );

    kubectl
        .ok(&[
            "create",
            "configmap",
            "settings",
            "-n",
            "work",
            "--from-literal=a=1",
        ])
        .await;
    kubectl
        .ok(&[
            "create",
            "secret",
            "generic",
            "token",
            "-n",
            "work",
            "--from-literal=t=s3cr3t",
        ])
        .await;
    let token = kubectl
        .ok(&[
            "get",
            "secret",
            "token",
            "-n",
            "work",
            "-o",
            "jsonpath={.data.t}",
        ])
        .await;
    assert_eq!(token, "czNjcjN0");
    let value = kubectl
        .ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "work",
            "-o",
            "jsonpath={.data.a}",
        ])
        .await;
    assert_eq!(value, "1");
    let deleted = kubectl
        .ok(&["delete", "namespace", "work", "--wait", "--timeout=20s"])
        .await;
    assert!(deleted.contains("namespace \"work\" deleted"), "{deleted}");
    let (found, _) = kubectl
        .run(&["get", "configmap", "settings", "-n", "work"])
        .await;
    assert!(!found);
    cluster.shutdown().await;
}

#[tokio::test]
async fn kubectl_follows_a_running_pods_log_until_it_ends() {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let pods = cluster::create_pod(&cluster, "talker", "busybox").await;
    let set_phase = |phase: &'static str| {
        let pods = pods.clone();
        async move {
            let status = json!({"status": {"phase": phase}});
            pods.patch_status("talker", &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
    };
    set_phase("Running").await;
    let log = |text: &str| {
        cluster
            .cluster()
            .append_pod_log("default", "talker", "main", text)
    };
    log("first\n");

    let mut follower = kubectl.spawn(&["logs", "-f", "talker"], &[]);
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let next_line = async |lines: &mut Lines<BufReader<ChildStdout>>| {
        tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a line arrives within 10s")
            .unwrap()
    };
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("first"));

    for text in ["second", "third"] {
        log(&format!("{text}\n"));
        assert_eq!(
            next_line(&mut lines).await.as_deref(),
            Some(text),
            "a line printed while following arrives"
        );
        assert!(
            follower.try_wait().unwrap().is_none(),
            "kubectl keeps following while the pod runs"
        );
    }

    log("last\n");
    set_phase("Succeeded").await;
    assert_eq!(next_line(&mut lines).await.as_deref(), Some("last"));
    assert_eq!(
        next_line(&mut lines).await,
        None,
        "the log ends with the pod"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), follower.wait())
        .await
        .expect("kubectl exits once the pod has ended")
        .unwrap();
    let mut stderr = String::new();
    follower
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "kubectl logs -f failed: {stderr}");
    cluster.shutdown().await;
}

/// Sends `text` through the forwarded local port and returns the answer.
async fn round_trip(local: u16, text: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; text.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut answer))
        .await
        .expect("the answer arrives through the forwarded port within 10s")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

/// How kubectl reached the port-forward subresource: the verbose log line of the upgrade.
struct Upgrade {
    env: &'static [(&'static str, &'static str)],
    logged: &'static str,
}

/// Runs `kubectl port-forward pod/web LOCAL:REMOTE`; returns it, once it listens, and its stderr.
async fn start_port_forward(
    kubectl: &Kubectl,
    upgrade: &Upgrade,
    local: u16,
    remote: u16,
) -> (tokio::process::Child, ChildStderr) {
    let mapping = format!("{local}:{remote}");
    let mut forwarder = kubectl.spawn(&["port-forward", "pod/web", &mapping, "-v=6"], upgrade.env);
    let mut stdout = BufReader::new(forwarder.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("kubectl port-forward starts within 20s")
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        ready,
        format!("Forwarding from 127.0.0.1:{local} -> {remote}")
    );
    // Later lines ("Handling connection for ...") are not read: keep the pipe drained.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let stderr = forwarder.stderr.take().unwrap();
    (forwarder, stderr)
}

async fn read_all(mut stderr: ChildStderr) -> String {
    let mut text = String::new();
    stderr.read_to_string(&mut text).await.unwrap();
    text
}

/// kubectl port-forward through `upgrade`: TCP round trips through the forwarded port, then a
/// port nothing listens on, whose error kubectl reports before it gives up.
async fn port_forward_round_trips(upgrade: Upgrade) {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let pods = cluster::create_pod(&cluster, "web", "nginx").await;
    let remote = cluster::upper_case_echo("127.1.8.1").await;
    let running = json!({"status": {"phase": "Running", "podIP": "127.1.8.1"}});
    pods.patch_status("web", &PatchParams::default(), &Patch::Merge(&running))
        .await
        .unwrap();

    let local = free_port();
    let (mut forwarder, stderr) = start_port_forward(&kubectl, &upgrade, local, remote).await;
    // One connection after another (each a new pair of streams), two at once, and one larger
    // than a SPDY frame's worth of socket reads.
    assert_eq!(round_trip(local, "hello pod").await, "HELLO POD");
    assert_eq!(round_trip(local, "again").await, "AGAIN");
    let (first, second) = tokio::join!(round_trip(local, "one"), round_trip(local, "two"));
    assert_eq!((first.as_str(), second.as_str()), ("ONE", "TWO"));
    let large = "x".repeat(200_000);
    assert_eq!(round_trip(local, &large).await, large.to_ascii_uppercase());
    assert!(
        forwarder.try_wait().unwrap().is_none(),
        "kubectl keeps forwarding"
    );
    forwarder.start_kill().unwrap();
    let _ = forwarder.wait().await;
    let log = read_all(stderr).await;
    assert!(log.contains(upgrade.logged), "{log}");
    assert!(!log.contains("error"), "kubectl reported errors:\n{log}");

    let closed = remote + 1;
    let local = free_port();
    let (mut forwarder, stderr) = start_port_forward(&kubectl, &upgrade, local, closed).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    let _ = stream.write_all(b"anyone?").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(answer.is_empty(), "nothing answers from a closed port");
    let status = tokio::time::timeout(Duration::from_secs(10), forwarder.wait())
        .await
        .expect("kubectl stops after the pod's port refused")
        .unwrap();
    let log = read_all(stderr).await;
    assert!(!status.success());
    assert!(
        log.contains(&format!(
            "error forwarding port {closed} to pod at 127.1.8.1"
        )),
        "{log}"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn kubectl_port_forward_tunnels_spdy_in_a_websocket() {
    port_forward_round_trips(Upgrade {
        env: &[],
        logged: "negotiated protocol: portforward.k8s.io",
    })
    .await;
}

#[tokio::test]
async fn kubectl_port_forward_over_an_spdy_upgrade() {
    // kubectl's fallback when the WebSocket upgrade fails, and its only way before 1.31.
    port_forward_round_trips(Upgrade {
        env: &[("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")],
        // The upgrade is the only POST of a port-forward.
        logged: "POST https://127.0.0.1:",
    })
    .await;
}
