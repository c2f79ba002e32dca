//! What the workspace's tests share, so that each test says what it checks and not how to wait,
//! where kubectl is or what a Spark Pi application looks like. A dev-dependency of every crate,
//! never a dependency of what ships.
//!
//! - [`fixtures`]: the applications the tests run.
//! - [`eventually`]: waiting for a condition, with a deadline.

pub mod fixtures;

use std::future::Future;
use std::time::Duration;

/// Polls `check` until it returns `Some`, for up to `seconds`; panics naming the deadline.
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
