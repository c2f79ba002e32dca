//! The local cluster on its own, for the test bed's tests: a started cluster, a pod, and a server
//! standing in for what runs in the pod (the simulated nodes run no containers).

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use localcluster::simulation::NodesConfig;
use localcluster::{LocalCluster, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A cluster with the default options: HTTPS and plain HTTP on free loopback ports.
pub async fn start() -> LocalCluster {
    LocalCluster::start(Options::default())
        .await
        .expect("cluster starts")
}

pub async fn start_with(options: Options) -> LocalCluster {
    LocalCluster::start(options).await.expect("cluster starts")
}

/// A cluster that authenticates tokens and authorizes by RBAC, and its admin client (whose
/// token keeps every right).
pub async fn start_with_rbac() -> (LocalCluster, kube::Client) {
    let cluster = start_with(Options {
        authorization: localcluster::auth::Authorization::Rbac,
        ..Options::default()
    })
    .await;
    let admin = cluster.client().expect("admin client");
    (cluster, admin)
}

/// A cluster with the default options and the simulated nodes of `nodes` running (their
/// scheduler and kubelets), which stop with the cluster.
pub async fn start_with_nodes(nodes: NodesConfig) -> LocalCluster {
    let cluster = start().await;
    let client = cluster.client().expect("client");
    tokio::spawn(localcluster::simulation::run(client, nodes));
    cluster
}

/// The project's CRDs, `deploy/crds/`: Kubeflow's API (`sparkoperator.k8s.io`, checked
/// against Kubeflow's by the API crate's tests), generated from the operator's types, with
/// schemas of thousands of properties.
pub fn crd_dir() -> PathBuf {
    crate::repository().join("deploy/crds")
}

/// Creates a pod of one container named `main` in `default`; the API of its namespace.
pub async fn create_pod(cluster: &LocalCluster, name: &str, image: &str) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    pods
}

/// A server in a "pod": an echo that upper-cases, on the pod's own loopback address; its port.
pub async fn upper_case_echo(ip: &str) -> u16 {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(read) = stream.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    let _ = stream.write_all(&buffer[..read].to_ascii_uppercase()).await;
                }
            });
        }
    });
    port
}
