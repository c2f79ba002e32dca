//! Shared helpers of the integration tests: a started cluster, a waiting loop, a pod and a server
//! standing in for what runs in it.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use localcluster::{LocalCluster, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn start() -> LocalCluster {
    LocalCluster::start(Options::default())
        .await
        .expect("cluster starts")
}

pub async fn start_with(options: Options) -> LocalCluster {
    LocalCluster::start(options).await.expect("cluster starts")
}

/// Polls `check` until it returns `Some`, for up to `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {seconds}s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Kubeflow Spark Operator CRDs, as published.
pub fn kubeflow_crd_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/kubeflow-crds/"
    ))
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
