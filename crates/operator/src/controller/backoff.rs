//! Back-off after failures that pass (the API server or the network failing for a moment): each
//! failure in a row waits twice as long as the one before, up to a cap, with jitter, so that many
//! clients failing together do not retry together. Reconciles back off per application
//! ([`Backoffs`]); watches back off per watch (`watch_backoff`). A success starts the count again.
//!
//! Requeues after failures also share one token bucket and are capped, as Kubeflow's
//! `--workqueue-ratelimiter-bucket-qps`, `-bucket-size` and `-max-delay` make controller-runtime
//! do ([`RequeueLimits`]): the wait is the longer of the application's back-off and its turn in
//! the bucket, and never longer than the maximum delay.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use crate::runtime::throttle::TokenBucket;

/// Exponential steps from `base` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exponential {
    pub base: Duration,
    pub cap: Duration,
}

/// Reconciles: an API server back from an outage is used again within seconds.
pub const RECONCILES: Exponential = Exponential {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(10),
};

impl Exponential {
    /// The wait after `failures` failures in a row (1 or more), `jitter` in [0, 1) choosing
    /// where in the upper half of the exponential step it falls.
    pub fn delay(self, failures: u32, jitter: f64) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        let step = self.base.saturating_mul(1 << doublings).min(self.cap);
        step.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }
}

/// The rate limit of requeues after failures: Kubeflow's `--workqueue-ratelimiter-*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequeueLimits {
    /// Requeues a second the bucket refills with.
    pub bucket_qps: f64,
    /// Requeues the bucket holds.
    pub bucket_size: u32,
    /// No requeue waits longer (`None`: no cap).
    pub max_delay: Option<Duration>,
}

impl Default for RequeueLimits {
    /// Kubeflow's flag defaults.
    fn default() -> Self {
        RequeueLimits {
            bucket_qps: 10.0,
            bucket_size: 100,
            max_delay: None,
        }
    }
}

/// The failures in a row of each application (by namespace and name), and the bucket every
/// requeue after a failure takes its turn from.
#[derive(Debug)]
pub struct Backoffs {
    failures: Mutex<HashMap<(String, String), u32>>,
    bucket: Mutex<TokenBucket>,
    max_delay: Option<Duration>,
}

impl Default for Backoffs {
    fn default() -> Self {
        Self::new(RequeueLimits::default())
    }
}

impl Backoffs {
    pub fn new(limits: RequeueLimits) -> Backoffs {
        Backoffs {
            failures: Mutex::default(),
            bucket: Mutex::new(TokenBucket::new(limits.bucket_qps, limits.bucket_size)),
            max_delay: limits.max_delay,
        }
    }

    /// Counts a failure of the application's reconcile; how long to wait before the next.
    pub fn failed(&self, namespace: &str, name: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures
            .entry((namespace.to_string(), name.to_string()))
            .or_default();
        *count = count.saturating_add(1);
        let backoff = RECONCILES.delay(*count, jitter());
        drop(failures);
        let turn = self
            .bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(tokio::time::Instant::now());
        let delay = backoff.max(turn);
        self.max_delay.map_or(delay, |cap| delay.min(cap))
    }

    /// The application's reconcile succeeded: its next failure waits the shortest time again.
    pub fn succeeded(&self, namespace: &str, name: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if !failures.is_empty() {
            failures.remove(&(namespace.to_string(), name.to_string()));
        }
    }
}

/// A number in [0, 1) that differs between calls: a fresh `RandomState` is seeded from the
/// process's random keys and a per-thread counter, which is all jitter needs.
pub fn jitter() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_within_their_jitter() {
        let delay = |failures, jitter| RECONCILES.delay(failures, jitter);
        assert_eq!(delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(delay(2, 1.0), Duration::from_millis(400));
        assert_eq!(delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(delay(7, 1.0), Duration::from_millis(10_000));
        assert_eq!(delay(1000, 1.0), RECONCILES.cap);
        assert_eq!(delay(1000, 0.0), RECONCILES.cap / 2);
    }

    #[test]
    fn a_success_starts_the_count_again() {
        let backoffs = Backoffs::default();
        for _ in 0..6 {
            backoffs.failed("default", "pi");
        }
        assert!(backoffs.failed("default", "pi") >= RECONCILES.cap / 2);
        assert!(backoffs.failed("default", "other") <= RECONCILES.base);
        backoffs.succeeded("default", "pi");
        assert!(backoffs.failed("default", "pi") <= RECONCILES.base);
    }

    #[test]
    fn requeues_take_their_turn_in_the_bucket_and_never_wait_past_the_cap() {
        let backoffs = Backoffs::new(RequeueLimits {
            bucket_qps: 1.0,
            bucket_size: 2,
            max_delay: Some(Duration::from_secs(5)),
        });
        // Many applications failing at once: the first two go at their back-off, then one a
        // second, up to the cap.
        let waits: Vec<Duration> = (0..10)
            .map(|i| backoffs.failed("default", &format!("app-{i}")))
            .collect();
        // (Each wait is a little shorter for the time the loop itself took.)
        let about = |wait: Duration, seconds: u64| {
            let expected = Duration::from_secs(seconds);
            wait <= expected && wait > expected - Duration::from_millis(100)
        };
        assert!(
            waits[..2].iter().all(|w| *w <= RECONCILES.base),
            "{waits:?}"
        );
        assert!(about(waits[2], 1) && about(waits[4], 3), "{waits:?}");
        assert_eq!(waits[9], Duration::from_secs(5), "capped");
        let unlimited = Backoffs::default();
        for i in 0..50 {
            assert!(unlimited.failed("default", &format!("app-{i}")) <= RECONCILES.base);
        }
    }

    #[test]
    fn jitter_spreads() {
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(draws.iter().any(|j| *j < 0.5) && draws.iter().any(|j| *j >= 0.5));
    }
}
