//! How the controllers' watches recover when the API server fails: kube-runtime's default waits
//! up to 30 s between attempts (0.8 s doubling), so an operator whose API server was away for
//! 20 s could sit idle for most of a minute after it came back. Here a failing watch waits at
//! most 2 s, with jitter; a watch whose resourceVersion expired (410 Gone) lists again at once,
//! since that answer means the server is up; and while any watch fails, `/readyz` says the
//! caches may be stale.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::watcher;

use super::backoff::{Exponential, jitter};
use crate::runtime::readiness::Readiness;

/// Watches: a few seconds at most between attempts while the API server is away.
pub const WATCHES: Exponential = Exponential {
    base: Duration::from_millis(100),
    cap: Duration::from_secs(2),
};

/// How long the watch waits after its `failures`-th error in a row, `error`.
pub fn delay_after(error: &watcher::Error, failures: u32, jitter: f64) -> Duration {
    match error {
        // The server answered: the watch's position is gone, and the watcher lists again.
        watcher::Error::WatchError(status) if status.code == 410 => Duration::ZERO,
        _ => WATCHES.delay(failures, jitter),
    }
}

/// `events` with a back-off after each error, reporting to `readiness` while it fails. The
/// errors end here, logged: what consumes the stream (a reflector, a controller, whose own
/// trigger back-off would wait up to 30 s more) sees only events.
pub fn recovering<K, S>(
    events: S,
    readiness: Readiness,
    what: &'static str,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Send,
    S: Stream<Item = Result<K, watcher::Error>> + Send,
{
    let failures = Arc::new(AtomicU32::new(0));
    events
        .then(move |item| {
            let failures = failures.clone();
            let readiness = readiness.clone();
            async move {
                match &item {
                    Err(error) => {
                        let count = failures.fetch_add(1, Ordering::Relaxed) + 1;
                        let wait = delay_after(error, count, jitter());
                        if count == 1 {
                            readiness.watch_failing(true);
                            tracing::warn!(watch = what, %error, "watch failed; trying again");
                        } else {
                            tracing::debug!(watch = what, %error, ?wait, "watch still failing");
                        }
                        tokio::time::sleep(wait).await;
                    }
                    Ok(_) => {
                        let failed = failures.swap(0, Ordering::Relaxed);
                        if failed > 0 {
                            readiness.watch_failing(false);
                            tracing::info!(watch = what, failed, "watch recovered");
                        }
                    }
                }
                item
            }
        })
        .filter(|item| std::future::ready(item.is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Box<kube::core::Status> {
        let mut status = kube::core::Status::failure("", "");
        status.code = code;
        Box::new(status)
    }

    #[test]
    fn an_expired_watch_lists_again_at_once_and_other_failures_wait_at_most_two_seconds() {
        let gone = watcher::Error::WatchError(status(410));
        assert_eq!(delay_after(&gone, 5, 0.9), Duration::ZERO);
        let unavailable = watcher::Error::WatchError(status(503));
        assert_eq!(
            delay_after(&unavailable, 1, 1.0),
            Duration::from_millis(100)
        );
        for failures in [6, 50, 10_000] {
            assert_eq!(delay_after(&unavailable, failures, 1.0), WATCHES.cap);
        }
    }
}
