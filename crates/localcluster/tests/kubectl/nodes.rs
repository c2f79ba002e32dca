//! What the simulated scheduler and kubelets make of pods, as kubectl shows it: a pod waits
//! `Unschedulable` (in the scheduler's words) until a node is labelled, uncordoned or added; a pod
//! whose ConfigMap, Secret or image is missing waits as a kubelet keeps it waiting, with the
//! kubelet's events, and starts once what it needs is there.

use localcluster::simulation::NodesConfig;
use testkit::{Kubectl, cluster, eventually};

fn pod(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: \
         {{localcluster/run-seconds: forever}}\nspec:\n{spec}"
    )
}

const CONTAINER: &str = "  containers:\n  - name: main\n    image: busybox\n";

/// Waits until `kubectl get pod NAME -o jsonpath=PATH` prints `expected`.
async fn pod_shows(kubectl: &Kubectl, name: &str, path: &str, expected: &str) {
    let jsonpath = format!("jsonpath={path}");
    let args = ["get", "pod", name, "-o", jsonpath.as_str()];
    let seen = eventually(10, || async {
        let printed = kubectl.ok(&args).await;
        (printed == expected).then_some(printed)
    })
    .await;
    assert_eq!(seen, expected);
}

/// The messages of the events of `reason` about pod `name`.
async fn event_messages(kubectl: &Kubectl, name: &str, reason: &str) -> String {
    let selector = format!("involvedObject.name={name},reason={reason}");
    kubectl
        .ok(&[
            "get",
            "events",
            "--field-selector",
            &selector,
            "-o",
            "jsonpath={.items[*].message}",
        ])
        .await
}

const SCHEDULED_MESSAGE: &str = "{.status.conditions[?(@.type==\"PodScheduled\")].message}";

#[tokio::test]
async fn the_scheduler_follows_node_changes() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let selecting = format!("  nodeSelector: {{disk: nvme}}\n{CONTAINER}");
    assert!(kubectl.apply(&pod("fast", &selecting)).await.0);
    let unmatched = "0/3 nodes are available: 3 node(s) didn't match Pod's node \
                     affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is \
                     not helpful for scheduling.";
    pod_shows(&kubectl, "fast", SCHEDULED_MESSAGE, unmatched).await;
    assert_eq!(
        event_messages(&kubectl, "fast", "FailedScheduling").await,
        unmatched
    );
    kubectl
        .ok(&["label", "node", "localcluster-node-1", "disk=nvme"])
        .await;
    pod_shows(&kubectl, "fast", "{.spec.nodeName}", "localcluster-node-1").await;
    pod_shows(&kubectl, "fast", "{.status.phase}", "Running").await;

    // Cordoned and tainted nodes take no new pod; each reason is counted.
    kubectl.ok(&["cordon", "localcluster-node-0"]).await;
    for node in ["localcluster-node-1", "localcluster-node-2"] {
        kubectl
            .ok(&["taint", "node", node, "dedicated=spark:NoSchedule"])
            .await;
    }
    assert!(kubectl.apply(&pod("waiting", CONTAINER)).await.0);
    pod_shows(
        &kubectl,
        "waiting",
        SCHEDULED_MESSAGE,
        "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) had untolerated taint \
         {dedicated: spark}. preemption: 0/3 nodes are available: 3 Preemption is not helpful \
         for scheduling.",
    )
    .await;
    kubectl.ok(&["uncordon", "localcluster-node-0"]).await;
    pod_shows(
        &kubectl,
        "waiting",
        "{.spec.nodeName}",
        "localcluster-node-0",
    )
    .await;

    // A pod no node has room for waits for a node that has; a new Node joins as a machine would.
    let large = "  containers:\n  - name: main\n    image: busybox\n    resources: {requests: {cpu: \"100\"}}\n  tolerations: [{key: dedicated, operator: Exists}]\n";
    assert!(kubectl.apply(&pod("large", large)).await.0);
    pod_shows(
        &kubectl,
        "large",
        SCHEDULED_MESSAGE,
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No \
         preemption victims found for incoming pod.",
    )
    .await;
    let node = "apiVersion: v1\nkind: Node\nmetadata:\n  name: big-node\n  labels: {size: big}\n\
                status:\n  capacity: {cpu: \"128\", memory: 512Gi, pods: \"110\"}\n";
    assert!(kubectl.apply(node).await.0);
    pod_shows(&kubectl, "large", "{.spec.nodeName}", "big-node").await;
    let ready = [
        "get",
        "node",
        "big-node",
        "-o",
        "jsonpath={.status.conditions[0].type}={.status.conditions[0].status}",
    ];
    assert_eq!(kubectl.ok(&ready).await, "Ready=True");
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_pod_waits_for_its_volumes_and_its_environment() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let mounting = "  volumes:\n  - {name: conf, configMap: {name: settings}}\n  - {name: maybe, secret: {secretName: absent, optional: true}}\n  containers:\n  - name: main\n    image: busybox\n    volumeMounts: [{name: conf, mountPath: /etc/conf}, {name: maybe, mountPath: /etc/maybe}]\n";
    let reading = "  containers:\n  - name: main\n    image: busybox\n    envFrom: [{secretRef: {name: creds}}, {configMapRef: {name: absent, optional: true}}]\n    env: [{name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]\n";
    assert!(kubectl.apply(&pod("mounting", mounting)).await.0);
    assert!(kubectl.apply(&pod("reading", reading)).await.0);
    let waiting = "{.status.phase} {.status.containerStatuses[0].state.waiting.reason}";
    pod_shows(&kubectl, "mounting", waiting, "Pending ContainerCreating").await;
    pod_shows(
        &kubectl,
        "reading",
        waiting,
        "Pending CreateContainerConfigError",
    )
    .await;
    pod_shows(
        &kubectl,
        "reading",
        "{.status.containerStatuses[0].state.waiting.message}",
        "secret \"creds\" not found",
    )
    .await;
    let table = kubectl.ok(&["get", "pods", "mounting", "reading"]).await;
    assert!(
        table.contains("ContainerCreating") && table.contains("CreateContainerConfigError"),
        "{table}"
    );
    assert_eq!(
        event_messages(&kubectl, "mounting", "FailedMount").await,
        "MountVolume.SetUp failed for volume \"conf\" : configmap \"settings\" not found"
    );
    assert_eq!(
        event_messages(&kubectl, "reading", "Failed").await,
        "Error: secret \"creds\" not found"
    );
    let described = kubectl.ok(&["describe", "pod", "mounting"]).await;
    assert!(
        described.contains("FailedMount") && described.contains("kubelet"),
        "{described}"
    );

    kubectl
        .ok(&["create", "configmap", "settings", "--from-literal=a=1"])
        .await;
    kubectl
        .ok(&["create", "secret", "generic", "creds", "--from-literal=b=2"])
        .await;
    pod_shows(&kubectl, "mounting", "{.status.phase}", "Running").await;
    pod_shows(&kubectl, "reading", "{.status.phase}", "Running").await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_backs_off() {
    let nodes = NodesConfig {
        unpullable_images: vec!["*:does-not-exist".into()],
        ..NodesConfig::default()
    };
    let cluster = cluster::start_with_nodes(nodes).await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let missing = CONTAINER.replace("busybox", "apache/spark:does-not-exist");
    assert!(kubectl.apply(&pod("stuck", &missing)).await.0);
    // A pod's own annotation names images its nodes cannot pull, too.
    let annotated = pod("annotated", CONTAINER).replace(
        "annotations: {",
        "annotations: {localcluster/unpullable-images: \"busybox*\", ",
    );
    assert!(kubectl.apply(&annotated).await.0);
    let waiting = "{.status.containerStatuses[0].state.waiting.reason}";
    pod_shows(&kubectl, "stuck", waiting, "ImagePullBackOff").await;
    pod_shows(&kubectl, "annotated", waiting, "ImagePullBackOff").await;
    let reference = "docker.io/apache/spark:does-not-exist";
    let error = format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}\": \
         failed to resolve reference \"{reference}\": {reference}: not found"
    );
    pod_shows(
        &kubectl,
        "stuck",
        "{.status.containerStatuses[0].state.waiting.message}",
        &format!("Back-off pulling image \"apache/spark:does-not-exist\": ErrImagePull: {error}"),
    )
    .await;
    assert_eq!(
        event_messages(&kubectl, "stuck", "Failed").await,
        format!(
            "Failed to pull image \"apache/spark:does-not-exist\": {error} Error: ErrImagePull \
             Error: ImagePullBackOff"
        )
    );
    assert_eq!(
        event_messages(&kubectl, "stuck", "BackOff").await,
        "Back-off pulling image \"apache/spark:does-not-exist\""
    );
    let table = kubectl.ok(&["get", "pod", "stuck"]).await;
    assert!(
        table.contains("0/1") && table.contains("ImagePullBackOff"),
        "{table}"
    );
    cluster.shutdown().await;
}

/// A namespace with thousands of Services gives each new pod so many service variables that its
/// container cannot start, as with a real kubelet and runtime; a pod that takes no service
/// links starts.
#[tokio::test]
async fn too_many_services_leave_no_room_for_a_pod_s_environment() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::Service;
    use kube::api::PostParams;

    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let kubectl = Kubectl::for_cluster(&cluster);
    let services: kube::Api<Service> = kube::Api::namespaced(cluster.client().unwrap(), "default");
    // About 420 bytes of variables each: 6,000 are over the kernel's 2 MiB.
    let creates = (0..6000).map(|i| {
        let services = services.clone();
        async move {
            let service: Service = serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("app-{i}-ui-svc")},
                "spec": {"ports": [{"name": "spark-driver-ui-port", "port": 4040}]},
            }))
            .unwrap();
            services
                .create(&PostParams::default(), &service)
                .await
                .unwrap();
        }
    });
    futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    kubectl.apply(&pod("flooded", CONTAINER)).await;
    let refusal = "{.status.containerStatuses[0].state.terminated.reason}";
    pod_shows(&kubectl, "flooded", refusal, "StartError").await;
    let message = kubectl
        .ok(&[
            "get",
            "pod",
            "flooded",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated.message}",
        ])
        .await;
    assert!(message.contains("argument list too long"), "{message}");
    pod_shows(&kubectl, "flooded", "{.status.phase}", "Failed").await;
    let without_links = CONTAINER.replace(
        "  containers:",
        "  enableServiceLinks: false\n  containers:",
    );
    kubectl.apply(&pod("spared", &without_links)).await;
    pod_shows(&kubectl, "spared", "{.status.phase}", "Running").await;
}
