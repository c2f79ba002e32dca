//! What the API server refuses at admission, as kubectl shows it: a pod whose service account does
//! not exist, pods beyond a ResourceQuota or outside a LimitRange, and a `List` file with a field
//! no kind has (kubectl's own validation, from `/openapi/v2`).

use localcluster::simulation::NodesConfig;
use testkit::{Kubectl, cluster, eventually};

const CONTAINER: &str = "  containers:\n  - name: main\n    image: busybox\n";

fn pod(name: &str, namespace: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  \
         annotations: {{localcluster/run-seconds: forever}}\nspec:\n{extra_spec}{CONTAINER}"
    )
}

/// `kubectl get KIND NAME -n NAMESPACE -o jsonpath=PATH`.
async fn field(kubectl: &Kubectl, object: &str, namespace: &str, path: &str) -> String {
    let jsonpath = format!("jsonpath={path}");
    kubectl
        .ok(&["get", object, "-n", namespace, "-o", &jsonpath])
        .await
}

/// `kubectl apply` of `yaml`, which must be refused; what kubectl printed.
async fn refused(kubectl: &Kubectl, yaml: &str) -> String {
    let (created, output) = kubectl.apply(yaml).await;
    assert!(!created, "{output}");
    output
}

/// `kubectl apply` of `yaml`, which must be taken.
async fn admitted(kubectl: &Kubectl, yaml: &str) {
    let (created, output) = kubectl.apply(yaml).await;
    assert!(created, "{output}");
}

/// Waits until [`field`] prints `expected`.
async fn shows(kubectl: &Kubectl, object: &str, namespace: &str, path: &str, expected: &str) {
    eventually(10, || async {
        (field(kubectl, object, namespace, path).await == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_pod_needs_its_service_account() {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let output = refused(
        &kubectl,
        &pod("x", "default", "  serviceAccountName: ghost\n"),
    )
    .await;
    assert!(
        output.contains("Error from server (Forbidden): error when creating \"")
            && output.contains(
                "pods \"x\" is forbidden: error looking up service account default/ghost: \
             serviceaccount \"ghost\" not found"
            ),
        "{output}"
    );
    kubectl.ok(&["create", "serviceaccount", "ghost"]).await;
    admitted(
        &kubectl,
        &pod("x", "default", "  serviceAccountName: ghost\n"),
    )
    .await;

    // A new namespace gets its `default` service account, which pods naming none run as; it is
    // made again when deleted.
    kubectl.ok(&["create", "namespace", "team"]).await;
    admitted(&kubectl, &pod("worker", "team", "")).await;
    let account = field(&kubectl, "pod/worker", "team", "{.spec.serviceAccountName}").await;
    assert_eq!(account, "default");
    kubectl
        .ok(&["delete", "serviceaccount", "default", "-n", "team"])
        .await;
    let account = "serviceaccount/default";
    shows(&kubectl, account, "team", "{.metadata.name}", "default").await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn quotas_and_limit_ranges_admit_pods_as_the_api_server_does() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let kubectl = Kubectl::for_cluster(&cluster);
    kubectl.ok(&["create", "namespace", "jobs"]).await;
    // Typed clients send protobuf; kubectl create quota is one.
    kubectl
        .ok(&[
            "create",
            "quota",
            "compute",
            "-n",
            "jobs",
            "--hard=pods=2,requests.cpu=1,limits.cpu=2",
        ])
        .await;
    let (quota, used) = ("resourcequota/compute", "{.status.used}");
    let none = r#"{"limits.cpu":"0","pods":"0","requests.cpu":"0"}"#;
    shows(&kubectl, quota, "jobs", used, none).await;
    let output = refused(&kubectl, &pod("bare", "jobs", "")).await;
    assert!(
        output.contains(
            "pods \"bare\" is forbidden: failed quota: compute: must specify limits.cpu for: \
             main; requests.cpu for: main"
        ),
        "{output}"
    );

    let limits = "apiVersion: v1\nkind: LimitRange\nmetadata: {name: defaults, namespace: jobs}\n\
                  spec:\n  limits:\n  - type: Container\n    default: {cpu: 600m}\n    \
                  defaultRequest: {cpu: 400m}\n    max: {cpu: \"1\"}\n";
    admitted(&kubectl, limits).await;
    for name in ["first", "second"] {
        admitted(&kubectl, &pod(name, "jobs", "")).await;
    }
    let resources = field(
        &kubectl,
        "pod/first",
        "jobs",
        "{.spec.containers[0].resources}",
    );
    assert_eq!(
        resources.await,
        r#"{"limits":{"cpu":"600m"},"requests":{"cpu":"400m"}}"#
    );
    let annotation = "{.metadata.annotations.kubernetes\\.io/limit-ranger}";
    assert_eq!(
        field(&kubectl, "pod/first", "jobs", annotation).await,
        "LimitRanger plugin set: cpu request for container main; cpu limit for container main"
    );
    let output = refused(&kubectl, &pod("third", "jobs", "")).await;
    assert!(
        output.contains(
            "pods \"third\" is forbidden: exceeded quota: compute, requested: \
             pods=1,requests.cpu=400m, used: pods=2,requests.cpu=800m, limited: \
             pods=2,requests.cpu=1"
        ),
        "{output}"
    );
    let big = "  containers:\n  - name: main\n    image: busybox\n    resources: {limits: {cpu: \"2\"}}\n";
    let too_big = pod("big", "jobs", "").replace(CONTAINER, big);
    let output = refused(&kubectl, &too_big).await;
    assert!(
        output.contains(
            "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2"
        ),
        "{output}"
    );
    let table = kubectl.ok(&["get", "quota", "-n", "jobs"]).await;
    assert!(
        table.contains("pods: 2/2, requests.cpu: 800m/1") && table.contains("limits.cpu: 1200m/2"),
        "{table}"
    );

    // A deleted pod gives its share back, and the next one is admitted.
    kubectl
        .ok(&["delete", "pod", "first", "-n", "jobs", "--wait"])
        .await;
    let one = r#"{"limits.cpu":"600m","pods":"1","requests.cpu":"400m"}"#;
    shows(&kubectl, quota, "jobs", used, one).await;
    admitted(&kubectl, &pod("third", "jobs", "")).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn list_files_are_validated_as_kubectl_validates_them() {
    let cluster = cluster::start().await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  \
                metadata: {name: settings}\n  data: {a: \"1\"}\n- apiVersion: v1\n  \
                kind: ServiceAccount\n  metadata: {name: spark}\n";
    let (applied, output) = kubectl.apply(list).await;
    assert!(applied, "{output}");
    assert!(
        output.contains("configmap/settings created")
            && output.contains("serviceaccount/spark created"),
        "{output}"
    );
    let (applied, output) = kubectl
        .apply(&list.replace("data: {a: \"1\"}", "data: {a: \"1\"}\n  colour: blue"))
        .await;
    assert!(!applied);
    assert!(
        output.contains(
            "ValidationError(ConfigMap): unknown field \"colour\" in io.k8s.api.core.v1.ConfigMap"
        ),
        "{output}"
    );
    cluster.shutdown().await;
}
