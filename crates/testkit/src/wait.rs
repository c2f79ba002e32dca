//! Waiting in tests: for a condition polled until it holds, or for an object whose watch shows
//! it. A test that waits says for what and for how long, and fails naming the deadline, instead
//! of sleeping for a time that is too short on a busy machine and too long on an idle one.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use kube::Resource;
use kube::runtime::wait::Condition;
use serde::de::DeserializeOwned;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Some`, for up to `seconds`; `None` if it never did.
pub async fn within<T, F, Fut>(seconds: u64, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `check` until it returns `Some`, for up to `seconds`; panics naming the deadline.
pub async fn eventually<T, F, Fut>(seconds: u64, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(seconds, check)
        .await
        .unwrap_or_else(|| panic!("condition not met within {seconds}s"))
}

/// Watches the object `name` of `api` until `condition` holds, for up to `timeout`, and returns
/// it (`None` if the condition holds for a missing object); panics naming the object and the
/// deadline. kube-rs's `await_condition` with the deadline a test needs.
pub async fn await_condition<K>(
    api: kube::Api<K>,
    name: &str,
    timeout: Duration,
    condition: impl Condition<K>,
) -> Option<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    let met = kube::runtime::wait::await_condition(api, name, condition);
    tokio::time::timeout(timeout, met)
        .await
        .unwrap_or_else(|_| panic!("{name}: condition not met within {timeout:?}"))
        .unwrap_or_else(|error| panic!("{name}: the watch failed: {error}"))
}
