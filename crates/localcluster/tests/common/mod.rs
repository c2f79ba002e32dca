//! Shared helpers of the integration tests: a started cluster and a waiting loop.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use localcluster::{LocalCluster, Options};

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
