//! Images mapped to local programs (`--image-program`): a pod of a mapped image runs the program
//! as the image's entrypoint, with the container's arguments and environment, as its service
//! account (a real token, so RBAC applies: the real kubectl is the program here), listening on
//! its own pod IP, with its HTTP readiness and liveness probes run against it.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{LogParams, PostParams};
use kube::{Api, Client};
use localcluster::LocalCluster;
use localcluster::simulation::NodesConfig;
use localcluster::simulation::process::ImageProgram;
use serde_json::{Value, json};
use testkit::within;

const NAMESPACE: &str = "tools";

fn object<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("test object")
}

/// A program on `PATH`, as the test machine has it.
fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// A cluster that authorizes by RBAC, whose nodes run the images `programs` maps, with a
/// namespace of its own.
async fn cluster_running(
    programs: &[(&str, PathBuf)],
) -> (LocalCluster, Client, tempfile::TempDir) {
    let (cluster, admin) = testkit::cluster::start_with_rbac().await;
    let pods_dir = tempfile::tempdir().expect("pod directory");
    let programs = programs
        .iter()
        .map(|(repository, program)| {
            format!("{repository}={}", program.display())
                .parse::<ImageProgram>()
                .unwrap()
        })
        .collect();
    let runtime = cluster.image_program_runtime(programs, pods_dir.path().to_path_buf());
    let nodes = NodesConfig {
        processes: Some(runtime),
        ..NodesConfig::default()
    };
    tokio::spawn(localcluster::simulation::run(admin.clone(), nodes));
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    namespaces
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": NAMESPACE}})),
        )
        .await
        .expect("namespace");
    (cluster, admin, pods_dir)
}

async fn create_pod(admin: &Client, pod: Value) -> String {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    let created = pods
        .create(&PostParams::default(), &object(pod))
        .await
        .expect("pod created");
    created.metadata.name.unwrap()
}

/// The phase the pod ends in and its log.
async fn ended(admin: &Client, name: &str) -> (String, String) {
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    let phase = within(60, || async {
        let pod = pods.get(name).await.ok()?;
        let phase = pod.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    let log = pods
        .logs(name, &LogParams::default())
        .await
        .unwrap_or_default();
    (
        phase.unwrap_or_else(|| panic!("{name} did not end; log:\n{log}")),
        log,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_image_runs_its_program_as_the_pods_service_account() {
    let kubectl = on_path("kubectl");
    let (_cluster, admin, _pods_dir) = cluster_running(&[
        ("registry.example/tools/kubectl", kubectl.clone()),
        ("busybox", PathBuf::from("/bin/sh")),
    ])
    .await;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), NAMESPACE);
    accounts
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "reader"}})),
        )
        .await
        .unwrap();
    let roles: Api<Role> = Api::namespaced(admin.clone(), NAMESPACE);
    roles
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "pod-reader"}, "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), NAMESPACE);
    bindings
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "reader"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
                "subjects": [{"kind": "ServiceAccount", "name": "reader"}]})),
        )
        .await
        .unwrap();
    let kubectl_pod = |name: &str, args: Value| {
        json!({"metadata": {"name": name}, "spec": {
            "serviceAccountName": "reader", "restartPolicy": "Never",
            "containers": [{"name": "kubectl", "image": "registry.example/tools/kubectl:1.32",
                            "args": args}]}})
    };

    // The image's entrypoint with the container's args, in the pod's namespace by default; a
    // volume mounted where the program lives on this machine does not hide it (the program is
    // a path here, not in the container).
    let mut lister = kubectl_pod("lister", json!(["get", "pods", "-o", "name"]));
    let program_dir = kubectl.parent().unwrap().to_str().unwrap().to_string();
    lister["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
    lister["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "scratch", "mountPath": program_dir}]);
    let lister = create_pod(&admin, lister).await;
    let (phase, log) = ended(&admin, &lister).await;
    assert_eq!(phase, "Succeeded", "{log}");
    assert!(log.contains("pod/lister"), "{log}");

    // What the service account is not granted is refused, naming it.
    let snoop = create_pod(&admin, kubectl_pod("snoop", json!(["get", "secrets"]))).await;
    let (phase, log) = ended(&admin, &snoop).await;
    assert_eq!(phase, "Failed", "{log}");
    assert!(
        log.contains(
            "User \"system:serviceaccount:tools:reader\" cannot list resource \"secrets\""
        ),
        "{log}"
    );

    // `command` replaces the entrypoint; the downward API, the service links and the token
    // directory (a path in an environment value stands for its file on this machine) are there.
    let script = "set -e; namespace=$$(cat \"$NAMESPACE_FILE\"); test -s \"$TOKEN_FILE\" && echo token; \
                  echo \"pod=$POD_NAME namespace=$namespace api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $(GREETING)\"";
    let env = json!([
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NAMESPACE_FILE", "value": "/var/run/secrets/kubernetes.io/serviceaccount/namespace"},
        {"name": "TOKEN_FILE", "value": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
        {"name": "GREETING", "value": "hello"},
    ]);
    let shell = |name: &str, automount: bool| {
        json!({"metadata": {"name": name}, "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": automount,
            "containers": [{"name": "sh", "image": "busybox:1.36", "command": ["/bin/sh", "-c"],
                            "args": [script], "env": env}]}})
    };
    let mounted = create_pod(&admin, shell("shell", true)).await;
    let (phase, log) = ended(&admin, &mounted).await;
    assert_eq!(phase, "Succeeded", "{log}");
    assert!(
        log.contains("token\npod=shell namespace=tools api=10.96.0.1:443 hello"),
        "{log}"
    );
    // Without the automount, nothing is there.
    let bare = create_pod(&admin, shell("bare", false)).await;
    let (phase, log) = ended(&admin, &bare).await;
    assert_eq!(phase, "Failed", "{log}");
    assert!(log.contains("No such file"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_of_one_image_listen_on_their_pod_ips_and_answer_their_probes() {
    let python = on_path("python3");
    let (_cluster, admin, _pods_dir) =
        cluster_running(&[("registry.example/python", python)]).await;
    // Both listen on every address at one port, as in their own pods.
    let server = |name: &str| {
        json!({"metadata": {"name": name}, "spec": {"containers": [{
            "name": "http", "image": "registry.example/python:3.11",
            "args": ["-m", "http.server", "8000"],
            "ports": [{"name": "web", "containerPort": 8000}],
            "readinessProbe": {"httpGet": {"path": "/", "port": "web"}},
            "livenessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1}}]}})
    };
    let pods: Api<Pod> = Api::namespaced(admin.clone(), NAMESPACE);
    let mut ips = Vec::new();
    for name in ["web-a", "web-b"] {
        create_pod(&admin, server(name)).await;
        let ip = within(30, || async {
            let status = pods.get(name).await.ok()?.status?;
            let ready = status
                .conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(status.pod_ip?)
        })
        .await;
        let log = pods
            .logs(name, &LogParams::default())
            .await
            .unwrap_or_default();
        ips.push(ip.unwrap_or_else(|| panic!("{name} is not ready; log:\n{log}")));
    }
    assert_ne!(ips[0], ips[1]);
    for ip in &ips {
        let answer = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("http://{ip}:8000/"),
            ])
            .output()
            .expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&answer.stdout), "200", "{ip}");
    }
    // Alive while they answer.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let phase = pods.get("web-a").await.unwrap().status.unwrap().phase;
    assert_eq!(phase.as_deref(), Some("Running"));

    // A container that stops answering its liveness probe is stopped (SIGTERM: 143).
    create_pod(
        &admin,
        json!({"metadata": {"name": "deaf"}, "spec": {"restartPolicy": "Never",
            "terminationGracePeriodSeconds": 2, "containers": [{
            "name": "sleeper", "image": "registry.example/python",
            "args": ["-c", "import time; time.sleep(120)"],
            "livenessProbe": {"tcpSocket": {"port": 8000}, "periodSeconds": 1,
                              "failureThreshold": 2}}]}}),
    )
    .await;
    let (phase, log) = ended(&admin, "deaf").await;
    assert_eq!(phase, "Failed", "{log}");
    let status = pods.get("deaf").await.unwrap().status.unwrap();
    let terminated = status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(terminated.exit_code, 143);
}
