//! The Endpoints and EndpointSlice controllers at work, through kube-rs and the real kubectl: a
//! Deployment's pods appear in its Service's Endpoints and EndpointSlices on the port a named
//! `targetPort` resolves to, a deleted pod leaves them, `kubectl port-forward svc/NAME` reaches a
//! selected pod, a Service without a selector keeps the Endpoints its user wrote, and a deleted
//! Service's Endpoints and slices go with it.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use localcluster::simulation::NodesConfig;
use serde_json::{Value, json};
use testkit::Kubectl;
use testkit::cluster;
use testkit::net::free_port;
use testkit::within;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn object<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("test object")
}

/// The ready addresses of a Service's Endpoints, with their pods, and the ports listed.
fn ready_addresses(endpoints: &Endpoints) -> (BTreeSet<(String, String)>, BTreeSet<i32>) {
    let subsets = endpoints.subsets.clone().unwrap_or_default();
    let addresses = subsets
        .iter()
        .flat_map(|s| s.addresses.clone().unwrap_or_default())
        .map(|a| (a.ip, a.target_ref.and_then(|r| r.name).unwrap_or_default()))
        .collect();
    let ports = subsets
        .iter()
        .flat_map(|s| s.ports.clone().unwrap_or_default())
        .map(|p| p.port)
        .collect();
    (addresses, ports)
}

/// Waits until the Service's Endpoints list `count` ready pods; those (IP, pod) pairs.
async fn wait_ready(endpoints: &Api<Endpoints>, count: usize) -> BTreeSet<(String, String)> {
    within(30, || async {
        let (addresses, _) = ready_addresses(&endpoints.get("web").await.ok()?);
        (addresses.len() == count).then_some(addresses)
    })
    .await
    .unwrap_or_else(|| panic!("the Endpoints of web never listed {count} ready pods"))
}

/// A listener on each pod IP at `port` that upper-cases what it reads.
async fn serve_upper_case(ips: &[String], port: u16) {
    for ip in ips {
        let listener = tokio::net::TcpListener::bind((ip.as_str(), port))
            .await
            .unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buffer = [0u8; 64];
                if let Ok(read) = stream.read(&mut buffer).await {
                    let _ = stream.write_all(&buffer[..read].to_ascii_uppercase()).await;
                }
            }
        });
    }
}

/// `kubectl port-forward svc/web LOCAL:80`, once it listens, sends `hello` and reads the answer.
async fn through_port_forward(kubectl: &Kubectl) -> String {
    let local = free_port();
    let mapping = format!("{local}:80");
    let mut forwarder = kubectl.spawn(&["port-forward", "svc/web", &mapping], &[]);
    let mut stdout = BufReader::new(forwarder.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(20), stdout.next_line())
        .await
        .expect("kubectl port-forward starts within 20s");
    assert!(
        format!("{ready:?}").contains("Forwarding from"),
        "{ready:?}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    stream.write_all(b"hello").await.unwrap();
    let mut answer = vec![0u8; 5];
    stream.read_exact(&mut answer).await.unwrap();
    forwarder.kill().await.unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployments_pods_are_the_endpoints_of_its_service() {
    let cluster = cluster::start_with_nodes(NodesConfig::default()).await;
    let client = cluster.client().unwrap();
    let kubectl = Kubectl::for_cluster(&cluster);
    let port = free_port();
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let service = json!({"metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}});
    services
        .create(&PostParams::default(), &object(service))
        .await
        .unwrap();
    let deployment = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
            "name": "main", "image": "busybox:1.36",
            "ports": [{"name": "http", "containerPort": port}]}]}}}});
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    deployments
        .create(&PostParams::default(), &object::<Deployment>(deployment))
        .await
        .unwrap();

    // Both pods, once ready, on the container port that the named targetPort resolves to.
    let endpoints: Api<Endpoints> = Api::default_namespaced(client.clone());
    let listed = wait_ready(&endpoints, 2).await;
    let stored = endpoints.get("web").await.unwrap();
    assert_eq!(
        ready_addresses(&stored).1,
        BTreeSet::from([i32::from(port)])
    );
    let address = &stored.subsets.as_ref().unwrap()[0]
        .addresses
        .as_ref()
        .unwrap()[0];
    assert!(address.node_name.is_some());
    assert_eq!(
        address.target_ref.as_ref().unwrap().kind.as_deref(),
        Some("Pod")
    );
    assert_eq!(stored.metadata.labels.unwrap()["tier"], "front");
    let ips: Vec<String> = listed.iter().map(|(ip, _)| ip.clone()).collect();
    let shown = kubectl.ok(&["get", "endpoints", "web"]).await;
    for ip in &ips {
        assert!(shown.contains(&format!("{ip}:{port}")), "{shown}");
    }

    // The EndpointSlice: named from the Service, labelled, owned by it, its endpoints ready.
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let by_service = ListParams::default().labels("kubernetes.io/service-name=web");
    let slice = within(10, || async {
        let slice = slices.list(&by_service).await.ok()?.items.pop()?;
        (slice
            .endpoints
            .iter()
            .flatten()
            .filter(|e| ready(e))
            .count()
            == 2)
            .then_some(slice)
    })
    .await
    .expect("a slice with both pods ready");
    assert!(slice.metadata.name.as_ref().unwrap().starts_with("web-"));
    assert_eq!(slice.address_type, "IPv4");
    let labels = slice.metadata.labels.clone().unwrap();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    let owner = &slice.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Service", "web")
    );
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(i32::from(port)));
    let shown = kubectl.ok(&["get", "endpointslices"]).await;
    assert!(shown.contains("IPv4") && shown.contains(&ips[0]), "{shown}");

    // kubectl port-forward svc/web: kubectl picks a selected pod and forwards to its port.
    serve_upper_case(&ips, port).await;
    assert_eq!(through_port_forward(&kubectl).await, "HELLO");

    // A deleted pod leaves; its replacement joins.
    let gone = listed.iter().next().unwrap().1.clone();
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.delete(&gone, &DeleteParams::default()).await.unwrap();
    within(30, || async {
        let (addresses, _) = ready_addresses(&endpoints.get("web").await.ok()?);
        let left = addresses.iter().all(|(_, pod)| *pod != gone);
        (left && addresses.len() == 2).then_some(())
    })
    .await
    .expect("the deleted pod left the Endpoints and its replacement joined");

    // The Service's deletion takes its Endpoints and slices.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    within(20, || async {
        let endpoints_gone = endpoints.get_opt("web").await.ok()?.is_none();
        let slices_gone = slices.list(&by_service).await.ok()?.items.is_empty();
        (endpoints_gone && slices_gone).then_some(())
    })
    .await
    .expect("the Endpoints and slices of a deleted Service go");
}

fn ready(endpoint: &k8s_openapi::api::discovery::v1::Endpoint) -> bool {
    endpoint
        .conditions
        .as_ref()
        .and_then(|c| c.ready)
        .unwrap_or(false)
}

#[tokio::test]
async fn a_service_without_a_selector_keeps_the_endpoints_its_user_wrote() {
    let cluster = cluster::start().await;
    let client = cluster.client().unwrap();
    let services: Api<Service> = Api::default_namespaced(client.clone());
    let service = json!({"metadata": {"name": "external"},
        "spec": {"ports": [{"name": "db", "port": 5432}]}});
    services
        .create(&PostParams::default(), &object(service))
        .await
        .unwrap();
    let endpoints: Api<Endpoints> = Api::default_namespaced(client.clone());
    let written = json!({"metadata": {"name": "external"}, "subsets": [{
        "addresses": [{"ip": "192.0.2.10"}], "ports": [{"name": "db", "port": 5432}]}]});
    endpoints
        .create(&PostParams::default(), &object(written))
        .await
        .unwrap();
    // Past a resync of the controllers, they are as written, and no slice is made for them.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let stored = endpoints.get("external").await.unwrap();
    assert_eq!(
        ready_addresses(&stored).0,
        BTreeSet::from([("192.0.2.10".to_string(), String::new())])
    );
    let shown = Kubectl::for_cluster(&cluster)
        .ok(&["get", "endpoints", "external"])
        .await;
    assert!(shown.contains("192.0.2.10:5432"), "{shown}");
    let slices: Api<EndpointSlice> = Api::default_namespaced(client);
    assert!(
        slices
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
